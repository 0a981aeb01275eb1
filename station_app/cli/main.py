"""Command line: open the app (default), build a demo township, migrate, self-check."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from station_app import __version__, paths


def _progress_printer(label: str):
    last = [0.0]

    def report(done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.5:
            return
        last[0] = now
        pct = 100 * done / total if total else 100
        print(f"\r{label} {pct:5.1f}% {message:<30}", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)

    return report


def cmd_gui(args) -> int:
    from station_app.ui.app import run_gui

    return run_gui(Path(args.db) if args.db else paths.default_db_path())


def cmd_demo(args) -> int:
    db = Path(args.db)
    if db.exists() and not args.force:
        print(f"数据库已存在：{db}（如需覆盖请加 --force）", file=sys.stderr)
        return 2
    from station_app.services.demo import build_demo

    if db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    summary = build_demo(db, villages=args.villages, residents=args.residents, seed=args.seed,
                         progress=_progress_printer("生成演示数据"))
    elapsed = time.perf_counter() - started
    print(f"演示乡镇已生成：{db}（{summary}），用时 {elapsed:.1f} 秒")
    return 0


def cmd_migrate(args) -> int:
    from station_app.services.workspace import Workspace

    with Workspace.open(args.db) as ws:
        result = ws.migration
        print(f"数据库版本：{result.before or '空'} → {result.after}")
        if result.backup_path:
            print(f"升级前备份：{result.backup_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="station-app", description="村级医保服务站")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--data-dir", help="数据目录（默认为用户数据目录）")
    parser.add_argument("--db", help="数据库文件（默认为数据目录下 station.db）")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="打开图形界面（默认）")
    gui.set_defaults(func=cmd_gui)

    demo = sub.add_parser("demo", help="生成演示乡镇数据库")
    demo.add_argument("--villages", type=int, default=20)
    demo.add_argument("--residents", type=int, default=60000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--force", action="store_true", help="覆盖已有数据库")
    demo.set_defaults(func=cmd_demo)

    mig = sub.add_parser("migrate", help="将数据库升级到当前版本（先备份）")
    mig.set_defaults(func=cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # --db / --data-dir may come before or after the subcommand
    for sp in parser._subparsers._group_actions[0].choices.values():  # noqa: SLF001
        sp.add_argument("--db", default=argparse.SUPPRESS, help="数据库文件")
        sp.add_argument("--data-dir", default=argparse.SUPPRESS, help="数据目录")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ[paths.DATA_DIR_ENV] = args.data_dir
    from station_app.log import setup_logging

    setup_logging(verbose=args.verbose)
    if args.command is None:
        args.func = cmd_gui
    if args.command in ("demo", "migrate") and not args.db:
        args.db = str(paths.default_db_path())
    from station_app.domain.errors import DomainError

    try:
        return args.func(args)
    except DomainError as error:
        print(f"错误：{error.message}", file=sys.stderr)
        return 1
