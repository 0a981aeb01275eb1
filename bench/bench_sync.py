"""Sync benchmarks (issue 5): initial sync rate, no-op sync, wire bytes, push, server under load.

Each figure is measured against a raw floor in the same run, so the machine's speed cancels out:

* initial sync of the 60,000-resident township (every archive) over loopback, rows applied per
  second (goal ≥ 30,000; PowerSync publishes 27.6k) — floors: plain ``sqlite3.executemany`` of
  the same rows into an empty station schema, and gzip'd JSON of the same rows (encode+decode);
* a no-op sync (goal < 200 ms) — floor: one ``GET /v1/health`` round trip;
* wire bytes of a ~3,000-resident village's initial sync (goal < 2 MB) — floor: the same rows
  as gzip'd JSON;
* 5,000 pushed changes (goal < 5 s) — floor: the same 5,000 row updates as one executemany on
  the server's database;
* what the validation layer of issue 9 costs a push (goal ≤ 15 %): the same 5,000 changes
  through ``Store.push`` with it and with it bypassed, alternately, in the same run;
* 500 simulated stations doing no-op syncs against the server (goal p99 < 500 ms) — floor: the
  same load on ``/v1/health``.

The server runs as its own process (``county-server serve``) on 127.0.0.1 with PostgreSQL
(``--server-db sqlite`` for the embedded default). Run: ``.venv/bin/python bench/bench_sync.py``;
results go to the "## Sync (issue 5)" section of bench/RESULTS.md.
"""

from __future__ import annotations

import os as _os

# This bench reads the station file with sqlite3 beside the app: it measures its own feature on a
# plaintext database. What encryption costs is measured in bench/bench_encryption.py (issue 15).
_os.environ.setdefault("STATION_APP_PLAINTEXT_DB", "1")

import argparse
import gzip
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from county_server.db import init_db, make_engine  # noqa: E402
from county_server.store import Store  # noqa: E402
from station_app.services.auth import setup_station  # noqa: E402
from station_app.services.changes import Actor  # noqa: E402
from station_app.services.workspace import Workspace  # noqa: E402
from station_app.sync.client import SyncClient  # noqa: E402
from station_app.sync.engine import SyncEngine  # noqa: E402
from sync_protocol.protocol import version_headers  # noqa: E402
from station_app.sync.settings import set_server  # noqa: E402
from sync_protocol.tables import table_specs  # noqa: E402

