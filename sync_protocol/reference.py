"""The county's reference file (premiums, subsidy rules, catalogues, policies, county rules …):
read it, validate it and turn it into rows — the one reading both programs use.

The station upserts the rows into its own tables (``station_app.services.reference``); the county
server turns them into the reference stream (``county_server.reference``). Plain data in, plain
data out: no database, no ORM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from .domain.county_rules import parse_rules
from .domain.entitlement import VisitKind
from .domain.enums import HospitalLevel, PlaceLevel, SpecialGroup
from .domain.errors import ValidationError


@dataclass(frozen=True)
class Section:
    """One section of the file: the rows of one table, each as (upsert key, other values)."""

    name: str  # the file's section name, e.g. "places" (the count the loaders report)
    table: str  # the synced table, e.g. "place"
    rows: list[tuple[dict[str, Any], dict[str, Any]]]


def yuan_to_fen(value: Any) -> int:
    return int(round(float(value) * 100))


def read_reference_file(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationError(f"无法读取参考数据文件：{error}") from error


def _village_of_place(place: dict[str, Any]) -> str | None:
    """Villages and their groups carry the village code (the sync scope); higher levels none."""
    if place["level"] == PlaceLevel.VILLAGE.value:
        return place["code"]
    if place["level"] == PlaceLevel.GROUP.value:
        return place.get("parent_code")
    return None


def _subject_class(value: Any) -> int:
    klass = int(value)
    if klass not in (1, 2, 3, 4):
        raise ValidationError(f"救助对象类别应为 1–4（一类至四类），现为 {value}。")
    return klass


def _pct(value: Any) -> int:
    pct = int(value)
    if not 0 <= pct <= 100:
        raise ValidationError(f"比例应在 0–100 之间，现为 {value}。")
    return pct


def county_code_of(data: dict[str, Any]) -> str:
    county_code = (data.get("county") or {}).get("code")
    if not county_code:
        raise ValidationError("参考数据缺少县代码（county.code）。")
    return county_code


def reference_sections(data: dict[str, Any]) -> Iterator[Section]:
    """Every section present in ``data``, in the order the loaders apply them (places first).

    Raises ``ValidationError`` (or ``ValueError``/``KeyError`` for a malformed entry) on the
    first bad section; loaders apply all sections in one transaction, so nothing half-loads.
    """
    county = data.get("county") or {}
    county_code = county_code_of(data)
    d = date.fromisoformat

    def section(name: str, table: str, rows, make) -> Section:
        return Section(name, table, [make(row) for row in rows or []])

    places = [dict(code=county_code, name=county.get("name", county_code),
                   level=PlaceLevel.COUNTY.value, parent_code=None)] + list(data.get("places", []))
    yield section("places", "place", places, lambda p: ({"code": p["code"]}, dict(
        name=p["name"], level=PlaceLevel(p["level"]).value, parent_code=p.get("parent_code"),
        sort_order=int(p.get("sort_order", 0)),
        village_code=_village_of_place(p))))
    yield section("year_settings", "county_year_setting", data.get("year_settings"), lambda s: (
        {"county_code": county_code, "year": int(s["year"])}, dict(
            premium_fen=yuan_to_fen(s["premium_yuan"]), collection_start=d(s["collection_start"]),
            deadline=d(s["deadline"]), fiscal_subsidy_fen=yuan_to_fen(s.get("fiscal_subsidy_yuan", 0)))))
    yield section("subsidy_rules", "subsidy_rule", data.get("subsidy_rules"), lambda r: (
        {"county_code": county_code, "year": int(r["year"]),
         "special_group": SpecialGroup(r["special_group"]).value}, dict(
            category_name=r["category_name"], level=int(r.get("level", 1)), full=bool(r.get("full")),
            amount_fen=yuan_to_fen(r.get("amount_yuan", 0)))))
    yield section("diseases", "disease", data.get("diseases"), lambda x: ({"code": x["code"]}, dict(
        county_code=county_code, name=x["name"], category=x.get("category", ""),
        annual_limit_fen=yuan_to_fen(x.get("annual_limit_yuan", 0)), active=x.get("active", True))))
    yield section("assistance_types", "assistance_type", data.get("assistance_types"), lambda x: (
        {"code": x["code"]}, dict(county_code=county_code, name=x["name"], active=x.get("active", True),
                                  kind=VisitKind(x.get("kind", "inpatient")).value)))
    yield section("assistance_rules", "assistance_rule", data.get("assistance_rules"), lambda x: (
        {"county_code": county_code, "year": int(x["year"]), "subject_class": _subject_class(x["subject_class"]),
         "kind": VisitKind(x["kind"]).value}, dict(
            deductible_fen=yuan_to_fen(x.get("deductible_yuan", 0)), ratio_pct=_pct(x["ratio_pct"]),
            self_referred_ratio_pct=_pct(x.get("self_referred_ratio_pct", x["ratio_pct"])),
            annual_limit_fen=yuan_to_fen(x["annual_limit_yuan"]),
            tilt_threshold_fen=yuan_to_fen(x.get("tilt_threshold_yuan", 0)),
            tilt_ratio_pct=_pct(x.get("tilt_ratio_pct", 0)), tilt_limit_fen=yuan_to_fen(x.get("tilt_limit_yuan", 0)),
            validity_months=int(x.get("validity_months", 0)))))
    yield section("burden_alert_rules", "burden_alert_rule", data.get("burden_alert_rules"), lambda x: (
        {"county_code": county_code, "year": int(x["year"])}, dict(
            threshold_fen=yuan_to_fen(x["threshold_yuan"]), income_share_pct=_pct(x.get("income_share_pct", 0)))))
    yield section("reimbursement_rates", "reimbursement_rate", data.get("reimbursement_rates"), lambda x: (
        {"county_code": county_code, "year": int(x["year"]), "hospital_level": HospitalLevel(x["hospital_level"]).value},
        dict(ratio_pct=int(x["ratio_pct"]), deductible_fen=yuan_to_fen(x.get("deductible_yuan", 0)))))
    rules = data.get("rules") or {}
    if not isinstance(rules, dict):
        raise ValidationError("参考数据的 rules 应为对象（规则名 → 值）。")
    try:
        parse_rules({k: (v.get("value") if isinstance(v, dict) else v) for k, v in rules.items()})
    except ValueError as error:
        raise ValidationError(f"参考数据的县级规则有误：{error}") from None
    yield section("rules", "county_rule", list(rules.items()), lambda kv: (
        {"county_code": county_code, "key": kv[0]}, dict(
            value=json.dumps(kv[1].get("value") if isinstance(kv[1], dict) else kv[1], ensure_ascii=False,
                             sort_keys=True),
            source=(kv[1].get("source", "") if isinstance(kv[1], dict) else ""))))
    yield section("policies", "policy", data.get("policies"), lambda x: (
        {"county_code": county_code, "title": x["title"]}, dict(
            category=x.get("category", ""), body=x.get("body", ""), doc_no=x.get("doc_no", ""),
            year=x.get("year"), sort_order=int(x.get("sort_order", 0)))))
