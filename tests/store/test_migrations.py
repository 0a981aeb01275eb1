"""Migrations: empty → head, head → base → head, data survives a table rebuild, no drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from station_app import paths
from station_app.services.households import ResidentInput, register_household
from station_app.services.workspace import Workspace
from station_app.store import migrate
from station_app.store.base import Base
from station_app.store.db import make_engine
from station_app.store.encryption import connect_known

from tests.conftest import GROUP_A1, VILLAGE_A


def test_empty_database_upgrades_to_head(tmp_path):
    engine = make_engine(tmp_path / "new.db")
    result = migrate.ensure_current(engine, tmp_path / "new.db")
    assert result.before is None and result.after == migrate.head_revision()
    assert result.backup_path is None  # nothing to back up in a new file
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_head_to_base_to_head(tmp_path):
    engine = make_engine(tmp_path / "cycle.db")
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_models_match_migrations(tmp_path):
    """`alembic check`: autogenerate finds nothing the migrations forgot."""
    engine = make_engine(tmp_path / "check.db")
    migrate.upgrade(engine)
    with engine.begin() as connection:
        command.check(migrate.alembic_config(connection))


def test_sqlite_runs_with_wal_foreign_keys_and_full_sync(workspace):
    with workspace.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


NEXT_REVISION = '''
"""test-only: add a column to resident (a batch table rebuild on SQLite)"""
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("resident") as batch_op:
        batch_op.add_column(sa.Column("test_extra", sa.String(10), nullable=True))


def downgrade():
    with op.batch_alter_table("resident") as batch_op:
        batch_op.drop_column("test_extra")
'''


def test_populated_database_survives_upgrade_and_is_backed_up_first(township_ws, tmp_path, monkeypatch):
    ws, admin = township_ws
    register_household(ws, admin, village_code=VILLAGE_A,
                       head=ResidentInput("张三", "11010519491231002X", group_code=GROUP_A1))
    db_path = ws.db_path
    ws.close()

    # A newer app version: the real migrations plus one that rebuilds the resident table.
    newer = tmp_path / "newer_migrations"
    shutil.copytree(paths.migrations_dir(), newer)
    (newer / "versions" / "9999_test_extra.py").write_text(
        NEXT_REVISION.format(head=migrate.head_revision()), encoding="utf-8")
    monkeypatch.setattr(paths, "migrations_dir", lambda: newer)

    backups = tmp_path / "backups"
    reopened = Workspace.open(db_path, backups=backups)
    try:
        assert reopened.migration.after == "9999"
        assert reopened.migration.backup_path is not None and reopened.migration.backup_path.exists()
        with reopened.engine.connect() as connection:
            rows = connection.execute(text("SELECT name, id_number, test_extra FROM resident")).all()
            assert [(r[0], r[1], r[2]) for r in rows] == [("张三", "11010519491231002X", None)]
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        reopened.close()
    # The backup is the old schema with the data, a usable file on its own.
    backup = connect_known(reopened.migration.backup_path)
    try:
        assert backup.execute("SELECT version_num FROM alembic_version").fetchone()[0] != "9999"
        assert backup.execute("SELECT count(*) FROM resident").fetchone()[0] == 1
    finally:
        backup.close()


def test_database_from_a_newer_app_is_refused(tmp_path):
    engine = make_engine(tmp_path / "future.db")
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(migrate.SchemaTooNew, match="请先升级本程序"):
        migrate.ensure_current(engine, tmp_path / "future.db")


def test_migrations_are_found_from_the_wheel_layout(tmp_path, monkeypatch):
    """Installed (not a checkout): bundle_dir() must point at station_app/_bundled."""
    fake_pkg = tmp_path / "site" / "station_app"
    (fake_pkg / "_bundled").mkdir(parents=True)
    shutil.copytree(paths.migrations_dir(), fake_pkg / "_bundled" / "migrations")
    monkeypatch.setattr(paths, "_PACKAGE_DIR", fake_pkg)
    assert paths.migrations_dir() == fake_pkg / "_bundled" / "migrations"
    assert Path(paths.resources_dir()) == fake_pkg / "_bundled" / "resources"


def test_head_is_alembics_own_even_when_a_revision_names_its_parent_indirectly(tmp_path, monkeypatch):
    """Issue 14.5: the head comes from Alembic's ScriptDirectory, not from parsing files with ast.

    A revision whose ``down_revision`` is not a literal (here a name) was read as a second head
    by the old file parser."""
    newer = tmp_path / "migrations"
    shutil.copytree(paths.migrations_dir(), newer)
    head = migrate.head_revision()
    (newer / "versions" / "9998_indirect.py").write_text(
        f'PARENT = "{head}"\nrevision = "9998"\ndown_revision = PARENT\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
        encoding="utf-8")
    monkeypatch.setattr(paths, "migrations_dir", lambda: newer)
    assert migrate.head_revision() == "9998"