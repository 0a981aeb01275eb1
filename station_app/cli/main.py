"""Command line: open the app (default), and the subcommands registered by cli/ modules.

Each subcommand group lives in its own module under ``station_app/cli/`` and exposes
``register(subparsers)``; add the module's name to ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from station_app import __version__, paths

#: Modules under station_app.cli that add subcommands (each has ``register(subparsers)``).
COMMAND_MODULES = ["commands_base", "notice_commands", "edge_commands", "sync_commands", "villager_commands",
                   "assistance_commands"]


def progress_printer(label: str):
    """A ``progress(done, total, message)`` callback that draws one line on stderr."""
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


def print_recovery_key(recovery: str, *, new: bool = False) -> None:
    """A recovery key, once, with what to do with it (setup, demo, recovery-key)."""
    from station_app.services.recovery import RECOVERY_KEY_WARNING

    title = "新的数据库恢复密钥（原恢复密钥已作废）" if new else "本站数据已加密。数据库恢复密钥（只显示这一次）"
    print(f"{title}：\n\n    {recovery}\n\n{RECOVERY_KEY_WARNING}")


def db_path_of(args) -> Path:
    return Path(args.db) if getattr(args, "db", None) else paths.default_db_path()


#: The password that unlocks an encrypted station database for a command (never on the command line,
#: where other users of the PC could read it in the process list).
PASSWORD_ENV = "STATION_APP_PASSWORD"
USER_ENV = "STATION_APP_USER"


def open_set_up_station(args, what: str):
    """The command's database, which must exist and have a station set up (``what``: 无法…)."""
    from station_app.domain.errors import ValidationError

    db = db_path_of(args)
    if not db.exists():
        raise ValidationError(f"数据库不存在：{db}")
    ws = open_station(args)
    if not ws.is_set_up:
        ws.close()
        raise ValidationError(f"该数据库尚未设置站点，无法{what}。")
    return ws


def open_station(args, *, backups: Path | None = None):
    """Open the command's database, unlocking it if it is encrypted.

    A database this process can open without a password (new, being set up, or a key given for
    development) opens at once. Otherwise: ``--recovery-key``, or a user's name (``--signin``,
    the command's ``--user``, or ``STATION_APP_USER``) and password (``STATION_APP_PASSWORD``,
    else asked for at the terminal).
    """
    import getpass

    from station_app.services.workspace import Workspace
    from station_app.services.workspace import DatabaseLocked

    db = db_path_of(args)
    recovery = getattr(args, "recovery_key", None)
    if recovery:
        return Workspace.open(db, backups=backups, recovery_key=recovery)
    try:
        return Workspace.open(db, backups=backups)
    except DatabaseLocked:
        username = getattr(args, "signin", None) or getattr(args, "user", None) or os.environ.get(USER_ENV)
        password = os.environ.get(PASSWORD_ENV)
        interactive = sys.stdin is not None and sys.stdin.isatty()
        if not username and interactive:
            username = input("用户名（解锁数据库）：").strip()
        if password is None and username and interactive:
            password = getpass.getpass(f"{username} 的密码：")
        if not username or password is None:
            raise DatabaseLocked("数据库已加密：请用 --signin 用户名 并在环境变量 "
                                 f"{PASSWORD_ENV} 中给出密码（或在终端里输入），也可用 --recovery-key 恢复密钥。",
                                 code="locked") from None
        return Workspace.open(db, backups=backups, username=username, password=password)


def unlock_station(args) -> None:
    """Make sure this process holds the key of the command's database (for file-level work:
    backup, restore). A missing file is left alone."""
    if db_path_of(args).exists():
        open_station(args).close()


def cmd_gui(args) -> int:
    from station_app.ui.app import run_gui

    return run_gui(db_path_of(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="station-app", description="村级医保服务站")
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--data-dir", help="数据目录（默认为用户数据目录）")
    parser.add_argument("--db", help="数据库文件（默认为数据目录下 station.db）")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--signin", help="解锁加密数据库的用户名（密码在环境变量 STATION_APP_PASSWORD 中，或在终端输入）")
    parser.add_argument("--recovery-key", help="用恢复密钥解锁加密数据库（所有密码都丢失时）")
    parser.add_argument("--self-check", action="store_true",
                        help="自检：临时数据库迁移、录入、生成公示（安装后验证用）")
    sub = parser.add_subparsers(dest="command", metavar="命令")
    gui = sub.add_parser("gui", help="打开图形界面（默认）")
    gui.set_defaults(func=cmd_gui)
    for name in COMMAND_MODULES:
        importlib.import_module(f"station_app.cli.{name}").register(sub)
    # --db / --data-dir may come before or after the subcommand
    for subparser in sub.choices.values():
        subparser.add_argument("--db", default=argparse.SUPPRESS, help="数据库文件")
        subparser.add_argument("--data-dir", default=argparse.SUPPRESS, help="数据目录")
        subparser.add_argument("--signin", default=argparse.SUPPRESS, help="解锁加密数据库的用户名")
        subparser.add_argument("--recovery-key", default=argparse.SUPPRESS, help="用恢复密钥解锁加密数据库")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.data_dir:
        os.environ[paths.DATA_DIR_ENV] = args.data_dir
    from station_app.log import setup_logging

    setup_logging(verbose=args.verbose)
    if args.self_check:
        from station_app.cli.edge_commands import cmd_self_check

        args.func = cmd_self_check
    elif args.command is None:
        args.func = cmd_gui
    from station_app.domain.errors import DomainError

    try:
        return args.func(args)
    except DomainError as error:
        print(f"错误：{error.message}", file=sys.stderr)
        return 1
