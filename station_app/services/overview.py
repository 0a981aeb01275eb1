"""Key figures for the 工作台 and the status bar, computed with SQL aggregates (fast on 60,000 residents)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from station_app.domain.enums import EnrollmentStatus, PlaceLevel, ResidentStatus, StationScope
from station_app.domain.kpi import Ratio, enrollment_rate
from station_app.store.models import CountyYearSetting, Enrollment, Household, OutboxOp, Place, Resident

from .workspace import StationInfo, Workspace

logger = logging.getLogger(__name__)

#: Outbox states that still wait for the county server's answer ("待上传").
PENDING_OUTBOX_STATES = ("pending", "sent")

_COVERED = tuple(s.value for s in EnrollmentStatus if s.is_covered)
_NOT_COUNTED = tuple(s.value for s in EnrollmentStatus if not s.is_required)


@dataclass(frozen=True)
class Overview:
    """What the 工作台 shows; counts only, nothing personal."""

    station_name: str
    place_name: str
    village_count: int
    household_count: int
    registered_residents: int
    #: The latest benefit year whose collection has started; None before the county sets one.
    benefit_year: int | None
    covered: int
    required: int
    pending_outbox: int

    @property
    def has_enrollments(self) -> bool:
        return self.benefit_year is not None and self.required > 0

    @property
    def enrollment_rate(self) -> Ratio:
        return enrollment_rate(self.covered, self.required)


def station_village_codes(session: Session, station: StationInfo | None) -> list[str]:
    """The villages this station serves: its own village, or every village of its township."""
    if station is None:
        return []
    if station.scope == StationScope.VILLAGE.value:
        return [station.place_code]
    # Before the county's place list arrives a township station has no villages yet.
    return list(session.scalars(select(Place.code).where(
        Place.parent_code == station.place_code, Place.level == PlaceLevel.VILLAGE.value,
        Place.deleted.is_(False))))


def current_benefit_year(session: Session, county_code: str, today: date) -> int | None:
    """The latest benefit year whose collection window has opened."""
    return session.scalar(select(func.max(CountyYearSetting.year)).where(
        CountyYearSetting.county_code == county_code, CountyYearSetting.deleted.is_(False),
        CountyYearSetting.collection_start <= today))


def _pending_outbox(session: Session) -> int:
    from sync_protocol.tables import LOCAL_ONLY_TABLES  # rows that never travel (app_user)

    return session.scalar(select(func.count()).select_from(OutboxOp).where(
        OutboxOp.state.in_(PENDING_OUTBOX_STATES), OutboxOp.table_name.not_in(sorted(LOCAL_ONLY_TABLES)))) or 0


def _enrollment_counts(session: Session, villages: list[str], year: int) -> tuple[int, int]:
    """(covered, required) for the year, counting only registered, non-deleted residents.

    Counted as (every live enrollment of the year) − (those whose resident is deleted or no
    longer 在册): joining 60,000 enrollments to residents on their UUID keys costs ~140 ms,
    while the second set is small and is reached from the resident side (the LEFT JOIN keeps
    SQLite from reordering it), ~60 ms for both queries together. Scope is the enrollment's
    own village code, the key it is synced under.
    """
    live = (Enrollment.year == year, Enrollment.deleted.is_(False), Enrollment.village_code.in_(villages))
    by_status: dict[str, int] = dict(session.execute(
        select(Enrollment.status, func.count()).where(*live).group_by(Enrollment.status)).all())
    # Not counted: deleted residents, and those who died or moved out before the year began
    # (one who died during the year was a resident of it: docs/FIGURES.md, 参保率).
    gone = session.execute(
        select(Enrollment.status, func.count()).select_from(Resident)
        .outerjoin(Enrollment, and_(Enrollment.resident_id == Resident.id, *live))
        .where(or_(Resident.deleted.is_(True),
                   and_(Resident.status != ResidentStatus.REGISTERED.value,
                        or_(Resident.status_date.is_(None), Resident.status_date < date(year, 1, 1)))))
        .group_by(Enrollment.status))
    for status, count in gone:
        if status is not None:  # residents without an enrollment this year
            by_status[status] -= count
    covered = sum(by_status.get(code, 0) for code in _COVERED)
    required = sum(count for status, count in by_status.items()
                   if status not in _NOT_COUNTED)
    return covered, required


def station_overview(ws: Workspace, *, today: date | None = None, with_enrollment: bool = True,
                     actor=None) -> Overview:
    """Figures for this station's villages; zeros (and no year) before first-run set-up.

    ``with_enrollment=False`` skips the 参保率 counts, for callers that compute them fully
    (the 工作台 uses services.enrollment.enrollment_kpis). With an ``actor`` the figures are
    those of the actor's scope: a 村医 sees their village under the village's name, never the
    township's totals.
    """
    today = today or date.today()
    station = ws.station
    with ws.read() as session:
        pending = _pending_outbox(session)
        if station is None:
            return Overview("", "", 0, 0, 0, None, 0, 0, pending)
        place_name = session.scalar(select(Place.name).where(Place.code == station.place_code)) or ""
        villages = station_village_codes(session, station)
        if actor is not None:
            from .scope import villages_in_scope

            allowed = villages_in_scope(session, actor)
            if allowed is not None:
                villages = [v for v in villages if v in allowed]
                if len(allowed) == 1 and actor.place_code in allowed:
                    place_name = session.scalar(select(Place.name).where(Place.code == actor.place_code)) or ""
        households = session.scalar(select(func.count()).select_from(Household).where(
            Household.deleted.is_(False), Household.village_code.in_(villages))) or 0
        residents = session.scalar(select(func.count()).select_from(Resident).where(
            Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
            Resident.village_code.in_(villages))) or 0
        year = current_benefit_year(session, station.county_code, today)
        covered, required = (_enrollment_counts(session, villages, year)
                             if year is not None and with_enrollment else (0, 0))
    return Overview(station.name, place_name, len(villages), households, residents, year,
                    covered, required, pending)


def pending_changes(ws: Workspace) -> int:
    """Local changes not yet accepted by the county server (for the status bar)."""
    with ws.read() as session:
        return _pending_outbox(session)
