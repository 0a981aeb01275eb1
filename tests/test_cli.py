"""The command line: migrate creates and upgrades; errors come out in Chinese, exit non-zero."""

from __future__ import annotations

from station_app.cli.main import main
from station_app.store import migrate
from station_app.store.db import make_engine


def test_migrate_creates_a_database_at_head(tmp_path, capsys):
    db = tmp_path / "cli.db"
    assert main(["migrate", "--db", str(db)]) == 0
    assert "数据库版本" in capsys.readouterr().out
    assert migrate.current_revision(make_engine(db)) == migrate.head_revision()


def test_demo_refuses_to_overwrite_without_force(tmp_path, capsys):
    db = tmp_path / "exists.db"
    db.write_bytes(b"")
    assert main(["demo", "--db", str(db), "--residents", "10"]) == 2
    assert "已存在" in capsys.readouterr().err
