"""Sync subcommands: ``sync`` with the county server, ``export-bundle`` / ``import-bundle`` by USB stick."""

from __future__ import annotations

import sys
from pathlib import Path

from .main import db_path_of, open_station, print_recovery_key, progress_printer


def _open(args):
    return open_station(args)


def _actor(ws):
    from station_app.services.changes import system_actor

    return system_actor(ws.station.code if ws.station else "")


def cmd_sync(args) -> int:
    from station_app.sync.engine import run_sync
    from station_app.sync.settings import set_server, sync_status

    with _open(args) as ws:
        if not ws.is_set_up:
            print("本数据库尚未完成初始设置。", file=sys.stderr)
            return 2
        if args.server or args.token:
            url = args.server or sync_status(ws).server_url
            set_server(ws, _actor(ws), url, args.token)
        if args.ca_file is not None or args.fingerprint is not None:
            from station_app.sync.settings import set_tls_pin

            set_tls_pin(ws, _actor(ws), ca_file=args.ca_file, fingerprint=args.fingerprint)
        report = run_sync(ws, progress=None if args.quiet else progress_printer("同步"))
        if report.clock_warning:
            print(f"注意：{report.clock_warning}", file=sys.stderr)
        print(f"同步完成：{report.summary()}")
        status = sync_status(ws)
        if status.conflicts or status.rejected:
            print(f"待处理：冲突 {status.conflicts} 条，未被接受的修改 {status.rejected} 条（在“同步”页查看）")
    return 0


def cmd_setup(args) -> int:
    from station_app.domain.errors import DomainError
    from station_app.services.workspace import Workspace
    from station_app.sync.provision import provision, read_setup_file

    if args.setup_file:
        server, token = read_setup_file(args.setup_file)
    elif args.server and args.token:
        server, token = args.server, args.token
    else:
        print("错误：请给出 --server 和 --token，或者 --setup-file（县医保局控制台下载的设置文件）。",
              file=sys.stderr)
        return 2
    db = db_path_of(args)
    fresh = not db.exists()
    ws = Workspace.open(db)
    try:
        result = provision(ws, server, token, admin_username=args.admin_user or "",
                           admin_password=args.admin_password or "",
                           progress=None if args.quiet else progress_printer("首次同步"))
    except DomainError:
        ws.close()
        if fresh:  # nothing was set up: leave no half-made database behind
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        raise
    recovery, ws.pending_recovery_key = ws.pending_recovery_key, None
    ws.close()
    kind = "村站" if result.scope == "village" else "乡镇站"
    print(f"已设置{kind} {result.code}（{result.name}，{result.place_code}）：{db}")
    print(f"首次同步：{result.report.summary()}")
    print(f"管理员账户：{result.admin_username}（密码由县医保局提供）")
    if recovery:
        print_recovery_key(recovery)
    return 0


def cmd_export_bundle(args) -> int:
    from station_app.sync.bundle import export_bundle

    with _open(args) as ws:
        result = export_bundle(ws, args.out)
    print(f"已导出数据包：{result.path}（{result.ops} 条修改，{result.batches} 批）。"
          "请带到乡镇医保服务中心或县医保局导入。")
    return 0


def cmd_import_bundle(args) -> int:
    from station_app.sync.bundle import import_bundle

    with _open(args) as ws:
        result = import_bundle(ws, args.file)
    if result.already_imported:
        print(f"数据包 {result.bundle_id} 已导入过，本次未做任何修改。")
    else:
        print(f"已导入站点 {result.station} 的数据包：{result.ops} 条修改，本站立即显示 {result.applied} 条；"
              "下次同步时会转交县服务器。")
    return 0


def cmd_merge_people(args) -> int:
    from station_app.services.person_merge import find_double_registrations, merge_all

    with _open(args) as ws:
        if not ws.is_set_up:
            print("本数据库尚未完成初始设置。", file=sys.stderr)
            return 2
        actor = _actor(ws)
        groups = find_double_registrations(ws, actor)
        for group in groups:
            people = "；".join(f"{p.name}（{p.village_code}，户号 {p.household_no or '无'}，{p.linked} 条记录）"
                              for p in group.people)
            print(f"身份证号 {group.id_number_masked} 登记了 {len(group.people)} 次：{people}")
        if not groups:
            print("没有重复登记的人员。")
            return 0
        if not args.all:
            print("加 --all 把每组合并到排在第一位的人员（其参保、慢病卡、救助和服务记录一并转入）。")
            return 0
        merged = merge_all(ws, actor)
    print(f"已合并 {merged} 条重复登记，下次同步时上传。")
    return 0


def register(sub) -> None:
    setup = sub.add_parser("setup", help="从县服务器设置新站点（站点信息、地名、本站数据和用户都从县里来）")
    setup.add_argument("--server", help="县服务器地址，如 https://yb.example.gov.cn")
    setup.add_argument("--token", help="县医保局发放的本站同步令牌")
    setup.add_argument("--setup-file", help="县医保局控制台下载的设置文件（代替 --server 和 --token）")
    setup.add_argument("--admin-user", help="县里没有为本站设管理员时：管理员用户名")
    setup.add_argument("--admin-password", help="县里没有为本站设管理员时：管理员密码")
    setup.add_argument("-q", "--quiet", action="store_true", help="不显示进度")
    setup.set_defaults(func=cmd_setup)

    sync = sub.add_parser("sync", help="与县服务器同步（先上传本站修改，再下载）")
    sync.add_argument("--server", help="县服务器地址，如 https://yb.example.gov.cn（保存在本站数据库）")
    sync.add_argument("--token", help="本站同步令牌（县医保局发放，保存在本站数据库）")
    sync.add_argument("-q", "--quiet", action="store_true", help="不显示进度")
    sync.add_argument("--ca-file", help="县服务器使用自签名证书时：县医保局提供的证书文件（PEM），保存后每次同步都按它校验")
    sync.add_argument("--fingerprint", help="或：县服务器证书的 SHA-256 指纹（64 位十六进制，可带冒号）")
    sync.set_defaults(func=cmd_sync)

    export = sub.add_parser("export-bundle", help="把未上传的修改导出为签名数据包（无网络时用 U 盘带走）")
    export.add_argument("--out", required=True, help="数据包文件路径，如 E:\\群英村.ybsb")
    export.set_defaults(func=cmd_export_bundle)

    merge = sub.add_parser("merge-people", help="列出在两个站点重复登记的人员（同一身份证号），可合并")
    merge.add_argument("--all", action="store_true", help="合并每一组（保留排在第一位的人员）")
    merge.set_defaults(func=cmd_merge_people)

    imp = sub.add_parser("import-bundle", help="导入村站的数据包（乡镇站），下次同步时转交县服务器")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import_bundle)
