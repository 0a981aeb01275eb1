"""Schema and protocol versions: an outdated station is told to update; nothing is applied."""

from __future__ import annotations

import uuid

import pytest

from sync_protocol import protocol
from station_app.sync.client import SchemaMismatch

from tests.conftest import VILLAGE_A
from .conftest import pending
from .helpers import household


@pytest.mark.parametrize("schema, message", [
    (protocol.MIN_SCHEMA_VERSION - 1, "县服务器版本与本程序不匹配，请升级程序后再同步"),
    (protocol.SCHEMA_VERSION + 1, "县服务器版本较旧，请联系县医保局升级服务器"),
])
def test_a_schema_mismatch_is_refused_with_a_clear_message_and_nothing_applied(
        county, stations, monkeypatch, schema, message):
    village, = stations(county, "VA")
    household(village, VILLAGE_A)
    before = county.store.counts()
    real = protocol.version_headers

    def other_version() -> dict[str, str]:
        return {**real(), protocol.HEADER_SCHEMA: str(schema)}

    monkeypatch.setattr("station_app.sync.client.version_headers", other_version)
    with pytest.raises(SchemaMismatch) as caught:
        village.sync()
    assert message in caught.value.message
    assert county.store.counts() == before
    from station_app.sync import state

    assert message in village.state(state.K_LAST_ERROR)  # the 同步 page shows it
    monkeypatch.setattr("station_app.sync.client.version_headers", real)
    # The batch frozen before the refusal goes up unchanged once the app is updated.
    assert village.sync().accepted == 3 and pending(village) == 0


def test_version_rules():
    assert protocol.version_error(protocol.PROTOCOL_VERSION, protocol.SCHEMA_VERSION) is None
    assert protocol.version_error(None, protocol.SCHEMA_VERSION) == protocol.ErrorCode.SCHEMA_MISMATCH
    assert protocol.version_error(protocol.PROTOCOL_VERSION + 1, 1) == protocol.ErrorCode.SERVER_TOO_OLD


def test_a_request_without_version_headers_is_refused(county):
    import requests

    answer = requests.post(county.url + "/v1/sync/push", timeout=10, json={"batch_id": str(uuid.uuid4()), "ops": []},
                           headers={"Authorization": f"Bearer {county.tokens['VA']}"})
    assert answer.status_code == 426
    assert answer.json()["error"] == "schema_mismatch"
    assert answer.json()["accepted"]["schema"] == [protocol.MIN_SCHEMA_VERSION, protocol.SCHEMA_VERSION]
