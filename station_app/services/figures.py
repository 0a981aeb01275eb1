"""The 4134 figures the mechanism reports that the archives' own services do not: 办理医疗救助人次,
新增门诊慢特病卡 per period, the year in force beside the collection year, the county's targets.

Every figure here is defined, with the SQL that recomputes it, in docs/FIGURES.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from station_app.domain.enums import AssistanceStatus, CardStatus, ServiceKind

from .changes import Actor
from .reference import county_rules, year_setting
from .scope import in_scope, villages_in_scope
from .workspace import Workspace

#: Service kinds that are the doctor's work for the person (seed 003's 代购药/答疑/…); 提醒
#: calls are counted apart: they are many (46 % of a month in the demo) and short.
WORK_KINDS = (ServiceKind.HOME_VISIT, ServiceKind.MEDICINE, ServiceKind.QUESTION, ServiceKind.ERRAND)


@dataclass(frozen=True)
class PeriodCount:
    """One figure over this month and this calendar year (to today)."""

    month: str
    month_count: int
    year: int
    year_count: int

    @property
    def text(self) -> str:
        return f"本月 {self.month_count} · {self.year} 年累计 {self.year_count}"


@dataclass(frozen=True)
class Figures:
    #: 办理医疗救助人次: assistance cases paid (已发放) in the period, one per case.
    assistance_handled: PeriodCount
    #: 新增门诊慢特病卡: cards issued in the period (cancelled later or not).
    new_cards: PeriodCount
    #: The benefit year today lies in, when the county has set it (the year in force).
    year_in_force: int | None
    #: Targets the county set (domain.county_rules TARGET_KEYS); a figure without one has none.
    targets: dict[str, float] = field(default_factory=dict)


def _period_counts(session, column, conditions, today: date) -> PeriodCount:
    month_first = today.replace(day=1)
    year_first = date(today.year, 1, 1)
    month_count = session.scalar(select(func.count()).where(*conditions, column >= month_first, column <= today)) or 0
    year_count = session.scalar(select(func.count()).where(*conditions, column >= year_first, column <= today)) or 0
    return PeriodCount(f"{today:%Y-%m}", month_count, today.year, year_count)


def year_in_force(ws: Workspace, today: date) -> int | None:
    """The benefit year containing ``today``, if the county has a setting for it."""
    if ws.station is None:
        return None
    with ws.read() as session:
        return today.year if year_setting(session, ws.station.county_code, today.year) is not None else None


def load_figures(ws: Workspace, actor: Actor, *, today: date | None = None) -> Figures:
    from station_app.store.models import AssistanceCase, ChronicCard

    today = today or date.today()
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        assistance = _period_counts(session, AssistanceCase.paid_date, (
            AssistanceCase.deleted.is_(False), AssistanceCase.status == AssistanceStatus.PAID.value,
            in_scope(AssistanceCase.village_code, allowed)), today)
        cards = _period_counts(session, ChronicCard.issued_date, (
            ChronicCard.deleted.is_(False), ChronicCard.issued_date.is_not(None),
            ChronicCard.status.in_([CardStatus.ISSUED.value, CardStatus.CANCELLED.value, CardStatus.SUSPENDED.value]),
            in_scope(ChronicCard.village_code, allowed)), today)
        county = ws.station.county_code if ws.station else None
        rules = county_rules(session, county)
        in_force = today.year if county and year_setting(session, county, today.year) is not None else None
    return Figures(assistance, cards, in_force, dict(rules.targets))


def work_services(totals: dict[str, int]) -> int:
    """代购药、答疑、上门、代办 together: the services seed 003 reports (提醒 apart)."""
    return sum(totals.get(kind.value, 0) for kind in WORK_KINDS)
