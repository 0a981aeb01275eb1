"""The county's 结算 summaries: the file format the county server loads, checked row by row.

The national platform's one-stop settlement gives the county, per visit: date, hospital and its
level, 住院 or 门诊慢特病, 总费用, 基本医保, 大病保险 and 政策范围内个人自付. The county server
loads a file of them (``county-server load-settlements``) and delivers each row to the
stations of the resident's village; stations never write them (``Settlement`` is
server-authored).

File: JSON, ``{"settlements": [{...}]}`` or a bare list, each row::

    {"settlement_no": "JS2026…", "id_number": "6109…", "settled_on": "2026-05-03",
     "admitted_on": "2026-04-25", "hospital": "汉阴县人民医院", "hospital_level": "county",
     "kind": "inpatient", "route": "in_county", "total_yuan": 12000, "basic_insurance_yuan": 7000,
     "serious_illness_yuan": 0, "policy_self_pay_yuan": 4000}
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from sync_protocol.domain.assistance import MAX_FEN
from sync_protocol.domain.entitlement import Route, VisitKind
from sync_protocol.domain.enums import HospitalLevel
from sync_protocol.domain.errors import ValidationError
from sync_protocol.domain.idnumber import IdNumberError, parse_id

AMOUNTS = ("total", "basic_insurance", "serious_illness", "policy_self_pay")
LABELS = {"total": "总费用", "basic_insurance": "基本医保", "serious_illness": "大病保险",
          "policy_self_pay": "政策范围内个人自付"}


def _fen(value: Any, label: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(f"{where}：{label}应为金额（元）。")
    try:
        fen = int(round(float(value) * 100))
    except ValueError:
        raise ValidationError(f"{where}：{label}“{value}”不是金额。") from None
    if fen < 0 or fen > MAX_FEN:
        raise ValidationError(f"{where}：{label} {value} 元超出合理范围。")
    return fen


def _day(value: Any, label: str, where: str, *, required: bool = True) -> date | None:
    if value in (None, "") and not required:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{where}：{label}“{value}”不是日期（应为 2026-05-03 这样的格式）。") from None


def parse_row(raw: Any, n: int) -> dict[str, Any]:
    """One settlement as table fields (amounts in fen) plus ``id_number``; a Chinese error if bad."""
    where = f"第 {n} 条结算"
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}格式不对。")
    number = str(raw.get("settlement_no") or "").strip()
    if not number or len(number) > 40:
        raise ValidationError(f"{where}：缺少结算流水号（settlement_no，最多 40 位）。")
    where = f"结算 {number}"
    try:
        id_number = parse_id(str(raw.get("id_number") or "")).number
    except IdNumberError as error:
        raise ValidationError(f"{where}：身份证号不正确（{error}）。") from None
    kind = str(raw.get("kind") or "")
    if kind not in VisitKind._value2member_map_:
        raise ValidationError(f"{where}：类别应为 inpatient（住院）或 outpatient（门诊慢特病）。")
    route = str(raw.get("route") or Route.IN_COUNTY.value)
    if route not in Route._value2member_map_:
        raise ValidationError(f"{where}：就医路径应为 in_county、referred 或 self_referred。")
    level = str(raw.get("hospital_level") or "")
    if level not in HospitalLevel._value2member_map_:
        raise ValidationError(f"{where}：医院等级应为 township、county、city 或 province。")
    row: dict[str, Any] = dict(
        settlement_no=number, id_number=id_number, settled_on=_day(raw.get("settled_on"), "结算日期", where),
        admitted_on=_day(raw.get("admitted_on"), "入院日期", where, required=False),
        hospital=str(raw.get("hospital") or "")[:80], hospital_level=level, kind=kind, route=route)
    for name in AMOUNTS:
        row[f"{name}_fen"] = _fen(raw.get(f"{name}_yuan", 0), LABELS[name], where)
    if row["basic_insurance_fen"] + row["serious_illness_fen"] + row["policy_self_pay_fen"] > row["total_fen"]:
        raise ValidationError(f"{where}：基本医保、大病保险与政策范围内自付之和超过总费用。")
    return row


def read_settlement_file(path: str | Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationError(f"无法读取结算数据文件：{error}") from error
    rows = data.get("settlements") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ValidationError("结算数据文件应为 {\"settlements\": [...]} 或结算列表。")
    return [parse_row(raw, n) for n, raw in enumerate(rows, 1)]
