"""What every bench script shares: the demo database built when missing, and percentiles.

    from bench_common import ensure_demo, percentile   # bench/ is on sys.path when a bench runs
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_demo(db: str | Path, *, residents: int = 60000, villages: int = 20, seed: int = 1) -> Path:
    """The demo township in ``db``, built with ``station-app demo`` (a child process) if the file is
    missing; an existing file is used as it is. The child inherits this process's environment
    (``STATION_APP_PLAINTEXT_DB`` decides whether the file is encrypted)."""
    db = Path(db)
    if db.exists():
        return db
    print(f"building demo database {db} ({residents} residents, {villages} villages)…", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "station_app", "demo", "--db", str(db), "--villages", str(villages),
                           "--residents", str(residents), "--seed", str(seed)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0 or not db.exists():
        raise SystemExit(f"could not build the demo database {db}; pass --db with an existing database")
    return db


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by nearest rank on the sorted values: q=50 the median,
    q=95 the p95. The same index rule every bench used: round(q/100 × (n − 1))."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def p95(values: list[float]) -> float:
    return percentile(values, 95)
