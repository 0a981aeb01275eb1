"""The search index stays in step with every write path, heals itself, and migrates cleanly."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from station_app.services import registry, search_index
from station_app.services.households import ResidentInput
from station_app.store import migrate
from station_app.store.base import Base
from station_app.store.db import make_engine
from station_app.store.encryption import connect_known
from station_app.store.models import Resident

from .conftest import GROUP_A1, VILLAGE_A, an_id, search


def index_rows(ws) -> list[tuple]:
    """The index content without its own rowids (which differ between builds)."""
    with ws.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT * FROM {search_index.TABLE} ORDER BY resident_id").all()
        grams = conn.exec_driver_sql(
            f"SELECT g.gram, s.resident_id FROM {search_index.GRAMS} g JOIN {search_index.TABLE} s "
            f"ON s.rid = g.rid ORDER BY 1, 2").all()
    return [tuple(r)[1:] for r in rows] + [tuple(g) for g in grams]


def test_bulk_inserted_residents_are_found(township_ws, people):
    """Core bulk inserts (demo, roster import) fire no trigger: the next search catches up."""
    ws, admin = township_ws
    rows = [dict(village_code=VILLAGE_A, household_id=people.households["zhang"], group_code=GROUP_A1,
                 name="钱多多", name_pinyin="qianduoduo", name_initials="qdd", sex="F",
                 id_number=an_id(date(2001, 1, 1), 124), birth_date=date(2001, 1, 1), phone="13355556666",
                 relation="daughter", status="registered", status_date=None, special_groups="", note="")]
    with ws.unit_of_work(admin, "bulk") as session:
        ws.recorder.bulk_insert(session, Resident, rows, summary="测试批量写入")
    with ws.engine.connect() as conn:
        assert search_index.behind(conn)
    assert search(ws, admin, "钱多多") == ["钱多多"]
    assert search(ws, admin, "qdd") == ["钱多多"] and search(ws, admin, "55556666") == ["钱多多"]
    with ws.engine.connect() as conn:
        assert not search_index.behind(conn) and search_index.problems(conn) == []
    assert search(ws, admin, "钱") == ["钱多多"]  # the name pieces came with it


def test_sync_style_raw_upserts_are_followed(township_ws, people):
    """The sync engine writes with INSERT … ON CONFLICT DO UPDATE on the raw connection."""
    ws, admin = township_ws
    upsert = ("INSERT INTO resident (id, village_code, household_id, group_code, name, name_pinyin, name_initials, "
              "sex, id_number, birth_date, phone, relation, status, special_groups, note, updated_hlc, "
              "row_version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, 'M', ?, '1990-01-01', '', 'son', 'registered', "
              "'', '', 'x', 1, 0) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
              "name_pinyin = excluded.name_pinyin, name_initials = excluded.name_initials, "
              "row_version = excluded.row_version")
    with ws.engine.begin() as conn:
        conn.exec_driver_sql(upsert, (people["张建国"], VILLAGE_A, people.households["zhang"], GROUP_A1,
                                      "张建军", "zhangjianjun", "zjj", an_id(date(1990, 1, 1), 33)))
        conn.exec_driver_sql(upsert, ("remote-1", VILLAGE_A, people.households["zhang"], GROUP_A1,
                                      "孙悟空", "sunwukong", "swk", an_id(date(1990, 1, 1), 35)))
    assert search(ws, admin, "张建军") == ["张建军"] and search(ws, admin, "张建国") == []
    assert search(ws, admin, "zjj") == ["张建军"] and search(ws, admin, "swk") == ["孙悟空"]
    with ws.engine.begin() as conn:  # a tombstone from the server
        conn.exec_driver_sql("UPDATE resident SET deleted = 1 WHERE id = 'remote-1'")
    assert search(ws, admin, "swk") == []


def test_households_arriving_after_their_members_and_renumbered(township_ws, people):
    ws, admin = township_ws
    path = ws.db_path
    raw = connect_known(path)  # foreign keys off, like a sync page applied out of order
    try:
        raw.execute("INSERT INTO resident (id, village_code, household_id, group_code, name, name_pinyin, "
                    "name_initials, sex, id_number, birth_date, phone, relation, status, special_groups, note, "
                    "updated_hlc, row_version, deleted) VALUES ('r-late', ?, 'h-late', ?, '吴用', 'wuyong', 'wy', "
                    "'M', ?, '1970-01-01', '', 'head', 'registered', '', '', 'x', 1, 0)",
                    (VILLAGE_A, GROUP_A1, an_id(date(1970, 1, 1), 15)))
        raw.commit()
        assert registry.resident_rows(ws, registry.resident_ids(
            ws, admin, registry.RegistryFilter(search="吴用")))["r-late"]["household_no"] == ""
        raw.execute("INSERT INTO household (id, household_no, group_code, head_name, address, phone, category, "
                    "helper_name, helper_phone, note, village_code, updated_hlc, row_version, deleted) VALUES "
                    "('h-late', 'H-099', ?, '吴用', '', '', 'general', '', '', '', ?, 'x', 1, 0)",
                    (GROUP_A1, VILLAGE_A))
        raw.commit()
    finally:
        raw.close()
    ids = registry.resident_ids(ws, admin, registry.RegistryFilter(search="吴用"))
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT household_no FROM resident_search WHERE resident_id = 'r-late'"
                                    ).scalar() == "H-099"
    assert ids == ["r-late"]
    with ws.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE household SET household_no = 'H-100' WHERE id = 'h-late'")
        number = conn.exec_driver_sql("SELECT household_no FROM resident_search WHERE resident_id = 'r-late'").scalar()
    assert number == "H-100"


def test_incremental_index_equals_a_rebuild(township_ws, people):
    ws, admin = township_ws
    data = registry.resident_detail(ws, admin, people["王芳"]).as_input()
    data.name, data.phone = "王芳芳", "13600000000"
    registry.update_resident(ws, admin, people["王芳"], data)
    registry.move_to_household(ws, admin, people["张建国"], people.households["wang"], "other")
    registry.set_status(ws, admin, people["李秀英"], "died", date(2026, 1, 1))
    registry.add_member(ws, admin, people.households["liu"], ResidentInput("刘一", an_id(date(2015, 5, 5), 17),
                                                                             relation="son"))
    registry.resident_ids(ws, admin)  # catch up
    incremental = index_rows(ws)
    search_index.rebuild(ws.engine)
    assert index_rows(ws) == incremental


def test_lost_triggers_are_noticed_and_the_index_rebuilt(township_ws, people, caplog):
    """A migration that rebuilds the resident table (Alembic batch mode) drops its triggers."""
    ws, admin = township_ws
    with ws.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER {search_index.PREFIX}_resident_au")
        conn.exec_driver_sql("UPDATE resident SET name = '张三丰', name_pinyin = 'zhangsanfeng' WHERE id = ?",
                             (people["张三"],))
    search_index._checked.discard(ws.engine)  # as after a restart
    assert search(ws, admin, "张三丰") == ["张三丰"]
    assert "rebuilding" in caplog.text
    with ws.engine.connect() as conn:
        assert search_index.problems(conn) == []


def test_reindex_residents_for_a_writer_that_bypassed_the_triggers(township_ws, people):
    ws, admin = township_ws
    with ws.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER {search_index.PREFIX}_resident_au")
        conn.exec_driver_sql("UPDATE resident SET phone = '13512340000' WHERE id = ?", (people["王芳"],))
        assert search_index.reindex_residents(conn, [people["王芳"], "gone"]) == 1
    assert search(ws, admin, "12340000") == ["王芳"]


def test_catch_up_gives_way_to_a_busy_writer(township_ws, people):
    ws, admin = township_ws
    raw = connect_known(ws.db_path)
    raw.execute("INSERT INTO resident (id, village_code, household_id, group_code, name, name_pinyin, "
                "name_initials, sex, id_number, birth_date, phone, relation, status, special_groups, note, "
                "updated_hlc, row_version, deleted) VALUES ('r-new', ?, NULL, ?, '郑和', 'zhenghe', 'zh', "
                "'M', ?, '1971-01-01', '', 'other', 'registered', '', '', 'x', 1, 0)",
                (VILLAGE_A, GROUP_A1, an_id(date(1971, 1, 1), 19)))
    raw.commit()
    raw.execute("BEGIN IMMEDIATE")  # a long batch holds the write lock
    try:
        assert search_index.refresh(ws.engine, wait_ms=50) == -1
        # The search still answers at once; residents saved through the registry were indexed
        # in their own transaction, a raw bulk insert waits for the next catch-up.
        assert search(ws, admin, "张三") == ["张三"]
        assert search(ws, admin, "郑和") == []
    finally:
        raw.rollback()
        raw.close()
    assert search(ws, admin, "郑和") == ["郑和"]  # caught up once the writer is done


# -- migrations -----------------------------------------------------------------------------------

#: The include_object filter proposed for migrations/env.py (the index is not in the models).
def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and reflected and compare_to is None and name.startswith(search_index.PREFIX):
        return False
    return True


def test_models_match_migrations_with_the_index_left_out(tmp_path):
    engine = make_engine(tmp_path / "check.db")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migration_builds_the_same_index_as_install_and_downgrade_removes_it(tmp_path):
    engine = make_engine(tmp_path / "m.db")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        migrated = search_index.schema_sql(conn)
        assert search_index.problems(conn) == []
    with engine.begin() as conn:
        search_index.install(conn)
    with engine.connect() as conn:
        assert search_index.schema_sql(conn) == migrated
    migrate.downgrade(engine, "0001")
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'resident_search%'").all()
    assert left == []
    migrate.upgrade(engine)


def test_index_builds_from_existing_residents_at_upgrade(township_ws, people):
    """An older database with residents in it (the 60,000-resident demo) gets a full index."""
    ws, admin = township_ws
    migrate.downgrade(ws.engine, "0001")  # every later revision undone; the residents stay
    migrate.upgrade(ws.engine)
    search_index._checked.discard(ws.engine)
    assert len(search(ws, admin, "610921")) == 6


def test_without_fts5_the_index_still_installs(tmp_path):
    engine = make_engine(tmp_path / "nofts.db")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert search_index.install(conn, use_fts=False) is False
    with engine.connect() as conn:
        assert not search_index.has_fts(conn) and search_index.problems(conn) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM resident_search")).scalar() == 0
