"""``station-app assistance-figures`` and ``pending-assistance``: 医疗救助落实率 by village and the 待落实 list.

On a county database (all villages) the figures are the county's; on a station's, its scope's.
"""

from __future__ import annotations

from datetime import date

from .edge_commands import _actor, _open


def _money(fen: int) -> str:
    from station_app.domain.assistance import fen_text

    return fen_text(fen)


def cmd_figures(args) -> int:
    from station_app.services import entitlement

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        year = args.year or date.today().year
        figures = entitlement.year_entitlements(ws, actor, year)
        print(f"{year} 年医疗救助落实率（按县救助规则；定义见 docs/FIGURES.md）")
        print("村\t应享人数\t已落实人数\t落实率\t应救助(元)\t已发放(元)\t金额落实率\t待落实笔数\t待落实(元)")
        for v in list(figures.villages.values()) + [figures.total]:
            print(f"{v.village_name}\t{v.people}\t{v.people_paid}\t{v.rate.percent_text}\t{_money(v.entitled_fen)}\t"
                  f"{_money(v.paid_fen)}\t{v.amount_rate.percent_text}\t{v.pending}\t{_money(v.pending_fen)}")
        print(f"标记不适用 {figures.not_applicable} 笔")
        return 0
    finally:
        ws.close()


def cmd_pending(args) -> int:
    from station_app.services import entitlement

    ws = _open(args)
    try:
        actor = _actor(ws, args.user)
        year = args.year or date.today().year
        items = entitlement.pending_list(ws, actor, year, village_code=args.village or None)
        for item in items:
            print(f"{item.village_name}\t{item.name}\t{item.id_number_masked}\t{item.what}\t"
                  f"应救助 {_money(item.due.entitled_fen)} 元")
        print(f"—— 待落实 {len(items)} 笔，合计 {_money(sum(i.due.entitled_fen for i in items))} 元")
        return 0
    finally:
        ws.close()


def register(sub) -> None:
    p = sub.add_parser("assistance-figures", help="医疗救助落实率（按村，按县救助规则计算）")
    p.add_argument("--year", type=int, help="年度（默认今年）")
    p.add_argument("--user", help="以哪个账号的范围统计（默认管理员）")
    p.set_defaults(func=cmd_figures)
    p = sub.add_parser("pending-assistance", help="待落实：应救助而未登记救助申请的结算")
    p.add_argument("--year", type=int, help="年度（默认今年）")
    p.add_argument("--village", help="只看一个村（行政区划代码）")
    p.add_argument("--user", help="以哪个账号的范围统计（默认管理员）")
    p.set_defaults(func=cmd_pending)
