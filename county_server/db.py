"""The server database: engine (SQLite embedded default, PostgreSQL in production) and migrations."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

logger = logging.getLogger(__name__)

DB_URL_ENV = "COUNTY_DB_URL"
DATA_DIR_ENV = "COUNTY_DATA_DIR"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def default_db_url() -> str:
    """``$COUNTY_DB_URL``, else a SQLite file in the server's data folder."""
    url = os.environ.get(DB_URL_ENV)
    if url:
        return url
    base = os.environ.get(DATA_DIR_ENV)
    if base:
        folder = Path(base)
    else:
        import platformdirs

        folder = Path(platformdirs.user_data_dir("VillageYibaoCounty", "VillageYibao"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'county.db'}"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and a bare file path; psycopg 3 is the driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url)}"
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: an answer "accepted" must survive a power cut of the county PC.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-64000")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or default_db_url())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=20, max_overflow=20, pool_timeout=60,
                               connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it would double the round trips of every no-op pull; recycle idle ones instead.
    return create_engine(url, pool_size=10, max_overflow=30, pool_timeout=60, pool_recycle=1800)


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def init_db(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema; returns (before, after) revisions."""
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    if before != after:
        logger.info("county database migrated %s -> %s", before, after)
    return before, after or ""
