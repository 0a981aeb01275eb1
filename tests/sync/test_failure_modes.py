"""One test per failure mode listed at the end of docs/design/SYNC.md (mode 11 is the
property test in test_convergence.py), each against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import update

from county_server.models import SyncRow, utcnow
from county_server.store import Store
from sync_protocol.hlc import wall_clock_ms
from station_app.store import migrate
from station_app.store.models import Household, Resident
from station_app.sync import state
from station_app.sync.client import NetworkError
from station_app.sync.conflicts import list_rejected
from station_app.sync.engine import apply_txn

from tests.conftest import VILLAGE_A, VILLAGE_B
from .conftest import (
    TOWNSHIP_2,
    FaultyTransport,
    Killed,
    assert_converged,
    is_pull,
    is_push,
    pending,
    sync_until_quiet,
)
from .helpers import delete, edit, household

DAY_MS = 86_400_000


def _cursors(transport: FaultyTransport) -> list[int]:
    return [int(parse_qs(urlparse(url).query)["cursor"][0]) for method, url, _ in transport.log
            if method == "GET" and "stream=data" in url]


# ------------------------------------------------------------------ 1


@pytest.mark.parametrize("fault", ["kill_after", "drop_response", "duplicate"])
def test_fm01_client_killed_after_the_server_committed_a_push_creates_no_duplicates(county, stations, fault):
    village, = stations(county, "VA")
    household_id, _ = household(village, VILLAGE_A)
    transport = FaultyTransport(plan=[fault], only=is_push)
    if fault == "kill_after":
        with pytest.raises(Killed):
            village.sync(transport)
        assert village.outbox_states() == {"sent": 3, "local": 1}  # saved before sending
        village.reopen()
        before = county.store.counts()
        report = village.sync()
        after = county.store.counts()
        assert report.pushed == 3 and report.rejected == 0
        assert after["rows"] == before["rows"] and after["seq"] == before["seq"]  # the stored answer
    else:
        village.sync(transport)
    assert county.store.counts()["rows"] == 3
    assert county.store.counts()["batches"] == 1
    assert pending(village) == 0
    assert county.store.row_state(household_id).row_version == 1
    assert_converged(county, village)


# ------------------------------------------------------------------ 2


def test_fm02_killed_between_applying_a_pull_page_and_saving_the_cursor(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    village.sync()
    township.sync()
    # A conflict for the village travels in its next page: applied twice, it would show twice.
    edit(village, Household, household_id, phone="13800000001")
    edit(township, Household, household_id, phone="13800000002")
    village.sync()
    township.sync()
    cursor_before = village.state(state.K_CURSOR)
    engine = village.engine()

    def die() -> None:
        raise Killed()

    engine.before_page_commit = die
    with pytest.raises(Killed):
        engine.sync()
    engine.client.close()
    assert village.state(state.K_CURSOR) == cursor_before  # neither the page nor its cursor
    assert village.row("household", household_id)["phone"] == "13800000001"
    assert village.conflicts() == []
    village.reopen()
    village.sync()
    village.sync()
    assert village.row("household", household_id)["phone"] == "13800000002"
    assert len(village.conflicts()) == 1
    assert_converged(county, village)


# ------------------------------------------------------------------ 3


def test_fm03_connection_dropped_repeatedly_during_a_large_initial_sync(county, stations):
    village, = stations(county, "VA")
    rows = []
    for i in range(1500):
        rows.append(dict(id=str(uuid.uuid4()), village_code=VILLAGE_A, household_no=f"H{i:05d}", group_code=None,
                         head_name="张三", address="", phone="", category="general", category_since=None,
                         helper_name="", helper_phone="", note="", deleted=False))
    county.store.seed_rows("household", rows, origin="VA", hlc="1700000000000-000000-VA")
    township, = stations(county, "TS")
    # Every other page answer is lost; three losses in a row exhaust one run's retries.
    transport = FaultyTransport(plan=["ok", "drop_response"] * 6 + ["drop_response"] * 3, only=is_pull)
    with pytest.raises(NetworkError):
        township.sync(transport, page_rows=100, adaptive=False, max_attempts=3)
    saved = int(township.state(state.K_CURSOR))
    assert saved > 0
    seen = _cursors(transport)
    assert seen == sorted(seen)  # never goes backwards
    transport2 = FaultyTransport(plan=["drop_request", "ok", "drop_response"] * 20, only=is_pull)
    township.sync(transport2, page_rows=100, adaptive=False, max_attempts=4)
    resumed = _cursors(transport2)
    assert resumed[0] == saved and resumed == sorted(resumed)  # resumes where it stopped
    with township.ws.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM household").scalar_one() == 1500 + 0
    assert_converged(county, township)


# ------------------------------------------------------------------ 4


def test_fm04_a_station_restored_from_an_old_backup_does_not_undo_other_changes(county, stations, tmp_path):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    village.sync()
    township.sync()
    edit(village, Household, household_id, note="备份前未上传")
    backup = migrate.backup_copy(village.path, "test", tmp_path / "backups")
    village.sync()  # the note goes up after the backup was taken
    edit(village, Household, household_id, phone="13900000000")
    village.sync()
    township.sync()  # the township has seen the note before it rewrites it: no conflict
    edit(township, Household, household_id, address="漩涡镇群英村3组", note="乡镇改过")
    township.sync()

    village.close()
    shutil.copy(backup, village.path)  # the clerk restores last week's backup
    for suffix in ("-wal", "-shm"):
        (village.path.parent / (village.path.name + suffix)).unlink(missing_ok=True)
    village.reopen()
    village.sync()
    village.sync()
    server = county.store.row_state(household_id).data
    assert server["phone"] == "13900000000"  # its own later edit survives
    assert server["address"] == "漩涡镇群英村3组" and server["note"] == "乡镇改过"  # others' too
    assert village.conflicts() == []  # the replayed op was recognised, not re-judged
    assert pending(village) == 0
    assert_converged(county, village)
    township.sync()
    assert_converged(county, township)


# ------------------------------------------------------------------ 5


def test_fm05_clock_skew_of_three_days_and_a_backward_jump(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(township, VILLAGE_A)
    township.sync()
    village.sync()
    ahead = lambda: wall_clock_ms() + 3 * DAY_MS  # noqa: E731
    village.ws.clock.inner._wall_clock = ahead

    # Ahead by 3 days: the village edits first, the township later; the later edit wins.
    edit(village, Household, household_id, phone="13800000001")
    time.sleep(0.01)
    edit(township, Household, household_id, phone="13800000002")
    township.sync()
    village.sync(wall_clock=ahead)
    village.sync(wall_clock=ahead)
    assert county.store.row_state(household_id).data["phone"] == "13800000002"
    assert village.row("household", household_id)["phone"] == "13800000002"
    lost = [c for c in village.conflicts() if c["field"] == "phone"]
    assert len(lost) == 1 and json.loads(lost[0]["local_value"]) == "13800000001"  # kept for review
    assert "快约 3 天" in village.state(state.K_CLOCK_WARNING)

    # Behind by 3 days: the township edits first, the village later; the village wins.
    behind = lambda: wall_clock_ms() - 3 * DAY_MS  # noqa: E731
    village.ws.clock.inner._wall_clock = behind
    edit(township, Household, household_id, address="乡镇先改")
    township.sync()
    time.sleep(0.01)
    edit(village, Household, household_id, address="村里后改")
    village.sync(wall_clock=behind)
    assert county.store.row_state(household_id).data["address"] == "村里后改"
    assert "慢约 3 天" in village.state(state.K_CLOCK_WARNING)
    township.sync()
    assert township.row("household", household_id)["address"] == "村里后改"

    # A backward jump of two hours between two edits: the second still comes after the first.
    village.ws.clock.inner._wall_clock = wall_clock_ms
    edit(village, Household, household_id, helper_name="第一次")
    jumped = lambda: wall_clock_ms() - 2 * 3_600_000  # noqa: E731
    village.ws.clock.inner._wall_clock = jumped
    edit(village, Household, household_id, helper_name="第二次")
    village.sync(wall_clock=jumped)
    assert county.store.row_state(household_id).data["helper_name"] == "第二次"
    assert "慢约 2 小时" in village.state(state.K_CLOCK_WARNING)
    village.ws.clock.inner._wall_clock = wall_clock_ms
    village.sync()
    assert village.state(state.K_CLOCK_WARNING) == ""  # cleared once the clock is right
    assert_converged(county, village)


# ------------------------------------------------------------------ 6


def test_fm06_offline_six_weeks_while_tombstones_are_purged(county, stations):
    village, township, admin = stations(county, "VA", "TS", "CTY")
    household_id, head_id = household(village, VILLAGE_A)
    village.sync()
    township.sync()
    # The township goes offline; the village deletes the household; six weeks pass.
    delete(village, Household, household_id)
    village.sync()
    with county.store.engine.begin() as conn:
        conn.execute(update(SyncRow.__table__).where(SyncRow.__table__.c.row_id == household_id)
                     .values(updated_at=utcnow() - timedelta(days=43)))
    assert county.store.purge(tombstone_days=42)["tombstones_compacted"] == 1
    assert county.store.row_state(household_id).compacted
    # Meanwhile the township edited the deleted household offline.
    edit(township, Household, household_id, phone="13700000000")
    township.sync()
    township.sync()
    record = county.store.row_state(household_id)
    assert record.deleted  # nothing deleted comes back
    assert township.row("household", household_id)["deleted"] == 1
    assert [c["field"] for c in township.conflicts()] == ["deleted"]  # the edit is kept for review
    admin.sync()  # a new station never receives the deleted row at all
    assert admin.row("household", household_id) is None
    assert admin.row("resident", head_id) is not None
    assert_converged(county, township)
    assert_converged(county, admin)


# ------------------------------------------------------------------ 7


def test_fm07_same_field_at_village_and_township_is_one_conflict_with_both_values(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    sync_until_quiet(county, [village, township], rounds=1)
    edit(village, Household, household_id, phone="13800000001")
    edit(township, Household, household_id, phone="13800000002")
    village.sync()
    township.sync()
    village.sync()
    conflicts = village.conflicts() + township.conflicts()
    assert len(conflicts) == 1
    (conflict,) = conflicts
    assert conflict["field"] == "phone"
    assert {json.loads(conflict["local_value"]), json.loads(conflict["remote_value"])} == {
        "13800000001", "13800000002"}
    assert village.conflicts()  # the village's value lost (the township's edit is later)
    assert county.store.row_state(household_id).data["phone"] == "13800000002"
    assert_converged(county, village)
    assert_converged(county, township)


def test_fm07_different_fields_merge_cleanly(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    sync_until_quiet(county, [village, township], rounds=1)
    edit(village, Household, household_id, phone="13800000001")
    edit(township, Household, household_id, address="群英村二组")
    village.sync()
    township.sync()
    village.sync()
    for station in (village, township):
        row = station.row("household", household_id)
        assert (row["phone"], row["address"]) == ("13800000001", "群英村二组")
        assert station.conflicts() == []
        assert_converged(county, station)


@pytest.mark.parametrize("delete_first", [True, False])
def test_fm07_edit_against_delete_is_a_conflict(county, stations, delete_first):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    sync_until_quiet(county, [village, township], rounds=1)
    delete(village, Household, household_id)
    edit(township, Household, household_id, phone="13600000000")
    order = [village, township] if delete_first else [township, village]
    for station in order + order:
        station.sync()
    assert county.store.row_state(household_id).deleted
    conflicts = township.conflicts()
    assert [c["field"] for c in conflicts] == ["deleted"]
    assert json.loads(conflicts[0]["remote_value"]) is True
    assert township.row("household", household_id)["deleted"] == 1
    assert_converged(county, township)


# ------------------------------------------------------------------ 8


def test_fm08_a_village_reassigned_to_another_township(county, stations, reference_rows):
    village, old, new = stations(county, "VA", "TS", "T2")
    household_id, head_id = household(village, VILLAGE_A)
    for station in (village, old, new):
        station.sync()
    assert new.row("household", household_id) is None
    edit(old, Household, household_id, phone="13500000000")  # the old clerk, offline
    moved = [(t, k, dict(f, parent_code=TOWNSHIP_2) if t == "place" and f["code"] == VILLAGE_A else f)
             for t, k, f in reference_rows]
    county.store.load_reference(rows=moved)

    report = old.sync()
    assert report.rejected == 1
    (rejected,) = list_rejected(old.ws)
    assert "不在本站管辖范围" in rejected.message
    assert pending(old) == 0

    report = new.sync()
    assert report.backfilled == [VILLAGE_A]
    assert new.row("household", household_id) is not None
    assert new.row("resident", head_id) is not None
    village.sync()
    assert county.store.row_state(household_id).data["phone"] == ""  # the refused edit stayed out
    assert_converged(county, new)
    assert_converged(county, village)
    assert_converged(county, old)  # its scope no longer has the village


# ------------------------------------------------------------------ 9


def test_fm09_a_push_for_a_village_outside_scope_is_refused_and_the_queue_drains(county, stations):
    village, = stations(county, "VA")
    foreign_id, _ = household(village, VILLAGE_B, "外村人")  # the local admin may; the server may not
    own_id, _ = household(village, VILLAGE_A, "本村人")
    report = village.sync()
    assert report.rejected == 2 and report.accepted == 3
    assert pending(village) == 0
    assert county.store.row_state(foreign_id) is None
    assert county.store.row_state(own_id) is not None
    assert all("不在本站管辖范围" in r.message for r in list_rejected(village.ws))
    assert village.sync().pushed == 0


# ------------------------------------------------------------------ 10


def test_fm10_an_invalid_op_does_not_block_the_queue(county, stations):
    village, = stations(county, "VA")
    first_id, _ = household(village, VILLAGE_A, "第一户")
    bad = [
        ("no_such_table", "update", json.dumps({"x": 1})),
        ("household", "update", json.dumps({"phone": 12345})),  # a number where text belongs
        ("household", "update", "{not json"),
        ("place", "update", json.dumps({"name": "改名"})),  # reference data
    ]
    with apply_txn(village.ws) as conn:
        for table, kind, fields in bad:
            conn.exec_driver_sql(
                "INSERT INTO sync_outbox (op_id, table_name, row_id, village_code, op, fields_json, base_version,"
                " hlc, state, attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'pending', 0, '',"
                " '2026-01-01 00:00:00.000000')",
                (str(uuid.uuid4()), table, first_id, VILLAGE_A, kind, fields,
                 f"{wall_clock_ms():013d}-000000-VA"))
    second_id, _ = household(village, VILLAGE_A, "第二户")
    report = village.sync()
    assert report.rejected == 4
    assert county.store.row_state(second_id) is not None  # the ops after the bad ones went through
    assert pending(village) == 0
    assert_converged(county, village)


# ------------------------------------------------------------------ 12


def test_fm12_an_older_client_keeps_the_new_columns_of_a_newer_one(county, stations):
    import dataclasses

    from sync_protocol.tables import FieldSpec

    village, = stations(county, "VA")
    household_id, head_id = household(village, VILLAGE_A)
    village.sync()
    # A newer app version has a column this one does not know. The server is upgraded first
    # (it only stores fields its spec knows: issue 9), the older station keeps running.
    resident = county.store.specs["resident"]
    county.store.specs = {**county.store.specs, "resident": dataclasses.replace(
        resident, fields={**resident.fields, "wechat_id": FieldSpec("wechat_id", "str", True, 60)})}
    newer = village.client()
    answer = newer.push({"batch_id": str(uuid.uuid4()), "ops": [{
        "op_id": str(uuid.uuid4()), "t": "resident", "id": head_id, "k": "update",
        "f": {"wechat_id": "wx-zhang3"}, "bv": 1, "h": f"{wall_clock_ms():013d}-000000-VA"}]})
    assert answer["results"][0]["status"] == "accepted"
    village.sync()  # the older station pulls the row and ignores the column
    edit(village, Resident, head_id, phone="13811112222")
    village.sync()
    data = county.store.row_state(head_id).data
    assert data["wechat_id"] == "wx-zhang3" and data["phone"] == "13811112222"
    page = newer.pull(0, 500)
    (row,) = [dict(zip(b["c"], r[4:])) for b in page["tables"] for r in b["r"] if r[0] == head_id]
    assert row["wechat_id"] == "wx-zhang3"
    newer.close()
    assert_converged(county, village)


# ------------------------------------------------------------------ 13


def test_fm13_transactions_committing_out_of_seq_order_are_never_skipped(county, stations):
    village, = stations(county, "VA")
    store = county.store
    ctx = store.station_ctx("VA")
    horizon_before = store.counts()["seq"]

    def op(name: str) -> dict:
        return {"op_id": str(uuid.uuid4()), "t": "household", "id": str(uuid.uuid4()), "k": "insert",
                "f": {"village_code": VILLAGE_A, "household_no": name, "head_name": name, "deleted": False},
                "bv": 0, "h": f"{wall_clock_ms():013d}-000000-VA"}

    first, second = op("先开始"), op("后开始")
    hold = threading.Event()
    release = threading.Event()

    def slow_commit() -> None:
        hold.set()
        release.wait(10)

    store.before_commit = slow_commit
    # A second server process on the same database: only the database lock orders them.
    other = Store(county.server.db_url)
    t1 = threading.Thread(target=store.push, args=(ctx, {"batch_id": str(uuid.uuid4()), "ops": [first]}))
    t1.start()
    assert hold.wait(10)
    store.before_commit = None
    t2_done = threading.Event()
    t2 = threading.Thread(target=lambda: (other.push(other.station_ctx("VA"),
                                                     {"batch_id": str(uuid.uuid4()), "ops": [second]}),
                                          t2_done.set()))
    t2.start()
    time.sleep(0.3)
    assert not t2_done.is_set()  # the later transaction waits for the earlier one's seq lock
    page = json.loads(store.pull(ctx, horizon_before, 500))
    assert page["tables"] == [] and page["cursor"] <= horizon_before  # nothing uncommitted, nothing skipped
    release.set()
    t1.join(10)
    t2.join(10)
    other.close()
    page = json.loads(store.pull(ctx, page["cursor"], 500))
    names = [dict(zip(b["c"], r[4:]))["household_no"] for b in page["tables"] for r in b["r"]]
    assert names == ["先开始", "后开始"]
    seqs = [store.row_state(o["id"]).seq for o in (first, second)]
    assert seqs[0] < seqs[1]
    village.sync()
    assert_converged(county, village)
