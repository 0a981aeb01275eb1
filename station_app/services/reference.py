"""County reference data (places, catalogues, premiums, subsidy rules, policies): load and read.

Stations never edit these; they arrive from the county (a JSON file now, the sync feed later).
Loading upserts by natural key, so loading the same file twice changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from station_app import paths
from station_app.domain.county_rules import CountyRules, parse_rules
from station_app.domain.enums import SpecialGroup
from station_app.store.models import MODEL_BY_TABLE, CountyRule, CountyYearSetting, SubsidyRule
from sync_protocol.reference import county_code_of, read_reference_file, reference_sections, yuan_to_fen  # noqa: F401

from .changes import Actor, system_actor
from .workspace import Workspace


def demo_reference_path() -> Path:
    return paths.resources_dir() / "reference" / "demo_county.json"


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


def load_reference(ws: Workspace, data: dict[str, Any] | str | Path, actor: Actor | None = None) -> dict[str, int]:
    """Upsert every section present in ``data``; returns changed-row counts per section.

    The file is read and validated by ``sync_protocol.reference`` (the county server reads it
    with the same code)."""
    if not isinstance(data, dict):
        data = read_reference_file(data)
    county_code_of(data)
    counts: dict[str, int] = {}
    actor = actor or system_actor(ws.station.code if ws.station else "")
    # Reference rows are the county's, not this station's edits: audited, never pushed back.
    with ws.unit_of_work(actor, "load_reference", reference_write=True, skip_outbox=True) as session:
        for section in reference_sections(data):
            model = MODEL_BY_TABLE[section.table]
            counts[section.name] = sum(1 for key, values in section.rows if _upsert(session, model, key, values))
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
