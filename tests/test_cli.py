"""The command line: migrate creates and upgrades; errors come out in Chinese, exit non-zero."""

from __future__ import annotations

import re

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


def test_demo_prints_the_recovery_key_it_made_and_the_key_opens_the_database(tmp_path, capsys):
    from station_app.services.workspace import Workspace
    from station_app.store import keys

    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--villages", "1", "--residents", "20"]) == 0
    out = capsys.readouterr().out
    printed = [line.strip() for line in out.splitlines() if re.fullmatch(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){4}", line.strip())]
    assert len(printed) == 1 and "只显示这一次" in out
    keys.forget_all()  # nothing unlocked in this process: only the printed key may open it
    with Workspace.open(db, recovery_key=printed[0]) as ws:
        assert ws.is_set_up
