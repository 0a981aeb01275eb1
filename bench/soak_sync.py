"""Sync soak (issue 18): three stations through the real CLI, random edits and deletes, kill -9
of stations and of the server, settle and verify every N rounds.

Stations: VA (village A), VB (village B), TS (their township). Each round, every station runs
a worker process (random registrations, edits, deletes; sometimes the same person registered
offline at a village and at the township — a deliberate double registration — and households
registered in the same village at two stations), then ``station-app sync`` as its own process.
A worker or a sync is sometimes killed with SIGKILL at a random moment; the county server
(``county-server serve``) is sometimes killed with SIGKILL and started again.

Every ``--settle-every`` rounds (and at the end): the server is up, every station syncs until
quiet, ``station-app merge-people --all`` runs at the township, everyone syncs again; then:

* lost — an edit a worker committed (journal, written after commit) whose field on the server
  holds an older stamp (the edit never arrived and was not refused);
* mismatched — a field of a row in a station's scope that differs from the server's;
* duplicate 户号 — two live households of one village with one number on the server;
* unmerged double registrations — an ID number held by two live residents on the server.

Run: ``.venv/bin/python bench/soak_sync.py --rounds 200``; figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COUNTY = "610921000000"
TOWNSHIP = "610921103000"
VILLAGE_A = "610921103201"
VILLAGE_B = "610921103202"
STATIONS = {"VA": ("village", VILLAGE_A), "VB": ("village", VILLAGE_B), "TS": ("township", TOWNSHIP)}
SCOPES = {"VA": (VILLAGE_A,), "VB": (VILLAGE_B,), "TS": (VILLAGE_A, VILLAGE_B)}
NAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "明华强丽芳军平静敏杰"
ADMIN_PASSWORD = "soak-pass-1"
# Station databases are encrypted (issue 15): every CLI run signs in as the station's admin,
# as a clerk's scheduled sync would.
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "STATION_APP_USER": "admin", "STATION_APP_PASSWORD": ADMIN_PASSWORD}


def _py(*args: str) -> list[str]:
    return [sys.executable, *args]


# ---------------------------------------------------------------- the worker (its own process)


def worker(args) -> int:
    from station_app.domain.errors import ValidationError
    from station_app.domain.idnumber import make_id
    from station_app.services.changes import Actor
    from station_app.services.households import ResidentInput, register_household
    from station_app.services.workspace import Workspace
    from station_app.store.models import Household, Resident

    rng = random.Random(args.seed)
    ws = Workspace.open(Path(args.db), username="admin", password=ADMIN_PASSWORD)
    _scope, place = STATIONS[args.code]
    actor = Actor("admin", "管理员", "admin", place, args.code)
    journal = open(args.journal, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    def note(table: str, row_id: str, fields: dict) -> None:
        with ws.engine.connect() as conn:
            hlc = conn.exec_driver_sql(f'SELECT updated_hlc FROM "{table}" WHERE id = ?', (row_id,)).scalar()
        for name, value in fields.items():
            journal.write(json.dumps({"s": args.code, "t": table, "id": row_id, "f": name, "v": value,
                                      "h": hlc}, ensure_ascii=False) + "\n")
        journal.flush()
        os.fsync(journal.fileno())

    def register(village: str, id_number: str) -> None:
        name = rng.choice(NAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        try:
            # Every village in the reference has a 一组 (the one write path requires a group).
            household_id, head_id = register_household(ws, actor, village_code=village, confirm_similar=True,
                                                       head=ResidentInput(name, id_number, group_code=village + "01"))
        except ValidationError as refused:
            if "已登记" not in refused.message:
                raise  # only "already registered here" is skipped, like a clerk would
            return
        note("household", household_id, {"household_no": None})
        note("resident", head_id, {"id_number": id_number})

    if args.dup_id:
        register(args.dup_village, args.dup_id)
    for _ in range(args.edits):
        action = rng.random()
        villages = SCOPES[args.code]
        if action < 0.25:
            birth = date(1940 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
            register(rng.choice(villages), make_id("610921", birth, rng.randrange(1000)))
            continue
        model, table = (Household, "household") if rng.random() < 0.5 else (Resident, "resident")
        with ws.engine.connect() as conn:
            ids = [r[0] for r in conn.exec_driver_sql(
                f"SELECT id FROM {table} WHERE deleted = 0 AND village_code IN "
                f"({','.join('?' * len(villages))}) ORDER BY id", villages)]
        if not ids:
            continue
        row_id = rng.choice(ids)
        if action < 0.32 and table == "household":
            fields = {"deleted": True}
        else:
            name = rng.choice(["phone", "note"] + (["address"] if table == "household" else []))
            value = (f"13{rng.randrange(10**9):09d}" if name == "phone"
                     else f"{args.code}{args.seed % 100000}-{rng.randrange(10**6)}")
            fields = {name: value}
        with ws.unit_of_work(actor, "soak_edit") as session:
            row = session.get(model, row_id)
            for key, value in fields.items():
                setattr(row, key, value)
        note(table, row_id, fields)
    journal.close()
    ws.close()
    return 0


# ---------------------------------------------------------------- the run


class Server:
    def __init__(self, db_url: str, port: int):
        self.db_url, self.port, self.proc = db_url, port, None
        self.url = f"http://127.0.0.1:{port}"
        self.kills = 0

    def start(self) -> None:
        import requests

        self.proc = subprocess.Popen(_py("-m", "county_server", "--db-url", self.db_url, "serve", "--port",
                                         str(self.port)), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/v1/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("county server did not start")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


def _run(cmd: list[str], kill_after: float | None, stats: Counter, what: str) -> int:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        try:
            proc.wait(kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            stats[f"{what}_killed"] += 1
            return -9
    _out, err = proc.communicate()
    if proc.returncode != 0:
        stats[f"{what}_failed"] += 1
        if b"Traceback" in err:
            stats["tracebacks"] += 1
            print(err.decode("utf-8", "replace")[-2000:], file=sys.stderr)
    return proc.returncode


def setup(folder: Path, port: int) -> tuple[Server, dict[str, Path]]:
    from county_server.cli import main as county_main
    from station_app.services.auth import setup_station
    from station_app.services.reference import load_reference
    from station_app.services.workspace import Workspace
    from station_app.sync.settings import set_server
    from tests.conftest import SMALL_REFERENCE

    db_url = f"sqlite:///{folder / 'county.db'}"
    ref = folder / "county.json"
    ref.write_text(json.dumps(SMALL_REFERENCE, ensure_ascii=False), encoding="utf-8")
    assert county_main(["--db-url", db_url, "init-db"]) == 0
    assert county_main(["--db-url", db_url, "load-reference", str(ref)]) == 0
    server = Server(db_url, port)
    paths = {}
    for code, (scope, place) in STATIONS.items():
        out = subprocess.run(_py("-m", "county_server", "--db-url", db_url, "add-station", "--code", code,
                                 "--name", f"站点{code}", "--scope", scope.upper(), "--place", place),
                             cwd=ROOT, env=ENV, capture_output=True, text=True, check=True).stdout
        token = out.strip().splitlines()[-1]
        path = folder / f"{code}.db"
        ws = Workspace.open(path, backups=folder / "backups")
        load_reference(ws, SMALL_REFERENCE)
        actor = setup_station(ws, code=code, name=f"站点{code}", scope=scope, place_code=place,
                              admin_username="admin", admin_password=ADMIN_PASSWORD)
        set_server(ws, actor, server.url, token)
        ws.close()
        paths[code] = path
    server.start()
    return server, paths


def sync_cmd(path: Path) -> list[str]:
    return _py("-m", "station_app", "sync", "--db", str(path), "-q")


def settle(server: Server, paths: dict[str, Path], stats: Counter) -> None:
    server.ensure()
    for _ in range(3):
        for code in ("VA", "VB", "TS"):
            _run(sync_cmd(paths[code]), None, stats, "settle_sync")
    _run(_py("-m", "station_app", "merge-people", "--db", str(paths["TS"]), "--all"), None, stats, "merge")
    for _ in range(3):
        for code in ("TS", "VA", "VB"):
            _run(sync_cmd(paths[code]), None, stats, "settle_sync")


def _dict_row(cursor, row) -> dict:
    return {column[0]: value for column, value in zip(cursor.description, row)}


def verify(server: Server, paths: dict[str, Path], journal: Path) -> dict[str, int]:
    from station_app.services.workspace import Workspace

    from county_server.db import make_engine
    from county_server.store import Store
    from station_app.sync.apply import _to_db
    from sync_protocol.tables import table_specs

    specs = table_specs()
    store = Store(make_engine(server.db_url))
    result = Counter()
    try:
        everything = store.rows_in_scope(None)
        for code, path in paths.items():
            codes = frozenset(store.station_ctx(code).codes)
            # The station file is SQLCipher-encrypted: read it through the app's own engine.
            ws = Workspace.open(path, username="admin", password=ADMIN_PASSWORD)
            raw = ws.engine.raw_connection()
            conn = raw.driver_connection
            conn.row_factory = _dict_row
            local = {}
            for table, spec in specs.items():
                if spec.reference or spec.local_only:
                    continue
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    if row["village_code"] in codes:
                        local[row["id"]] = (table, dict(row))
            pending = conn.execute("SELECT count(*) AS n FROM sync_outbox WHERE state IN ('pending', 'sent')").fetchone()["n"]
            result["pending_after_settle"] += pending
            result["rejected"] += conn.execute("SELECT count(*) AS n FROM sync_outbox WHERE state = 'rejected'").fetchone()["n"]
            result["open_conflicts"] += conn.execute(
                "SELECT count(*) AS n FROM sync_conflict WHERE resolution = ''").fetchone()["n"]
            raw.close()
            ws.close()
            for row_id, record in store.rows_in_scope(codes).items():
                if row_id not in local:
                    if not record.deleted:
                        result["missing_rows"] += 1
                    continue
                table, values = local[row_id]
                for name, value in record.data.items():
                    spec = specs[table].fields.get(name)
                    if spec is None:
                        continue
                    result["fields_compared"] += 1
                    if values[name] != _to_db(spec.kind, value):
                        result["mismatched"] += 1
        # lost: a committed edit whose field on the server carries an older stamp
        for line in journal.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            record = everything.get(entry["id"])
            result["journal_writes"] += 1
            if record is None:
                result["lost"] += 1
                continue
            if entry["h"] and record.field_hlc(entry["f"]) < entry["h"]:
                result["lost"] += 1
        live = [r for r in everything.values() if not r.deleted]
        numbers = Counter((r.data.get("village_code"), r.data.get("household_no"))
                          for r in live if r.table == "household")
        result["households"] = sum(numbers.values())
        result["duplicate_household_no"] = sum(n - 1 for n in numbers.values() if n > 1)
        people = Counter(r.data.get("id_number") for r in live if r.table == "resident")
        result["residents"] = sum(people.values())
        result["double_registrations"] = sum(n - 1 for n in people.values() if n > 1)
    finally:
        store.close()
    return dict(result)


def run(args) -> dict:
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    journal = folder / "journal.jsonl"
    journal.touch()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server, paths = setup(folder, port)
    stats: Counter = Counter()
    checks = []
    started = time.monotonic()
    try:
        for round_no in range(1, args.rounds + 1):
            if rng.random() < args.server_kill:
                server.kill9()
                stats["server_kills"] += 1
            if rng.random() < 0.5:
                server.ensure()
            dup = {}
            if rng.random() < args.double_registration:
                village, pair = rng.choice([(VILLAGE_A, ("VA", "TS")), (VILLAGE_B, ("VB", "TS"))])
                from station_app.domain.idnumber import make_id

                number = make_id("610921", date(1950 + rng.randrange(40), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                                 rng.randrange(1000))
                dup = {code: (number, village) for code in pair}
                stats["double_registrations_made"] += 1
            for code in rng.sample(list(STATIONS), 3):
                cmd = _py(str(Path(__file__).resolve()), "worker", "--db", str(paths[code]), "--code", code,
                          "--seed", str(rng.randrange(10**9)), "--edits", str(rng.randint(2, args.max_edits)),
                          "--journal", str(journal))
                if code in dup:
                    cmd += ["--dup-id", dup[code][0], "--dup-village", dup[code][1]]
                kill = rng.uniform(0.5, 3.0) if rng.random() < args.station_kill else None
                _run(cmd, kill, stats, "worker")
            for code in rng.sample(list(STATIONS), 3):
                kill = rng.uniform(0.3, 3.0) if rng.random() < args.station_kill else None
                _run(sync_cmd(paths[code]), kill, stats, "sync")
            if round_no % args.settle_every == 0 or round_no == args.rounds:
                settle(server, paths, stats)
                check = verify(server, paths, journal)
                check["round"] = round_no
                checks.append(check)
                print(json.dumps(check, ensure_ascii=False), flush=True)
                if not args.no_write:  # figures so far: a run stopped early still leaves them
                    write_results({"rounds": round_no, "planned": args.rounds,
                                   "seconds": round(time.monotonic() - started), "stats": dict(stats),
                                   "checks": checks})
    finally:
        server.stop()
    stats["server_kills_total"] = server.kills
    result = {"rounds": args.rounds, "planned": args.rounds, "seconds": round(time.monotonic() - started), "stats": dict(stats),
              "checks": checks, "folder": str(folder)}
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def write_results(result: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_results import write_section

    last = result["checks"][-1] if result["checks"] else {}
    worst = {k: max(c.get(k, 0) for c in result["checks"]) for k in
             ("lost", "mismatched", "missing_rows", "duplicate_household_no", "double_registrations",
              "pending_after_settle")} if result["checks"] else {}
    s = result["stats"]
    body = f"""Three stations (VA, VB, TS) through the real CLI (`station-app sync`, `merge-people`) and
