"""An open station database: engine, migrations at start, the shared clock, units of work."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from station_app.domain.errors import PermissionDenied
from sync_protocol.hlc import HybridLogicalClock
from station_app.store import deferred_indexes, encryption, keys, migrate
from station_app.store.db import engine_key, make_engine, make_session_factory
from station_app.store.keys import DatabaseLocked, WrongPassword  # noqa: F401 - for the UI and CLI
from station_app.store.models import AppSetting, Station

from .changes import Actor, ChangeRecorder, SharedClock, load_clock_state

logger = logging.getLogger(__name__)

STATION_CODE_KEY = "station_code"


@dataclass
class StationInfo:
    code: str
    name: str
    scope: str
    place_code: str
    county_code: str
    supervision_phone: str


def _refuse_writes(session: Session, _ctx, _instances) -> None:
    if session.new or session.dirty or session.deleted:
        raise PermissionDenied("只读会话不能写入：请通过业务服务保存。")


class Workspace:
    """Everything the UI, CLI and tests need to work on one database file."""

    def __init__(self, engine: Engine, db_path: Path | None, migration: migrate.MigrationResult | None = None):
        self.engine = engine
        self.db_path = db_path
        #: A recovery key made at set-up or at an admin's first sign-in, to be shown once, then cleared.
        self.pending_recovery_key: str | None = None
        self.migration = migration
        self._read_factory: sessionmaker[Session] = make_session_factory(engine)
        event.listen(self._read_factory, "before_flush", _refuse_writes)
        self.station = self._load_station()
        node = self.station.code if self.station else "unset"
        with self._read_factory() as session:
            last = load_clock_state(session)
        self.clock = SharedClock(HybridLogicalClock(node, last=last))
        self._write_factory: sessionmaker[Session] = make_session_factory(engine)
        self.recorder = ChangeRecorder(self.clock, node)
        self.recorder.install(self._write_factory)

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, db_path: str | Path, *, backups: Path | None = None, key: bytes | None = None,
             username: str | None = None, password: str | None = None,
             recovery_key: str | None = None) -> "Workspace":
        """Open (creating if needed) and migrate to head, backing up an older schema first.

        The file is encrypted (SQLCipher). Its key comes from ``key``, a user's ``username`` and
        ``password`` or the ``recovery_key`` (see store/encryption.resolve_key); a database that
        none of these unlocks raises ``DatabaseLocked`` (ask for a password) or ``WrongPassword``.
        A new file is created encrypted; a plaintext one is encrypted first (backup first).
        """
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db_key = encryption.resolve_key(path, key=key, username=username, password=password,
                                        recovery_key=recovery_key, backups=backups)
        if db_key is not None and keys.file_kind(path) == "encrypted" and not encryption.check_key(path, db_key):
            raise keys.WrongPassword(encryption.WRONG_KEY)
        engine = make_engine(path, key=db_key)
        try:
            result = migrate.ensure_current(engine, path, backups)
            with engine.begin() as connection:  # an initial sync cut off before its index rebuild
                deferred_indexes.restore_deferred_indexes(connection)
            ws = cls(engine, path, result)
            ws.refresh_key_wraps()
            return ws
        except BaseException:
            engine.dispose()
            raise

    @property
    def db_key(self) -> bytes | None:
        """The SQLCipher key (None for a plaintext database)."""
        return engine_key(self.engine)

    def refresh_key_wraps(self) -> bool:
        """Keep the key file's wraps in step with the active users (after any change to users)."""
        if self.db_key is None or self.db_path is None:
            return False
        with self.engine.connect() as conn:
            users = [(u, h) for u, h in conn.exec_driver_sql(
                "SELECT username, password_hash FROM app_user WHERE active AND NOT deleted")]
        if not users and keys.load_key_file(keys.key_file_path(self.db_path)) is not None:
            return False  # not set up yet: the bootstrap key stays until the first user exists
        return encryption.refresh_wraps(self.db_path, self.db_key, users)

    def add_password_wrap(self, username: str, password: str, password_hash: str) -> None:
        """Wrap the database key under ``password`` for ``password_hash``: call BEFORE committing
        that hash (the old wrap stays valid until ``refresh_key_wraps`` after the commit)."""
        if self.db_key is None or self.db_path is None:
            return
        encryption.add_password_wrap(self.db_path, self.db_key, username, password, password_hash)

    def key_wrap_is_current(self, username: str, password_hash: str) -> bool:
        """Has ``username`` a wrap of their own salt for this very password hash?"""
        if self.db_key is None or self.db_path is None:
            return True
        key_file = keys.load_key_file(keys.key_file_path(self.db_path))
        fp = keys.hash_fingerprint(password_hash)
        return any(not w.get("from_hash") and w.get("fp") == fp
                   for w in (key_file.users.get(username, []) if key_file else []))

    @property
    def has_recovery_key(self) -> bool:
        if self.db_key is None or self.db_path is None:
            return True
        key_file = keys.load_key_file(keys.key_file_path(self.db_path))
        return bool(key_file and key_file.recovery)

    def new_recovery_key(self) -> str | None:
        """Make a new recovery key (the old one stops working); shown once. None when plaintext."""
        if self.db_key is None or self.db_path is None:
            return None
        return encryption.set_recovery_key(self.db_path, self.db_key)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- station ----------------------------------------------------------------------------

    def _load_station(self) -> StationInfo | None:
        with self._read_factory() as session:
            setting = session.get(AppSetting, STATION_CODE_KEY)
            if setting is None:
                return None
            row = session.scalar(select(Station).where(Station.code == setting.value))
            if row is None:
                return None
            return StationInfo(row.code, row.name, row.scope, row.place_code, row.county_code,
                               row.supervision_phone)

    def reload_station(self) -> None:
        self.station = self._load_station()
        if self.station:
            self.recorder.station_code = self.station.code
            self.clock.inner.node = self.station.code

    @property
    def is_set_up(self) -> bool:
        return self.station is not None

    # -- sessions ---------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session: flushing a synced change here raises (no actor)."""
        with self._read_factory() as session:
            yield session

    @contextmanager
    def unit_of_work(self, actor: Actor, action: str, *, reference_write: bool = False,
                     skip_outbox: bool = False) -> Iterator[Session]:
        """One transaction for one use case: commits on success, rolls everything back on error."""
        session = self._write_factory()
        session.info.update(actor=actor, action=action, reference_write=reference_write,
                            skip_outbox=skip_outbox)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
