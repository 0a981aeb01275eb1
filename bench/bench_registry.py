"""Registry (issue 3): opening the resident list and search keystrokes on the 60,000-resident demo.

Usage:  PYTHONPATH=. .venv/bin/python bench/bench_registry.py [--db /tmp/bench60k.db] [--no-write]

Works on a copy of the demo database (the app writes to the file it opens). Measures, in one run:

* opening the list: ``resident_ids`` (all residents, default order) + ``resident_rows`` of the
  first page of 200 — the service calls the page makes — and the real ``ResidentsPage`` built
  offscreen until its first page is fetched and painted; goal < 200 ms;
* search keystrokes: ``resident_ids`` for a realistic, seeded set of terms (surname characters,
  2-letter initials, full-pinyin prefixes, 4–8-digit ID fragments, phone fragments); goal p95
  < 30 ms; compared with the raw SQL the service runs (sent by sqlite3 directly) and with the
  naive floor, ``LIKE '%x%'`` over the five search columns of ``resident`` by sqlite3.

The machine is shared with other jobs: CPU time is reported next to wall time. Results replace
the "## Registry and search (issue 3)" section of bench/RESULTS.md.
"""

from __future__ import annotations

import os as _os

# This bench reads the station file with sqlite3 beside the app: it measures its own feature on a
# plaintext database. What encryption costs is measured in bench/bench_encryption.py (issue 15).
_os.environ.setdefault("STATION_APP_PLAINTEXT_DB", "1")