`county-server serve`, random registrations/edits/deletes by worker processes, kill -9 of workers,
syncs and the server; settle + verify every few rounds (`bench/soak_sync.py`).

| figure | value |
|---|---|
| rounds | {result['rounds']} of {result['planned']} planned ({result['seconds']} s on this shared 2-core machine) |
| settles verified | {len(result['checks'])} |
| committed writes (journal) | {last.get('journal_writes', 0)} |
| fields compared at the last settle | {last.get('fields_compared', 0)} |
| households / residents on the server | {last.get('households', 0)} / {last.get('residents', 0)} |
| kill -9: workers / syncs / server | {s.get('worker_killed', 0)} / {s.get('sync_killed', 0)} / {s.get('server_kills', 0)} |
| deliberate double registrations | {s.get('double_registrations_made', 0)} |
| CLI tracebacks | {s.get('tracebacks', 0)} |
| **lost** (worst settle) | **{worst.get('lost', 0)}** |
| **mismatched fields** (worst settle) | **{worst.get('mismatched', 0)}** (missing rows {worst.get('missing_rows', 0)}) |
| **duplicate 户号** (worst settle) | **{worst.get('duplicate_household_no', 0)}** |
| **unmerged double registrations** (worst settle) | **{worst.get('double_registrations', 0)}** |
| pending after settle (worst) | {worst.get('pending_after_settle', 0)} |
| refused changes / open conflicts at the end | {last.get('rejected', 0)} / {last.get('open_conflicts', 0)} |
"""
    write_section("Sync soak (issue 18)", body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker")
    w.add_argument("--db", required=True)
    w.add_argument("--code", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--edits", type=int, default=5)
    w.add_argument("--journal", required=True)
    w.add_argument("--dup-id", default="")
    w.add_argument("--dup-village", default="")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--settle-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--max-edits", type=int, default=8)
    parser.add_argument("--station-kill", type=float, default=0.1, help="chance a worker or a sync is killed")
    parser.add_argument("--server-kill", type=float, default=0.08, help="chance per round the server is killed")
    parser.add_argument("--double-registration", type=float, default=0.15)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    if args.command == "worker":
        return worker(args)
    result = run(args)
    print(json.dumps({k: v for k, v in result.items() if k != "checks"}, ensure_ascii=False))
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        write_results(result)
    bad = [c for c in result["checks"] if c.get("lost") or c.get("mismatched") or c.get("missing_rows")
           or c.get("duplicate_household_no") or c.get("double_registrations")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
