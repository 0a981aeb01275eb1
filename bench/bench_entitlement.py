"""Bench: 应享尽享 for the whole township — every 救助对象's entitlement over a year of settlements,
the 待落实 list and 落实率 by village — on the 60,000-resident demo (goal < 1 s), beside the raw
query floor (fetching the same settlement rows in plain sqlite3, no arithmetic).

Usage: PYTHONPATH=. .venv/bin/python bench/bench_entitlement.py [--db /tmp/bench60k.db]
The database is copied with SQLite's backup API first (the app writes to what it opens).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_common import ensure_demo  # noqa: E402
from bench_dashboard import copy_db  # noqa: E402
from bench_results import write_section  # noqa: E402

RUNS = 7
# Reads the station file with sqlite3 beside the app (the floor): a plaintext database, as
# bench_dashboard; what encryption costs is bench/bench_encryption.py's.
os.environ.setdefault("STATION_APP_PLAINTEXT_DB", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/bench60k.db")
    parser.add_argument("--year", type=int, default=2026)
    args = parser.parse_args()
    src = Path(args.db)
    ensure_demo(src)
    os.environ.setdefault("STATION_APP_DATA_DIR", tempfile.mkdtemp())
    work = Path(tempfile.mkdtemp()) / "ent.db"
    copy_db(src, work)

    from station_app.services import entitlement
    from station_app.services.auth import login
    from station_app.services.workspace import Workspace

    ws = Workspace.open(work)
    clerk = login(ws, "zg01", "demo123")
    year = args.year
    entitlement.pending_list(ws, clerk, year)  # warm the page cache like a second visit
    ours, floor = [], []
    raw = sqlite3.connect(work)
    first, last = f"{year}-01-01", f"{year}-12-31"
    for _ in range(RUNS):
        # Interleaved, so both see the same load on a shared machine.
        started = time.perf_counter()
        items = entitlement.pending_list(ws, clerk, year)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        rows = raw.execute(entitlement._HARDSHIP_SETTLEMENTS, {"first": first, "last": last}).fetchall()
        floor.append(time.perf_counter() - started)
    figures = entitlement.year_entitlements(ws, clerk, year)
    counts = {name: raw.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
              for name in ("resident", "settlement", "assistance_case")}
    year_settlements = raw.execute("SELECT count(*) FROM settlement WHERE settled_on BETWEEN ? AND ?",
                                   (first, last)).fetchone()[0]
    raw.close()
    ws.close()

    med, fmed = statistics.median(ours), statistics.median(floor)
    total = figures.total
    lines = [
        f"`PYTHONPATH=. .venv/bin/python bench/bench_entitlement.py` — {date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; demo township ({counts['resident']:,} residents, "
        f"{counts['settlement']:,} settlements of which {year_settlements:,} in {year}, "
        f"{counts['assistance_case']:,} assistance cases), median of {RUNS} warm runs, interleaved with the floor.",
        "",
        "| measure | median | max |",
        "|---|---|---|",
        f"| 应享尽享 (`entitlement.pending_list`: entitlement of every 救助对象's settlements in date order with "
        f"起付/限额/倾斜 carried, cases and 不适用 matched, 落实率 by village, the 待落实 list with names) "
        f"| {med * 1000:.0f} ms | {max(ours) * 1000:.0f} ms |",
        f"| floor: fetching the same {len(rows):,} settlement rows in plain sqlite3 | {fmed * 1000:.0f} ms "
        f"| {max(floor) * 1000:.0f} ms |",
        f"| ratio ours / floor | {med / fmed:.1f}× | |",
        f"| goal < 1 s | {'meets' if med < 1.0 else 'MISSES'} | |",
        "",
        f"Figures: 医疗救助落实率 {figures.rate.percent_text} ({total.people_paid}/{total.people} people), amount "
        f"{figures.amount_rate.percent_text}; 待落实 {len(items)} items, {total.pending_fen / 100:,.2f} 元.",
    ]
    write_section("应享尽享: entitlement and 待落实 (issue 16)", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
