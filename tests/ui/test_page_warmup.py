"""A page's first open builds widgets only: its module was imported on a worker thread (issue 10:
the 同步 page's first open spent ~330 ms of the UI thread importing requests and its own module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from station_app.ui.sections import PAGE_MODULES, warm_page_imports
names = [f"station_app.ui.sections.{name}" for name in PAGE_MODULES]
assert not any(name in sys.modules for name in names), "imported before the warm-up"
warm_page_imports().join(120)
missing = [name for name in names if name not in sys.modules]
assert not missing, missing
assert "requests" in sys.modules
print("warm")
"""


def test_every_page_module_is_imported_in_the_background():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "warm"
