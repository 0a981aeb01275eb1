"""County reference data (places, catalogues, premiums, subsidy rules, policies): load and read.

Stations never edit these; they arrive from the county (a JSON file now, the sync feed later).
Loading upserts by natural key, so loading the same file twice changes nothing.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from station_app import paths
from station_app.domain.county_rules import CountyRules, parse_rules
from station_app.domain.enums import HospitalLevel, PlaceLevel, SpecialGroup
from station_app.domain.errors import ValidationError
from station_app.domain.entitlement import VisitKind
from station_app.store.models import (
    AssistanceRule,
    AssistanceType,
    BurdenAlertRule,
    CountyRule,
    CountyYearSetting,
    Disease,
    Place,
    Policy,
    ReimbursementRate,
    SubsidyRule,
)

from .changes import Actor, system_actor
from .workspace import Workspace


def yuan_to_fen(value: Any) -> int:
    return int(round(float(value) * 100))


def demo_reference_path() -> Path:
    return paths.resources_dir() / "reference" / "demo_county.json"


def read_reference_file(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationError(f"无法读取参考数据文件：{error}") from error


def _upsert(session: Session, model, key: dict[str, Any], values: dict[str, Any]) -> bool:
    """Insert or update one reference row; True when something changed."""
    row = session.scalar(select(model).filter_by(**key))
    if row is None:
        session.add(model(**key, **values))
        return True
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


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


def load_reference(ws: Workspace, data: dict[str, Any] | str | Path, actor: Actor | None = None) -> dict[str, int]:
    """Upsert every section present in ``data``; returns changed-row counts per section."""
    if not isinstance(data, dict):
        data = read_reference_file(data)
    county = data.get("county") or {}
    county_code = county.get("code")
    if not county_code:
        raise ValidationError("参考数据缺少县代码（county.code）。")
    counts: dict[str, int] = {}
    actor = actor or system_actor(ws.station.code if ws.station else "")
    d = date.fromisoformat
    # Reference rows are the county's, not this station's edits: audited, never pushed back.
    with ws.unit_of_work(actor, "load_reference", reference_write=True, skip_outbox=True) as session:
        def section(name: str, rows, make) -> None:
            counts[name] = sum(1 for row in rows or [] if _upsert(session, *make(row)))

        places = [dict(code=county_code, name=county.get("name", county_code),
                       level=PlaceLevel.COUNTY.value, parent_code=None)] + list(data.get("places", []))
        section("places", places, lambda p: (Place, {"code": p["code"]}, dict(
            name=p["name"], level=PlaceLevel(p["level"]).value, parent_code=p.get("parent_code"),
            sort_order=int(p.get("sort_order", 0)),
            village_code=_village_of_place(p))))
        section("year_settings", data.get("year_settings"), lambda s: (
            CountyYearSetting, {"county_code": county_code, "year": int(s["year"])}, dict(
                premium_fen=yuan_to_fen(s["premium_yuan"]), collection_start=d(s["collection_start"]),
                deadline=d(s["deadline"]), fiscal_subsidy_fen=yuan_to_fen(s.get("fiscal_subsidy_yuan", 0)))))
        section("subsidy_rules", data.get("subsidy_rules"), lambda r: (
            SubsidyRule, {"county_code": county_code, "year": int(r["year"]),
                          "special_group": SpecialGroup(r["special_group"]).value}, dict(
                category_name=r["category_name"], level=int(r.get("level", 1)), full=bool(r.get("full")),
                amount_fen=yuan_to_fen(r.get("amount_yuan", 0)))))
        section("diseases", data.get("diseases"), lambda x: (Disease, {"code": x["code"]}, dict(
            county_code=county_code, name=x["name"], category=x.get("category", ""),
            annual_limit_fen=yuan_to_fen(x.get("annual_limit_yuan", 0)), active=x.get("active", True))))
        section("assistance_types", data.get("assistance_types"), lambda x: (
            AssistanceType, {"code": x["code"]}, dict(county_code=county_code, name=x["name"],
                                                       active=x.get("active", True),
                                                       kind=VisitKind(x.get("kind", "inpatient")).value)))
        section("assistance_rules", data.get("assistance_rules"), lambda x: (
            AssistanceRule, {"county_code": county_code, "year": int(x["year"]),
                             "subject_class": _subject_class(x["subject_class"]),
                             "kind": VisitKind(x["kind"]).value}, dict(
                deductible_fen=yuan_to_fen(x.get("deductible_yuan", 0)), ratio_pct=_pct(x["ratio_pct"]),
                self_referred_ratio_pct=_pct(x.get("self_referred_ratio_pct", x["ratio_pct"])),
                annual_limit_fen=yuan_to_fen(x["annual_limit_yuan"]),
                tilt_threshold_fen=yuan_to_fen(x.get("tilt_threshold_yuan", 0)),
                tilt_ratio_pct=_pct(x.get("tilt_ratio_pct", 0)), tilt_limit_fen=yuan_to_fen(x.get("tilt_limit_yuan", 0)),
                validity_months=int(x.get("validity_months", 0)))))
        section("burden_alert_rules", data.get("burden_alert_rules"), lambda x: (
            BurdenAlertRule, {"county_code": county_code, "year": int(x["year"])}, dict(
                threshold_fen=yuan_to_fen(x["threshold_yuan"]), income_share_pct=_pct(x.get("income_share_pct", 0)))))
        section("reimbursement_rates", data.get("reimbursement_rates"), lambda x: (
            ReimbursementRate, {"county_code": county_code, "year": int(x["year"]),
                                "hospital_level": HospitalLevel(x["hospital_level"]).value},
            dict(ratio_pct=int(x["ratio_pct"]), deductible_fen=yuan_to_fen(x.get("deductible_yuan", 0)))))
        rules = data.get("rules") or {}
        if not isinstance(rules, dict):
            raise ValidationError("参考数据的 rules 应为对象（规则名 → 值）。")
        try:
            parse_rules({k: (v.get("value") if isinstance(v, dict) else v) for k, v in rules.items()})
        except ValueError as error:
            raise ValidationError(f"参考数据的县级规则有误：{error}") from None
        section("rules", list(rules.items()), lambda kv: (
            CountyRule, {"county_code": county_code, "key": kv[0]}, dict(
                value=json.dumps(kv[1].get("value") if isinstance(kv[1], dict) else kv[1], ensure_ascii=False,
                                 sort_keys=True),
                source=(kv[1].get("source", "") if isinstance(kv[1], dict) else ""))))
        section("policies", data.get("policies"), lambda x: (
            Policy, {"county_code": county_code, "title": x["title"]}, dict(
                category=x.get("category", ""), body=x.get("body", ""), doc_no=x.get("doc_no", ""),
                year=x.get("year"), sort_order=int(x.get("sort_order", 0)))))
    return counts


# -- reads used by services and views ---------------------------------------------------------


def year_setting(session: Session, county_code: str, year: int) -> CountyYearSetting | None:
    return session.scalar(select(CountyYearSetting).where(
        CountyYearSetting.county_code == county_code, CountyYearSetting.year == year,
        CountyYearSetting.deleted.is_(False)))


def county_rules(session: Session, county_code: str | None) -> CountyRules:
    """The county's rules (domain.county_rules); empty rules before any arrive."""
    if not county_code:
        return CountyRules()
    raw = {}
    for key, value in session.execute(select(CountyRule.key, CountyRule.value).where(
            CountyRule.county_code == county_code, CountyRule.deleted.is_(False))):
        try:
            raw[key] = json.loads(value)
        except ValueError:
            continue
    try:
        return parse_rules(raw)
    except ValueError:
        # A rule this version cannot read: keep the strict behaviour rather than guess.
        return CountyRules()


def station_rules(ws: Workspace) -> CountyRules:
    with ws.read() as session:
        return county_rules(session, ws.station.county_code if ws.station else None)


def subsidy_rules(session: Session, county_code: str, year: int) -> dict[str, SubsidyRule]:
    rows = session.scalars(select(SubsidyRule).where(
        SubsidyRule.county_code == county_code, SubsidyRule.year == year, SubsidyRule.deleted.is_(False)))
    return {row.special_group: row for row in rows}


def suggest_subsidy(rules: dict[str, SubsidyRule], special_groups: str, premium_fen: int) -> tuple[str, int] | None:
    """The most generous rule among the resident's special groups: (category, subsidy fen)."""
    best: SubsidyRule | None = None
    for code in SpecialGroup.parse_codes(special_groups):
        rule = rules.get(code.value)
        if rule is None:
            continue
        if best is None or rule.level < best.level or (rule.level == best.level and rule.amount_fen > best.amount_fen):
            best = rule
    if best is None:
        return None
    return best.category_name, (premium_fen if best.full else min(best.amount_fen, premium_fen))
