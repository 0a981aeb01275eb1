"""Bench: the 工作台 on the 60,000-resident demo (goal < 500 ms), against the raw SQL floor.

Usage: PYTHONPATH=. .venv/bin/python bench/bench_dashboard.py [--db /tmp/bench60k.db]
The database is copied with SQLite's backup API first (the app writes to what it opens).
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
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_common import ensure_demo  # noqa: E402
from bench_results import write_section  # noqa: E402

RUNS = 7

# The floor: the same grouped enrollment count the 参保率 needs, in plain sqlite3.
FLOOR_SQL = """
SELECT r.village_code, r.group_code, r.special_groups, e.status, count(*)
FROM resident r LEFT JOIN enrollment e ON e.resident_id = r.id AND e.year = ? AND e.deleted = 0
WHERE r.deleted = 0 AND r.status = 'registered'
GROUP BY r.village_code, r.group_code, r.special_groups, e.status
"""


def copy_db(src: Path, dst: Path) -> None:
    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/bench60k.db")
    args = parser.parse_args()
    src = Path(args.db)
    ensure_demo(src)
    os.environ.setdefault("STATION_APP_DATA_DIR", tempfile.mkdtemp())
    work = Path(tempfile.mkdtemp()) / "dash.db"
    copy_db(src, work)

    from station_app.services.auth import login
    from station_app.services.dashboard import load_dashboard
    from station_app.services.workspace import Workspace

    ws = Workspace.open(work)
    admin = login(ws, "admin", "admin123")
    today = date.today()
    load_dashboard(ws, admin, today=today)  # warm the page cache like a second visit
    ours = []
    for _ in range(RUNS):
        started = time.perf_counter()
        board = load_dashboard(ws, admin, today=today)
        ours.append(time.perf_counter() - started)
    ws.close()

    raw = sqlite3.connect(work)
    floor = []
    for _ in range(RUNS):
        started = time.perf_counter()
        raw.execute(FLOOR_SQL, (board.year,)).fetchall()
        floor.append(time.perf_counter() - started)
    raw.close()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # 2 cores shared: say how busy
    med, p_max = statistics.median(ours), max(ours)
    fmed = statistics.median(floor)
    lines = [
        f"`PYTHONPATH=. .venv/bin/python bench/bench_dashboard.py` — {date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; demo township (60,000 residents), "
        f"median of {RUNS} warm loads"
        + (f"; machine load average {load:.1f} at the end (ours and the floor share it)." if load is not None else "."),
        "",
        "| measure | median | max |",
        "|---|---|---|",
        f"| 工作台 data (`load_dashboard`: 参保率 by village/group/special group, 12-month 卡月使用率, "
        f"救助落实率, refill reminders, service counts) | {med * 1000:.0f} ms | {p_max * 1000:.0f} ms |",
        f"| floor: the one grouped 参保率 query in plain sqlite3 | {fmed * 1000:.0f} ms | {max(floor) * 1000:.0f} ms |",
        f"| ratio ours / floor | {med / fmed:.1f}× | |",
        f"| goal < 500 ms | {'meets' if med < 0.5 else 'MISSES'} | |",
        "",
        f"Figures shown: 参保率 {board.kpis.overall.percent_text}, 困难群众 {board.kpis.hardship.percent_text}, "
        f"未缴 {board.unpaid:,}, 续药提醒 {board.reminders_due}, 救助落实率 {board.fulfilment.rate.percent_text}.",
    ]
    print("\n".join(lines))
    write_section("Dashboard (issue 3)", "\n".join(lines))


if __name__ == "__main__":
    main()
