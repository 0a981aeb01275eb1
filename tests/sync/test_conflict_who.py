"""Issue 18: a conflict names WHO made the competing change — the other station and its user —
sent by the server with the conflict event and shown on the 同步 page (站点 · 操作员 · 时间)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from station_app.store.models import Resident
from station_app.sync.conflicts import conflict_ids, conflict_rows
from station_app.sync.engine import apply_txn, batch_ops, freeze_batch
from sync_protocol.protocol import validate_op_shape

from tests.conftest import VILLAGE_A
from .conftest import sync_until_quiet
from .helpers import household


def _edit_as(station, actor, row_id: str, **values) -> None:
    with station.ws.unit_of_work(actor, "test_edit") as session:
        row = session.get(Resident, row_id)
        for key, value in values.items():
            setattr(row, key, value)


@pytest.fixture
def two(county, stations):
    village, township = stations(county, "VA", "TS")
    _household_id, head_id = household(village, VILLAGE_A, "张三")
    sync_until_quiet(county, [village, township], rounds=1)  # both learn the server takes op key u
    nurse = replace(township.actor, username="wangyi", display_name="王医生")
    return village, township, nurse, head_id


def _only_conflict_row(station) -> dict:
    (cid,) = conflict_ids(station.ws)
    return conflict_rows(station.ws, [cid])[cid]


def test_the_losing_station_sees_the_winning_station_and_user(two, qtbot):
    """The later edit wins when it arrives: the station that pushed first lost and is told who."""
    village, township, nurse, head_id = two
    _edit_as(village, village.actor, head_id, phone="13800000001")
    _edit_as(township, nurse, head_id, phone="13800000002")
    village.sync()
    township.sync()
    village.sync()
    (stored,) = village.conflicts()
    assert (stored["remote_user"], stored["remote_station"]) == ("wangyi", "站点TS")
    who = _only_conflict_row(village)["remote_who"]
    station, user, when = who.split(" · ")
    assert (station, user) == ("站点TS", "wangyi") and len(when) == 16  # local YYYY-MM-DD HH:MM
    assert township.conflicts() == []
    # On the 同步 page: the column says what it shows, the row shows it.
    from station_app.ui.sections.sync_page import CONFLICT_COLUMNS, SyncPage
    from station_app.ui.tasks import TaskManager

    page = SyncPage(village.ws, village.actor, tasks=TaskManager.synchronous())
    page.timer.stop()
    qtbot.addWidget(page)
    column = next(i for i, c in enumerate(CONFLICT_COLUMNS) if c.key == "remote_who")
    model = page.conflict_table.model()
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=30_000)
    assert model.headerData(column, Qt.Horizontal) == "对方修改（站点 · 操作员 · 时间）"
    assert model.index(0, column).data() == who


def test_a_late_losing_edit_is_told_who_wrote_the_value_that_stands(two):
    """The older edit arrives second and loses: the server names the user of the stored value."""
    village, township, nurse, head_id = two
    _edit_as(village, village.actor, head_id, phone="13800000001")  # older stamp, pushed late
    _edit_as(township, nurse, head_id, phone="13800000002")
    township.sync()
    village.sync()
    (stored,) = village.conflicts()
    assert stored["remote_value"] == json.dumps("13800000002")
    assert (stored["remote_user"], stored["remote_station"]) == ("wangyi", "站点TS")
    assert _only_conflict_row(village)["remote_who"].startswith("站点TS · wangyi · ")


def test_ops_name_their_user_only_where_it_is_taken(two):
    village, _township, nurse, head_id = two
    _edit_as(village, nurse, head_id, note="换了电话")
    with apply_txn(village.ws) as conn:
        batch_id = freeze_batch(conn)
        plain, _ = batch_ops(conn, batch_id)  # bundles: an older township station refuses key u
        named, _ = batch_ops(conn, batch_id, with_user=True)
    assert "u" not in plain[0] and named[0]["u"] == "wangyi"
    assert validate_op_shape(named[0]) is None
    assert validate_op_shape(dict(named[0], u="x" * 41)) == "user"
    assert validate_op_shape(dict(named[0], u=5)) == "user"
