"""Scope and auth on every endpoint: a wrong-scope token is refused and learns nothing."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from sync_protocol.hlc import wall_clock_ms
from station_app.store.models import Resident
from station_app.sync.bundle import export_bundle
from sync_protocol.protocol import version_headers

from tests.conftest import VILLAGE_A, VILLAGE_B
from .conftest import assert_converged
from .helpers import edit, household

SECRET_NAME = "甲村秘密"


def _get(county, path, token=None, **params):
    headers = dict(version_headers())
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(county.url + path, headers=headers, params=params, timeout=10)


def _post(county, path, token, body: bytes, content_type="application/json"):
    headers = {**version_headers(), "Authorization": f"Bearer {token}", "Content-Type": content_type}
    return requests.post(county.url + path, headers=headers, data=body, timeout=10)


@pytest.fixture
def village_a_data(county, stations):
    village, = stations(county, "VA")
    household_id, head_id = household(village, VILLAGE_A, SECRET_NAME)
    village.sync()
    return village, household_id, head_id


def test_health_needs_no_token_and_says_no_data(county):
    answer = _get(county, "/v1/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert "protocol" in answer.json()


@pytest.mark.parametrize("path", ["/v1/sync/pull", "/v1/sync/station-keys", "/v1/admin/stations"])
@pytest.mark.parametrize("token", [None, "ybs_not-a-real-token-000000000000000000000"])
def test_every_endpoint_refuses_a_missing_or_unknown_token(county, village_a_data, path, token):
    answer = _get(county, path, token)
    assert answer.status_code == 401
    assert answer.json()["message"] == "同步令牌无效或已停用，请向县医保局重新申请。"
    assert SECRET_NAME not in answer.text
    for post_path in ("/v1/sync/push", "/v1/bundles"):
        answer = requests.post(county.url + post_path, data=b"{}", timeout=10,
                               headers={**version_headers(), **({"Authorization": f"Bearer {token}"} if token else {})})
        assert answer.status_code == 401


def test_a_disabled_station_is_refused_at_once(county, village_a_data):
    county.store.set_active("VB", False)
    answer = _get(county, "/v1/sync/pull", county.tokens["VB"])
    assert answer.status_code == 401


def test_pull_never_returns_another_villages_rows(county, village_a_data):
    _village, household_id, head_id = village_a_data
    for code in ("VB", "T2"):
        answer = _get(county, "/v1/sync/pull", county.tokens[code], cursor=0, limit=5000)
        assert answer.status_code == 200
        assert SECRET_NAME not in answer.text and head_id not in answer.text and household_id not in answer.text
    for code in ("VA", "TS", "CTY"):
        answer = _get(county, "/v1/sync/pull", county.tokens[code], cursor=0, limit=5000)
        assert SECRET_NAME in answer.text


def test_pull_backfill_outside_scope_is_refused(county, village_a_data):
    answer = _get(county, "/v1/sync/pull", county.tokens["VB"], cursor=0, villages=VILLAGE_A)
    assert answer.status_code == 403 and SECRET_NAME not in answer.text
    assert _get(county, "/v1/sync/pull", county.tokens["TS"], cursor=0, villages=VILLAGE_A).status_code == 200


def test_push_to_another_village_is_refused_without_telling_whether_the_row_exists(county, village_a_data):
    _village, household_id, _ = village_a_data
    hlc = f"{wall_clock_ms() + 1000:013d}-000000-VB"

    def push(row_id):
        body = {"batch_id": str(uuid.uuid4()), "ops": [{"op_id": str(uuid.uuid4()), "t": "household", "id": row_id,
                                                        "k": "update", "f": {"phone": "13000000000"},
                                                        "bv": 9, "h": hlc}]}
        answer = _post(county, "/v1/sync/push", county.tokens["VB"], json.dumps(body).encode())
        assert answer.status_code == 200
        return answer.json()["results"][0]

    existing, missing = push(household_id), push(str(uuid.uuid4()))
    assert existing["status"] == "rejected" and existing["reason"] == "out_of_scope"
    assert "row" not in existing and SECRET_NAME not in json.dumps(existing, ensure_ascii=False)
    assert missing["status"] == "rejected"
    # An insert claiming someone else's village is refused the same way.
    body = {"batch_id": str(uuid.uuid4()), "ops": [{"op_id": str(uuid.uuid4()), "t": "household",
                                                    "id": str(uuid.uuid4()), "k": "insert",
                                                    "f": {"village_code": VILLAGE_A, "household_no": "X",
                                                          "head_name": "X"}, "bv": 0, "h": hlc}]}
    result = _post(county, "/v1/sync/push", county.tokens["VB"], json.dumps(body).encode()).json()["results"][0]
    assert result["reason"] == "out_of_scope"
    assert county.store.row_state(household_id).data["phone"] == ""


def test_bundle_upload_by_a_station_that_does_not_cover_the_village_is_refused(county, village_a_data, tmp_path):
    village, household_id, _ = village_a_data
    edit(village, Resident, village_a_data[2], phone="13911112222")
    bundle = export_bundle(village.ws, tmp_path / "va.ybsb").path.read_bytes()
    answer = _post(county, "/v1/bundles", county.tokens["VB"], bundle, "application/octet-stream")
    assert answer.status_code == 403 and SECRET_NAME not in answer.text
    answer = _post(county, "/v1/bundles", county.tokens["T2"], bundle, "application/octet-stream")
    assert answer.status_code == 403
    answer = _post(county, "/v1/bundles", county.tokens["TS"], bundle, "application/octet-stream")
    assert answer.status_code == 200 and answer.json()["accepted"] == 1


def test_station_keys_only_for_a_township_and_only_its_villages(county, village_a_data):
    assert _get(county, "/v1/sync/station-keys", county.tokens["VA"]).status_code == 403
    keys = _get(county, "/v1/sync/station-keys", county.tokens["TS"]).json()["keys"]
    assert set(keys) == {"VA", "VB"}
    assert _get(county, "/v1/sync/station-keys", county.tokens["T2"]).json()["keys"] == {}


def test_admin_endpoint_is_for_the_county_only(county, village_a_data):
    for code in ("VA", "VB", "TS", "T2"):
        answer = _get(county, "/v1/admin/stations", county.tokens[code])
        assert answer.status_code == 403 and "token" not in answer.text
    answer = _get(county, "/v1/admin/stations", county.tokens["CTY"])
    assert answer.status_code == 200
    stations = answer.json()["stations"]
    assert {s["code"] for s in stations} == {"VA", "VB", "TS", "T2", "CTY"}
    assert "token_hash" not in answer.text and "bundle_key" not in answer.text


def test_openapi_docs_are_served(county):
    assert requests.get(county.url + "/docs", timeout=10).status_code == 200
    spec = requests.get(county.url + "/openapi.json", timeout=10).json()
    assert {"/v1/sync/pull", "/v1/sync/push", "/v1/bundles", "/v1/sync/station-keys"} <= set(spec["paths"])


def test_a_resident_moved_between_villages_shows_up_correctly_in_both(county, stations):
    village_a, village_b, township = stations(county, "VA", "VB", "TS")
    household_id, head_id = household(village_a, VILLAGE_A, "迁户人")
    for station in (village_a, village_b, township):
        station.sync()
    assert village_b.row("resident", head_id) is None
    # The township moves the family to the other village (household and resident).
    edit(township, Resident, head_id, village_code=VILLAGE_B, group_code=None)
    from station_app.store.models import Household

    edit(township, Household, household_id, village_code=VILLAGE_B, group_code=None)
    township.sync()
    village_a.sync()
    village_b.sync()
    moved = village_b.row("resident", head_id)
    assert moved is not None and moved["name"] == "迁户人" and moved["village_code"] == VILLAGE_B
    assert village_b.row("household", household_id)["village_code"] == VILLAGE_B
    left = village_a.row("resident", head_id)
    assert left["village_code"] == VILLAGE_B  # no longer listed under village A
    # Village A may no longer edit the family; village B may.
    edit(village_a, Resident, head_id, phone="13100000000")
    assert village_a.sync().rejected == 1
    edit(village_b, Resident, head_id, phone="13200000000")
    assert village_b.sync().accepted == 1
    township.sync()
    for station in (village_b, township):
        assert_converged(county, station)
