"""Subcommands for the real-world edges: roster import, exports, backups and restore, users, audit, self-check."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from .main import db_path_of, open_station, progress_printer, unlock_station

EXPORT_PASSWORD_ENV = "STATION_APP_EXPORT_PASSWORD"
EXPORT_KINDS = ("residents", "enrollment", "unpaid", "cards", "assistance", "services")


def _open(args, *, must_exist: bool = True):
    from station_app.domain.errors import ValidationError

    db = db_path_of(args)
    if must_exist and not db.exists():
        raise ValidationError(f"数据库不存在：{db}")
    ws = open_station(args)
    if not ws.is_set_up:
        ws.close()
        raise ValidationError("该数据库尚未完成初始设置（站点和管理员）。")
    return ws


def _actor(ws, username: str | None):
    """Who a command acts as: ``--user``, else the first active administrator.

    The command line has file access to the database already, so it asks for no password;
    what it does is still attributed to a named account in the audit trail.
    """
    from sqlalchemy import select

    from station_app.domain.enums import Role
    from station_app.domain.errors import NotFound
    from station_app.services.changes import Actor
    from station_app.store.models import User

    with ws.read() as session:
        query = select(User).where(User.deleted.is_(False), User.active.is_(True))
        if username:
            query = query.where(User.username == username)
        else:
            query = query.where(User.role == Role.ADMIN.value).order_by(User.username)
        user = session.scalars(query.limit(1)).first()
    if user is None:
        raise NotFound(f"找不到可用的用户：{username}" if username else "找不到可用的管理员账户。")
    return Actor(user.username, user.display_name, user.role, user.place_code, ws.station.code)


def _date(text: str | None):
    from station_app.domain.errors import ValidationError

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"日期格式应为 YYYY-MM-DD：{text}") from None


# -- import and export --------------------------------------------------------------------------


def cmd_import_roster(args) -> int:
    from station_app.services.roster_import import import_roster

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        started = time.perf_counter()
        result = import_roster(ws, actor, args.file, village_code=args.village, year=args.year,
                               sheet=args.sheet, dry_run=args.dry_run, report_path=args.report,
                               progress=progress_printer("导入花名册"))
        print(f"{result.file_name}：{result.summary}，用时 {time.perf_counter() - started:.1f} 秒")
        if result.backup_path:
            print(f"导入前备份：{result.backup_path}")
        if result.report_path:
            print(f"错误报告（每行的原因）：{result.report_path}")
        return 0
    finally:
        ws.close()


def cmd_export(args) -> int:
    from station_app.services.exports import export

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        password = None
        if not args.no_password:  # every export kind carries full ID numbers: protected by default
            password = os.environ.get(EXPORT_PASSWORD_ENV) or (
                _password(argparse.Namespace(password=None), "导出文件的打开密码：") if sys.stdin.isatty() else None)
            if not password:
                from station_app.domain.errors import ValidationError

                raise ValidationError(f"导出的文件含完整身份证号，默认加密：请在环境变量 {EXPORT_PASSWORD_ENV} "
                                      "中给出打开密码（或在终端输入）；确需不加密时加 --no-password。")
        started = time.perf_counter()
        result = export(ws, actor, args.kind, args.out, year=args.year, village_code=args.village,
                        month=args.month, progress=progress_printer("导出"), password=password)
        print(f"{result.title}：{result.path}（{result.rows} 行{'，已加密' if password else ''}），"
              f"用时 {time.perf_counter() - started:.1f} 秒")
        return 0
    finally:
        ws.close()


# -- backups ------------------------------------------------------------------------------------


def _backups_dir(args) -> Path | None:
    return Path(args.backups) if getattr(args, "backups", None) else None


def cmd_backup(args) -> int:
    from station_app.domain.errors import ValidationError
    from station_app.services import backup

    db = db_path_of(args)
    if not db.exists():
        raise ValidationError(f"数据库不存在：{db}")
    unlock_station(args)  # the backup is written encrypted with the database's key
    if args.daily:
        info = backup.ensure_daily_backup(db, _backups_dir(args))
        if info is None:
            print("今天的自动备份已存在，未重复备份。")
            return 0
    else:
        info = backup.backup_now(db, backup.MANUAL, _backups_dir(args))
        backup.rotate(_backups_dir(args), db.stem)
    backup.verify_backup(info.path)
    print(f"已备份（{info.label}，{info.size_text}，完整性检查通过）：{info.path}")
    return 0


def cmd_list_backups(args) -> int:
    from station_app.services import backup

    db = db_path_of(args)
    items = backup.list_backups(_backups_dir(args), db.stem)
    if not items:
        print("没有备份。")
        return 0
    for item in items:
        print(f"{item.created:%Y-%m-%d %H:%M:%S}  {item.label:<8}  {item.size_text:>9}  {item.path}")
    return 0


def cmd_restore(args) -> int:
    from station_app.services import backup

    db = db_path_of(args)
    source = Path(args.file)
    unlock_station(args)  # the restored file keeps the database's key
    revision = backup.verify_backup(source)
    print(f"备份文件完整性检查通过（数据库版本 {revision}）：{source}")
    if not args.yes and sys.stdin.isatty():
        answer = input(f"将用该备份替换 {db}（当前数据库会先另存一份）。确定吗？输入 yes 继续：")
        if answer.strip().lower() not in ("yes", "y", "是"):
            print("已取消。")
            return 1
    before = backup.restore_file(db, source, _backups_dir(args))
    if before:
        print(f"恢复前的数据库已另存：{before.path}")
    with open_station(args, backups=_backups_dir(args)) as ws:  # migrates an older backup
        print(f"已恢复：{db}（数据库版本 {ws.migration.after}）")
    return 0


# -- users and audit ----------------------------------------------------------------------------


def _password(args, prompt: str) -> str:
    if args.password:
        return args.password
    first = getpass.getpass(prompt)
    if getpass.getpass("再输入一次：") != first:
        from station_app.domain.errors import ValidationError

        raise ValidationError("两次输入的密码不一致。")
    return first


def cmd_users(args) -> int:
    from station_app.services import users

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        if args.action == "list":
            for u in users.list_users(ws, actor):
                state = "已停用" if not u.active else ("已锁定" if u.is_locked() else "正常")
                print(f"{u.username:<16} {u.display_name:<8} {u.role_label:<8} {u.place_name:<10} {state}")
        elif args.action == "add":
            users.add_user(ws, actor, username=args.username, display_name=args.name or args.username,
                           role=args.role, place_code=args.place, phone=args.phone or "",
                           password=_password(args, "新用户的密码："))
            print(f"已添加用户：{args.username}")
        elif args.action == "passwd":
            users.reset_password(ws, actor, args.username, _password(args, f"{args.username} 的新密码："))
            print(f"已重置 {args.username} 的密码（同时解除锁定）。")
        elif args.action in ("deactivate", "activate"):
            users.set_active(ws, actor, args.username, args.action == "activate")
            print(f"已{'启用' if args.action == 'activate' else '停用'}用户：{args.username}")
        elif args.action == "unlock":
            users.unlock(ws, actor, args.username)
            print(f"已解除锁定：{args.username}")
        return 0
    finally:
        ws.close()


def cmd_recovery_key(args) -> int:
    """An administrator prints a new recovery key (the old one stops working)."""
    from station_app.domain.errors import PermissionDenied, ValidationError
    from station_app.services.auth import login
    from station_app.services.recovery import new_recovery_key

    from .main import PASSWORD_ENV, USER_ENV, print_recovery_key

    username = getattr(args, "signin", None) or os.environ.get(USER_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if (not username or password is None) and sys.stdin.isatty():
        username = username or input("管理员用户名：").strip()
        password = getpass.getpass(f"{username} 的密码：")
    if not username or password is None:
        raise ValidationError(f"请用 --signin 管理员用户名，并在环境变量 {PASSWORD_ENV} 中给出密码。")
    ws = open_station(args)
    try:
        actor = login(ws, username, password)
        if actor.role != "admin":
            raise PermissionDenied("只有管理员可以生成恢复密钥。")
        if ws.db_key is None:
            print("该数据库未加密，没有恢复密钥。")
            return 1
        print_recovery_key(new_recovery_key(ws, actor, password), new=True)
        return 0
    finally:
        ws.close()


def cmd_audit(args) -> int:
    from station_app.services.audit import AuditFilter, query_audit

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        flt = AuditFilter(username=args.by, table_name=args.table, action=args.action, since=_date(args.since),
                          until=_date(args.until), row_id=args.row, text=args.text)
        page = query_audit(ws, actor, flt, page=args.page, page_size=args.limit)
        for row in page.rows:
            target = f"{row.table_label}{(' ' + row.row_id[:8]) if row.row_id else ''}"
            print(f"{row.at:%Y-%m-%d %H:%M:%S}  {row.username:<10} {row.action_label:<8} {target:<14} {row.detail}")
        print(f"—— 第 {page.page + 1}/{page.pages} 页，共 {page.total} 条")
        return 0
    finally:
        ws.close()


# -- self-check ---------------------------------------------------------------------------------


def _self_check_places(county_code: str) -> dict:
    township, village = county_code[:6] + "100000", county_code[:6] + "100201"
    return {"county": {"code": county_code, "name": "自检县"}, "places": [
        {"code": township, "name": "自检镇", "level": "township", "parent_code": county_code},
        {"code": village, "name": "自检村", "level": "village", "parent_code": township},
        {"code": village + "01", "name": "一组", "level": "group", "parent_code": village},
    ]}


def run_self_check(out=print) -> bool:
    """Everything a fresh install needs, in a throw-away data folder; True when all passed."""
    from station_app import paths

    work = Path(tempfile.mkdtemp(prefix="station-selfcheck-"))
    saved_env = os.environ.get(paths.DATA_DIR_ENV)
    os.environ[paths.DATA_DIR_ENV] = str(work / "data")
    ws = None
    step = "准备"
    try:
        step = "安装文件"
        migrations = paths.migrations_dir()
        fonts = paths.font_files()
        if not fonts:
            raise RuntimeError(f"字体文件缺失：{paths.resources_dir() / 'fonts'}")
        out(f"  [OK] 安装文件：{paths.bundle_dir()}（迁移脚本 {migrations.name}/，字体 {len(fonts)} 个）")

        step = "打开并升级临时数据库"
        from station_app.services.workspace import Workspace

        ws = Workspace.open(work / "selfcheck.db", backups=work / "backups")
        out(f"  [OK] 临时数据库已创建并升级到 {ws.migration.after}")

        step = "载入参考数据"
        from station_app.services.reference import demo_reference_path, load_reference, read_reference_file

        reference = demo_reference_path()
        county = "610921000000"
        if reference.is_file():
            data = read_reference_file(reference)
            counts = load_reference(ws, data)
            county = data["county"]["code"]
            out(f"  [OK] 演示参考数据：{sum(counts.values())} 条")
        else:
            out(f"  [--] 未找到演示参考数据 {reference.name}，使用内置最小数据")
        load_reference(ws, _self_check_places(county))
        places = _self_check_places(county)["places"]
        township, village, group = (p["code"] for p in places)

        step = "初始设置与登录"
        from station_app.services.auth import login, setup_station

        setup_station(ws, code="SELFCHECK", name="自检站", scope="township", place_code=township,
                      admin_username="selfcheck", admin_password="selfcheck-1")
        actor = login(ws, "selfcheck", "selfcheck-1")
        out("  [OK] 初始设置、argon2 密码登录")

        step = "登记居民"
        from station_app.domain.idnumber import make_id
        from station_app.services.households import ResidentInput, register_household

        register_household(ws, actor, village_code=village, head=ResidentInput(
            "张三丰", make_id(county[:6], date(1956, 3, 2), 17), phone="13800138000", group_code=group))
        out("  [OK] 登记居民（拼音检索键、审计、同步队列）")

        step = "Excel 导出与导入"
        from station_app.services.exports import export_residents
        from station_app.services.roster_import import import_roster

        exported = export_residents(ws, actor, work / "residents.xlsx")
        result = import_roster(ws, actor, exported.path, village_code=village, backups=work / "backups")
        if result.existing != 1 or result.added or result.errors:
            raise RuntimeError(f"导出再导入的结果不对：{result.summary}")
        out("  [OK] Excel 导出、花名册导入（重复导入不改变数据）")

        step = "备份与完整性检查"
        from station_app.services import backup

        info = backup.backup_workspace(ws, backup.MANUAL, work / "backups")
        backup.verify_backup(info.path)
        out("  [OK] 在线备份与 integrity_check")

        step = "生成公示 PDF"
        _check_notice(ws, actor, village, out, work)

        step = "界面模块"
        import station_app.ui.main_window  # noqa: F401 - proves the GUI made it into the bundle

        out("  [OK] 界面模块可加载")
        return True
    except Exception as error:  # noqa: BLE001 - the report names the step that failed
        from station_app.log import redact

        out(f"  [失败] {step}：{redact(str(error)) or type(error).__name__}")
        return False
    finally:
        if ws is not None:
            ws.close()
        if saved_env is None:
            os.environ.pop(paths.DATA_DIR_ENV, None)
        else:
            os.environ[paths.DATA_DIR_ENV] = saved_env
        shutil.rmtree(work, ignore_errors=True)


def _check_notice(ws, actor, village: str, out, work: Path) -> None:
    """Render a notice with the bundled font, if the notices module is part of this build."""
    try:
        from station_app.notices.qtenv import ensure_app
        from station_app.services import notices
    except ImportError as error:
        out(f"  [--] 本版本不含公示模块（{error.name}），跳过公示 PDF")
        return
    ensure_app()
    doc = notices.prepare_notice(ws, actor, "policy", village, date.today().year + 1, allow_empty=True)
    pdf, pages = notices.render_notice(doc, "A4", work / "notice.pdf")
    if not pdf.startswith(b"%PDF") or pages < 1:
        raise RuntimeError("公示 PDF 内容不对")
    out(f"  [OK] 公示 PDF（{pages} 页，{len(pdf) // 1024} KB）")


def cmd_self_check(_args) -> int:
    from station_app import __version__

    print(f"村级医保服务站 {__version__} 自检：")
    ok = run_self_check()
    print("OK" if ok else "自检失败")
    return 0 if ok else 1


# -- registration -------------------------------------------------------------------------------


def register(sub) -> None:
    p = sub.add_parser("import-roster", help="导入乡镇花名册（xlsx/csv），错误行写入报告")
    p.add_argument("file", help="花名册文件（.xlsx 或 .csv）")
    p.add_argument("--dry-run", action="store_true", help="只检查，不写入")
    p.add_argument("--village", help="导入到的村代码（表中没有“村”列时必填，除非本站只有一个村）")
    p.add_argument("--year", type=int, help="“缴费状态”列所属的待遇年度")
    p.add_argument("--sheet", help="工作表名称（默认自动查找）")
    p.add_argument("--report", help="错误报告保存位置（.xlsx）")
    p.add_argument("--user", help="以哪个用户的身份导入（默认第一个管理员）")
    p.set_defaults(func=cmd_import_roster)

    p = sub.add_parser("export", help="导出台账为 Excel")
    p.add_argument("kind", choices=EXPORT_KINDS, help="residents 花名册 | enrollment 参保台账 | unpaid 未缴清单 | "
                                                      "cards 慢病卡 | assistance 医疗救助 | services 服务记录")
    p.add_argument("--out", required=True, help="输出文件 .xlsx")
    p.add_argument("--year", type=int, help="年度（参保、未缴清单必填）")
    p.add_argument("--month", help="月份 YYYY-MM（服务记录）")
    p.add_argument("--village", help="村代码（默认本站全部村）")
    p.add_argument("--user", help="以哪个用户的身份导出")
    p.add_argument("--no-password", action="store_true",
                   help=f"不为文件设置打开密码（默认加密，密码取自环境变量 {EXPORT_PASSWORD_ENV} 或终端输入）")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("backup", help="立即备份数据库（在线备份，带完整性检查）")
    p.add_argument("--daily", action="store_true", help="每日自动备份：今天已有则跳过，并轮换旧备份")
    p.add_argument("--backups", help="备份目录（默认数据目录下 backups）")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("list-backups", help="列出备份")
    p.add_argument("--backups", help="备份目录")
    p.set_defaults(func=cmd_list_backups)

    p = sub.add_parser("restore", help="从备份恢复（先检查备份完整性，并另存当前数据库）")
    p.add_argument("file", help="备份文件 .db")
    p.add_argument("--backups", help="备份目录")
    p.add_argument("--yes", action="store_true", help="不再询问")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("recovery-key", help="管理员重新生成数据库恢复密钥（原密钥作废）")
    p.set_defaults(func=cmd_recovery_key)

    p = sub.add_parser("users", help="用户管理：list | add | passwd | deactivate | activate | unlock")
    p.add_argument("action", choices=("list", "add", "passwd", "deactivate", "activate", "unlock"))
    p.add_argument("username", nargs="?", help="用户名")
    p.add_argument("--name", help="姓名（add）")
    p.add_argument("--role", choices=("village_doctor", "township_clerk", "admin"), help="角色（add）")
    p.add_argument("--place", help="所属村/乡镇代码（add）")
    p.add_argument("--phone", help="电话（add）")
    p.add_argument("--password", help="密码（不给则提示输入）")
    p.add_argument("--user", help="以哪个管理员的身份操作")
    p.set_defaults(func=_users_checked)

    p = sub.add_parser("audit", help="查看操作日志（谁、何时、做了什么、改前 → 改后）")
    p.add_argument("--by", help="操作人用户名")
    p.add_argument("--table", help="数据表，如 resident")
    p.add_argument("--action", help="操作，如 import_roster")
    p.add_argument("--since", help="起始日期 YYYY-MM-DD")
    p.add_argument("--until", help="截止日期 YYYY-MM-DD（含当天）")
    p.add_argument("--row", help="记录 id")
    p.add_argument("--text", help="摘要或内容包含的文字")
    p.add_argument("--limit", type=int, default=50, help="每页条数")
    p.add_argument("--page", type=int, default=0, help="页码（从 0 开始）")
    p.add_argument("--user", help="以哪个用户的身份查看")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("self-check", help="安装自检：临时数据库、迁移、导入导出、备份、公示 PDF")
    p.set_defaults(func=cmd_self_check)


def _users_checked(args) -> int:
    from station_app.domain.errors import ValidationError

    if args.action != "list" and not args.username:
        raise ValidationError("请给出用户名。")
    if args.action == "add" and not (args.role and args.place):
        raise ValidationError("添加用户需要 --role 和 --place。")
    return cmd_users(args)
