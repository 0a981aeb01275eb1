"""Sync fixtures: a real county server on 127.0.0.1 (SQLite or PostgreSQL) and station databases.

PostgreSQL tests get a dedicated database ``sync_test_<random>`` for the run and a fresh schema
per test; without PostgreSQL they skip, unless ``REQUIRE_POSTGRES=1`` (.ci/run), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import create_engine, text

from county_server.db import init_db, make_engine
from county_server.store import Store
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace
from station_app.sync import state
from station_app.sync.client import RawResponse, RequestsTransport, SyncClient
from station_app.sync.engine import SyncEngine, SyncReport, apply_txn
from station_app.sync.settings import set_server
from sync_protocol.tables import table_specs

from tests.conftest import COUNTY, SMALL_REFERENCE, TOWNSHIP, VILLAGE_A, VILLAGE_B

PG_ADMIN_URL = os.environ.get("SYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: A second township, for a village reassigned away from TOWNSHIP (failure mode 8).
TOWNSHIP_2 = "610921104000"
VILLAGE_C = "610921104201"

REFERENCE = {
    **SMALL_REFERENCE,
    "places": SMALL_REFERENCE["places"] + [
        {"code": TOWNSHIP_2, "name": "双河口镇", "level": "township", "parent_code": COUNTY},
        {"code": VILLAGE_C, "name": "龙垭村", "level": "village", "parent_code": TOWNSHIP_2},
    ],
}

#: code, scope on the server, place
STATIONS = {
    "VA": ("village", VILLAGE_A),
    "VB": ("village", VILLAGE_B),
    "TS": ("township", TOWNSHIP),
    "T2": ("township", TOWNSHIP_2),
    "CTY": ("county", ""),
}


# ---------------------------------------------------------------- every page is JSON (issue 9)


#: Pages decoded by the check below during this run (a test asserts it is not zero).
PAGES_DECODED = [0]


@pytest.fixture(autouse=True)
def every_pull_page_is_strict_json(monkeypatch):
    """Every page any test makes the server build is decoded by a strict JSON parser (UTF-8,
    no NaN, no lone surrogate in any string): a page that is not would fail the test that made
    it (issue 9, finding 1: ids pasted into the page text made every later page invalid)."""
    real = Store.pull

    def checked(self, *args, **kwargs):
        page = real(self, *args, **kwargs)
        decoded = json.loads(page.decode("utf-8"), parse_constant=_not_json)
        _no_surrogates(decoded)
        assert isinstance(decoded.get("tables"), list)
        PAGES_DECODED[0] += 1
        return page

    monkeypatch.setattr(Store, "pull", checked)


def _not_json(name):
    raise AssertionError(f"{name} in a pull page")


def _no_surrogates(value) -> None:
    if isinstance(value, str):
        value.encode("utf-8")  # raises on a lone surrogate
    elif isinstance(value, list):
        for item in value:
            _no_surrogates(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_surrogates(key)
            _no_surrogates(item)


# ---------------------------------------------------------------- PostgreSQL


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def pg_database():
    """A dedicated database for this run (dropped at the end); skip or fail without PostgreSQL."""
    if not _pg_reachable():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required here (REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    name = f"sync_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_database):
    """A fresh schema in the run's database for one test."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{pg_database}?options=-csearch_path%3D{schema}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


