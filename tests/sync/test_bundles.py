"""USB bundles with no network: signed export, import at the county or the township, idempotent,
tampered bundles refused."""

from __future__ import annotations

import pytest

from county_server.auth import ApiError
from station_app.domain.errors import DomainError
from station_app.store.models import Household
from station_app.sync import state
from station_app.sync.bundle import export_bundle, import_bundle
from sync_protocol.bundle_format import read_bundle

from tests.conftest import VILLAGE_A
from .conftest import assert_converged, pending
from .helpers import edit, household, member


def _village_with_changes(county, stations):
    village, = stations(county, "VA")
    household_id, _ = household(village, VILLAGE_A, "离线户")
    member(village, household_id, "离线成员")
    return village, household_id


def test_export_then_import_at_the_county_then_the_village_syncs_without_duplicates(county, stations, tmp_path):
    village, household_id = _village_with_changes(county, stations)
    result = export_bundle(village.ws, tmp_path / "va.ybsb")
    assert result.ops == 4 and result.batches == 1
    assert village.outbox_states().get("sent") == 4  # frozen, same batch ids as a push would use
    summary = county.store.import_bundle(result.path.read_bytes())
    assert summary["accepted"] == 4 and summary["station"] == "VA" and not summary["already_imported"]
    seq = county.store.counts()["seq"]
    again = county.store.import_bundle(result.path.read_bytes())  # re-importing is harmless
    assert again["duplicate"] == 4 and again["already_imported"] and county.store.counts()["seq"] == seq
    # Later the village gets a network: its batch is answered from the server's store.
    report = village.sync()
    assert report.pushed == 4 and report.rejected == 0
    assert county.store.counts()["seq"] == seq
    assert pending(village) == 0
    assert_converged(county, village)


def test_a_second_export_carries_unacknowledged_batches_again(county, stations, tmp_path):
    village, household_id = _village_with_changes(county, stations)
    first = export_bundle(village.ws, tmp_path / "1.ybsb")
    edit(village, Household, household_id, phone="13812345678")
    second = export_bundle(village.ws, tmp_path / "2.ybsb")
    assert second.ops == first.ops + 1
    county.store.import_bundle(second.path.read_bytes())
    summary = county.store.import_bundle(first.path.read_bytes())  # the older stick turns up later
    assert summary["duplicate"] == first.ops
    assert county.store.row_state(household_id).data["phone"] == "13812345678"


@pytest.mark.parametrize("damage", ["body", "header_station", "signature", "truncated", "garbage"])
def test_a_tampered_bundle_is_refused_and_nothing_applied(county, stations, tmp_path, damage):
    village, _ = _village_with_changes(county, stations)
    data = bytearray(export_bundle(village.ws, tmp_path / "va.ybsb").path.read_bytes())
    header_end = data.index(b"\n")
    if damage == "body":
        data[header_end + 40] ^= 0x01
    elif damage == "header_station":
        data[:header_end] = data[:header_end].replace(b"YBSE1 VA ", b"YBSE1 VB ")  # the sealed header
    elif damage == "signature":
        data[header_end - 1:header_end] = b"0" if data[header_end - 1:header_end] != b"0" else b"1"
    elif damage == "truncated":
        data = data[:-20]
    else:
        data = bytearray(b"not a bundle at all")
    before = county.store.counts()
    with pytest.raises(ApiError) as caught:
        county.store.import_bundle(bytes(data))
    assert caught.value.code == "bad_signature"
    assert "签名无效" in caught.value.message
    assert county.store.counts() == before
    tampered = tmp_path / "tampered.ybsb"
    tampered.write_bytes(bytes(data))
    township, = stations(county, "TS")
    township.sync()
    with pytest.raises(DomainError):
        import_bundle(township.ws, tampered)
    assert township.state(state.K_RELAY + read_bundle_id(data)) == ""


def test_a_bundle_on_the_stick_is_encrypted_and_a_foreign_key_cannot_open_it(county, stations, tmp_path):
    from sync_protocol.bundle_format import BundleError, bundle_key, open_sealed

    village, _ = _village_with_changes(county, stations)
    data = export_bundle(village.ws, tmp_path / "va.ybsb").path.read_bytes()
    assert data.startswith(b"YBSE1 VA ")
    # the old signed format was gzip'd JSON: names and the member's row were readable; now nothing is
    import gzip
    for needle in ("离线户", "离线成员", VILLAGE_A):
        assert needle.encode("utf-8") not in data
    with pytest.raises(OSError):
        gzip.decompress(data.partition(b"\n")[2])
    with pytest.raises(BundleError):
        open_sealed(data, bundle_key("another station's token, not this one"))


def read_bundle_id(data: bytes) -> str:
    try:
        return read_bundle(bytes(data)).bundle_id
    except Exception:  # noqa: BLE001
        return "none"


def test_the_township_imports_a_village_bundle_shows_it_and_relays_it(county, stations, tmp_path):
    village, household_id = _village_with_changes(county, stations)
    township, = stations(county, "TS")
    township.sync()  # online once: it now holds its villages' bundle keys
    assert "VA" in township.state(state.K_STATION_KEYS)
    path = export_bundle(village.ws, tmp_path / "va.ybsb").path

    result = import_bundle(township.ws, path)
    assert result.applied == 4 and not result.already_imported
    assert township.row("household", household_id)["head_name"] == "离线户"  # visible at once, offline
    assert import_bundle(township.ws, path).already_imported  # a second import changes nothing
    assert township.outbox_states().get("pending", 0) == 0  # not the township's own edits

    report = township.sync()  # the relay goes up under the village's own batch ids
    assert report.relayed_bundles == 1
    assert county.store.row_state(household_id) is not None
    seq = county.store.counts()["seq"]
    assert village.sync().rejected == 0 and county.store.counts()["seq"] == seq
    assert_converged(county, village)
    township.sync()
    assert_converged(county, township)


def test_a_bundle_of_an_unknown_station_cannot_be_checked_offline(county, stations, tmp_path):
    village, _ = _village_with_changes(county, stations)
    township, = stations(county, "TS")  # never online: no keys
    path = export_bundle(village.ws, tmp_path / "va.ybsb").path
    with pytest.raises(DomainError, match="签名密钥"):
        import_bundle(township.ws, path)


def test_export_needs_the_token(county, stations, tmp_path):
    village, _ = _village_with_changes(county, stations)
    with village.ws.engine.connect() as conn:
        conn.exec_driver_sql("DELETE FROM sync_state WHERE key = ?", (state.K_TOKEN,))
        conn.commit()
    with pytest.raises(DomainError, match="令牌"):
        export_bundle(village.ws, tmp_path / "va.ybsb")
    assert read_bundle is not None
