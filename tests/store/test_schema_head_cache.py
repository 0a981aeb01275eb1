"""A start whose database is at the head never imports Alembic (issue 14: finding the head with
Alembic's script directory cost 0.25–0.6 s of every start); new migration files are still seen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from station_app import paths
from station_app.services.workspace import Workspace
from station_app.store import migrate

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from pathlib import Path
from station_app.services.workspace import Workspace
ws = Workspace.open(Path(sys.argv[1]))
ws.close()
print("alembic" in sys.modules)
"""


def _start(db: Path, data: Path) -> bool:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STATION_APP_DATA_DIR": str(data), "STATION_APP_PLAINTEXT_DB": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(db)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] == "True"


def test_a_second_start_at_the_head_does_not_import_alembic(tmp_path):
    db, data = tmp_path / "station.db", tmp_path / "data"
    assert _start(db, data) is True  # a new database: migrated with Alembic, head remembered
    assert _start(db, data) is False  # at the remembered head: no Alembic at all


def test_the_remembered_head_follows_the_migration_files(tmp_path, monkeypatch):
    monkeypatch.setenv("STATION_APP_PLAINTEXT_DB", "1")
    ws = Workspace.open(tmp_path / "station.db")
    ws.close()
    head = migrate.head_revision()
    assert migrate.remembered_head() == head
    # The same files elsewhere, then one more: the remembered head no longer applies.
    copy = tmp_path / "migrations"
    shutil.copytree(paths.migrations_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(paths, "migrations_dir", lambda: copy)
    assert migrate.remembered_head() is None
    ws = Workspace.open(tmp_path / "station.db")  # asks Alembic again, remembers for these files
    ws.close()
    assert migrate.remembered_head() == head
    (copy / "versions" / "9999_next.py").write_text(
        f'revision = "9999"\ndown_revision = "{head}"\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n',
        encoding="utf-8")
    assert migrate.remembered_head() is None
    ws = Workspace.open(tmp_path / "station.db")  # the new revision is found and applied
    ws.close()
    assert migrate.remembered_head() == "9999"