# ---------------------------------------------------------------- the live server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The FastAPI app under uvicorn in a thread, on a fixed port it keeps across restarts."""

    def __init__(self, url: str):
        import uvicorn  # noqa: F401

        from county_server.app import create_app

        self.db_url = url
        self.store = Store(make_engine(url))
        self.app = create_app(self.store)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off",
                                access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="county-server")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("county server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def restart(self) -> None:
        """A server process restart: new engine and store, all state from the database."""
        self.stop()
        self.store.close()
        self.store = Store(make_engine(self.db_url))
        self.app.state.store = self.store
        self.start()

    def swap_store(self) -> None:
        """Same as a restart for the state (cheap enough for the property test)."""
        old = self.store
        self.store = Store(make_engine(self.db_url))
        self.app.state.store = self.store
        old.close()


@pytest.fixture(scope="session")
def reference_rows():
    from county_server.reference import reference_rows as read

    return read(REFERENCE)


@dataclass
class County:
    server: LiveServer
    tokens: dict[str, str]

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def url(self) -> str:
        return self.server.url


def make_county(url: str, reference_rows) -> County:
    init_db(make_engine(url))
    server = LiveServer(url)
    server.store.load_reference(rows=reference_rows)
    tokens = {code: server.store.add_station(code=code, name=f"站点{code}", scope=scope, place_code=place)
              for code, (scope, place) in STATIONS.items()}
    server.start()
    return County(server, tokens)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def county(request, tmp_path, reference_rows):
    """A running county server with the small county loaded and five stations registered."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'county.db'}"
    county = make_county(url, reference_rows)
    yield county
    county.server.stop()
    county.store.close()


@pytest.fixture
def sqlite_county(tmp_path, reference_rows):
    county = make_county(f"sqlite:///{tmp_path / 'county.db'}", reference_rows)
    yield county
    county.server.stop()
    county.store.close()


@pytest.fixture
def pg_county(pg_url, reference_rows):
    county = make_county(pg_url, reference_rows)
    yield county
    county.server.stop()
    county.store.close()


# ---------------------------------------------------------------- stations


@pytest.fixture(scope="session")
def station_templates(tmp_path_factory):
    """Migrated, set-up station databases (reference loaded locally, as at first run), copied per test."""
    from station_app.services.auth import setup_station
    from station_app.services.reference import load_reference

    folder = tmp_path_factory.mktemp("station-templates")
    paths = {}
    for code, (scope, place) in STATIONS.items():
        if scope == "county":
            scope, place = "township", COUNTY  # the station app knows village/township only
        path = folder / f"{code}.db"
        ws = Workspace.open(path, backups=folder / "backups")
        load_reference(ws, REFERENCE)
        setup_station(ws, code=code, name=f"站点{code}", scope=scope, place_code=place,
                      admin_username="admin", admin_password="admin-pass-1")
        ws.close()
        paths[code] = path
    return paths


def no_sleep(_seconds: float) -> None:
    pass


class StationUnderTest:
    """One station database plus the helpers tests need around it."""

    def __init__(self, code: str, path: Path, county: County):
        self.code = code
        self.path = path
        self.county = county
        self.ws = Workspace.open(path, backups=path.parent / "backups")
        scope, place = STATIONS[code]
        self.place = place or COUNTY
        self.actor = Actor("admin", "管理员", "admin", self.place, code)
        set_server(self.ws, self.actor, county.url, county.tokens[code])

    def client(self, transport=None, **kwargs) -> SyncClient:
        kwargs.setdefault("sleep", no_sleep)
        kwargs.setdefault("max_attempts", 4)
        return SyncClient(self.county.url, self.county.tokens[self.code], transport=transport, **kwargs)

    def engine(self, transport=None, **kwargs) -> SyncEngine:
        client_kwargs = {k: kwargs.pop(k) for k in ("max_attempts", "sleep") if k in kwargs}
        return SyncEngine(self.ws, self.client(transport, **client_kwargs), **kwargs)

    def sync(self, transport=None, **kwargs) -> SyncReport:
        engine = self.engine(transport, **kwargs)
        try:
            return engine.sync()
        finally:
            engine.client.close()

    def reopen(self) -> None:
        """The program was closed (or killed) and started again on the same file."""
        self.ws.close()
        self.ws = Workspace.open(self.path, backups=self.path.parent / "backups")

    def state(self, key: str) -> str:
        with self.ws.engine.connect() as conn:
            return state.get(conn, key)

    def outbox_states(self) -> dict[str, int]:
        with self.ws.engine.connect() as conn:
            return dict(conn.exec_driver_sql("SELECT state, count(*) FROM sync_outbox GROUP BY state").all())

    def row(self, table: str, row_id: str) -> dict[str, Any] | None:
        with self.ws.engine.connect() as conn:
            result = conn.exec_driver_sql(f'SELECT * FROM "{table}" WHERE id = ?', (row_id,))
            row = result.mappings().first()
            return dict(row) if row is not None else None

    def conflicts(self) -> list[dict[str, Any]]:
        with self.ws.engine.connect() as conn:
            return [dict(r) for r in conn.exec_driver_sql(
                "SELECT * FROM sync_conflict ORDER BY id").mappings().all()]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def stations(tmp_path, station_templates, request):
    """``stations(county, "VA", "TS")`` → StationUnderTest objects on fresh copies."""
    made: list[StationUnderTest] = []

    def make(county: County, *codes: str) -> list[StationUnderTest]:
        result = []
        for code in codes:
            path = tmp_path / f"{code}-{uuid.uuid4().hex[:6]}.db"
            shutil.copy(station_templates[code], path)
            station = StationUnderTest(code, path, county)
            made.append(station)
            result.append(station)
        return result

    yield make
    for station in made:
        station.close()


# ---------------------------------------------------------------- faults on the wire


class Killed(BaseException):
    """The station program dies at this point (not an error anything may catch)."""


@dataclass
class FaultyTransport:
    """Wraps the real transport; each planned fault applies to one request, in order.

    ``drop_request``: the request never reaches the server. ``drop_response``: the server
    handles it, the answer is lost. ``duplicate``: the request reaches the server twice.
    ``kill_after``: the server handles it, then the station program dies.
    """

    plan: list[str] = field(default_factory=list)
    only: Callable[[str, str], bool] | None = None
    inner: RequestsTransport = field(default_factory=RequestsTransport)
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, method, url, headers, body, timeout) -> RawResponse:
        applies = self.only is None or self.only(method, url)
        fault = self.plan.pop(0) if (self.plan and applies) else "ok"
        self.log.append((method, url, fault))
        if fault == "drop_request":
            raise ConnectionError("dropped before the server saw it")
        response = self.inner(method, url, headers, body, timeout)
        if fault == "duplicate":
            response = self.inner(method, url, headers, body, timeout)
        if fault == "drop_response":
            raise ConnectionError("answer lost")
        if fault == "kill_after":
            raise Killed()
        if fault == "server_error":
            return RawResponse(503, {}, b"")
        return response

    def close(self) -> None:
        self.inner.close()


def is_push(method: str, url: str) -> bool:
    return method == "POST" and url.endswith("/v1/sync/push")


def is_pull(method: str, url: str) -> bool:
    return method == "GET" and "/v1/sync/pull" in url and "stream=data" in url


# ---------------------------------------------------------------- convergence


DATA_TABLES = [name for name, spec in table_specs().items() if not spec.reference and not spec.local_only]


def local_rows(station: StationUnderTest, codes: frozenset[str] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    rows = {}
    specs = table_specs()
    with station.ws.engine.connect() as conn:
        for table in DATA_TABLES:
            for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"').mappings():
                if codes is None or row["village_code"] in codes:
                    fields = {k: row[k] for k in specs[table].fields}
                    rows[row["id"]] = (table, {**fields, "row_version": row["row_version"]})
    return rows


def assert_converged(county: County, station: StationUnderTest) -> None:
    """The station holds exactly the server's rows of its scope, value for value."""
    from station_app.sync.apply import _to_db

    ctx = county.store.station_ctx(station.code)
    server = county.store.rows_in_scope(ctx.codes)
    local = local_rows(station, ctx.codes)
    specs = table_specs()
    for row_id, record in server.items():
        if row_id not in local:
            assert record.deleted, f"{station.code} lacks {record.table} {row_id}"
            continue
        table, values = local[row_id]
        assert table == record.table
        for name, value in record.data.items():
            spec = specs[table].fields.get(name)
            if spec is None:
                continue
            expected = _to_db(spec.kind, value)
            assert values[name] == expected, (station.code, table, row_id, name, values[name], expected)
        assert values["row_version"] == record.row_version, (station.code, table, row_id)
    extra = set(local) - set(server)
    assert not extra, f"{station.code} has rows the server does not: {sorted(extra)[:5]}"


def pending(station: StationUnderTest) -> int:
    states = station.outbox_states()
    return states.get("pending", 0) + states.get("sent", 0)


def sync_until_quiet(county: County, members: list[StationUnderTest], rounds: int = 3) -> None:
    for _ in range(rounds):
        for station in members:
            station.sync()
    for station in members:
        assert pending(station) == 0, station.outbox_states()


def set_cursor(station: StationUnderTest, key: str, value: str) -> None:
    with apply_txn(station.ws) as conn:
        state.put(conn, key, value)


__all__ = ["VILLAGE_A", "VILLAGE_B", "TOWNSHIP"]
