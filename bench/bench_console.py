"""One county on one server: the console's dashboard, 600 stations' no-op syncs, a township's first sync.

Builds a synthetic county in a fresh PostgreSQL database (``county_server.synthetic``, COPY),
starts the real ``county-server serve --workers N`` and measures, each against a raw floor
taken in the same run:

* dashboard pages (county, township, village) — floor: ``/v1/health`` over the same HTTP stack;
* no-op syncs of every village station (pull data + pull reference at the head, as
  ``SyncEngine`` does with nothing to send), many at once — floor: ``/v1/health`` at the same
  concurrency;
* the first sync of a township station set up by ``station-app setup``'s ``provision`` —
  floor: pulling the same pages without applying them.

Usage: ``python bench/bench_console.py --villages 600 --residents 1200000 --workers 2``
(smaller sizes for a quick run; ``--db-url`` reuses a database generated before).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_common import percentile  # noqa: E402
from bench.bench_results import write_section  # noqa: E402
from county_server.console import accounts, stations  # noqa: E402
from county_server.db import init_db, make_engine  # noqa: E402
from county_server.models import Place, PlaceAggregate  # noqa: E402
from county_server.store import Store  # noqa: E402
from county_server.synthetic import COUNTY, generate, station_tokens, township_code  # noqa: E402
from station_app.sync.client import SyncClient  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) of durations in seconds, in ms."""
    return percentile(values, q) * 1000