PG_ADMIN = os.environ.get("SYNC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECTION = "## Sync (issue 5)"
GOALS = {"initial_rows_per_s": 30_000, "noop_ms": 200, "village_wire_mb": 2.0, "push_5000_s": 5.0,
         "load_p99_ms": 500, "validation_cost_pct": 15.0}


# ---------------------------------------------------------------- data


from bench_common import ensure_demo, percentile  # noqa: E402  (bench/ is on sys.path when run)
from bench_results import write_block  # noqa: E402


def _rows(conn: sqlite3.Connection, table: str, where: str = "", params=()) -> list[dict]:
    spec = table_specs()[table]
    cursor = conn.execute(f'SELECT * FROM "{table}" {where}', params)
    names = [d[0] for d in cursor.description]
    bools = [n for n in names if n in spec.fields and spec.fields[n].kind == "bool"]
    rows = []
    for values in cursor:
        row = dict(zip(names, values))
        for name in bools:
            if row[name] is not None:
                row[name] = bool(row[name])
        rows.append(row)
    return rows


def data_tables() -> list[str]:
    return [n for n, s in table_specs().items() if not s.reference and not s.local_only]


def read_data(demo: Path) -> dict[str, list[dict]]:
    conn = sqlite3.connect(demo)
    try:
        return {table: _rows(conn, table) for table in data_tables()}
    finally:
        conn.close()


def read_reference(demo: Path) -> list[tuple[str, list, dict]]:
    specs = table_specs()
    conn = sqlite3.connect(demo)
    out = []
    try:
        for table in sorted((n for n, s in specs.items() if s.reference), key=lambda n: (n != "place", n)):
            spec = specs[table]
            for row in _rows(conn, table):
                fields = {k: row[k] for k in spec.fields}
                out.append((table, [fields[k] for k in spec.natural_key], fields))
    finally:
        conn.close()
    return out


def travelling(table: str, row: dict) -> dict:
    spec = table_specs()[table]
    return {k: row[k] for k in spec.fields if k in row}


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, db_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "county_server", "--db-url", db_url, "serve", "--port", str(self.port)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(self.url + "/v1/health", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("county server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def server_database(kind: str, folder: Path):
    """(url, cleanup) for a fresh server database."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'county.db'}", lambda: None
    name = f"bench_sync_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


# ---------------------------------------------------------------- stations


def new_station(folder: Path, code: str, scope: str, place: str, url: str, token: str,
                template: Path) -> Workspace:
    path = folder / f"{code}.db"
    shutil.copy(template, path)
    ws = Workspace.open(path, backups=folder / "backups")
    actor = setup_station(ws, code=code, name=code, scope=scope, place_code=place, admin_username="admin",
                          admin_password="bench-pass-1")
    set_server(ws, actor, url, token)
    return ws


def empty_station_template(folder: Path) -> Path:
    path = folder / "empty.db"
    ws = Workspace.open(path, backups=folder / "backups")
    ws.close()
    return path


def timed_sync(ws: Workspace, url: str, token: str) -> tuple[float, object, SyncClient]:
    client = SyncClient(url, token)
    engine = SyncEngine(ws, client)
    started = time.perf_counter()
    report = engine.sync()
    return time.perf_counter() - started, report, client


# ---------------------------------------------------------------- floors


def floor_sqlite(template: Path, data: dict[str, list[dict]], folder: Path) -> float:
    """Plain sqlite3.executemany of the same rows into an empty station schema: rows per second."""
    path = folder / "floor.db"
    shutil.copy(template, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    total = 0
    started = time.perf_counter()
    for table, rows in data.items():
        if not rows:
            continue
        columns = list(rows[0])
        sql = f'INSERT INTO "{table}" ({",".join(columns)}) VALUES ({",".join("?" * len(columns))})'
        conn.execute("BEGIN")
        conn.executemany(sql, [tuple(r[c] for c in columns) for r in rows])
        conn.commit()
        total += len(rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return total / elapsed


def floor_json(data: dict[str, list[dict]]) -> tuple[float, int]:
    """gzip'd JSON of the same rows, encoded then decoded: rows per second and bytes."""
    rows = [travelling(t, r) for t, rs in data.items() for r in rs]
    started = time.perf_counter()
    blob = gzip.compress(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode(), 6)
    json.loads(gzip.decompress(blob))
    return len(rows) / (time.perf_counter() - started), len(blob)


# ---------------------------------------------------------------- load


def load_run(url: str, tokens: list[str], path: str, rounds: int, concurrency: int) -> list[float]:
    """Every station does ``rounds`` no-op syncs over ``concurrency`` keep-alive connections.

    A small asyncio HTTP/1.1 client, not requests in threads: the load generator shares the
    machine with the server, and requests would spend more CPU than the server does.
    """
    import asyncio
    from urllib.parse import urlparse

    host, port = urlparse(url).hostname, urlparse(url).port
    versions = "".join(f"{k}: {v}\r\n" for k, v in version_headers().items())
    work = [token for _ in range(rounds) for token in tokens]
    latencies: list[float] = []

    async def connection(queue: asyncio.Queue) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while not queue.empty():
                token = queue.get_nowait()
                request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                           f"Accept-Encoding: gzip\r\n{versions}\r\n").encode()
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
        finally:
            writer.close()

    async def main() -> None:
        queue: asyncio.Queue = asyncio.Queue()
        for token in work:
            queue.put_nowait(token)
        await asyncio.gather(*(connection(queue) for _ in range(concurrency)))

    asyncio.run(main())
    return latencies


def validation_cost(db_url: str, village_code: str, resident_ids: list[str], rounds: int) -> dict:
    """Push 5,000 changes (10 batches of 500: resident phones, as a village edits them) through
    ``Store.push`` with the validation layer and with it bypassed (the verdict built without any
    check, no foreign-key lookups), alternately, ``rounds`` times each; median seconds of each."""
    import county_server.store as server_store
    from sync_protocol.hlc import wall_clock_ms
    from sync_protocol.validate import Verdict

    store = Store(make_engine(db_url))
    ctx = store.station_ctx("V1")
    specs = store.specs
    real_judge, real_fks = server_store.judge_op, server_store.foreign_keys
    ids = (resident_ids * 5)[:5000]

    def unchecked(op, _specs=None):
        return Verdict(None, fields=op["f"], spec=specs[op["t"]])

    def push_all(tag: str) -> float:
        batches = []
        for start in range(0, 5000, 500):
            now = wall_clock_ms()
            batches.append({"batch_id": str(uuid.uuid4()), "client_time_ms": now, "ops": [
                {"op_id": str(uuid.uuid4()), "t": "resident", "id": row_id, "k": "update",
                 "f": {"phone": f"{tag}{i:06d}"[:20], "note": f"核对 {tag} {i}"}, "bv": 1,
                 "h": f"{now:013d}-{i % 999_999:06d}-V1"} for i, row_id in enumerate(ids[start:start + 500], start)]})
        if not store.sqlite:
            # Each push updates the same rows again; fewer dead tuples than autovacuum waits for
            # piled up and every push got slower (1.0 → 11.3 s over ten). Vacuumed first, each
            # push starts from the same state and the pair measures the validation layer alone.
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) sync_row, sync_event, push_op, push_batch, counter, place_aggregate"))
        started = time.perf_counter()
        for body in batches:
            answer = store.push(ctx, body)
            assert all(r["status"] != "rejected" for r in answer["results"]), answer["results"][:1]
        return time.perf_counter() - started

    timings: dict[str, list[float]] = {"with": [], "without": []}
    try:
        for n in range(rounds):
            for mode in (("with", "without") if n % 2 == 0 else ("without", "with")):
                if mode == "without":
                    server_store.judge_op, server_store.foreign_keys = unchecked, lambda *_a: []
                try:
                    timings[mode].append(push_all(f"{mode[0]}{n}"))
                finally:
                    server_store.judge_op, server_store.foreign_keys = real_judge, real_fks
    finally:
        store.close()
    with_s, without_s = statistics.median(timings["with"]), statistics.median(timings["without"])
    # Each round's with/without pair ran back to back (order alternating): the median of the
    # per-round ratios is the figure, steadier than the ratio of the two medians on a busy machine.
    ratios = [w / wo for w, wo in zip(timings["with"], timings["without"])]
    return {"validated_push_s": with_s, "unvalidated_push_s": without_s,
            "validation_cost_pct": (statistics.median(ratios) - 1) * 100, "validation_rounds": rounds,
            "validation_timings": timings}


def pct(values: list[float], q: float) -> float:
    """The q-th quantile (0–1)."""
    return percentile(values, q * 100)


# ---------------------------------------------------------------- main


def run(args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    demo = Path(args.demo)
    ensure_demo(demo, villages=args.villages, residents=args.residents, seed=args.seed)
    data = read_data(demo)
    total_rows = sum(len(v) for v in data.values())
    reference = read_reference(demo)
    with sqlite3.connect(demo) as conn:
        township_code = conn.execute("SELECT place_code FROM station").fetchone()[0]
        villages = conn.execute("SELECT village_code, count(*) FROM resident GROUP BY village_code").fetchall()
    village_code, village_residents = min(villages, key=lambda v: abs(v[1] - 3000))
    print(f"{total_rows:,} rows in {len(data)} tables; township {township_code}; "
          f"village {village_code} with {village_residents} residents", flush=True)

    db_url, drop_db = server_database(args.server_db, folder)
    results: dict = {"server_db": args.server_db, "rows": total_rows, "village_residents": village_residents}
    server = None
    try:
        init_db(make_engine(db_url))
        store = Store(make_engine(db_url))
        store.load_reference(rows=reference)
        started = time.perf_counter()
        for table, rows in data.items():
            for start in range(0, len(rows), 20_000):
                store.seed_rows(table, rows[start:start + 20_000], origin="demo", hlc="1700000000000-000000-demo")
        with store.engine.begin() as conn:  # a county database in service has statistics
            conn.execute(text("ANALYZE"))
        print(f"server loaded in {time.perf_counter() - started:.1f} s", flush=True)
        tokens = {"TS": store.add_station(code="TS", name="乡镇", scope="township", place_code=township_code),
                  "V1": store.add_station(code="V1", name="村", scope="village", place_code=village_code)}
        village_codes = [v for v, _ in villages]
        load_tokens = [store.add_station(code=f"L{i:03d}", name=f"模拟站{i}", scope="village",
                                         place_code=village_codes[i % len(village_codes)]) for i in range(500)]
        store.close()
        server = ServerProcess(db_url)
        template = empty_station_template(folder)

        # 1. initial sync of the whole township
        ws = new_station(folder, "TS", "township", township_code, server.url, tokens["TS"], template)
        seconds, report, client = timed_sync(ws, server.url, tokens["TS"])
        applied = report.pulled_rows
        results.update(initial_rows=applied, initial_seconds=seconds, initial_rows_per_s=applied / seconds,
                       initial_bytes=client.stats.bytes_received, initial_pages=report.pages)
        print(f"initial sync: {applied:,} rows in {seconds:.2f} s = {applied / seconds:,.0f} rows/s "
              f"({report.pages} pages, {client.stats.bytes_received / 1e6:.1f} MB)", flush=True)
        if args.only == "noop":  # the initial sync only builds the station for the no-op syncs
            results.update(floor_sqlite_rows_per_s=0.0, floor_json_rows_per_s=0.0, floor_json_bytes=0)
        else:
            results["floor_sqlite_rows_per_s"] = floor_sqlite(template, data, folder)
            results["floor_json_rows_per_s"], results["floor_json_bytes"] = floor_json(data)
        print(f"floors: sqlite3.executemany {results['floor_sqlite_rows_per_s']:,.0f} rows/s, "
              f"gzip JSON {results['floor_json_rows_per_s']:,.0f} rows/s", flush=True)

        # 2. no-op sync
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            timed_sync(ws, server.url, tokens["TS"])[2].close()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        noop = []
        for _ in range(args.noop_runs):
            seconds, _report, client = timed_sync(ws, server.url, tokens["TS"])
            client.close()
            noop.append(seconds * 1000)
        health = []
        session = requests.Session()
        for _ in range(args.noop_runs):
            started = time.perf_counter()
            session.get(server.url + "/v1/health", timeout=10)
            health.append((time.perf_counter() - started) * 1000)
        results.update(noop_ms=statistics.median(noop), noop_p95_ms=pct(noop, 0.95),
                       floor_health_ms=statistics.median(health))
        print(f"no-op sync: median {results['noop_ms']:.1f} ms (p95 {results['noop_p95_ms']:.1f}); "
              f"health round trip {results['floor_health_ms']:.1f} ms", flush=True)
        ws.close()
        if args.only == "noop":
            return results

        # 3. wire bytes of a village's initial sync
        village_ws = new_station(folder, "V1", "village", village_code, server.url, tokens["V1"], template)
        seconds, report, client = timed_sync(village_ws, server.url, tokens["V1"])
        wire = client.stats.bytes_received + client.stats.bytes_sent
        village_rows = {t: [r for r in rs if r.get("village_code") == village_code] for t, rs in data.items()}
        _, floor_bytes = floor_json(village_rows)
        results.update(village_rows=report.pulled_rows, village_wire_bytes=wire, village_floor_bytes=floor_bytes,
                       village_seconds=seconds)
        print(f"village initial sync: {report.pulled_rows:,} rows, {wire / 1e6:.2f} MB on the wire "
              f"(gzip JSON floor {floor_bytes / 1e6:.2f} MB)", flush=True)

        # 4. 5,000 pushed changes
        actor = Actor("admin", "管理员", "admin", village_code, "V1")
        with village_ws.unit_of_work(actor, "bench_edit") as session:
            from sqlalchemy import select

            from station_app.store.models import Enrollment, Resident

            people = session.scalars(select(Resident).where(Resident.village_code == village_code)).all()
            for i, person in enumerate(people[:3000]):
                person.phone = f"139{i:08d}"
            left = 5000 - min(3000, len(people))
            for i, row in enumerate(session.scalars(select(Enrollment).where(
                    Enrollment.village_code == village_code).limit(left)).all()):
                row.note = f"批量备注{i}"
        seconds, report, client = timed_sync(village_ws, server.url, tokens["V1"])
        results.update(push_ops=report.pushed, push_seconds=seconds, push_accepted=report.accepted)
        engine = create_engine(db_url)
        ids = [p.id for p in people[:3000]]
        with engine.begin() as conn:
            started = time.perf_counter()
            conn.execute(text("UPDATE sync_row SET vals = vals WHERE row_id = :id"),
                         [{"id": i} for i in (ids * 2)[:5000]])
            results["floor_push_seconds"] = time.perf_counter() - started
        engine.dispose()
        print(f"push: {report.pushed:,} changes in {seconds:.2f} s (incl. the echo pull); "
              f"floor executemany {results['floor_push_seconds']:.2f} s", flush=True)
        village_ws.close()

        # 4b. what the validation layer (issue 9) costs a push: the same 5,000 changes pushed
        # through the store with and without it, alternately, in this run
        results.update(validation_cost(db_url, village_code, ids, args.validation_rounds))
        print(f"validation layer: push of 5,000 changes {results['validated_push_s']:.2f} s with, "
              f"{results['unvalidated_push_s']:.2f} s without = {results['validation_cost_pct']:+.1f} % "
              f"(median of the paired rounds; with {[round(t, 2) for t in results['validation_timings']['with']]}, "
              f"without {[round(t, 2) for t in results['validation_timings']['without']]})", flush=True)

        # 5. 500 stations doing no-op syncs
        horizon = requests.get(server.url + "/v1/sync/pull", params={"cursor": 0, "limit": 1},
                               headers={**version_headers(), "Authorization": f"Bearer {load_tokens[0]}"},
                               timeout=30).json()["horizon"]
        path = f"/v1/sync/pull?cursor={horizon}&limit=500&stream=data"
        load_run(server.url, load_tokens[:50], path, 1, args.concurrency)  # warm the pools
        started = time.perf_counter()
        latencies = load_run(server.url, load_tokens, path, args.rounds, args.concurrency)
        wall = time.perf_counter() - started
        floor = load_run(server.url, load_tokens, "/v1/health", args.rounds, args.concurrency)
        results.update(load_requests=len(latencies), load_p50_ms=pct(latencies, 0.5) * 1000,
                       load_p99_ms=pct(latencies, 0.99) * 1000, load_rps=len(latencies) / wall,
                       floor_load_p99_ms=pct(floor, 0.99) * 1000, load_concurrency=args.concurrency)
        print(f"load: {len(latencies)} no-op syncs from 500 stations, {args.concurrency} at a time: "
              f"p50 {results['load_p50_ms']:.0f} ms, p99 {results['load_p99_ms']:.0f} ms, "
              f"{results['load_rps']:.0f} req/s (health p99 {results['floor_load_p99_ms']:.0f} ms)", flush=True)
    finally:
        if server is not None:
            server.stop()
        drop_db()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def verdict(ok: bool) -> str:
    return "✅" if ok else "❌"


def write_results(results: list[dict], path: Path, section: str = SECTION) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    lines = [section, "",
             f"`bench/bench_sync.py` — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, load average {load:.1f} at the "
             "end (the machine was shared with other test runs). Server: `county-server serve` "
             "in its own process on 127.0.0.1; station: a fresh database through the real client "
             "(gzip, adaptive pages, prefetch). Floors are measured in the same run.", ""]
    for r in results:
        lines += [f"### Server on {'PostgreSQL' if r['server_db'] == 'postgres' else 'SQLite'} "
                  f"— demo township, {r['rows']:,} synced rows", "",
                  "| Figure | Goal | Result | Raw floor (same run) |", "|---|---|---|---|",
                  f"| Initial sync of the 60,000-resident township | ≥ 30,000 rows/s "
                  f"| {verdict(r['initial_rows_per_s'] >= GOALS['initial_rows_per_s'])} "
                  f"**{r['initial_rows_per_s']:,.0f} rows/s** ({r['initial_rows']:,} rows in {r['initial_seconds']:.1f} s, "
                  f"{r['initial_pages']} pages, {r['initial_bytes'] / 1e6:.1f} MB) "
                  f"| sqlite3.executemany {r['floor_sqlite_rows_per_s']:,.0f} rows/s; gzip JSON encode+decode "
                  f"{r['floor_json_rows_per_s']:,.0f} rows/s |",
                  f"| No-op sync | < 200 ms | {verdict(r['noop_ms'] < GOALS['noop_ms'])} "
                  f"**{r['noop_ms']:.1f} ms** median (p95 {r['noop_p95_ms']:.1f} ms) "
                  f"| `GET /v1/health` {r['floor_health_ms']:.1f} ms |",
                  f"| Wire bytes, initial sync of a {r['village_residents']:,}-resident village | < 2 MB "
                  f"| {verdict(r['village_wire_bytes'] / 1e6 < GOALS['village_wire_mb'])} "
                  f"**{r['village_wire_bytes'] / 1e6:.2f} MB** ({r['village_rows']:,} rows) "
                  f"| same rows as gzip'd JSON {r['village_floor_bytes'] / 1e6:.2f} MB |",
                  f"| 5,000 pushed changes | < 5 s | {verdict(r['push_seconds'] < GOALS['push_5000_s'])} "
                  f"**{r['push_seconds']:.2f} s** ({r['push_ops']:,} ops, echo pull included) "
                  f"| 5,000-row executemany on the server DB {r['floor_push_seconds']:.2f} s |",
                  f"| Validation layer (issue 9): the same 5,000 pushed changes with and without it "
                  f"(`Store.push`, 10 batches of 500, median ratio of {r['validation_rounds']} back-to-back pairs, order alternating) "
                  f"| ≤ 15 % | {verdict(r['validation_cost_pct'] <= GOALS['validation_cost_pct'])} "
                  f"**{r['validation_cost_pct']:+.1f} %** ({r['validated_push_s']:.2f} s with) "
                  f"| without it: {r['unvalidated_push_s']:.2f} s |",
                  f"| 500 stations, no-op syncs ({r['load_requests']:,} requests, {r['load_concurrency']} at a time) "
                  f"| p99 < 500 ms | {verdict(r['load_p99_ms'] < GOALS['load_p99_ms'])} "
                  f"**p99 {r['load_p99_ms']:.0f} ms** (p50 {r['load_p50_ms']:.0f} ms, {r['load_rps']:.0f} req/s) "
                  f"| `/v1/health` under the same load: p99 {r['floor_load_p99_ms']:.0f} ms |", ""]
    lines += ["Reading the floors: the station applies rows through SQLite upserts, the pinyin keys of each "
              "resident, the overlay of unpushed edits and a cursor per page, so the executemany floor (bare "
              "inserts) is the ceiling we chase; the page pipeline fetches the next page while SQLite writes the "
              "current one, and a fresh station builds its plain (non-unique) indexes once after the initial "
              "pull instead of row by row (station_app/store/deferred_indexes.py). The initial-sync and "
              "500-station figures sit near their goals and move a few percent between runs on this 2-CPU "
              "machine, where the client, the server and the load generator share the cores: compare with "
              "the floors of the same run.", ""]
    write_block("\n".join(lines), path)


def write_noop_results(results: list[dict], path: Path, section: str) -> None:
    """A ``--only noop`` run: the no-op sync beside its health-check floor, with the machine's load."""
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [section, "",
             f"`bench/bench_sync.py --only noop` — {platform.processor() or platform.machine()}, {os.cpu_count()} "
             f"CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}; `uptime` at the end: "
             f"`{uptime}` (2 CPUs shared with other jobs). The township station (all "
             f"{results[0]['rows']:,} rows) is built by a real initial sync, then synced again with nothing to do.",
             "", "| Server | Goal | No-op sync | Raw floor (same run) |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {'PostgreSQL' if r['server_db'] == 'postgres' else 'SQLite'} | < 200 ms "
                     f"| {verdict(r['noop_ms'] < GOALS['noop_ms'])} **{r['noop_ms']:.1f} ms** median "
                     f"(p95 {r['noop_p95_ms']:.1f} ms) | `GET /v1/health` {r['floor_health_ms']:.1f} ms |")
    write_block("\n".join(lines) + "\n", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default="/tmp/bench60k.db")
    parser.add_argument("--villages", type=int, default=20)
    parser.add_argument("--residents", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--noop-runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="no-op syncs per simulated station")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--validation-rounds", type=int, default=5,
                        help="alternating runs with and without the validation layer (issue 9)")
    parser.add_argument("--only", choices=["all", "noop"], default="all",
                        help="noop: build the township station, then measure only the no-op sync")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one no-op sync first")
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default=SECTION, help="RESULTS.md section to write (a partial run "
                        "goes to its own section, e.g. '## Sync hardening (issue 9)')")
    args = parser.parse_args()
    kinds = ["postgres", "sqlite"] if args.server_db == "both" else [args.server_db]
    results = []
    for kind in kinds:
        print(f"=== server on {kind} ===", flush=True)
        args.server_db = kind
        results.append(run(args))
    if not args.no_write and args.only == "noop":
        write_noop_results(results, Path(args.results), args.section)
        print(f"written to {args.results}")
    elif not args.no_write:
        write_results(results, Path(args.results), args.section)
        print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
