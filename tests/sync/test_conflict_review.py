"""Issue 18.2: conflict review at scale on the 同步 page — all of them (not 500), lazy, filtered,
sorted, grouped, bulk keep/take, values in words, who/when in local time, the record opens;
the refused tab names the record; the tab's count is the status's count."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("pytestqt")

from sync_protocol.hlc import Timestamp
from station_app.store.models import Enrollment
from station_app.sync.apply import record_conflict
from station_app.sync.conflicts import list_conflicts, list_rejected
from station_app.sync.engine import apply_txn
from station_app.ui.tasks import TaskManager

from tests.conftest import VILLAGE_A
from .helpers import household

PEOPLE, ROUNDS = 100, 4
COUNT = PEOPLE * ROUNDS * 3  # 1,200
BASE_MS = 1_780_000_000_000  # 2026-05-28 UTC


@pytest.fixture
def shanghai_time():
    """The page shows local times: run in China's time zone, UTC+8."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def _hlc(ms: int, node: str) -> str:
    return Timestamp(ms, 0, node).pack()


@pytest.fixture
def crowded(sqlite_county, stations):
    """A village station with 1,200 open conflicts on 100 people (phone, enrollment status and
    channel, four rounds each: codes to show in words), as sync would have recorded them."""
    (village,) = stations(sqlite_county, "VA")
    names = ["张" + c for c in "一二三四五六七八九十"] + ["李" + c for c in "一二三四五六七八九十"]
    people = []
    for i in range(PEOPLE):
        _hid, head = household(village, VILLAGE_A, names[i % len(names)])
        people.append(head)
    with village.ws.unit_of_work(village.actor, "test") as session:
        enrollments = []
        for head in people:
            row = Enrollment(village_code=VILLAGE_A, resident_id=head, year=2026, status="unpaid")
            session.add(row)
            enrollments.append(row)
        session.flush()
        enrollment_ids = [e.id for e in enrollments]
    with apply_txn(village.ws) as conn:
        for i, (head, enrollment) in [(r * PEOPLE + k, pair) for r in range(ROUNDS)
                                      for k, pair in enumerate(zip(people, enrollment_ids))]:
            ms = BASE_MS + i * 60_000
            node = "TS" if i % 2 else "T2"
            record_conflict(conn, "resident", head, "phone", "13800000001", _hlc(ms, "VA"), "13800000002",
                            _hlc(ms + 1, node))
            record_conflict(conn, "enrollment", enrollment, "status", "unpaid", _hlc(ms, "VA"), "paid",
                            _hlc(ms + 2, node))
            record_conflict(conn, "enrollment", enrollment, "channel", "proxy", _hlc(ms, "VA"), "wechat",
                            _hlc(ms + 3, node))
        own = dict(conn.exec_driver_sql("SELECT * FROM station LIMIT 1").mappings().one())
        own.update(id="s-ts", code="TS", name="城关镇卫生院")
        conn.exec_driver_sql(f"INSERT INTO station ({', '.join(own)}) VALUES ({', '.join('?' for _ in own)})",
                             tuple(own.values()))
        conn.exec_driver_sql("UPDATE sync_conflict SET detected_at = '2026-05-28 18:30:00.000000'")
    return village, people


def _page(village, qtbot):
    from station_app.ui.sections.sync_page import SyncPage

    page = SyncPage(village.ws, village.actor, tasks=TaskManager.synchronous())
    page.timer.stop()
    qtbot.addWidget(page)
    page.resize(1366, 768)
    return page


def _column(page, key):
    from station_app.ui.sections.sync_page import CONFLICT_COLUMNS

    return next(i for i, c in enumerate(CONFLICT_COLUMNS) if c.key == key)


def _text(page, row, key):
    model = page.conflict_table.model()
    return model.index(row, _column(page, key)).data()


def test_every_conflict_is_listed_lazily_and_the_tab_counts_what_the_status_counts(crowded, qtbot):
    village, _people = crowded
    page = _page(village, qtbot)
    model = page.conflict_table.model()
    assert model.rowCount() == COUNT  # not 500
    assert page.tabs.tabText(0) == f"冲突（{COUNT}）" and page.conflict_label.text() == str(COUNT)
    _text(page, 0, "person")
    assert model.fetch_count == 1  # only the page on screen was read
    assert len(list_conflicts(village.ws, limit=COUNT * 2)) == COUNT