def stats(values: list[float]) -> str:
    return f"p50 {pct(values, 50):.1f} ms · p95 {pct(values, 95):.1f} ms · p99 {pct(values, 99):.1f} ms (n={len(values)})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_database() -> tuple[str, callable]:
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def timed_get(session: requests.Session, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        r = session.get(url)
        out.append(time.perf_counter() - started)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return out


def sign_in(base: str) -> requests.Session:
    import re

    s = requests.Session()
    page = s.get(base + "/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = s.post(base + "/console/login", data={"csrf": csrf, "username": "bench", "password": "bench-pass-1",
                                              "next": "/console/"})
    assert r.ok and "kpi-enrollment" in r.text, r.text[:500]
    return s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--townships", type=int, default=30)
    parser.add_argument("--villages", type=int, default=600)
    parser.add_argument("--residents", type=int, default=1_200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=40, help="page loads per level")
    parser.add_argument("--concurrency", default="4,32", help="stations syncing at once (comma-separated runs)")
    parser.add_argument("--db-url", help="reuse a database generated before (kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()

    drop = None
    generated = ""
    if args.db_url:
        db_url = args.db_url
    else:
        db_url, drop = new_database()
        engine = make_engine(db_url)
        started = time.perf_counter()
        generated = generate(engine, townships=args.townships, villages=args.villages, residents=args.residents,
                             seed=args.seed, progress=lambda t: print(t, flush=True))
        print(generated, flush=True)
        gen_seconds = time.perf_counter() - started
        engine.dispose()
    engine = make_engine(db_url)
    init_db(engine)
    store = Store(engine)
    with engine.connect() as conn:
        villages = [v for v in conn.execute(select(Place.code).where(Place.level == "village")
                                            .order_by(Place.code)).scalars()]
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        rows = conn.execute(text("SELECT count(*) FROM sync_row WHERE stream = 'data'")).scalar()
    try:
        accounts.add_user(engine, username="bench", role="viewer", password="bench-pass-1")
    except accounts.ConsoleError:
        pass
    township = township_code(0)
    ts_code = f"BT{uuid.uuid4().hex[:6]}"
    ts_token = stations.add_station(store, code=ts_code, name="基准乡镇站", scope="township", place_code=township,
                                    admin_username="admin", admin_password="bench-admin-1")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "county_server", "--db-url", db_url, "serve", "--port", str(port),
                               "--workers", str(args.workers)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(base + "/v1/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(server.stderr.read().decode())
            time.sleep(0.2)

        # ---- dashboard pages
        session = sign_in(base)
        health = requests.Session()
        timed_get(health, base + "/v1/health", 20)  # warm
        floor = timed_get(health, base + "/v1/health", args.requests * 3)
        village = villages[len(villages) // 2]
        pages = {"county": f"{base}/console/?place={COUNTY}", "township": f"{base}/console/?place={township}",
                 "village": f"{base}/console/?place={village}"}
        page_times = {}
        for level, url in pages.items():
            timed_get(session, url, 3)
            page_times[level] = timed_get(session, url, args.requests)
            print(level, stats(page_times[level]), flush=True)
        with engine.connect() as conn:
            county_rows = [COUNTY, *conn.execute(select(Place.code).where(Place.parent_code == COUNTY)).scalars()]
            query_floor = []
            for _ in range(args.requests):
                started = time.perf_counter()
                conn.execute(select(PlaceAggregate.data).where(PlaceAggregate.place_code.in_(county_rows))).all()
                query_floor.append(time.perf_counter() - started)

        # ---- no-op syncs of every village station
        tokens = list(station_tokens(args.seed, villages).values())
        horizon = {}
        with engine.connect() as conn:
            counters = dict(conn.execute(text("SELECT name, value FROM counter")).all())
        horizon["data"], horizon["ref"] = counters.get("seq", 0), counters.get("ref_seq", 0)
        local = threading.local()

        def client_for(token: str) -> SyncClient:
            cache = getattr(local, "clients", None)
            if cache is None:
                cache = local.clients = {}
            if token not in cache:
                cache[token] = SyncClient(base, token, max_attempts=1)
            return cache[token]

        def noop_sync(token: str) -> float:
            client = client_for(token)
            started = time.perf_counter()
            client.pull(horizon["data"], 500, stream="data")
            client.pull(horizon["ref"], 500, stream="ref")
            return time.perf_counter() - started

        def health_pair(_token: str) -> float:
            client = client_for("floor")
            started = time.perf_counter()
            client.health()
            client.health()
            return time.perf_counter() - started

        sync_runs = []
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(noop_sync, tokens))  # every station once (auth cache, marks)
                sync_floor = list(pool.map(health_pair, tokens))
                started = time.perf_counter()
                sync_times = list(pool.map(noop_sync, tokens)) + list(pool.map(noop_sync, tokens))
                wall = time.perf_counter() - started
            sync_runs.append((concurrency, sync_times, sync_floor, wall))
            print(f"no-op sync, {concurrency} at once:", stats(sync_times), "floor", stats(sync_floor), flush=True)

        # ---- first sync of one township
        from station_app.services.workspace import Workspace
        from station_app.sync.provision import provision

        folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
        client = SyncClient(base, ts_token, max_attempts=2)
        started = time.perf_counter()
        cursor, pulled = 0, 0
        while True:
            page = client.pull(cursor, 5000, stream="data")
            pulled += sum(len(t["r"]) for t in page["tables"])
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        pull_floor = time.perf_counter() - started
        client.close()
        ws = Workspace.open(folder / "station.db")
        started = time.perf_counter()
        result = provision(ws, base, ts_token)
        initial = time.perf_counter() - started
        ws.close()
        print(f"township initial sync {initial:.1f} s ({pulled} rows; raw pull {pull_floor:.1f} s)", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        store.close()
        if drop is not None and not args.keep:
            drop()
        elif drop is not None:
            print("kept database:", db_url)

    body = [
        f"Synthetic county: {args.townships} townships, {len(villages)} villages, {args.residents:,} residents "
        f"({rows:,} synced rows, database {size / 1e9:.2f} GB); "
        + (f"generated in {gen_seconds:.0f} s with COPY. " if generated else "database reused. ")
        + f"`county-server serve --workers {args.workers}` on PostgreSQL, client and server on the same shared "
          f"2-core machine. Run: `python bench/bench_console.py --villages {args.villages} --residents {args.residents} "
          f"--workers {args.workers}`.",
        "",
        "| measure | result | raw floor (same run) | goal |",
        "| --- | --- | --- | --- |",
    ]
    for level in ("county", "township", "village"):
        body.append(f"| dashboard page, {level} | p95 {pct(page_times[level], 95):.0f} ms (p50 "
                    f"{pct(page_times[level], 50):.0f}) | `/v1/health` p95 {pct(floor, 95):.1f} ms; reading the county's "
                    f"and its townships' aggregate rows p95 {pct(query_floor, 95):.1f} ms | p95 < 500 ms |")
    for concurrency, sync_times, sync_floor, wall in sync_runs:
        body.append(f"| no-op sync (pull data + pull ref) of {len(tokens)} stations ×2, {concurrency} at once | "
                    f"p99 {pct(sync_times, 99):.0f} ms (p50 {pct(sync_times, 50):.0f}); "
                    f"{len(sync_times) / wall:.0f} syncs/s | two `/v1/health` at the same concurrency: p99 "
                    f"{pct(sync_floor, 99):.0f} ms (p50 {pct(sync_floor, 50):.0f}) | p99 < 300 ms |")
    body.append(f"| first sync of a township station (`provision`: identity, users, reference, {pulled:,} rows) | "
                f"{initial:.1f} s | pulling the same pages without applying: {pull_floor:.1f} s | — |")
    text_body = "\n".join(body)
    print(text_body)
    if not args.no_write:
        write_section("County console and one county on one server (bench_console.py)", text_body)
    del result
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
