"""bench/bench_common.py: the one percentile rule and demo builder every bench script uses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_common import ensure_demo, p95, percentile  # noqa: E402


def test_percentile_is_the_nearest_rank_every_bench_used():
    values = [float(v) for v in range(1, 201)]  # 1 … 200, shuffled order does not matter
    assert percentile(list(reversed(values)), 50) == 101.0
    assert p95(values) == 190.0  # round(0.95 × 199) = 189 → the 190th value
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 200.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_an_existing_demo_file_is_used_as_it_is(tmp_path, monkeypatch):
    import subprocess

    db = tmp_path / "demo.db"
    db.write_bytes(b"already there")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("must not build"))
    assert ensure_demo(db) == db and db.read_bytes() == b"already there"


def test_no_bench_script_keeps_its_own_copy_of_the_shared_helpers():
    bench = Path(__file__).resolve().parent.parent / "bench"
    for path in bench.glob("*.py"):
        if path.name == "bench_common.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "def ensure_demo" not in text and "def _percentile" not in text and "def p95" not in text, path.name
        assert '"station_app", "demo"' not in text, f"{path.name} builds the demo itself: use bench_common.ensure_demo"
