"""Deferred index builds: dropped only on empty tables, unique ones kept, always restored."""

from __future__ import annotations

from sqlalchemy import text

from station_app.services.households import ResidentInput, register_household
from station_app.services.workspace import Workspace
from station_app.store.deferred_indexes import defer_secondary_indexes, restore_deferred_indexes

from tests.conftest import GROUP_A1, VILLAGE_A


def index_sql(ws) -> dict[str, str]:
    with ws.engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")).all())


def test_plain_indexes_of_empty_tables_are_dropped_and_rebuilt(township_ws):
    ws, admin = township_ws
    register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", "11010519491231002X", group_code=GROUP_A1))
    before = index_sql(ws)
    with ws.engine.begin() as conn:
        dropped = defer_secondary_indexes(conn, ["resident", "enrollment", "chronic_card"])
    during = index_sql(ws)
    assert dropped > 0
    assert "ix_enrollment_year_status" not in during and "ix_chronic_card_resident_id" not in during
    assert "ix_resident_village_group" in during  # resident has a row: left alone
    assert all(name in during for name, sql in before.items() if sql.upper().startswith("CREATE UNIQUE"))
    with ws.engine.begin() as conn:
        assert restore_deferred_indexes(conn) == dropped
        assert restore_deferred_indexes(conn) == 0
    assert index_sql(ws) == before


def test_a_crash_before_the_rebuild_is_repaired_when_the_database_opens(township_ws):
    ws, _admin = township_ws
    before = index_sql(ws)
    with ws.engine.begin() as conn:
        assert defer_secondary_indexes(conn, ["enrollment", "card_usage"]) > 0
    path = ws.db_path
    ws.close()  # the process dies here, mid initial sync
    reopened = Workspace.open(path)
    try:
        assert index_sql(reopened) == before
    finally:
        reopened.close()
