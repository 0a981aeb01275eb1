"""The 4134 dashboard of a place (county, township or village) from the pre-aggregated figures."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, select

from sync_protocol.domain.chronic import month_key, months_ending
from sync_protocol.domain.enums import EnrollmentStatus, ServiceKind
from sync_protocol.domain.kpi import Ratio, days_until, deadline_text
from sync_protocol.domain.masking import mask_id, mask_name

from ..models import CountySetting, Place, SyncRow
from . import aggregates

T_SET = CountySetting.__table__
T_ROW = SyncRow.__table__

#: County settings and their defaults. The targets are seed 003's (卡月使用率 51 % → 80 %,
#: 困难群众参保率 100 %); the county changes them in 设置, nothing reads the defaults but a fresh server.
SETTINGS = {
    "target_enrollment": ("参保率目标（%）", "95"),
    "target_hardship": ("困难群众参保率目标（%）", "100"),
    "target_card_usage": ("卡月使用率目标（%）", "80"),
    "target_assistance": ("救助落实率目标（%）", "100"),
    "silent_days": ("站点多少天未同步即提示", "7"),
}
LEVEL_TEXT = {"county": "县", "township": "乡镇", "village": "村"}
LIST_KINDS = {"unpaid": "未缴费人员", "hardship_unpaid": "困难群众未参保人员", "cards": "慢特病卡使用",
              "assistance": "医疗救助", "services": "服务记录"}
LIST_LIMIT = 500


def settings(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        stored = dict(conn.execute(select(T_SET.c.key, T_SET.c.value)).all())
    return {k: stored.get(k, default) for k, (_label, default) in SETTINGS.items()}


def save_settings(engine: Engine, values: dict[str, str]) -> dict[str, str]:
    clean = {}
    for key, (label, _default) in SETTINGS.items():
        text = (values.get(key) or "").strip()
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{label}应为整数。") from None
        limit = 365 if key == "silent_days" else 100
        if not (1 if key == "silent_days" else 0) <= number <= limit:
            raise ValueError(f"{label}应在 {1 if key == 'silent_days' else 0}–{limit} 之间。")
        clean[key] = str(number)
    with engine.begin() as conn:
        for key, value in clean.items():
            aggregates._put_setting(conn, key, value)  # noqa: SLF001
    return clean


@dataclass
class PlaceNode:
    code: str
    name: str
    level: str
    parent_code: str | None


def places(engine: Engine) -> dict[str, PlaceNode]:
    with engine.connect() as conn:
        return {r.code: PlaceNode(r.code, r.name, r.level, r.parent_code)
                for r in conn.execute(select(Place.code, Place.name, Place.level, Place.parent_code))}


def villages_under(tree: dict[str, PlaceNode], code: str) -> list[str]:
    node = tree[code]
    if node.level == "village":
        return [code]
    children = [p.code for p in tree.values() if p.parent_code == code and p.level in ("township", "village")]
    out: list[str] = []
    for child in children:
        out += villages_under(tree, child)
    return out


def year_settings(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(T_ROW.c.cols, T_ROW.c.vals).where(
            T_ROW.c.table_name == "county_year_setting", T_ROW.c.stream == "ref")).all()
    out = {}
    for cols, vals in rows:
        data = dict(zip(json.loads(cols), json.loads(vals)))
        out[int(data["year"])] = data
    return out


def current_year(years: dict[int, dict[str, Any]], today: date) -> int:
    """The latest year whose collection has opened (as the station's ``default_year``)."""
    opened = [y for y, s in years.items() if s.get("collection_start") and s["collection_start"] <= today.isoformat()]
    return max(opened) if opened else (min(years) if years else today.year)


@dataclass
class Row:
    code: str
    name: str
    level: str
    enrollment: Ratio
    hardship: Ratio
    usage: Ratio
    assistance: Ratio
    unpaid: int


@dataclass
class Dashboard:
    place: PlaceNode
    path: list[PlaceNode]
    year: int
    years: list[int]
    deadline: str | None
    deadline_text: str
    days_left: int | None
    enrollment: Ratio
    hardship: Ratio
    assistance: Ratio
    unpaid: int
    usage: list[tuple[str, Ratio]]
    services: list[tuple[str, int]]
    doctors: list[tuple[str, int]]
    children: list[Row]
    targets: dict[str, int]
    villages: int
    activity_year: int

    @property
    def latest_usage(self) -> Ratio:
        return self.usage[-1][1] if self.usage else Ratio(0, 0)


def _row(node: PlaceNode, fig: dict[str, Any], year: int, month: str, activity_year: int) -> Row:
    return Row(node.code, node.name, node.level, aggregates.enrollment_ratio(fig, year),
               aggregates.enrollment_ratio(fig, year, hardship=True),
               aggregates.usage_ratios(fig, [month])[0][1], aggregates.assistance_ratio(fig, activity_year),
               aggregates.unpaid_count(fig, year))


def build(engine: Engine, place_code: str | None, *, year: int | None = None, today: date | None = None) -> Dashboard:
    today = today or date.today()
    tree = places(engine)
    if not place_code:
        place_code = next((p.code for p in tree.values() if p.level == "county"), None)
    if place_code not in tree:
        raise KeyError(place_code)
    node = tree[place_code]
    path = []
    walk: PlaceNode | None = node
    while walk is not None:
        path.insert(0, walk)
        walk = tree.get(walk.parent_code) if walk.parent_code else None
    ys = year_settings(engine)
    year = year or current_year(ys, today)
    villages = villages_under(tree, place_code)
    kids = sorted((p for p in tree.values() if p.parent_code == place_code and p.level in ("township", "village")),
                  key=lambda p: p.code) if node.level != "village" else []
    # The place's own figures and its children's, summed in advance (aggregates.refresh).
    figs = aggregates.place_figures(engine, [place_code, *(k.code for k in kids)])
    fig = figs.get(place_code, {})
    months = months_ending(month_key(today), 12)
    children = [_row(child, figs.get(child.code, {}), year, months[-1], min(year, today.year)) for child in kids]
    setting = ys.get(year, {})
    deadline = setting.get("deadline")
    days = days_until(date.fromisoformat(deadline), today) if deadline else None
    # Services and assistance count by calendar year; the enrollment year may be next year's.
    activity_year = min(year, today.year)
    kinds = fig.get("services", {}).get(str(activity_year), {})
    targets = {k: int(v) for k, v in settings(engine).items()}
    return Dashboard(
        place=node, path=path, year=year, years=sorted(ys) or [year], deadline=deadline,
        deadline_text=deadline_text(date.fromisoformat(deadline), today) if deadline else "未设置缴费截止日期",
        days_left=days, enrollment=aggregates.enrollment_ratio(fig, year),
        hardship=aggregates.enrollment_ratio(fig, year, hardship=True),
        assistance=aggregates.assistance_ratio(fig, activity_year), unpaid=aggregates.unpaid_count(fig, year),
        usage=aggregates.usage_ratios(fig, months),
        services=[(ServiceKind(k).label if k in ServiceKind._value2member_map_ else (k or "其他"), n)
                  for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])],
        doctors=sorted(fig.get("doctors", {}).get(str(activity_year), {}).items(), key=lambda kv: -kv[1])[:20],
        children=children, targets=targets, villages=len(villages), activity_year=activity_year)