import argparse
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import p95  # noqa: E402  (bench/ is on sys.path when run)
from bench_results import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = Path("/tmp/bench60k.db")
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Registry and search (issue 3)"
OPEN_GOAL_MS = 200
SEARCH_GOAL_MS = 30
PER_KIND = 40
RUNS = 3


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def make_queries(raw: sqlite3.Connection, seed: int = 3) -> dict[str, list[str]]:
    """Terms a clerk types, drawn from the data itself (seeded, so every run asks the same)."""
    rng = random.Random(seed)
    people = raw.execute("SELECT name, name_pinyin, name_initials, id_number, phone FROM resident "
                         "WHERE deleted = 0 ORDER BY id").fetchall()
    surnames = [s for s, _n in raw.execute(
        "SELECT substr(name, 1, 1) s, count(*) n FROM resident GROUP BY s ORDER BY n DESC LIMIT 30")]
    sample = [people[rng.randrange(len(people))] for _ in range(PER_KIND * 4)]
    phones = [p for p in people if p[4]]
    queries = {
        "surname (1 汉字)": [rng.choice(surnames) for _ in range(PER_KIND)],
        "initials (2 letters)": [p[2][:2] for p in sample[:PER_KIND] if len(p[2]) >= 2],
        "full pinyin prefix": [],
        "ID fragment (4–8 digits)": [],
        "phone fragment (4–7 digits)": [],
    }
    for name, full, initials, _id, _phone in sample[PER_KIND:2 * PER_KIND]:
        # a prefix that ends inside the given name: "wangj", "zhangsanf" …
        cut = rng.randrange(max(3, len(full) // 2), len(full) + 1)
        queries["full pinyin prefix"].append(full[:cut])
    for *_rest, number, _phone in sample[2 * PER_KIND:3 * PER_KIND]:
        length = rng.randint(4, 8)
        start = rng.randrange(0, 18 - length + 1)
        queries["ID fragment (4–8 digits)"].append(number[start:start + length])
    for _ in range(PER_KIND):
        phone = rng.choice(phones)[4]
        length = rng.randint(4, 7)
        start = rng.randrange(3, len(phone) - length + 1)
        queries["phone fragment (4–7 digits)"].append(phone[start:start + length])
    return queries


def bench_open(ws, actor, registry) -> dict[str, float]:
    walls, cpus, id_walls, row_walls = [], [], [], []
    for _ in range(RUNS + 1):
        ids, w1, c1 = timed(lambda: registry.resident_ids(ws, actor))
        _rows, w2, c2 = timed(lambda: registry.resident_rows(ws, ids[:200]))
        walls.append(w1 + w2)
        cpus.append(c1 + c2)
        id_walls.append(w1)
        row_walls.append(w2)
    walls, cpus, id_walls, row_walls = walls[1:], cpus[1:], id_walls[1:], row_walls[1:]  # one warm-up
    return {"rows": len(ids), "wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "max": max(walls), "ids": statistics.median(id_walls), "page": statistics.median(row_walls)}


def bench_page(ctx) -> dict[str, float]:
    """The real page, offscreen: constructed → ids loaded → first page fetched and painted."""
    from PySide6.QtWidgets import QApplication

    from station_app.ui.sections.residents_page import ResidentsPage

    app = QApplication.instance()
    walls = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        page = ResidentsPage(ctx)
        page.resize(1280, 760)
        page.show()
        model = page.registry.model
        while model.fetch_count < 1:
            app.processEvents()
        app.processEvents()
        walls.append((time.perf_counter() - started) * 1000)
        page.close()
        page.deleteLater()
        app.processEvents()
    return {"wall": statistics.median(walls[1:]), "max": max(walls[1:])}


def bench_search(ws, actor, registry, raw: sqlite3.Connection, queries: dict[str, list[str]]):
    results: dict[str, dict[str, list[float]]] = {}
    order = [(kind, q) for kind, qs in queries.items() for q in qs]
    random.Random(5).shuffle(order)
    counts: dict[str, list[int]] = {}
    for kind, text in order:
        flt = registry.RegistryFilter(search=text)
        ids, wall, cpu = timed(lambda: registry.resident_ids(ws, actor, flt))
        # the same SQL, sent by sqlite3 directly: the selectivity count, then the list query
        with ws.read() as session:
            count_stmt = _count_statement(registry, session, flt)
            selective = registry.is_selective(session, flt)
            main = registry.registry_statement(session, actor, flt, selective=selective)
            statements = [registry.compiled_sql(session, s) for s in (count_stmt, main) if s is not None]
        started = time.perf_counter()
        rows = []
        for sql, params in statements:
            rows = raw.execute(sql, params).fetchall()
        raw_ms = (time.perf_counter() - started) * 1000
        like = f"%{text}%"
        started = time.perf_counter()
        naive = raw.execute("SELECT id FROM resident WHERE deleted = 0 AND (name LIKE ?1 OR name_pinyin LIKE ?1 "
                            "OR name_initials LIKE ?1 OR id_number LIKE ?1 OR phone LIKE ?1)", (like,)).fetchall()
        naive_ms = (time.perf_counter() - started) * 1000
        assert len(rows) == len(ids), (text, len(rows), len(ids))
        bucket = results.setdefault(kind, {"wall": [], "cpu": [], "raw": [], "naive": []})
        bucket["wall"].append(wall)
        bucket["cpu"].append(cpu)
        bucket["raw"].append(raw_ms)
        bucket["naive"].append(naive_ms)
        counts.setdefault(kind, []).append(len(ids))
        del naive
    return results, counts


def _count_statement(registry, session, flt):
    from sqlalchemy import func, select

    from station_app.services import registry_search

    source = registry_search._source_for(flt, registry_search.search_index.has_fts(session.connection()))
    if source is None:
        return None
    return select(func.count()).select_from(source.limit(registry.BROAD_MATCHES + 1).subquery())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="admin123")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not args.db.exists():
        print(f"missing {args.db}: build it with `station_app demo --db {args.db} --residents 60000`")
        return 1
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    folder = Path(tempfile.mkdtemp(prefix="bench_registry_"))
    os.environ["STATION_APP_DATA_DIR"] = str(folder / "userdata")
    db = folder / "bench.db"
    shutil.copy(args.db, db)
    try:
        from PySide6.QtWidgets import QApplication

        from station_app.services import registry, search_index
        from station_app.services.auth import login
        from station_app.services.workspace import Workspace
        from station_app.ui.app import create_application
        from station_app.ui.sections import PageContext
        from station_app.ui.tasks import TaskManager

        # A database of the previous schema gets the index built by its migration here.
        (ws, migrate_ms, _c) = timed(lambda: Workspace.open(db, backups=folder / "backups"))
        actor = login(ws, args.user, args.password)
        with ws.engine.begin() as conn:
            _fts, install_ms, install_cpu = timed(lambda: search_index.install(conn))
        registry.prepare_index(ws)
        with ws.engine.connect() as conn:
            fts = search_index.has_fts(conn)
            sizes = dict(conn.exec_driver_sql(
                "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'resident_search%' GROUP BY name").all()) \
                if _has_dbstat(conn) else {}
        raw = sqlite3.connect(db)
        raw.execute("PRAGMA cache_size=-32000")
        queries = make_queries(raw)

        opened = bench_open(ws, actor, registry)
        app = create_application([sys.argv[0]])
        page = bench_page(PageContext(ws, actor, TaskManager.synchronous()))
        results, counts = bench_search(ws, actor, registry, raw, queries)
        del app
        raw.close()
        ws.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    all_wall = [v for r in results.values() for v in r["wall"]]
    all_cpu = [v for r in results.values() for v in r["cpu"]]
    all_raw = [v for r in results.values() for v in r["raw"]]
    all_naive = [v for r in results.values() for v in r["naive"]]
    verdict = "meets" if p95(all_wall) < SEARCH_GOAL_MS else "misses"
    open_verdict = "meets" if opened["wall"] < OPEN_GOAL_MS else "misses"
    lines = [
        SECTION,
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/bench_registry.py` — {time.strftime('%Y-%m-%d')}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs shared with other jobs (compare CPU with wall time). "
        f"On a copy of the demo ({opened['rows']:,} residents, 20 villages), admin (whole township).",
        "",
        "**Opening the resident list** (goal < 200 ms), median of 3 after one warm-up:",
        "",
        "| measure | wall | CPU |",
        "|---|---|---|",
        f"| `resident_ids` (all, default order) + `resident_rows` (first 200) | **{opened['wall']:.0f} ms** "
        f"({open_verdict} goal; max {opened['max']:.0f}) | {opened['cpu']:.0f} ms |",
        f"| of which ids / first page | {opened['ids']:.0f} ms / {opened['page']:.0f} ms | |",
        f"| real `ResidentsPage` offscreen: built → ids → first page fetched and painted | {page['wall']:.0f} ms "
        f"(max {page['max']:.0f}) | |",
        "",
        f"**Search keystroke → ids of the list** (goal p95 < 30 ms): {sum(len(q) for q in queries.values())} "
        "terms drawn (seeded) from the data, each run once, in shuffled order. *service* = "
        "`registry.resident_ids` (index check, selectivity count, the query, ids into Python); *raw SQL* = "
        "the same two statements sent by sqlite3; *naive* = `LIKE '%x%'` over name, pinyin, initials, ID "
        "and phone of `resident` by sqlite3, no ordering.",
        "",
        "| terms | n | matches (median / max) | service p50 / p95 wall | service p95 CPU | raw SQL p50 / p95 | naive LIKE p50 / p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        c = counts[kind]
        lines.append(f"| {kind} | {len(r['wall'])} | {statistics.median(c):,.0f} / {max(c):,} | "
                     f"{statistics.median(r['wall']):.1f} / {p95(r['wall']):.1f} ms | {p95(r['cpu']):.1f} ms | "
                     f"{statistics.median(r['raw']):.1f} / {p95(r['raw']):.1f} ms | "
                     f"{statistics.median(r['naive']):.1f} / {p95(r['naive']):.1f} ms |")
    lines += [
        f"| **all** | {len(all_wall)} | | **{statistics.median(all_wall):.1f} / {p95(all_wall):.1f} ms** ({verdict} goal) | "
        f"{p95(all_cpu):.1f} ms | {statistics.median(all_raw):.1f} / {p95(all_raw):.1f} ms | "
        f"{statistics.median(all_naive):.1f} / {p95(all_naive):.1f} ms |",
        "",
        "How: the list and every search read `resident_search`, a narrow copy of each resident "
        "(`station_app/services/search_index.py`) kept by triggers for updates and caught up by rowid for "
        "inserts, so bulk writers pay nothing per row. The default order (village, group, household, head "
        "first, age) is a covering index, so the 60,000-row list is read already sorted. Each kind of term has "
        "its own access path: letters → prefix ranges on the initials and full-pinyin indexes; one or two "
        "汉字 → a table of every one- and two-character piece of each name; three or more characters and "
        "digits → FTS5 trigram over name, ID number and phone"
        + (" (available here)" if fts else " (not available here: narrow-table scan)") + ". "
        "A term with more than 8,000 matches (one letter, the county's ID prefix) is answered by walking "
        "the ordered index and keeping the matches; fewer matches are fetched and sorted. Most of a "
        "surname search's time is handing ~5,000 sorted ids to Python, not finding them."
        " The ID-fragment p95 comes from fragments inside the county's 6-digit prefix (\"0921\", \"6109…\"), "
        "which match all 60,000 residents: that answer is the whole list, about as costly as opening it.",
        f"Index build for all residents (the migration, or a repair): {install_ms / 1000:.1f} s "
        f"({install_cpu / 1000:.1f} s CPU); opening the copy (with backup and migration when it was older): "
        f"{migrate_ms / 1000:.1f} s. Bulk inserts (demo, import, sync) pay nothing per row; the first search "
        "after one indexes the new rows in a single statement. Size on disk: "
        + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(sizes.items()) if size > 100_000) + ".",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_block(text)
        print(f"\nupdated {RESULTS.relative_to(ROOT)}")
    return 0


def _has_dbstat(conn) -> bool:
    try:
        conn.exec_driver_sql("SELECT 1 FROM dbstat LIMIT 1").all()
        return True
    except Exception:  # noqa: BLE001 - dbstat is an optional SQLite module
        return False


if __name__ == "__main__":
    sys.exit(main())
