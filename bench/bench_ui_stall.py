"""Bench: the longest main-thread stall per page and dialog on the 60,000-resident demo (goal < 200 ms).

Usage: PYTHONPATH=. QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_ui_stall.py [--db /tmp/bench60k.db]

A 5 ms QTimer ticks on the main thread while each page is opened (as the 乡镇专干 zg01, the
widest scope) and its background tasks deliver; the longest gap between two ticks is the
longest time the window could not repaint or answer a click. The floor is the same monitor
with an empty window (the tick jitter of this machine). The database is copied first.
Pages: every section, the 年度参保 tab, the 工作台 drill-down, the 公示 preview of the largest
village's enrollment notice; dialogs: every dialog of tests/ui/counter/catalogue.py (the list the
fit and language tests open), plus the township 未缴清单 (filled) and its printout (a PDF written
by a child process), each until its background work has delivered.
Also: the township-wide 未缴清单 query (goal < 1 s) against a plain sqlite3 floor, wall and CPU.
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
sys.path.insert(0, str(ROOT / "bench"))

from bench_common import ensure_demo  # noqa: E402
from bench_dashboard import copy_db  # noqa: E402
from bench_results import write_section  # noqa: E402

GOAL_MS = 200

NOTES = """How the enrollment parts got under 200 ms (henroll): the township printout is laid out by a
spawned child process (`ui/pdf_process.py`; PySide6 kept the GIL through QTextDocument.setHtml/print_,
so a worker thread still froze the window ~14 s); the 未缴清单 tree is made detached in 15 ms slices
and put in the tree once (each insert into the shown tree re-laid out every row), a township's member
rows are made when a household is opened, and a closed list lets its rows go; the objects loaded at
start-up are `gc.freeze()`d (a full collection walking them all froze the window ~0.3 s after the
township list); 年度参保 reads 60 rows a page as it paints (a page is read on the UI thread). The
未缴清单 query is one statement (owing residents, then their whole households with the household
row), rows unpacked as tuples: CPU ~0.4 s against the bare SELECT's ~0.15 s (was ~0.8 s); what is
left is mostly the second index probe per household member (16,000 rows for 7,500 owing people).
These runs are on the schema with migration 0070 (covering enrollment index), landed meanwhile.
First opens (lead): every page's module is imported on a worker thread once the window is up
(the imports — requests for 同步 — had run on the UI thread: 同步 473 → 149 ms, 居民参保 325 → 124 ms),
and the 同步 page's double-registration scan groups over the ID-number index (~340 → ~30 ms).
政策's first open (242 ms, the last one over) was not Qt painting, as first thought: the 政策问答 list
was being built on a worker thread while the page painted, and its first build loads pypinyin's
dictionaries. Each paint calls back into Python many times, and each callback waited up to the 5 ms
GIL switch interval while the worker ran Python (a convoy), plus pypinyin's one json.loads of
2.5 MB held the GIL ~100 ms at once, plus full collections walking its ~200,000 new lists (46 ms
each). Fixes: the GUI runs with a 1 ms switch interval (`ui/app.py`), pypinyin's dictionaries are
read one entry at a time and then frozen out of the collector (`domain/pinyin_data.py`), and the
政策问答 list is built when its tab is first shown (measured as its own row). Under load, a full
garbage collection can land inside a slice; the machine is shared: rerun before reading much into
a single figure."""


class StallMonitor:
    def __init__(self, app):
        from PySide6.QtCore import QTimer

        self.app = app
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.longest = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def measure(self, action, tasks, settle: float = 0.4, until=None) -> float:
        """Run ``action`` (on the main thread, as a click would) and pump events until its tasks are
        done (and ``until()`` holds, for work that goes on in timer slices after the tasks)."""
        from PySide6.QtCore import QTimer

        self.longest = 0.0
        self.last = time.perf_counter()
        self.timer.start()
        result = {}

        def run():
            start = time.perf_counter()
            result["value"] = action()
            # The action itself runs inside one event: it is a stall too.
            self.longest = max(self.longest, time.perf_counter() - start)
            self.last = time.perf_counter()

        QTimer.singleShot(0, run)
        deadline = time.perf_counter() + 60
        quiet_since = None
        while time.perf_counter() < deadline:
            self.app.processEvents()
            time.sleep(0.002)
            if "value" in result and (tasks is None or tasks.pending_count == 0) and (until is None or until()):
                quiet_since = quiet_since or time.perf_counter()
                if time.perf_counter() - quiet_since > settle:
                    break
            else:
                quiet_since = None
        self.timer.stop()
        return self.longest * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/bench60k.db")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    src = Path(args.db)
    ensure_demo(src)
    work = Path(tempfile.mkdtemp(prefix="stall-"))
    db = work / "station.db"
    copy_db(src, db)
    os.environ["STATION_APP_DATA_DIR"] = str(work / "data")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMainWindow

    from station_app.services import enrollment
    from station_app.services.auth import login
    from station_app.services.workspace import Workspace
    from station_app.ui.app import build_main_window, create_application
    from station_app.ui.sections import SECTIONS
    from station_app.ui.tasks import TaskManager

    app = create_application()
    monitor = StallMonitor(app)
    ws = Workspace.open(db)
    clerk = login(ws, "zg01", "demo123")

    floor_window = QMainWindow()
    floor_window.resize(1366, 698)
    floor = statistics.median(monitor.measure(lambda: floor_window.show(), None) for _ in range(3))
    floor_window.close()

    tasks = TaskManager()
    window = build_main_window(ws, clerk, tasks, QSettings(str(work / "ui.ini"), QSettings.Format.IniFormat))
    window.resize(1366, 698)
    rows: list[tuple[str, float]] = []
    rows.append(("主窗口 + 工作台", monitor.measure(window.show, tasks)))
    for section in SECTIONS[1:]:
        rows.append((section.title, monitor.measure(lambda key=section.key: window.show_section(key), tasks)))
    residents = window.page("enrollment")
    rows.append(("居民参保 · 年度参保", monitor.measure(residents.show_enrollment, tasks)))
    # 政策问答 builds its list when its tab is first shown; the first build loads pypinyin's
    # dictionaries on a worker thread (say so when something loaded them earlier).
    policy_tabs = window.page("policy")
    qa_page = policy_tabs.widget(1)
    first = "首次，载入拼音词典" if "pypinyin.constants" not in sys.modules else "拼音词典已载入"
    rows.append((f"政策 · 政策问答（{first}）", monitor.measure(
        lambda: (window.show_section("policy"), policy_tabs.setCurrentIndex(1)), tasks,
        until=lambda: bool(qa_page.items))))
    rows.append(("政策 · 村广播", monitor.measure(lambda: policy_tabs.setCurrentIndex(2), tasks)))
    rows.append(("工作台 · 下钻到一个村", monitor.measure(
        lambda: (window.show_section("dashboard"),
                 window.page("dashboard").village_combo.setCurrentIndex(1)), tasks)))
    tab = residents.enrollment
    dialog_box = {}

    def open_unpaid():
        window.show_section("enrollment")
        dialog_box["unpaid"] = tab.show_unpaid_list()

    rows.append(("未缴清单（全乡镇，树全部填好）", monitor.measure(
        open_unpaid, tasks, settle=1.0, until=lambda: dialog_box["unpaid"].data is not None)))
    unpaid = dialog_box["unpaid"]
    opened = []
    unpaid.open_file = opened.append  # the PDF viewer is not part of the app
    rows.append(("未缴清单 · 打印（全乡镇，子进程排版成 PDF）", monitor.measure(unpaid.print_preview, tasks, settle=1.0)))
    pdf_note = f"{opened[0].stat().st_size / 1e6:.1f} MB PDF, {unpaid.message.text()}" if opened else "no PDF"
    unpaid.close()
    # 公示: preview of the largest village's enrollment notice (drawn in a worker, then shown).
    notices_page = window.show_section("notices")
    shown = []

    def show_preview(dialog):
        shown.append(dialog)
        dialog.show()
        return 0

    notices_page.exec_dialog = show_preview
    chooser = notices_page.chooser
    with ws.read() as session:
        from sqlalchemy import func, select

        from station_app.store.models import Resident

        biggest = session.execute(select(Resident.village_code, func.count()).group_by(Resident.village_code)
                                  .order_by(func.count().desc())).first()[0]
    index = chooser.village.findData(biggest)
    if index >= 0:
        chooser.village.setCurrentIndex(index)
    rows.append((f"公示 · 预览（参保公示，{chooser.village.currentText()}）", monitor.measure(
        notices_page.preview, tasks, settle=1.0, until=lambda: bool(shown))))
    for d in shown:
        d.close()

    # Every dialog, as tests/ui/counter/catalogue.py opens it (the fit and language tests' list).
    from types import SimpleNamespace

    from tests.ui.counter.catalogue import dialogs

    for name, factory in dialogs(SimpleNamespace(ws=ws), tasks, window):
        if name == "登录":
            continue  # before the window exists; part of the cold start (bench_startup)
        box = {}

        def open_it(factory=factory, box=box):
            dialog = factory()
            box["d"] = dialog
            if dialog is not None and not dialog.isVisible():
                dialog.show()

        until = None
        if name == "年度参保.show_unpaid_list":
            until = lambda box=box: box.get("d") is not None and box["d"].data is not None  # noqa: E731
        try:
            ms = monitor.measure(open_it, tasks, settle=0.6, until=until)
        except Exception as error:  # a dialog the demo cannot open (no such record): say so, go on
            rows.append((f"对话框 · {name}", float("nan")))
            print(f"{name}: {error!r}", file=sys.stderr)
            continue
        rows.append((f"对话框 · {name}", ms))
        if box.get("d") is not None:
            box["d"].close()
        app.processEvents()
    for name, attr in (("慢病卡申请", "CardApplyDialog"), ("救助申请", "CaseDialog")):
        module = "chronic_apply" if attr == "CardApplyDialog" else "assistance_case"
        cls = getattr(__import__(f"station_app.ui.dialogs.{module}", fromlist=[attr]), attr)
        dialog = cls(window.context, parent=window)
        dialog.show()
        app.processEvents()
        picker = dialog.picker
        rows.append((f"对话框 · {name} · 搜索 zs", monitor.measure(
            lambda picker=picker: (picker.edit.setText("zs"), picker.search_now()), tasks)))
        dialog.close()

    year = enrollment.default_year(ws)
    # Interleaved, best of 5 each, wall and CPU (the machine is shared: CPU is the steadier figure).
    con = sqlite3.connect(db)
    ours: list[tuple[float, float]] = []
    floors: list[tuple[float, float]] = []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        data = enrollment.unpaid_list(ws, clerk, year)
        ours.append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        con.execute("SELECT r.household_id, r.id, r.name, r.phone FROM resident r LEFT JOIN enrollment e "
                    "ON e.resident_id = r.id AND e.year = ? WHERE r.status = 'registered' AND "
                    "(e.id IS NULL OR e.status = 'unpaid')", (year,)).fetchall()
        floors.append((time.perf_counter() - wall, time.process_time() - cpu))
    con.close()
    unpaid_s, unpaid_cpu = min(w for w, _c in ours), min(c for _w, c in ours)
    unpaid_floor, floor_cpu = min(w for w, _c in floors), min(c for _w, c in floors)
    load = os.getloadavg()[0]
    window.close()
    tasks.wait_for_done()
    ws.close()

    worst = max(ms for _n, ms in rows if ms == ms)
    lines = [f"| {name} | {ms:.0f} ms | {'meets' if ms < GOAL_MS else '**over**'} |" if ms == ms
             else f"| {name} | could not open | |" for name, ms in rows]
    body = (f"`PYTHONPATH=. QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_ui_stall.py` — {date.today():%Y-%m-%d}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), Python {platform.python_version()}, "
            "offscreen Qt, the app's fonts and stylesheet, 60,000-resident demo, signed in as the 乡镇专干 zg01 "
            "(township scope, the heaviest), window 1366×698.\n\n"
            "Longest gap between two ticks of a 5 ms main-thread timer while the page opens and its background "
            "tasks deliver (the longest time the window could not repaint or take a click). Goal < 200 ms.\n\n"
            f"Floor (empty window shown, this machine's tick jitter): {floor:.0f} ms.\n\n"
            "| page / dialog | longest stall | goal |\n|---|---|---|\n" + "\n".join(lines)
            + f"\n\nWorst: {worst:.0f} ms.\n\n"
            f"未缴清单 query, whole township ({data.households:,} 户 {data.people:,} 人), best of 5, interleaved "
            f"with its floor (the bare owing-residents SELECT in plain sqlite3), load average {load:.1f} on "
            f"{os.cpu_count()} CPUs:\n\n"
            "| measure | wall | CPU |\n|---|---|---|\n"
            f"| `unpaid_list` (the list, households, groups) | {unpaid_s:.2f} s | {unpaid_cpu:.2f} s |\n"
            f"| floor: owing residents, plain sqlite3 | {unpaid_floor:.2f} s | {floor_cpu:.2f} s |\n"
            f"| ratio | {unpaid_s / unpaid_floor:.1f}× | {unpaid_cpu / floor_cpu:.1f}× |\n\n"
            f"Goal < 1 s (wall): {'meets' if unpaid_s < 1 else 'over'}.\n\nTownship printout: {pdf_note}.\n\n" + NOTES)
    print(body)
    if not args.no_write:
        write_section("UI thread stalls per page and dialog (issue 10)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