# ------------------------------------------------------------------------------- charts


def usage_chart(usage: list[tuple[str, Ratio]], target_pct: int, width: int = 640, height: int = 220) -> str:
    """卡月使用率 of 12 months as an SVG bar chart with the target line (drawn here, no script)."""
    left, bottom, top = 36, 28, 12
    plot_h = height - bottom - top
    step = (width - left - 8) / max(1, len(usage))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="卡月使用率（近12个月）">']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{pct}%</text>')
    for i, (month, ratio) in enumerate(usage):
        value = ratio.value or 0.0
        x = left + i * step + step * 0.15
        h = plot_h * value
        ok = ratio.value is not None and ratio.meets(target_pct / 100)
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'class="{"bar-ok" if ok else "bar"}"><title>{month}：{ratio.percent_text}'
                     f'（{ratio.numerator}/{ratio.denominator}）</title></rect>'
                     f'<text x="{x + step * 0.35:.1f}" y="{height - 10}" class="axis" text-anchor="middle">'
                     f'{month[5:]}月</text>')
    ty = top + plot_h * (1 - target_pct / 100)
    parts.append(f'<line x1="{left}" x2="{width - 4}" y1="{ty:.1f}" y2="{ty:.1f}" class="target"/>'
                 f'<text x="{width - 6}" y="{ty - 4:.1f}" class="target-label" text-anchor="end">目标 {target_pct}%</text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------- lists


def list_rows(engine: Engine, place_code: str, kind: str, year: int) -> tuple[list[str], list[list[str]], bool]:
    """(headers, rows, truncated): the people behind a figure, names and ID numbers masked (PIPL)."""
    tree = places(engine)
    villages = villages_under(tree, place_code)
    headers: list[str]
    out: list[list[str]] = []
    truncated = False
    with engine.connect() as conn:
        for village in villages:
            if len(out) >= LIST_LIMIT:
                truncated = True
                break
            rows: dict[str, dict[str, dict[str, Any]]] = {}
            for table, row_id, data in aggregates._rows(conn, village):  # noqa: SLF001
                rows.setdefault(table, {})[row_id] = data
            residents = rows.get("resident", {})
            vname = tree[village].name
            if kind in ("unpaid", "hardship_unpaid"):
                status = {d.get("resident_id"): d.get("status") for d in rows.get("enrollment", {}).values()
                          if str(d.get("year")) == str(year)}
                for rid, person in residents.items():
                    if person.get("status", "registered") != "registered":
                        continue
                    s = status.get(rid)
                    if kind == "unpaid" and s not in (None, EnrollmentStatus.UNPAID.value):
                        continue
                    if kind == "hardship_unpaid":
                        groups = set((person.get("special_groups") or "").split(","))
                        if not groups & aggregates._HARDSHIP or (s and EnrollmentStatus(s).is_covered) \
                                or s == EnrollmentStatus.NOT_REQUIRED.value:  # noqa: SLF001
                            continue
                    out.append([vname, mask_name(person.get("name")), mask_id(person.get("id_number")),
                                EnrollmentStatus(s).label if s else "无参保记录"])
            elif kind == "cards":
                for _rid, card in rows.get("chronic_card", {}).items():
                    person = residents.get(card.get("resident_id"), {})
                    out.append([vname, mask_name(person.get("name")), card.get("disease_code") or "",
                                card.get("status") or "", card.get("benefit_start") or ""])
            elif kind == "assistance":
                for case in rows.get("assistance_case", {}).values():
                    if not str(case.get("applied_date") or "").startswith(str(year)):
                        continue
                    person = residents.get(case.get("resident_id"), {})
                    out.append([vname, mask_name(person.get("name")), case.get("type_code") or "",
                                case.get("status") or "", f"{(case.get('assistance_fen') or 0) / 100:.2f}"])
            elif kind == "services":
                for entry in rows.get("service_entry", {}).values():
                    if not str(entry.get("service_date") or "").startswith(str(year)):
                        continue
                    person = residents.get(entry.get("resident_id"), {})
                    kind_code = entry.get("kind") or ""
                    label = ServiceKind(kind_code).label if kind_code in ServiceKind._value2member_map_ else kind_code
                    out.append([vname, mask_name(person.get("name")), label, entry.get("service_date") or "",
                                entry.get("doctor_username") or ""])
    headers = {
        "unpaid": ["村", "姓名", "身份证号", "状态"], "hardship_unpaid": ["村", "姓名", "身份证号", "状态"],
        "cards": ["村", "姓名", "病种", "状态", "待遇开始"], "assistance": ["村", "姓名", "类型", "状态", "救助金额（元）"],
        "services": ["村", "姓名", "服务", "日期", "村医"]}[kind]
    return headers, out[:LIST_LIMIT], truncated


# ------------------------------------------------------------------------------- report


def report_xlsx(engine: Engine, place_code: str | None, *, today: date | None = None) -> tuple[str, bytes]:
    """The month's 4134 report for the city: one row per township/village, the place's total first."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    board = build(engine, place_code, today=today)
    month = board.usage[-1][0] if board.usage else ""
    wb = Workbook()
    ws = wb.active
    ws.title = "4134月报"
    ws.append([f"{board.place.name} 4134 工作月报（{month}，参保年度 {board.year}）"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["地区", "级别", "参保率", "困难群众参保率", f"卡月使用率（{month}）", "救助落实率", "未缴费人数"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    total = Row(board.place.code, board.place.name + "（合计）", board.place.level, board.enrollment, board.hardship,
                board.latest_usage, board.assistance, board.unpaid)
    for row in [total, *board.children]:
        ws.append([row.name, LEVEL_TEXT.get(row.level, row.level), row.enrollment.percent_text,
                   row.hardship.percent_text, row.usage.percent_text, row.assistance.percent_text, row.unpaid])
    ws.append([])
    ws.append(["服务类别", "次数"])
    for label, n in board.services:
        ws.append([label, n])
    ws.column_dimensions["A"].width = 24
    for col in "BCDEFG":
        ws.column_dimensions[col].width = 16
    buffer = io.BytesIO()
    wb.save(buffer)
    return f"4134月报-{board.place.name}-{month}.xlsx", buffer.getvalue()
