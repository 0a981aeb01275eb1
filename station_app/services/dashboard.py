"""工作台: the four 4134 goals at a glance, gathered from the archives' own KPI services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from station_app.domain.chronic import MonthlyUsage
from station_app.domain.kpi import Ratio

from . import assistance, chronic, enrollment, entitlement, figures, policy_qa, service_log
from .changes import Actor
from .workspace import Workspace

#: Threads reading the 工作台's parts side by side (a clinic PC has 2–4 cores).
PARTS_AT_ONCE = 3



@dataclass
class Dashboard:
    """The 4134 KPIs; the station's counts come separately from ``overview.station_overview``."""

    year: int | None
    year_info: enrollment.YearInfo | None
    kpis: enrollment.EnrollmentKpis | None
    #: 在册 residents of the year not covered yet (未缴费, or no record at all).
    unpaid: int
    usage: list[MonthlyUsage]
    assistance: assistance.AssistanceKpis
    reminders_due: int
    reminders_overdue: int
    services: service_log.ServiceCounts
    #: 医疗救助落实率 (people and amount) and 待落实, by village, for the calendar year.
    fulfilment: entitlement.YearEntitlements = field(default_factory=lambda: entitlement.YearEntitlements(0))
    warnings: list[str] = field(default_factory=list)
    #: 办理医疗救助人次, 新增门诊慢特病卡, the year in force, the county's targets (docs/FIGURES.md).
    figures: figures.Figures | None = None
    #: From 1 September the collection year (``year``) is next year; the year actually in force
    #: is shown beside it with its own 参保率 (None when they are the same year).
    in_force_year: int | None = None
    in_force_kpis: enrollment.EnrollmentKpis | None = None
    #: 答疑 of the month by 政策问答 topic, most asked first: what the next notice should say.
    question_topics: list[tuple[str, int]] = field(default_factory=list)

    @property
    def work_services(self) -> int:
        """代购药、答疑、上门、代办 of the month; 提醒 calls are counted apart (``reminder_calls``)."""
        return figures.work_services(self.services.totals)

    @property
    def reminder_calls(self) -> int:
        return self.services.totals.get("reminder", 0)

    def target(self, key: str) -> float | None:
        """The county's target for a figure, or None: a figure is labelled a target only if set."""
        return self.figures.targets.get(key) if self.figures else None
    #: People on the year's 未缴清单 with a recorded call/visit outcome (services.outreach).
    unpaid_contacted: int = 0
    #: People on the 续药提醒 with a call/visit outcome recorded since their last refill.
    refill_contacted: int = 0

    @property
    def latest_usage(self) -> Ratio | None:
        with_holders = [m for m in self.usage if m.holders]
        return with_holders[-1].rate if with_holders else None

    @property
    def last_complete_month(self) -> MonthlyUsage | None:
        """卡月使用率 of the last whole month: the current month is never the headline (0.0% on day 1)."""
        complete = [m for m in self.usage[:-1] if m.holders]
        return complete[-1] if complete else None

    @property
    def month_to_date(self) -> MonthlyUsage | None:
        return self.usage[-1] if self.usage else None


def narrowed_to_village(ws: Workspace, actor: Actor, village_code: str | None) -> Actor:
    """The actor as seen through one of their villages, for reading the 工作台 of that village.

    Scope follows ``place_code`` (services.scope): the same person with a village as place
    reads exactly that village's figures through the same services. Only for reads — the
    village must be in the actor's scope (checked here).
    """
    if not village_code:
        return actor
    from station_app.domain.enums import Role

    from .scope import check_village

    with ws.read() as session:
        check_village(session, actor, village_code)
    role = Role.TOWNSHIP_CLERK.value if actor.role == Role.ADMIN.value else actor.role  # admin: unscoped otherwise
    return Actor(actor.username, actor.display_name, role, village_code, actor.station_code)


def load_dashboard(ws: Workspace, actor: Actor, *, today: date | None = None,
                   village_code: str | None = None) -> Dashboard:
    """The KPIs the 工作台 shows, for the actor's scope (or one village of it); runs on a worker thread.

    The parts are independent reads, each in its own session: they run side by side on a few
    threads. SQLite lets go of the GIL while a statement runs, so the 参保率 pass and the
    settlement and card-use scans overlap the Python of the entitlement and card-use rules
    (bench/bench_dashboard.py)."""
    from . import outreach

    today = today or date.today()
    actor = narrowed_to_village(ws, actor, village_code)
    year = enrollment.default_year(ws, today)
    with ThreadPoolExecutor(max_workers=PARTS_AT_ONCE, thread_name_prefix="dashboard") as pool:
        def later(fn, *args, **kwargs):
            return pool.submit(fn, *args, **kwargs)

        figs = later(figures.load_figures, ws, actor, today=today)
        fulfilment = later(entitlement.year_entitlements, ws, actor, today.year)
        usage = later(chronic.card_usage_rates, ws, actor, 12, today=today)
        reminders_f = later(chronic.refill_reminders, ws, actor, today=today)
        info = later(enrollment.year_info, ws, year, actor=actor, today=today) if year else None
        contacted = later(outreach.outcome_counts, ws, actor, "unpaid", year=year) if year else None
        assistance_kpis = later(assistance.assistance_kpis, ws, actor, today.year)
        services = later(service_log.service_counts, ws, actor, today=today)
        topics = later(policy_qa.questions_by_topic, ws, actor, since=today.replace(day=1), until=today)
        in_force = figs.result().year_in_force
        in_force = in_force if in_force not in (None, year) else None
        # Both years' 参保率 from one pass over the residents, not one query each.
        by_year = enrollment.enrollment_kpis_of_years(ws, actor, [y for y in (year, in_force) if y])
        reminders = reminders_f.result()
        refill_outcomes = outreach.refill_outcomes(ws, actor, reminders)
    kpis = by_year.get(year) if year else None
    unpaid = kpis.unpaid if kpis else 0  # 在册 only: the unpaid list (docs/FIGURES.md)
    in_force_kpis = by_year.get(in_force) if in_force else None
    return Dashboard(
        year=year, year_info=info.result() if info else None, kpis=kpis, unpaid=unpaid,
        usage=usage.result(), assistance=assistance_kpis.result(),
        reminders_due=len(reminders), reminders_overdue=sum(1 for r in reminders if r.days_left < 0),
        services=services.result(), fulfilment=fulfilment.result(),
        figures=figs.result(), in_force_year=in_force, in_force_kpis=in_force_kpis,
        unpaid_contacted=sum(contacted.result().values()) if contacted else 0,
        refill_contacted=len({r.resident_id for r in reminders if r.card_id in refill_outcomes}),
        question_topics=topics.result(),
    )
