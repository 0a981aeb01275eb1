"""Subcommands of the foundation: build a demo township, migrate a database."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .main import db_path_of, print_recovery_key, progress_printer


def cmd_demo(args) -> int:
    db = db_path_of(args)
    if db.exists() and not args.force:
        print(f"数据库已存在：{db}（如需覆盖请加 --force）", file=sys.stderr)
        return 2
    from station_app.services.demo import build_demo

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    summary = build_demo(db, villages=args.villages, residents=args.residents, seed=args.seed,
                         progress=progress_printer("生成演示数据"))
    print(f"演示乡镇已生成：{db}（{summary}），用时 {time.perf_counter() - started:.1f} 秒")
    if summary.recovery_key:
        print_recovery_key(summary.recovery_key)
    return 0


def cmd_migrate(args) -> int:
    from .main import open_station

    with open_station(args) as ws:
        result = ws.migration
        print(f"数据库版本：{result.before or '空'} → {result.after}")
        if result.backup_path:
            print(f"升级前备份：{result.backup_path}")
    return 0


def register(sub) -> None:
    demo = sub.add_parser("demo", help="生成演示乡镇数据库")
    demo.add_argument("--villages", type=int, default=20)
    demo.add_argument("--residents", type=int, default=60000)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--force", action="store_true", help="覆盖已有数据库")
    demo.set_defaults(func=cmd_demo)

    migrate = sub.add_parser("migrate", help="将数据库升级到当前版本（先备份）")
    migrate.set_defaults(func=cmd_migrate)
