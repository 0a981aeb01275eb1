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


def test_the_warm_up_waits_until_the_window_has_painted_and_its_tasks_delivered(
        qtbot, township_ws, threaded_tasks, ui_settings, monkeypatch):
    """Run beside the first paint, the imports made each of its Python callbacks wait for the
    importing thread: the 工作台's first show stalled up to 269 ms (bench/bench_ui_stall.py)."""
    from station_app.ui import sections
    from station_app.ui.app import build_main_window

    seen: list[int] = []
    monkeypatch.setattr(sections, "warm_page_imports", lambda: seen.append(threaded_tasks.pending_count))
    ws, admin = township_ws
    window = build_main_window(ws, admin, threaded_tasks, ui_settings)
    qtbot.addWidget(window)
    window.show()
    assert seen == []  # not while the window and the 工作台 are still being drawn
    page = window.page("dashboard")
    qtbot.waitUntil(lambda: bool(seen), timeout=60_000)
    assert seen == [0]  # once, and with nothing left to deliver
    assert page.overview is not None and page.dashboard is not None
    qtbot.wait(sections.WARM_UP_DELAY_MS * 2)
    threaded_tasks.run_read(lambda: None)  # later tasks do not start it again
    qtbot.waitUntil(lambda: threaded_tasks.pending_count == 0, timeout=60_000)
    qtbot.wait(sections.WARM_UP_DELAY_MS)
    assert seen == [0]
