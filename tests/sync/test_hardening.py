"""Issue 9: no input, hostile or broken, can stop a township's sync.

Each finding of the issue is a test here, against a real server on 127.0.0.1 (SQLite and
PostgreSQL), and each fails on the code before the fix.
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert, update

from county_server.cli import main as county_main
from county_server.models import Station as ServerStation
from county_server.models import SyncRow, utcnow
from county_server.store import Store
from sync_protocol.hlc import wall_clock_ms
from station_app.store.models import Household
from station_app.sync import state
from station_app.sync.bundle import export_bundle, import_bundle
from sync_protocol.bundle_format import bundle_key, write_bundle
from station_app.sync.conflicts import list_rejected
from station_app.sync.engine import apply_txn
from sync_protocol.protocol import MAX_BATCH_OPS, MAX_PUSH_BYTES, version_headers

from tests.conftest import VILLAGE_A, VILLAGE_B
from .conftest import PAGES_DECODED, assert_converged, pending
from .helpers import edit, household

DAY_MS = 86_400_000


def _hlc(code: str = "VA", delta_ms: int = 0) -> str:
    return f"{wall_clock_ms() + delta_ms:013d}-000000-{code}"


def _op(table: str, kind: str = "insert", row_id: str | None = None, code: str = "VA", bv: int = 0,
        **fields) -> dict:
    return {"op_id": str(uuid.uuid4()), "t": table, "id": row_id or str(uuid.uuid4()), "k": kind, "f": fields,
            "bv": bv, "h": _hlc(code)}


def _headers(county, code: str | None, **extra) -> dict:
    headers = dict(version_headers())
    if code:
        headers["Authorization"] = f"Bearer {county.tokens[code]}"
    headers.update(extra)
    return headers


def _push_raw(county, code: str, body: bytes, **headers) -> requests.Response:
    return requests.post(county.url + "/v1/sync/push", data=body, timeout=30,
                         headers=_headers(county, code, **{"Content-Type": "application/json", **headers}))


def _push(county, code: str, ops: list, batch_id: str | None = None) -> dict:
    body = {"batch_id": batch_id or str(uuid.uuid4()), "client_time_ms": wall_clock_ms(), "ops": ops}
    answer = _push_raw(county, code, json.dumps(body).encode())
    assert answer.status_code == 200, answer.text
    return answer.json()


def _pull(county, code: str, **params) -> requests.Response:
    return requests.get(county.url + "/v1/sync/pull", params={"cursor": 0, "limit": 5000, **params},
                        headers=_headers(county, code), timeout=30)


def _household_fields(village: str, name: str = "户主") -> dict:
    return {"village_code": village, "household_no": name, "head_name": name, "deleted": False}


def _resident_fields(village: str, household_id: str, name: str = "居民") -> dict:
    return {"village_code": village, "household_id": household_id, "name": name, "sex": "M",
            "id_number": "610921195001010011", "birth_date": "1950-01-01", "deleted": False}


def _chinese_error(answer: requests.Response) -> str:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    message = answer.json()["message"]
    assert any("\u4e00" <= c <= "\u9fff" for c in message), message
    return message


# ------------------------------------------------------------------ 1 poisoned ids


@pytest.mark.parametrize("bad_id", ["0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef",
                                    str(uuid.uuid4()) + "\n", " " + str(uuid.uuid4()),
                                    str(uuid.uuid4()).upper(), str(uuid.uuid4())[:-1] + "\x00"])
def test_f1_a_poisoned_row_id_is_refused_and_every_later_page_is_json(county, stations, bad_id):
    village, township = stations(county, "VA", "TS")
    op = _op("household", row_id=bad_id, **_household_fields(VILLAGE_A))
    result = _push(county, "VA", [op])["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "bad_op"
    assert county.store.counts()["rows"] == 0
    for kind in ("op_id", "batch_id"):
        other = _op("household", **_household_fields(VILLAGE_A))
        body = {"batch_id": str(uuid.uuid4()), "ops": [other]}
        if kind == "op_id":
            other["op_id"] = bad_id
            assert _push_raw(county, "VA", json.dumps(body).encode()).json()["results"][0]["reason"] == "bad_op"
        else:
            body["batch_id"] = bad_id
            _chinese_error(_push_raw(county, "VA", json.dumps(body).encode()))
    household(village, VILLAGE_A, "正常户")
    assert village.sync().rejected == 0
    assert township.sync().pulled_rows >= 2  # the township's sync still works
    for code in ("VA", "TS"):
        json.loads(_pull(county, code).content)


def test_f1_a_poisoned_id_left_by_an_older_version_never_breaks_a_page(county, stations):
    """Rows stored before the fix: the page encodes what it does not trust, and
    ``county-server check/repair`` take the row out."""
    village, = stations(county, "VA")
    household(village, VILLAGE_A)
    village.sync()
    poisoned = "0123456789abcdef0123456789abcdef\n"
    seq = county.store.counts()["seq"] + 1
    from county_server.models import Counter

    with county.store.engine.begin() as conn:
        conn.execute(insert(SyncRow.__table__).values(
            row_id=poisoned, table_name="household", stream="data", scope_code=VILLAGE_A,
            seq=seq, row_version=1, deleted=False, h0=_hlc("VA") + '"',
            fh="{}", fv="{}", cols='["deleted","head_name","household_no","village_code"]',
            vals=f'[false,"x","y","{VILLAGE_A}"]', natural_key=None, origin="VA", updated_at=utcnow(),
            compacted=False))
        conn.execute(update(Counter.__table__).where(Counter.__table__.c.name == "seq").values(value=seq))
    for code in ("VA", "TS"):
        page = json.loads(_pull(county, code).content)  # valid JSON, whatever was stored
        assert page["tables"]
    township, = stations(county, "TS")
    township.sync()  # the row is refused by the station's own check, the rest applies
    assert township.row("household", poisoned) is None
    assert county.store.check() and county.store.repair()["removed"] == 1
    assert county.store.check() == []


def test_f1_every_page_of_the_suite_is_decoded(sqlite_county, stations):
    # The autouse fixture in conftest decodes every page any test makes the server build.
    before = PAGES_DECODED[0]
    village, = stations(sqlite_county, "VA")
    household(village, VILLAGE_A)
    village.sync()
    assert _pull(sqlite_county, "TS").status_code == 200
    assert PAGES_DECODED[0] >= before + 2


# ------------------------------------------------------------------ 2 foreign keys in scope


def test_f2_a_village_cannot_block_another_villages_rows(county, stations):
    village_b, = stations(county, "VB")
    _household_id, resident_b = household(village_b, VILLAGE_B, "乙村居民")
    village_b.sync()
    intruder = _op("enrollment", resident_id=resident_b, year=2027, village_code=VILLAGE_A, status="unpaid",
                   deleted=False)
    nowhere = _op("enrollment", resident_id=str(uuid.uuid4()), year=2027, village_code=VILLAGE_A,
                  status="unpaid", deleted=False)
    first, second = _push(county, "VA", [intruder, nowhere])["results"]
    assert first["status"] == second["status"] == "rejected"
    # One answer for "not yours" and "not there": nothing tells village A the resident exists.
    assert (first["reason"], first["message"]) == (second["reason"], second["message"]) == (
        "out_of_scope", first["message"])
    assert county.store.row_state(intruder["id"]) is None
    real = _op("enrollment", code="VB", resident_id=resident_b, year=2027, village_code=VILLAGE_B,
               status="unpaid", deleted=False)
    assert _push(county, "VB", [real])["results"][0]["status"] == "accepted"


def test_f2_an_update_cannot_point_a_row_at_another_villages_row(county, stations):
    village_a, village_b = stations(county, "VA", "VB")
    _hh_a, resident_a = household(village_a, VILLAGE_A)
    household_b, _ = household(village_b, VILLAGE_B)
    village_a.sync()
    village_b.sync()
    op = _op("resident", kind="update", row_id=resident_a, bv=1, household_id=household_b)
    assert _push(county, "VA", [op])["results"][0]["reason"] == "out_of_scope"
    assert county.store.row_state(resident_a).data["household_id"] != household_b


# ------------------------------------------------------------------ 3 nothing local from the wire


def test_f3_a_notice_pdf_path_never_travels_and_open_stays_in_the_notices_folder(county, stations, tmp_path,
                                                                                 monkeypatch):
    from station_app import paths
    from station_app.services import notices

    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "data"))
    township, = stations(county, "TS")
    notice = _op("notice", kind="insert", village_code=VILLAGE_A, year=2027, title="参保公示", group_code=None,
                 period_start="2027-01-01", period_end="2027-01-08", issued_by="admin",
                 issued_at="2027-01-01T10:00:00", pdf_path="/etc/hostname", sha256="0" * 64, deleted=False)
    notice["f"]["kind"] = "enrollment"
    result = _push(county, "VA", [notice])["results"][0]
    assert result["status"] == "accepted"
    assert "pdf_path" not in county.store.row_state(notice["id"]).data  # never stored, never sent on
    township.sync()
    assert township.row("notice", notice["id"])["pdf_path"] == ""
    base = paths.notices_dir().resolve()
    for hostile in ("/etc/hostname", "\\\\server\\share\\x.pdf", "C:/Windows/win.ini", "../../etc/hostname",
                    "2027/../../x.pdf", "a/\x00b.pdf"):
        resolved = notices._resolve(hostile).resolve()
        assert resolved.is_relative_to(base), (hostile, resolved)
        assert not resolved.is_file()
    assert notices._resolve("2027/x/y.pdf") == paths.notices_dir() / "2027" / "x" / "y.pdf"


# ------------------------------------------------------------------ 4 never a 5xx


def _valid_body(**op_fields) -> dict:
    return {"batch_id": str(uuid.uuid4()), "ops": [_op("household", **{**_household_fields(VILLAGE_A), **op_fields})]}


@pytest.mark.parametrize("case", ["nul_id", "nul_op_id", "nul_value", "surrogate_value", "surrogate_op_id",
                                  "long_natural_key", "deep_nesting", "bad_gzip", "truncated_gzip", "not_json",
                                  "not_utf8", "nan", "huge_int_version", "huge_client_time", "unknown_encoding"])
def test_f4_malformed_input_is_a_4xx_or_a_rejected_op_never_a_5xx(county, stations, case):
    village, = stations(county, "VA")
    headers = {}
    body = _valid_body()
    op = body["ops"][0]
    raw = None
    if case == "nul_id":
        op["id"] = op["id"][:-1] + "\x00"
    elif case == "nul_op_id":
        op["op_id"] = "\x00" * 36
    elif case == "nul_value":
        op["f"]["head_name"] = "张\x00三"
    elif case in ("surrogate_value", "surrogate_op_id"):
        key = '"head_name": "\\u5f20\\ud800"' if case == "surrogate_value" else '"op_id": "\\ud800"'
        text = json.dumps(body)
        text = text.replace('"head_name": "' + op["f"]["head_name"].encode("unicode_escape").decode() + '"', key) \
            if case == "surrogate_value" else text.replace(f'"op_id": "{op["op_id"]}"', key)
        raw = text.encode()
        assert b"ud800" in raw
    elif case == "long_natural_key":
        body["ops"] = [_op("card_usage", card_id="c" * 300, month="2027-01", village_code=VILLAGE_A, deleted=False)]
    elif case == "deep_nesting":
        raw = b"[" * 100_000
    elif case == "bad_gzip":
        raw, headers = b"this is not gzip at all", {"Content-Encoding": "gzip"}
    elif case == "truncated_gzip":
        raw, headers = gzip.compress(json.dumps(body).encode())[:-12], {"Content-Encoding": "gzip"}
    elif case == "not_json":
        raw = b'{"batch_id": '
    elif case == "not_utf8":
        raw = json.dumps(body).encode().replace(b"VA", b"\xff\xfe", 1)
    elif case == "nan":
        raw = json.dumps(body).replace('"bv": 0', '"bv": NaN').encode()
    elif case == "huge_int_version":
        op["bv"] = 2**70
    elif case == "huge_client_time":
        body["client_time_ms"] = 10**30
    elif case == "unknown_encoding":
        raw, headers = json.dumps(body).encode(), {"Content-Encoding": "br"}
    answer = _push_raw(county, "VA", raw if raw is not None else json.dumps(body).encode(), **headers)
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code == 200:
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["rejected"], results
        assert any("\u4e00" <= c <= "\u9fff" for c in results[0]["message"])
    else:
        _chinese_error(answer)
    assert county.store.counts()["rows"] == 0
    household(village, VILLAGE_A)  # and the station's own queue goes on
    assert village.sync().accepted == 3 and pending(village) == 0


@pytest.mark.parametrize("params", [{"cursor": 2**63}, {"cursor": -1}, {"cursor": "x"}, {"limit": 0},
                                    {"limit": 10**9}, {"stream": "other"}, {"villages": "A\nB"}])
def test_f4_query_parameters_out_of_range_are_a_400_in_chinese(county, params):
    _chinese_error(_pull(county, "VA", **params))


# ------------------------------------------------------------------ 5 limits while streaming


def test_f5_more_than_500_ops_is_refused_whole(county):
    body = {"batch_id": str(uuid.uuid4()),
            "ops": [_op("household", **_household_fields(VILLAGE_A, f"H{i}")) for i in range(MAX_BATCH_OPS + 1)]}
    answer = _push_raw(county, "VA", json.dumps(body).encode())
    assert answer.status_code == 400 and answer.json()["error"] == "too_large" and "500" in _chinese_error(answer)
    assert county.store.counts()["rows"] == 0


def test_f5_a_body_over_the_limit_is_refused_before_it_is_read(county):
    declared = _push_raw(county, "VA", b"x" * (MAX_PUSH_BYTES + 1))
    assert declared.status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(64):
            yield b" " * 65536

    streamed = requests.post(county.url + "/v1/sync/push", data=chunks(), timeout=30,
                             headers=_headers(county, "VA", **{"Content-Type": "application/json"}))
    assert streamed.status_code == 413
    bomb = gzip.compress(b" " * (50 * MAX_PUSH_BYTES))  # ~50 KB that inflates to 50 MB
    assert len(bomb) < MAX_PUSH_BYTES
    answer = _push_raw(county, "VA", bomb, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and _chinese_error(answer)


def test_f5_a_station_never_builds_a_batch_over_the_limit(county, stations):
    village, = stations(county, "VA")
    household_id, _ = household(village, VILLAGE_A)
    for i in range(12):  # Chinese text: 3 bytes a character in UTF-8, ~100 KB per op
        edit(village, Household, household_id, note=f"{i}" + "备注很长" * 8_000)
    report = village.sync()
    assert report.rejected == 0 and report.batches >= 2 and pending(village) == 0


# ------------------------------------------------------------------ 5 no stuck queue


def test_f5_an_op_refused_for_good_is_quarantined_shown_and_later_ops_flow(county, stations):
    village, = stations(county, "VA")
    household_id, _ = household(village, VILLAGE_A)
    village.sync()
    # An op the server can never take (a field it does not know, e.g. from a newer app).
    with apply_txn(village.ws) as conn:
        conn.exec_driver_sql(
            "INSERT INTO sync_outbox (op_id, table_name, row_id, village_code, op, fields_json, base_version, hlc, "
            "state, attempts, last_error, created_at) VALUES (?, 'household', ?, ?, 'update', ?, 1, ?, 'pending', "
            "0, '', '2027-01-01 00:00:00')",
            (str(uuid.uuid4()), household_id, VILLAGE_A, json.dumps({"wechat_id": "x"}), _hlc("VA")))
    edit(village, Household, household_id, phone="13800000009")
    report = village.sync()
    assert report.rejected == 1 and report.accepted == 1 and pending(village) == 0
    refused = list_rejected(village.ws)
    assert len(refused) == 1 and "字段" in refused[0].message
    assert county.store.row_state(household_id).data["phone"] == "13800000009"
    assert "wechat_id" not in county.store.row_state(household_id).data


# ------------------------------------------------------------------ 6 smaller findings


def test_f6_disabling_a_station_in_another_server_process_takes_effect_on_its_next_request(county, stations):
    village, = stations(county, "VA")
    assert _pull(county, "VA").status_code == 200
    other = Store(county.server.db_url)  # e.g. the admin's command line
    try:
        other.set_active("VA", False)
    finally:
        other.close()
    answer = _pull(county, "VA")
    assert answer.status_code == 401
    body = {"batch_id": str(uuid.uuid4()), "ops": [_op("household", **_household_fields(VILLAGE_A))]}
    assert _push_raw(county, "VA", json.dumps(body).encode()).status_code == 401
    assert county.store.counts()["rows"] == 0


def test_f6_rotate_token_and_token_expiry(county, capsys):
    url = county.server.db_url
    assert county_main(["--db-url", url, "rotate-token", "--code", "VA"]) == 0
    new = capsys.readouterr().out.strip().splitlines()[-1]
    assert new.startswith("ybs_") and new != county.tokens["VA"]
    assert _pull(county, "VA").status_code == 401  # the old token stops at once
    county.tokens["VA"] = new
    assert _pull(county, "VA").status_code == 200
    assert county_main(["--db-url", url, "rotate-token", "--code", "NOPE"]) == 1
    assert "没有该站点" in capsys.readouterr().err
    assert county_main(["--db-url", url, "rotate-token", "--code", "VA", "--expires-days", "30"]) == 0
    county.tokens["VA"] = capsys.readouterr().out.strip().splitlines()[-1]
    assert _pull(county, "VA").status_code == 200
    with county.store.engine.begin() as conn:
        conn.execute(update(ServerStation.__table__).where(ServerStation.__table__.c.code == "VA")
                     .values(token_expires_at=utcnow() - timedelta(seconds=1)))
    answer = _pull(county, "VA")
    assert answer.status_code == 401 and "过期" in answer.json()["message"]


def test_f6_made_up_field_names_are_refused_and_never_stored(county, stations):
    fields = {**_household_fields(VILLAGE_A), **{f"made_up_{i}": "x" for i in range(300)}}
    result = _push(county, "VA", [_op("household", **fields)])["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "unknown_field"
    assert county.store.counts()["rows"] == 0
    assert "made_up" not in _pull(county, "TS").text


def test_f6_op_ids_are_namespaced_per_station(county, stations):
    shared_op_id = str(uuid.uuid4())
    mine = _op("household", **_household_fields(VILLAGE_A, "甲"))
    mine["op_id"] = shared_op_id
    assert _push(county, "VA", [mine])["results"][0]["status"] == "accepted"
    theirs = _op("household", code="VB", **_household_fields(VILLAGE_B, "乙"))
    theirs["op_id"] = shared_op_id  # the same op id from another station is another op
    result = _push(county, "VB", [theirs])["results"][0]
    assert result["status"] == "accepted" and not result.get("duplicate")
    assert county.store.row_state(theirs["id"]).data["head_name"] == "乙"


def test_f6_a_reused_batch_id_with_other_ops_is_a_409(county):
    batch_id = str(uuid.uuid4())
    first = [_op("household", **_household_fields(VILLAGE_A, "甲"))]
    assert _push(county, "VA", first, batch_id)["results"][0]["status"] == "accepted"
    again = _push(county, "VA", first, batch_id)  # a replay: the stored answer
    assert again["replayed"]
    fewer = _push(county, "VA", [], batch_id)  # a resend with ops closed meanwhile: still a replay
    assert fewer["replayed"]
    other = [_op("household", **_household_fields(VILLAGE_A, "乙"))]
    body = {"batch_id": batch_id, "ops": other}
    answer = _push_raw(county, "VA", json.dumps(body).encode())
    assert answer.status_code == 409 and "批次" in answer.json()["message"]
    assert county.store.row_state(other[0]["id"]) is None


def test_f6_a_huge_cursor_is_refused_and_other_stations_bookkeeping_survives(county, stations):
    village, township = stations(county, "VA", "TS")
    household(village, VILLAGE_A)
    village.sync()
    township.sync()
    county.store.flush_marks()
    before = {s["code"]: s["pulled_seq"] for s in county.store.list_stations()}
    assert _pull(county, "VA", cursor=2**63).status_code == 400
    assert _pull(county, "TS", cursor=2**62).status_code == 200  # beyond the horizon: never recorded
    county.store.flush_marks()
    after = {s["code"]: s["pulled_seq"] for s in county.store.list_stations()}
    assert after["TS"] <= county.store.counts()["seq"] and after["VA"] == before["VA"]


def test_f6_the_openapi_describes_tables_and_every_status(county):
    spec = requests.get(county.url + "/openapi.json", timeout=10).json()
    pull = spec["paths"]["/v1/sync/pull"]["get"]["responses"]
    page = pull["200"]["content"]["application/json"]["schema"]
    assert "tables" in page["properties"] and "rows" not in page["properties"]
    assert {"400", "401", "403", "426"} <= set(pull)
    assert {"400", "401", "409", "413", "426"} <= set(spec["paths"]["/v1/sync/push"]["post"]["responses"])
    assert {"400", "401", "403", "413", "426"} <= set(spec["paths"]["/v1/bundles"]["post"]["responses"])


def test_f6_the_bundle_path_corrects_clock_skew_like_the_push_path(county, stations, tmp_path):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(township, VILLAGE_A)
    township.sync()
    behind = lambda: wall_clock_ms() - 3 * DAY_MS  # noqa: E731
    village.ws.clock.inner._wall_clock = behind
    village.sync(wall_clock=behind)  # learns it is 3 days slow
    assert "慢约 3 天" in village.state(state.K_CLOCK_WARNING)
    edit(township, Household, household_id, address="乡镇先改")
    township.sync()
    edit(village, Household, household_id, address="村里后改")  # later, but stamped 3 days earlier
    bundle = export_bundle(village.ws, tmp_path / "va.ybsb").path
    summary = county.store.import_bundle(bundle.read_bytes())
    assert summary["conflict"] == 0 and summary["accepted"] == 1
    assert county.store.row_state(household_id).data["address"] == "村里后改"


# ------------------------------------------------------------------ township bundle import


def test_the_township_applies_a_village_bundle_through_the_same_validation(county, stations, tmp_path):
    village_a, village_b, township = stations(county, "VA", "VB", "TS")
    household_b, resident_b = household(village_b, VILLAGE_B, "乙村户")
    village_b.sync()
    township.sync()
    assert township.row("resident", resident_b) is not None
    good = _op("household", **_household_fields(VILLAGE_A, "甲村新户"))
    other_village = _op("household", **_household_fields(VILLAGE_B, "冒充乙村"))
    edit_b = _op("resident", kind="update", row_id=resident_b, bv=1, name="被改名")
    foreign = _op("enrollment", resident_id=resident_b, year=2027, village_code=VILLAGE_A, status="unpaid",
                  deleted=False)
    made_up = _op("household", **{**_household_fields(VILLAGE_A, "多余字段"), "made_up": "x"})
    notice = _op("notice", village_code=VILLAGE_A, year=2027, title="公示", group_code=None,
                 period_start="2027-01-01", period_end="2027-01-08", issued_by="admin",
                 pdf_path="/etc/hostname", sha256="0" * 64, deleted=False)
    notice["f"]["kind"] = "enrollment"
    surrogate = _op("household", **{**_household_fields(VILLAGE_A, "坏"), "head_name": "\ud800"})
    ops = [good, other_village, edit_b, foreign, made_up, notice, surrogate]
    payload = {"bundle_id": str(uuid.uuid4()), "station": "VA", "created_ms": wall_clock_ms(), "protocol": 1,
               "schema": 1, "batches": [{"batch_id": str(uuid.uuid4()), "ops": ops}]}
    data = write_bundle_safely(payload, bundle_key(county.tokens["VA"]))
    path = tmp_path / "hostile.ybsb"
    path.write_bytes(data)
    result = import_bundle(township.ws, path)
    assert result.applied == 2  # the new household of village A and the notice (without its path)
    assert township.row("household", good["id"])["head_name"] == "甲村新户"
    assert township.row("household", other_village["id"]) is None
    assert township.row("resident", resident_b)["name"] == "乙村户"
    assert township.row("enrollment", foreign["id"]) is None
    assert township.row("household", made_up["id"]) is None
    assert township.row("notice", notice["id"])["pdf_path"] == ""
    assert township.row("household", surrogate["id"]) is None
    township.sync()  # relayed: the server judges it the same way
    assert county.store.row_state(good["id"]) is not None
    assert county.store.row_state(other_village["id"]) is None and county.store.row_state(foreign["id"]) is None
    assert county.store.row_state(resident_b).data["name"] == "乙村户"
    assert_converged(county, township)


def write_bundle_safely(payload: dict, key: bytes) -> bytes:
    """write_bundle with ASCII-escaped JSON (a lone surrogate cannot be UTF-8 encoded otherwise)."""
    import hashlib
    import hmac

    from sync_protocol.protocol import gzip_bytes

    body = gzip_bytes(json.dumps(payload, ensure_ascii=True).encode("ascii"))
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    assert write_bundle  # the real writer is used elsewhere; this one only differs in the escaping
    return f"YBSB1 {payload['station']} {payload['bundle_id']} {signature}\n".encode() + body


# ------------------------------------------------------------------ pulled rows


def test_a_stored_lone_surrogate_never_reaches_a_station_and_repair_removes_it(county, stations):
    village, = stations(county, "VA")
    household(village, VILLAGE_A, "好户")
    village.sync()
    bad_id = str(uuid.uuid4())
    with county.store.engine.begin() as conn:  # left by an older server: a lone surrogate
        seq = county.store.counts()["seq"] + 1
        conn.execute(insert(SyncRow.__table__).values(
            row_id=bad_id, table_name="household", stream="data", scope_code=VILLAGE_A, seq=seq, row_version=1,
            deleted=False, h0=_hlc("VA"), fh="{}", fv="{}",
            cols='["deleted","head_name","household_no","village_code"]',
            vals=f'[false,"\\ud800","H1","{VILLAGE_A}"]', natural_key=None, origin="VA", updated_at=utcnow(),
            compacted=False))
        from county_server.models import Counter

        conn.execute(update(Counter.__table__).where(Counter.__table__.c.name == "seq").values(value=seq))
    township, = stations(county, "TS")
    report = township.sync()  # the page carries U+FFFD instead (never text a station cannot store)
    assert report.pulled_rows >= 4 and township.row("household", bad_id)["head_name"] == "\ufffd"
    problems = county.store.check()
    assert [p["row_id"] for p in problems] == [bad_id]
    assert county_main(["--db-url", county.server.db_url, "repair"]) == 0
    assert county.store.check() == []


# ------------------------------------------------------------------ check and repair


def test_check_and_repair_quarantine_rows_left_by_older_versions(county, stations, capsys):
    village_a, village_b = stations(county, "VA", "VB")
    _hh, resident_b = household(village_b, VILLAGE_B)
    household_a, _ = household(village_a, VILLAGE_A)
    village_a.sync()
    village_b.sync()
    store = county.store
    blocker = str(uuid.uuid4())
    made_up = str(uuid.uuid4())
    with store.engine.begin() as conn:
        seq = store.counts()["seq"]
        common = dict(stream="data", row_version=1, deleted=False, h0=_hlc("VA"), fh="{}", fv="{}", origin="VA",
                      updated_at=utcnow(), compacted=False)
        # Finding 2 as an older server stored it: village A's enrollment of village B's resident.
        conn.execute(insert(SyncRow.__table__).values(
            row_id=blocker, table_name="enrollment", scope_code=VILLAGE_A, seq=seq + 1,
            cols='["deleted","resident_id","status","village_code","year"]',
            vals=f'[false,"{resident_b}","unpaid","{VILLAGE_A}",2027]',
            natural_key=json.dumps([resident_b, 2027], separators=(",", ":")), **common))
        # Finding 6: made-up fields; finding 3: a notice path.
        conn.execute(insert(SyncRow.__table__).values(
            row_id=made_up, table_name="household", scope_code=VILLAGE_A, seq=seq + 2,
            cols='["deleted","head_name","household_no","made_up","village_code"]',
            vals=f'[false,"户","H9","x","{VILLAGE_A}"]', natural_key=None, **common))
        from county_server.models import Counter

        conn.execute(update(Counter.__table__).where(Counter.__table__.c.name == "seq").values(value=seq + 2))
    url = county.server.db_url
    assert county_main(["--db-url", url, "check"]) == 2
    out = capsys.readouterr().out
    assert blocker in out and made_up in out and "made_up" in out and "发现 2 条" in out
    assert county_main(["--db-url", url, "repair"]) == 0
    assert "1 条改为已删除" in capsys.readouterr().out
    assert county_main(["--db-url", url, "check"]) == 0
    assert "made_up" not in store.row_state(made_up).data
    assert store.row_state(blocker).deleted
    real = _op("enrollment", code="VB", resident_id=resident_b, year=2027, village_code=VILLAGE_B,
               status="unpaid", deleted=False)
    assert _push(county, "VB", [real])["results"][0]["status"] == "accepted"  # no longer blocked
    village_a.sync()
    assert_converged(county, village_a)


def test_sync_protocol_doc_states_limits_validation_and_quarantine():
    text = (Path(__file__).resolve().parents[2] / "docs" / "SYNC_PROTOCOL.md").read_text(encoding="utf-8")
    for needle in ("500", "1 MiB", "413", "fullmatch", "未被接受的修改", "county-server check", "rotate-token"):
        assert needle in text, needle


def test_a_pulled_row_the_validation_refuses_is_skipped_and_the_rest_applies(sqlite_county, stations):
    from station_app.sync.apply import Applier

    township, = stations(sqlite_county, "TS")
    good, bad_text, bad_id, bad_date = (str(uuid.uuid4()) for _ in range(4))
    columns = ["deleted", "head_name", "household_no", "village_code"]
    hlc = _hlc("VA")
    blocks = [
        {"t": "household", "c": columns, "r": [
            [good, 1, hlc, None, False, "好户", "H1", VILLAGE_A],
            [bad_text, 1, hlc, None, False, "\ud800", "H2", VILLAGE_A],
            [bad_id + "\n", 1, hlc, None, False, "户", "H3", VILLAGE_A],
            [str(uuid.uuid4()), 1, "not an hlc", None, False, "户", "H4", VILLAGE_A],
            [str(uuid.uuid4()), 1, hlc, None],
        ]},
        {"t": "household", "c": ["deleted", "category_since", "head_name", "household_no", "village_code"],
         "r": [[bad_date, 1, hlc, None, False, "2027/02/03", "户", "H5", VILLAGE_A]]},
        {"t": "household", "c": "not a list", "r": []},
        "not a block",
    ]
    with apply_txn(township.ws) as conn:
        stats = Applier().apply_blocks(conn, blocks)
    assert stats.rows == 1 and stats.refused == 7
    assert township.row("household", good)["head_name"] == "好户"
    for row_id in (bad_text, bad_id, bad_date):
        assert township.row("household", row_id) is None
