"""Engine and session setup for the station's SQLite file.

WAL so the UI can read while a worker writes; ``synchronous=FULL`` so a save the user
saw succeed survives a power cut; foreign keys on (SQLite leaves them off by default).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 10_000
CIPHER_CACHE_KIB = -65536  # negative: KiB, as SQLite's cache_size takes it


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-32000")  # 32 MB page cache
    cursor.close()


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def make_engine(path_or_url: str | Path, *, echo: bool = False, key: bytes | None = None) -> Engine:
    """An engine for a station database file (or any SQLAlchemy URL, for the server/tests).

    With ``key`` the file is SQLCipher-encrypted: SQLAlchemy's own SQLite dialect over the
    SQLCipher module, each connection keyed before anything else reads the file. A path to an
    encrypted file without ``key`` uses the key this process already unlocked for it
    (``encryption.known_key``; tools and tests).
    """
    url = str(path_or_url)
    if "://" not in url:
        url = sqlite_url(path_or_url)
        if key is None:
            from .encryption import known_key

            key = known_key(path_or_url)
    if key is not None:
        from .encryption import connect, dbapi

        database = str(Path(url.split(":///", 1)[1]).resolve())
        engine = create_engine(url, echo=echo, module=dbapi(),
                               creator=lambda: connect(database, key, check_same_thread=False))
    else:
        engine = create_engine(url, echo=echo)
    engine.station_db_key = key  # type: ignore[attr-defined]  # backups are written with it
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
        if key is not None:
            event.listen(engine, "connect", _set_cipher_cache)
    return engine


def _set_cipher_cache(dbapi_connection, _record) -> None:
    # A page read from an encrypted file is decrypted and its HMAC checked: a larger page cache
    # (64 MB, filled only as pages are used) keeps an initial sync's index pages from being
    # evicted and decrypted again (bench/bench_encryption.py: +18 % → +11 % on the apply).
    dbapi_connection.execute(f"PRAGMA cache_size={CIPHER_CACHE_KIB}")


def engine_key(engine: Engine) -> bytes | None:
    """The SQLCipher key of a station engine (None: plaintext or not SQLite)."""
    return getattr(engine, "station_db_key", None)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects handed to the UI stay readable after the service commits.
    return sessionmaker(engine, expire_on_commit=False)