def test_values_are_in_words_and_times_local_with_who_changed_each(crowded, qtbot, shanghai_time):
    village, _people = crowded
    page = _page(village, qtbot)
    page.field_filter.setCurrentIndex(page.field_filter.findData("status"))
    assert page.conflict_table.model().rowCount() == PEOPLE * ROUNDS
    assert (_text(page, 0, "local"), _text(page, 0, "remote")) == ("未缴费", "已缴费")
    assert _text(page, 0, "detected") == "2026-05-29 02:30"  # stored UTC, shown UTC+8
    page.field_filter.setCurrentIndex(page.field_filter.findData("channel"))
    assert (_text(page, 0, "local"), _text(page, 0, "remote")) == ("村级代缴", "微信")
    page.station_filter.setCurrentIndex(page.station_filter.findData("TS"))
    who = _text(page, 0, "remote_who")
    assert who.startswith("城关镇卫生院 · ")
    with village.ws.engine.connect() as conn:
        remote_hlc = conn.exec_driver_sql("SELECT remote_hlc FROM sync_conflict WHERE id = ?",
                                          (int(page.conflict_model.id_at(0)),)).scalar_one()
    utc = datetime.fromtimestamp(Timestamp.parse(remote_hlc).wall_ms / 1000, UTC)
    assert who.rsplit(" · ", 1)[1] == (utc + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert " · " in _text(page, 0, "local_who")
    person = _text(page, 0, "person")
    assert "户号" in person and "身份证尾号" in person and "*" in person


def test_filter_by_person_sort_and_group(crowded, qtbot):
    village, _people = crowded
    page = _page(village, qtbot)
    page.person_filter.setText("张三")
    page.reload_conflicts()
    model = page.conflict_table.model()
    assert model.rowCount() == 3 * ROUNDS * len([i for i in range(PEOPLE) if i % 20 == 2])
    # the default order groups one person's conflicts on one field together, with their count
    first = [page.conflict_model.row_values(r) for r in range(ROUNDS)]
    assert len({(v["row_id"], v["field"]) for v in first}) == 1 and first[0]["group"] == ROUNDS
    page.person_filter.clear()
    page.date_filter.setCurrentIndex(3)  # 近 30 天: the fixture's conflicts are from 2026-05-28
    assert model.rowCount() == (COUNT if (datetime.now() - datetime(2026, 5, 29)).days <= 30 else 0)
    page.date_filter.setCurrentIndex(0)
    page._header_clicked(_column(page, "remote_who"))
    assert page._conflict_sort == ("station", True)
    assert page.conflict_model.row_values(0)["remote_who"].startswith("T2")
    page._header_clicked(_column(page, "remote_who"))
    assert page._conflict_sort == ("station", False)
    assert page.conflict_model.row_values(0)["remote_who"].startswith("城关镇卫生院")


def test_bulk_take_clears_a_thousand_conflicts_at_once(crowded, qtbot):
    village, _people = crowded
    page = _page(village, qtbot)
    page.conflict_table.selectAll()
    assert page.take_button.text() == f"采用服务器（{COUNT} 条）"
    page.take_button.click()
    assert page.conflict_table.model().rowCount() == 0
    assert list_conflicts(village.ws) == []
    assert page.tabs.tabText(0) == "冲突（0）" and page.conflict_label.text() == "0"


def test_open_record_shows_the_persons_history(crowded, qtbot):
    village, _people = crowded
    page = _page(village, qtbot)
    page.conflict_table.selectRow(0)
    assert page.open_button.isEnabled()
    page.open_button.click()
    assert page.record_dialog.isVisible()
    assert "户号" in page.record_dialog.windowTitle()


def test_the_refused_tab_names_the_record_and_the_reason(crowded, qtbot):
    village, _people = crowded
    with village.ws.engine.begin() as conn:
        seq = conn.exec_driver_sql("SELECT seq FROM sync_outbox WHERE table_name = 'household' ORDER BY seq "
                                   "LIMIT 1").scalar_one()
        conn.exec_driver_sql("UPDATE sync_outbox SET state = 'rejected', last_error = '该村不在本站的管辖范围内。' "
                             "WHERE seq = ?", (seq,))
    page = _page(village, qtbot)
    (refused,) = list_rejected(village.ws)
    assert "户号" in refused.record and "*" in refused.record
    assert page.tabs.tabText(1) == "未被接受的修改（1）" == f"未被接受的修改（{page.rejected_label.text()}）"
    cells = [page.rejected_table.item(0, c).text() for c in range(page.rejected_table.columnCount())]
    assert cells[1] == refused.record and "管辖范围" in cells[4] and "户主" in cells[3]
