"""Demo generation: the 60,000-resident / 20-village township built through ``build_demo``.

Usage:  PYTHONPATH=. .venv/bin/python bench/bench_demo.py [--residents N] [--villages N] [--no-write]

Builds into a temporary folder and reports wall and CPU time, seconds per phase, rows per
table and the database size on disk (after a WAL checkpoint). In the same run it measures the
floor: the same resident and enrollment rows, read back from the built file, inserted with plain
``sqlite3`` ``executemany`` into an empty copy of the schema (same indexes, foreign keys and
pragmas; households are loaded first, untimed, so the foreign keys resolve). Results replace the
"## Demo generation (issue 2)" section of bench/RESULTS.md.
"""

from __future__ import annotations

import os as _os

# This bench reads the station file with sqlite3 beside the app: it measures its own feature on a
# plaintext database. What encryption costs is measured in bench/bench_encryption.py (issue 15).
_os.environ.setdefault("STATION_APP_PLAINTEXT_DB", "1")

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench_results import write_block  # noqa: E402  (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from station_app.services.demo import build_demo  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Demo generation (issue 2)"
GOAL_S = 30.0
#: The same pragmas the app sets on every connection (station_app/store/db.py).
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
           "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-32000")


def checkpoint_and_size(db: Path) -> tuple[float, dict[str, int]]:
    """Megabytes on disk after folding the WAL into the file, and the row count of every table."""
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    size = sum(Path(str(db) + suffix).stat().st_size for suffix in ("", "-wal")
               if Path(str(db) + suffix).exists())
    return size / 1_000_000, counts


def raw_floor(built: Path, work: Path) -> tuple[float, int, int]:
    """Seconds for plain executemany of the built file's resident + enrollment rows into an empty schema."""
    source = sqlite3.connect(built)
    schema = [r[0] for r in source.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        # the floor is bare inserts: no search index (derived, built lazily) and no triggers
        "AND type != 'trigger' AND tbl_name NOT LIKE 'resident_search%' ORDER BY rowid")]
    data = {}
    for table in ("household", "resident", "enrollment"):
        cursor = source.execute(f'SELECT * FROM "{table}"')
        columns = [d[0] for d in cursor.description]
        data[table] = (columns, cursor.fetchall())
    source.close()

    target = work / "floor.db"
    con = sqlite3.connect(target, isolation_level=None)
    for pragma in PRAGMAS:
        con.execute(pragma)
    for statement in schema:
        con.execute(statement)

    def load(table: str) -> None:
        columns, rows = data[table]
        sql = (f'INSERT INTO "{table}" ({", ".join(columns)}) '
               f'VALUES ({", ".join("?" for _ in columns)})')
        con.executemany(sql, rows)

    con.execute("BEGIN")
    load("household")  # untimed: only there so the residents' foreign keys resolve
    con.execute("COMMIT")
    started = time.perf_counter()
    con.execute("BEGIN")
    load("resident")
    load("enrollment")
    con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed, len(data["resident"][1]), len(data["enrollment"][1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=60000)
    parser.add_argument("--villages", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_demo_") as tmp:
        work = Path(tmp)
        db = work / "demo.db"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        summary = build_demo(db, villages=args.villages, residents=args.residents, seed=args.seed)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        size_mb, counts = checkpoint_and_size(db)
        floor, floor_residents, floor_enrollments = raw_floor(db, work)

    phases = summary.phase_seconds
    same_tables = phases.get("people", 0.0) + phases.get("enrollment", 0.0)
    verdict = "meets" if wall < GOAL_S else "MISSES"
    shown = ("household", "resident", "enrollment", "chronic_card", "card_usage", "assistance_case",
             "assistance_referral", "service_entry", "app_user", "place", "audit_log", "sync_outbox")
    total_rows = sum(counts.values())
    table_rows = "\n".join(f"| {t} | {counts.get(t, 0):,} |" for t in shown)
    phase_text = ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
    host = f"{platform.system()} {platform.release()}, Python {platform.python_version()}, {os.cpu_count()} cores"

    report = f"""{SECTION}

`PYTHONPATH=. .venv/bin/python bench/bench_demo.py` — {time.strftime('%Y-%m-%d')}, {host}
(a shared machine: other jobs may run at the same time; compare CPU time as well as wall time).
`build_demo` with {args.villages} villages, {args.residents:,} residents, seed {args.seed}, into a temporary folder.

| measure | value |
|---|---|
| wall time, whole build | {wall:.1f} s |
| CPU time, whole build | {cpu:.1f} s |
| goal < {GOAL_S:.0f} s (wall) | {verdict} |
| database size on disk (after WAL checkpoint) | {size_mb:.1f} MB |
| rows, all tables | {total_rows:,} |
| floor: plain sqlite3 executemany of {floor_residents:,} resident + {floor_enrollments:,} enrollment rows | {floor:.2f} s |
| ours: the phases writing households, residents and enrollments (building those rows included) | {same_tables:.1f} s |
| ratio same tables ours / floor | {same_tables / floor:.1f}× |
| ratio whole build / floor | {wall / floor:.1f}× |

Phases (wall seconds): {phase_text}.

| table | rows |
|---|---|
{table_rows}
"""
    print(report)
    if not args.no_write:
        write_block(report)
        print(f"updated {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
