"""Subcommands for the four notices: one notice to PDF (optionally archived), or all of them in a batch."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from .main import db_path_of, open_station, progress_printer

KINDS = ("enrollment", "chronic", "assistance", "policy")
PAPER_CHOICES = ("A4", "A4L", "A3", "A3L")


def _open(args):
    from station_app.domain.errors import ValidationError

    db = db_path_of(args)
    if not db.exists():
        raise ValidationError(f"数据库不存在：{db}")
    ws = open_station(args)
    if not ws.is_set_up:
        ws.close()
        raise ValidationError("该数据库尚未设置站点，无法发布公示。")
    return ws


def _start(args) -> date | None:
    from station_app.domain.errors import ValidationError

    if not args.start:
        return None
    try:
        return date.fromisoformat(args.start)
    except ValueError:
        raise ValidationError("公示开始日期格式应为 YYYY-MM-DD。") from None


def cmd_notice(args) -> int:
    from station_app.notices.qtenv import ensure_app
    from station_app.services import notices

    ensure_app()
    ws = _open(args)
    try:
        actor = notices.actor_for(ws, args.user)
        started = time.perf_counter()
        doc = notices.prepare_notice(ws, actor, args.kind, args.village, args.year, group_code=args.group,
                                     period_start=_start(args), period_days=args.days)
        paper = args.paper or notices.get_settings(ws).paper_for(args.kind)
        out = Path(args.out)
        if args.archive:
            issued = notices.issue_notice(ws, actor, args.kind, args.village, args.year, paper=paper,
                                          document=doc)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(issued.pdf_path.read_bytes())
            pages, extra = issued.pages, f"，已存档（SHA-256 {issued.sha256[:16]}…）"
        else:
            _pdf, pages = notices.render_notice(doc, paper, out)
            extra = ""
        print(f"{doc.title}：{out}（{pages} 页，{paper}）{extra}，用时 {time.perf_counter() - started:.1f} 秒")
        return 0
    finally:
        ws.close()


def cmd_notice_batch(args) -> int:
    from station_app.notices.qtenv import ensure_app
    from station_app.services import notices

    ensure_app()
    ws = _open(args)
    try:
        actor = notices.actor_for(ws, args.user)
        started = time.perf_counter()
        kinds = args.kinds.split(",") if args.kinds else KINDS
        result = notices.batch_notices(ws, actor, args.year, out_dir=args.out_dir, archive=args.archive,
                                       kinds=kinds, paper=args.paper, period_start=_start(args),
                                       progress=progress_printer("生成公示"))
        villages = len({i.village_code for i in result.items})
        print(f"已生成 {len(result.items)} 份公示（{villages} 个村，共 {result.pages} 页）：{args.out_dir}，"
              f"用时 {time.perf_counter() - started:.1f} 秒")
        return 0 if not result.cancelled else 1
    finally:
        ws.close()


def register(sub) -> None:
    notice = sub.add_parser("notice", help="生成一份公示 PDF（可同时发布存档）")
    notice.add_argument("kind", choices=KINDS, help="enrollment 参保 / chronic 慢病卡 / assistance 救助 / policy 政策")
    notice.add_argument("--village", required=True, help="行政村代码")
    notice.add_argument("--group", help="村民小组代码（只公示该组）")
    notice.add_argument("--year", type=int, required=True, help="待遇年度")
    notice.add_argument("--out", required=True, help="输出 PDF 文件")
    notice.add_argument("--paper", choices=PAPER_CHOICES, help="纸张（默认按设置：名单 A4 横向，政策 A4 纵向）")
    notice.add_argument("--start", help="公示开始日期 YYYY-MM-DD（默认今天）")
    notice.add_argument("--days", type=int, help="公示天数（默认按设置，一般 7 天）")
    notice.add_argument("--archive", action="store_true", help="发布并存档（记录发布人、时间和校验值）")
    notice.add_argument("--user", help="以该用户名义发布（默认“系统”）")
    notice.set_defaults(func=cmd_notice)

    batch = sub.add_parser("notice-batch", help="为辖区内所有村生成四项公示（批量打印）")
    batch.add_argument("--year", type=int, required=True, help="待遇年度")
    batch.add_argument("--out-dir", required=True, help="输出目录")
    batch.add_argument("--kinds", help="只生成这些类型，逗号分隔（默认四项全部）")
    batch.add_argument("--paper", choices=PAPER_CHOICES, help="纸张（默认按设置）")
    batch.add_argument("--start", help="公示开始日期 YYYY-MM-DD（默认今天）")
    batch.add_argument("--archive", action="store_true", help="同时发布存档")
    batch.add_argument("--user", help="以该用户名义发布（默认“系统”）")
    batch.set_defaults(func=cmd_notice_batch)

