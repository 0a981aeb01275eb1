"""``county-server`` command line: init-db, serve, add-station, rotate-token, add-user, load-reference,
import-bundle, purge, check, repair, gen-synthetic."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .db import DB_URL_ENV, default_db_url, init_db, make_engine


def _store(args):
    from .store import Store

    return Store(make_engine(args.db_url or default_db_url()))


def cmd_init_db(args) -> int:
    engine = make_engine(args.db_url or default_db_url())
    before, after = init_db(engine)
    print(f"县服务器数据库：{before or '空'} → {after}（{engine.url.render_as_string(hide_password=True)}）")
    engine.dispose()
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from .app import create_app

    url = args.db_url or default_db_url()
    engine = make_engine(url)
    init_db(engine)  # a server never runs on an old schema
    ssl = {}
    if args.ssl_certfile:
        ssl = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
    common = dict(host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                  timeout_keep_alive=30, **ssl)
    if args.workers > 1:
        # Stateless workers on one database: each opens its own engine (see console/asgi.py).
        import os

        engine.dispose()
        os.environ[DB_URL_ENV] = url
        uvicorn.run("county_server.console.asgi:create", factory=True, workers=args.workers, **common)
        return 0
    from .console import install
    from .store import Store

    store = Store(engine)
    app = create_app(store)
    install(app, store)
    uvicorn.run(app, **common)
    return 0


def cmd_add_user(args) -> int:
    import getpass
    import os

    from .console.accounts import ConsoleError, add_user

    password = os.environ.get("COUNTY_USER_PASSWORD") or (
        getpass.getpass("密码：") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n"))
    engine = make_engine(args.db_url or default_db_url())
    try:
        add_user(engine, username=args.username, role=args.role, password=password,
                 display_name=args.display_name or "")
    except ConsoleError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"已添加控制台用户 {args.username}（{args.role}）。")
    return 0


def cmd_gen_synthetic(args) -> int:
    from .synthetic import generate

    engine = make_engine(args.db_url or default_db_url())
    try:
        summary = generate(engine, townships=args.townships, villages=args.villages, residents=args.residents,
                           seed=args.seed, progress=lambda text: print(text, file=sys.stderr))
    except ValueError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"已生成模拟县：{summary}")
    return 0


def _issue_token(args, make_token, done: str, heading: str) -> int:
    """Run ``make_token(store)`` and print the new token once (or the error)."""
    store = _store(args)
    try:
        token = make_token(store)
    except ValueError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(done)
    print(heading)
    print(token)
    return 0


def cmd_add_station(args) -> int:
    return _issue_token(
        args, lambda store: store.add_station(code=args.code, name=args.name, scope=args.scope,
                                              place_code=args.place or "", expires_days=args.expires_days),
        f"已添加站点 {args.code}（{args.name}，{args.scope.lower()}）。",
        "同步令牌（只显示这一次，请抄送给该站点，丢失后需重新申请）：")


def cmd_rotate_token(args) -> int:
    return _issue_token(
        args, lambda store: store.rotate_token(args.code, expires_days=args.expires_days),
        f"站点 {args.code} 的同步令牌已更换，旧令牌立即失效（旧令牌导出的离线数据包也不再被接受）。",
        "新的同步令牌（只显示这一次，请抄送给该站点）：")


def cmd_check(args) -> int:
    store = _store(args)
    try:
        problems = store.check()
    finally:
        store.close()
    labels = {"id": "记录编号不合规", "table": "未知或不可上传的数据类别", "hlc": "时间戳损坏",
              "json": "数据损坏", "natural key": "唯一键过长", "foreign key": "引用了不存在或管辖范围外的记录",
              "fields": "含未知字段或不合规的值"}
    for item in problems:
        detail = f"：{'、'.join(item['fields'])}" if item["fields"] else ""
        print(f"{item['table']} {item['row_id']!r}（{item['scope'] or '-'}）{labels.get(item['reason'], item['reason'])}"
              f"{detail}")
    if problems:
        print(f"发现 {len(problems)} 条不合规的记录；运行 county-server repair 隔离它们。")
        return 2
    print("未发现不合规的记录。")
    return 0


def cmd_repair(args) -> int:
    store = _store(args)
    try:
        counts = store.repair()
    finally:
        store.close()
    print(f"已隔离：删除 {counts['removed']} 条无法使用的记录，{counts['tombstoned']} 条改为已删除，"
          f"{counts['fields']} 条去掉了不合规的字段（原始内容保存在 quarantined_row 表中）。")
    return 0


def cmd_set_active(args) -> int:
    store = _store(args)
    try:
        store.set_active(args.code, args.command == "enable-station")
    except ValueError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"站点 {args.code} 已{'启用' if args.command == 'enable-station' else '停用'}。")
    return 0


def cmd_list_stations(args) -> int:
    store = _store(args)
    try:
        for station in store.list_stations():
            print(json.dumps(station, ensure_ascii=False))
    finally:
        store.close()
    return 0


def cmd_load_reference(args) -> int:
    store = _store(args)
    try:
        counts = store.load_reference(Path(args.file))
    except ValueError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    total = sum(counts.values())
    detail = "，".join(f"{k} {v}" for k, v in sorted(counts.items())) or "无变化"
    print(f"参考数据已载入：{total} 条变化（{detail}）")
    return 0


def cmd_load_settlements(args) -> int:
    from sync_protocol.domain.errors import ValidationError
    from county_server.settlements import read_settlement_file

    try:
        rows = read_settlement_file(args.file)
    except ValidationError as error:
        print(f"错误：{error.message}", file=sys.stderr)
        return 1
    store = _store(args)
    try:
        counts = store.load_settlements(rows)
    finally:
        store.close()
    print(f"结算数据已载入：新增 {counts['inserted']} 条，更新 {counts['updated']} 条，无变化 {counts['unchanged']} 条"
          + (f"，{counts['unknown']} 条找不到参保居民（未下发）" if counts["unknown"] else ""))
    return 0


def cmd_import_bundle(args) -> int:
    from .auth import ApiError

    store = _store(args)
    try:
        summary = store.import_bundle(Path(args.file).read_bytes())
    except ApiError as error:
        print(f"错误：{error.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"数据包 {summary['bundle_id']}（站点 {summary['station']}）：{summary['batches']} 批，"
          f"接受 {summary['accepted']}，冲突 {summary['conflict']}，拒绝 {summary['rejected']}，"
          f"已导入过 {summary['duplicate']}")
    return 0


def cmd_purge(args) -> int:
    store = _store(args)
    try:
        result = store.purge(tombstone_days=args.days)
    finally:
        store.close()
    print(f"已精简 {result['tombstones_compacted']} 条删除记录，清理 {result['answers_dropped']} 个旧应答。")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="county-server", description="县医保同步服务器")
    parser.add_argument("--db-url", help=f"数据库地址（默认 ${DB_URL_ENV} 或本机 SQLite 文件），"
                                         "如 postgresql://user@host/dbname")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="命令", required=True)

    sub.add_parser("init-db", help="创建或升级服务器数据库").set_defaults(func=cmd_init_db)

    serve = sub.add_parser("serve", help="启动同步服务（uvicorn）")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--ssl-certfile")
    serve.add_argument("--ssl-keyfile")
    serve.add_argument("--workers", type=int, default=1, help="工作进程数（多核服务器上用 2–8 个）")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("add-user", help="添加县医保局控制台用户（密码从终端或 $COUNTY_USER_PASSWORD 读取）")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=["county_admin", "viewer"],
                      help="county_admin 可修改 / viewer 只读")
    user.add_argument("--display-name")
    user.set_defaults(func=cmd_add_user)

    gen = sub.add_parser("gen-synthetic", help="生成模拟县数据（基准测试用，写入 PostgreSQL 时用 COPY）")
    gen.add_argument("--townships", type=int, default=30)
    gen.add_argument("--villages", type=int, default=600, help="村的总数")
    gen.add_argument("--residents", type=int, default=1_200_000, help="居民总数")
    gen.add_argument("--seed", type=int, default=1)
    gen.set_defaults(func=cmd_gen_synthetic)

    add = sub.add_parser("add-station", help="登记站点并生成同步令牌（只显示一次）")
    add.add_argument("--code", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--scope", required=True, type=str.upper, choices=["VILLAGE", "TOWNSHIP", "COUNTY"],
                     help="VILLAGE 村站 / TOWNSHIP 乡镇站 / COUNTY 县医保局管理员")
    add.add_argument("--place", help="村或乡镇的行政区划代码")
    add.add_argument("--expires-days", type=int, help="令牌有效天数（默认长期有效）")
    add.set_defaults(func=cmd_add_station)

    rotate = sub.add_parser("rotate-token", help="更换站点的同步令牌（旧令牌立即失效）")
    rotate.add_argument("--code", required=True)
    rotate.add_argument("--expires-days", type=int, help="新令牌有效天数（默认长期有效）")
    rotate.set_defaults(func=cmd_rotate_token)

    sub.add_parser("check", help="检查数据库中不合规的记录（旧版本遗留）").set_defaults(func=cmd_check)
    sub.add_parser("repair", help="隔离 check 发现的不合规记录").set_defaults(func=cmd_repair)

    for name, help_ in (("disable-station", "停用站点（令牌在其下一次请求时即失效）"), ("enable-station", "重新启用站点")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--code", required=True)
        p.set_defaults(func=cmd_set_active)

    sub.add_parser("list-stations", help="列出站点").set_defaults(func=cmd_list_stations)

    ref = sub.add_parser("load-reference", help="载入县级参考数据（地名、病种目录、救助类型、资助规则、缴费标准、政策、报销比例）")
    ref.add_argument("file")
    ref.set_defaults(func=cmd_load_reference)

    settle = sub.add_parser("load-settlements", help="载入国家医保平台一站式结算数据（按村下发到站点，站点只读）")
    settle.add_argument("file")
    settle.set_defaults(func=cmd_load_settlements)

    bundle = sub.add_parser("import-bundle", help="导入站点的离线数据包（U 盘）")
    bundle.add_argument("file")
    bundle.set_defaults(func=cmd_import_bundle)

    purge = sub.add_parser("purge", help="精简旧的删除记录和推送应答")
    purge.add_argument("--days", type=int, default=90)
    purge.set_defaults(func=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command not in ("init-db", "serve"):
        # Every command works on a current schema; init-db is idempotent.
        init_db(make_engine(args.db_url or default_db_url()))
    return args.func(args)
