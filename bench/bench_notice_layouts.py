"""Pages and seconds of the enrollment notice of the largest demo village in every layout and paper.

Issue 11: the old wide table made 141–324 A4 pages a village (324 for the largest). The goal is
≤ 1 A4 page per 80 residents. Each measurement is one fresh subprocess (prepare + layout + draw +
PDF); the floor is the same number of near-empty pages through QPdfWriter, measured in the same
run. Results go into the "## Notice layouts (issue 11)" section of bench/RESULTS.md.

    .venv/bin/python bench/bench_notice_layouts.py [--db /tmp/bench60k.db] [--year 2026]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from datetime import date
from pathlib import Path

from bench_common import ensure_demo  # noqa: E402  (bench/ is on sys.path when run)
from bench_results import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OLD_PAGES = 324  # issue 11, finding 1: the largest village's notice before (A4 landscape, wide table)
CASES = [("roster", "A4"), ("roster", "A4L"), ("roster", "A3"), ("roster", "A3L"),
         ("summary", "A4"), ("summary", "A3"), ("detail", "A4L"), ("detail", "A3L")]

CHILD = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["STATION_APP_DATA_DIR"] = {data!r}
    from datetime import date
    from station_app.notices.qtenv import ensure_app
    ensure_app()
    from station_app.services import notices
    from station_app.services.workspace import Workspace
    ws = Workspace.open({db!r})
    actor = notices.actor_for(ws, None)
    t0 = time.perf_counter()
    doc = notices.prepare_notice(ws, actor, "enrollment", {village!r}, {year}, layout={layout!r},
                                 today=date({year}, 12, 1))
    t1 = time.perf_counter()
    pdf, pages = notices.render_notice(doc, {paper!r}, {out!r})
    t2 = time.perf_counter()
    print("RESULT " + json.dumps(dict(prepare_s=t1 - t0, render_s=t2 - t1, pages=pages, rows=len(doc.rows),
                                      bytes=len(pdf))))
""")

FLOOR = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {root!r})
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from station_app.notices.qtenv import ensure_app, notice_font
    ensure_app()
    from PySide6.QtGui import QPainter, QPdfWriter
    from station_app.notices.render import page_layout
    t0 = time.perf_counter()
    writer = QPdfWriter({out!r})
    writer.setResolution(600)
    writer.setPageLayout(page_layout({paper!r}))
    painter = QPainter(writer)
    painter.setFont(notice_font(10))
    for n in range({pages}):
        if n:
            writer.newPage()
        painter.drawText(100, 100, f"第 {{n + 1}} 页")
    painter.end()
    print("RESULT " + json.dumps(dict(render_s=time.perf_counter() - t0)))
""")


def child(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit("child failed")
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/bench60k.db")
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    db = Path(args.db)
    ensure_demo(db)
    con = sqlite3.connect(db)
    village, name, people = con.execute(
        "select r.village_code, p.name, count(*) c from resident r join place p on p.code = r.village_code"
        " where r.deleted = 0 group by r.village_code order by c desc limit 1").fetchone()
    con.close()
    out = Path(tempfile.mkdtemp(prefix="bench-layouts-"))
    data = tempfile.mkdtemp(prefix="bench-layouts-data-")
    rows = []
    for layout, paper in CASES:
        print(f"{layout} {paper}…", file=sys.stderr)
        runs = [child(CHILD.format(root=str(ROOT), data=data, db=str(db), village=village, year=args.year,
                                   layout=layout, paper=paper, out=str(out / f"{layout}-{paper}.pdf")))
                for _ in range(2)]
        best = min(runs, key=lambda r: r["prepare_s"] + r["render_s"])
        floor = child(FLOOR.format(root=str(ROOT), out=str(out / "floor.pdf"), paper=paper, pages=best["pages"]))
        rows.append((layout, paper, best, floor))
    limit = math.ceil(people / 80)
    lines = [
        "## Notice layouts (issue 11)",
        "",
        f"Run {date.today():%Y-%m-%d} on {platform.machine()} ({os.cpu_count()} CPUs, shared with other jobs), "
        f"Python {platform.python_version()}, `bench/bench_notice_layouts.py`: the 参保情况 notice of the largest "
        f"demo village ({name}, {people:,} residents incl. those since died/moved; demo `--villages 20 --residents "
        f"60000 --seed 1`), year {args.year}. Best of 2 fresh subprocesses. Goal: ≤ 1 A4 page per 80 residents "
        f"(≤ {limit} pages) at ≥ 10 pt. **Before: {OLD_PAGES} A4 pages** (wide table, wrapped cells).",
        "",
        "| layout | paper | rows | pages | prepare | layout + draw + PDF | floor: same pages near-empty |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for layout, paper, best, floor in rows:
        lines.append(f"| {layout} | {paper} | {best['rows']:,} | **{best['pages']}** | {best['prepare_s']:.2f} s "
                     f"| {best['render_s']:.2f} s | {floor['render_s']:.2f} s |")
    lines += ["", "roster = 组/姓名/身份证号/状态 in two (portrait) or three (landscape) side-by-side copies, 10 pt "
              "(14 pt on A3); summary = counts by group + only 未缴费/新参保/停保; detail = the old wide table."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_block(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
