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
from station_app.domain.hlc import HybridLogicalClock
from station_app.store import deferred_indexes, migrate
from station_app.store.db import make_engine, make_session_factory
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
    def open(cls, db_path: str | Path, *, backups: Path | None = None) -> "Workspace":
        """Open (creating if needed) and migrate to head, backing up an older schema first."""
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(path)
        try:
            result = migrate.ensure_current(engine, path, backups)
            with engine.begin() as connection:  # an initial sync cut off before its index rebuild
                deferred_indexes.restore_deferred_indexes(connection)
            return cls(engine, path, result)
        except BaseException:
            engine.dispose()
            raise

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
