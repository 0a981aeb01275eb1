"""Bring a station database to the current schema at start, backing it up first."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from station_app import paths
from station_app.domain.errors import DomainError
from station_app.store.db import engine_key

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

logger = logging.getLogger(__name__)


class SchemaTooNew(DomainError):
    """The database was written by a newer version of the app."""


def alembic_config(connection=None) -> "Config":
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(paths.migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _script() -> "ScriptDirectory":
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision(script: "ScriptDirectory | None" = None) -> str:
    """The single head of the revision graph, as Alembic's own script directory sees it."""
    heads = (script or _script()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads[0]


#: Where the head found by Alembic is remembered, with the fingerprint of the migration files it
#: was found in. Importing Alembic and reading every script costs 0.25–0.6 s of each start on a
#: 2-core PC; the files only change with a new version of the app, so a start whose database is
#: already at the remembered head never imports Alembic.
HEAD_CACHE_NAME = "schema-head.json"


def _versions_fingerprint() -> str:
    versions = paths.migrations_dir() / "versions"
    digest = hashlib.sha256(str(versions.resolve()).encode())
    for entry in sorted(versions.glob("*.py")):
        stat = entry.stat()
        digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _head_cache() -> Path:
    return paths.data_dir() / HEAD_CACHE_NAME


def remembered_head() -> str | None:
    """The head Alembic found last time, if the migration files are still the same."""
    try:
        cached = json.loads(_head_cache().read_text(encoding="utf-8"))
        return cached["head"] if cached.get("files") == _versions_fingerprint() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember_head(head: str) -> None:
    try:
        target = _head_cache()
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({"files": _versions_fingerprint(), "head": head}), encoding="utf-8")
        temporary.replace(target)
    except OSError:  # a read-only data folder only costs the next start the Alembic import
        logger.debug("could not remember the schema head", exc_info=True)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@dataclass
class MigrationResult:
    before: str | None
    after: str
    backup_path: Path | None


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def backup_copy(db_path: Path, reason: str, backups: Path | None = None, key: bytes | None = None) -> Path:
    """Consistent copy through SQLite's online backup API (safe with WAL and open readers).

    An encrypted database is copied encrypted with its own key, and its key file goes beside
    the copy (``….db.keys``), so the copy opens with any user's password or the recovery key.
    """
    from . import encryption, keys

    backups = backups or paths.backups_dir()
    backups.mkdir(parents=True, exist_ok=True)
    when = datetime.now()
    target = backups / f"{db_path.stem}-{reason}-{when:%Y%m%d-%H%M%S}.db"
    while target.exists():  # two copies in one second: never overwrite one, keep the names parseable
        when += timedelta(seconds=1)
        target = backups / f"{db_path.stem}-{reason}-{when:%Y%m%d-%H%M%S}.db"
    if key is None:
        key = encryption.known_key(db_path)  # None for a plaintext file
    encryption.copy_database(db_path, key, target, key)
    if key is not None:
        key_file = keys.load_key_file(keys.key_file_path(db_path))
        if key_file is not None:
            keys.save_key_file(keys.key_file_path(target), key_file)
    return target


def _known_revision(script: "ScriptDirectory", revision: str) -> bool:
    from alembic.util.exc import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def ensure_current(engine: Engine, db_path: Path | None = None, backups: Path | None = None) -> MigrationResult:
    """Upgrade to head if behind; copy the file aside first when it already held a schema."""
    before = current_revision(engine)
    if before is not None and before == remembered_head():
        return MigrationResult(before, before, None)
    script = _script()
    head = head_revision(script)
    _remember_head(head)
    if before == head:
        return MigrationResult(before, head, None)
    if before is not None and not _known_revision(script, before):
        raise SchemaTooNew("数据库版本比本程序新，请先升级本程序再打开此数据库。")
    backup_path = None
    if before is not None and db_path is not None and db_path.exists():
        backup_path = backup_copy(db_path, f"before-migrate-{before}", backups, engine_key(engine))
        logger.info("backed up database before migration to %s", backup_path)
    upgrade(engine)
    logger.info("migrated database %s -> %s", before, head)
    return MigrationResult(before, head, backup_path)


def sqlite_path_of(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


