"""Subcommands for the four notices: one notice to PDF (optionally archived), or all of them in a batch."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from .main import open_set_up_station, progress_printer

KINDS = ("enrollment", "chronic", "assistance", "policy")
PAPER_CHOICES = ("A4", "A4L", "A3", "A3L")
LAYOUT_CHOICES = ("roster", "summary", "detail")




def _start(args) -> date | None:
    from station_app.domain.errors import ValidationError

    if not args.start:
        return None
    try:
        return date.fromisoformat(args.start)
    except ValueError:
        raise ValidationError("公示开始日期格式应为 YYYY-MM-DD。") from None


def _days(args) -> int | None:
    from station_app.domain.errors import ValidationError
    from station_app.notices.data import MAX_PERIOD_DAYS

    if args.days is None:
        return None
    if not 1 <= args.days <= MAX_PERIOD_DAYS:
        raise ValidationError(f"公示天数应为 1 至 {MAX_PERIOD_DAYS} 天（收到 {args.days}）。")
    return args.days


def cmd_notice(args) -> int:
    from station_app.notices.qtenv import ensure_app
    from station_app.services import notices

    days, start = _days(args), _start(args)
    out = Path(args.out)
    if out.is_dir():  # refused before any work
        raise notices.NoticeFileError(f"{out} 是一个文件夹；--out 请给出 PDF 文件名（如 {out / '公示.pdf'}）。")
    ensure_app()
    ws = open_set_up_station(args, "发布公示")
    try:
        actor = notices.actor_for(ws, args.user)
        started = time.perf_counter()
        doc = notices.prepare_notice(ws, actor, args.kind, args.village, args.year, group_code=args.group,
                                     period_start=start, period_days=days, layout=args.layout,
                                     allow_empty=args.allow_empty)
        paper = args.paper or notices.get_settings(ws).paper_for(args.kind, doc.layout)
        if args.archive:
            issued = notices.issue_notice(ws, actor, args.kind, args.village, args.year, paper=paper,
                                          document=doc, reason=args.reason or "")
            notices.write_pdf(out, issued.pdf_path.read_bytes())
            pages, extra = issued.pages, f"，{issued.message()}（SHA-256 {issued.sha256[:16]}…）"
        else:
            _pdf, pages = notices.render_notice(doc, paper, out)
            extra = ""
        layout = f"，{doc.layout}" if doc.kind == "enrollment" else ""
        print(f"{doc.title}：{out}（{pages} 页，{paper}{layout}）{extra}，用时 {time.perf_counter() - started:.1f} 秒")
        return 0
    finally:
        ws.close()


def cmd_notice_batch(args) -> int:
    from station_app.domain.enums import NoticeKind
    from station_app.notices.qtenv import ensure_app
    from station_app.services import notices

    kinds = notices.parse_kinds(args.kinds)
    years = notices.parse_years(args.years)
    start = _start(args)
    out_dir = Path(args.out_dir)
    notices.ensure_folder(out_dir)
    ensure_app()
    ws = open_set_up_station(args, "发布公示")
    try:
        actor = notices.actor_for(ws, args.user)
        started = time.perf_counter()
        chosen = notices.batch_years(kinds, year=args.year, years=years)
        print("各类公示的年度：" + "，".join(f"{NoticeKind(k).label} {y} 年" for k, y in chosen.items())
              + ("（按 --year）" if args.year and not years else "（参保、政策按缴费年度，慢病卡、救助按服务年度）"
                 if not args.year and not years else ""))
        result = notices.batch_notices(ws, actor, args.year, years=years, out_dir=out_dir, archive=args.archive,
                                       kinds=kinds, paper=args.paper, period_start=start, layout=args.layout,
                                       allow_empty=args.allow_empty, progress=progress_printer("生成公示"))
        made = result.made
        villages = len({i.village_code for i in made})
        print(f"已生成 {len(made)} 份公示（{villages} 个村，共 {result.pages} 页）：{out_dir}，"
              f"用时 {time.perf_counter() - started:.1f} 秒")
        if result.skipped:
            print(f"跳过 {len(result.skipped)} 份（该年度没有记录，未生成空公示；确需生成请加 --allow-empty）：")
            for item in result.skipped:
                print(f"  {item.village_name} {NoticeKind(item.kind).label} {item.year} 年：{item.skipped}")
        if result.cancelled:
            return 1
        return 0 if made else 1
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
    notice.add_argument("--days", type=int, help="公示天数 1–30（默认按设置，一般 7 天）")
    notice.add_argument("--layout", choices=LAYOUT_CHOICES,
                        help="参保公示版式：roster 紧凑名单（默认）/ summary 汇总+变动 / detail 详细名单")
    notice.add_argument("--allow-empty", action="store_true", help="该年度没有记录时也生成「本年度无…」公示")
    notice.add_argument("--archive", action="store_true", help="发布并存档（记录发布人、时间和校验值）")
    notice.add_argument("--reason", help="重新发布（内容有变化）时的原因，记入存档")
    notice.add_argument("--user", help="以该用户名义发布（默认“系统”）")
    notice.set_defaults(func=cmd_notice)

    batch = sub.add_parser("notice-batch", help="为辖区内所有村生成四项公示（批量打印）")
    batch.add_argument("--year", type=int,
                       help="所有类型都用这一年度（默认各用其年度：参保、政策按缴费年度，慢病卡、救助按服务年度）")
    batch.add_argument("--years", help="分别指定年度，如 enrollment=2027,chronic=2026")
    batch.add_argument("--out-dir", required=True, help="输出目录")
    batch.add_argument("--kinds", help="只生成这些类型，逗号分隔（默认四项全部）")
    batch.add_argument("--layout", choices=LAYOUT_CHOICES, help="参保公示版式（默认按设置）")
    batch.add_argument("--allow-empty", action="store_true", help="没有记录的村也生成「本年度无…」公示")
    batch.add_argument("--paper", choices=PAPER_CHOICES, help="纸张（默认按设置）")
    batch.add_argument("--start", help="公示开始日期 YYYY-MM-DD（默认今天）")
    batch.add_argument("--archive", action="store_true", help="同时发布存档")
    batch.add_argument("--user", help="以该用户名义发布（默认“系统”）")
    batch.set_defaults(func=cmd_notice_batch)

