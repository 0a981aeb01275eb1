"""服务记录: quick entry of a doctor's services, the list, and each doctor's monthly counts for 绩效评价."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station_app.domain import chronic as months_rules
from station_app.domain.enums import ResidentStatus, Role, ServiceKind, Sex, SpecialGroup
from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.domain.masking import mask_id, mask_phone
from station_app.store.models import Resident, ServiceEntry, User

from . import registry
from .changes import Actor
from .chronic import fetch_ids, resident_or_404, text_condition
from .scope import check_village, in_scope, place_names, villages_in_scope
from .workspace import Workspace

KINDS = tuple(ServiceKind)
MAX_NOTE = 500


def _today(today: date | None) -> date:
    return today or date.today()


def _month_bounds(month: str) -> tuple[date, date]:
    return months_rules.parse_month(month), months_rules.month_last_day(month)


# -- quick entry ------------------------------------------------------------------------------


def record_service(ws: Workspace, actor: Actor, *, resident_id: str, kind: str, on: date | None = None,
                   note: str = "", topic: str = "", today: date | None = None) -> str:
    """One service by the signed-in user (the doctor) for a registered resident; returns its id.

    ``topic`` is the 政策问答 topic of a 答疑 (services.policy_qa), so questions count by topic.
    """
    today = _today(today)
    on = on or today
    try:
        kind = ServiceKind(kind).value
    except ValueError:
        raise ValidationError("请选择服务类型：上门、代购药、答疑、代办或提醒。", field="kind") from None
    if on > today:
        raise ValidationError("服务日期不能晚于今天。", field="service_date")
    if (today - on).days > 366:
        raise ValidationError("服务日期早于一年前，请核对。", field="service_date")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"备注不能超过 {MAX_NOTE} 个字。", field="note")
    with ws.unit_of_work(actor, "service_record") as session:
        person = resident_or_404(session, actor, resident_id)
        if person.status != ResidentStatus.REGISTERED.value:
            raise ValidationError(f"该居民状态为“{ResidentStatus(person.status).label}”，不能登记服务。",
                                  field="resident_id")
        entry = ServiceEntry(resident_id=person.id, village_code=person.village_code, kind=kind, service_date=on,
                             doctor_username=actor.username, note=note, topic=(topic or "").strip()[:40])
        session.add(entry)
        session.flush()
        return entry.id


def void_service(ws: Workspace, actor: Actor, entry_id: str) -> None:
    """Withdraw an entry made by mistake (kept as a tombstone for sync and audit)."""
    with ws.unit_of_work(actor, "service_void") as session:
        entry = session.get(ServiceEntry, entry_id)
        if entry is None or entry.deleted:
            raise NotFound("找不到该服务记录。")
        check_village(session, actor, entry.village_code)
        if entry.doctor_username != actor.username and actor.role == Role.VILLAGE_DOCTOR.value:
            raise PermissionDenied("只能作废自己登记的服务记录。")
        entry.deleted = True


# -- resident lookup for the entry row ------------------------------------------------------


@dataclass(frozen=True)
class ResidentHit:
    id: str
    name: str
    sex: str
    birth_date: date
    id_masked: str
    village_name: str
    group_name: str
    phone: str
    status: str
    special_groups: str

    @property
    def age(self) -> int:
        today = date.today()
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    @property
    def label(self) -> str:
        """One line of the picker: enough to tell two 陈波 apart (sex, age, last digits of the ID, group)."""
        status = "" if self.status == ResidentStatus.REGISTERED.value else f"（{ResidentStatus(self.status).label}）"
        where = self.village_name + (self.group_name or "")
        sex = Sex(self.sex).label if self.sex in Sex._value2member_map_ else ""
        return f"{self.name}{status}  {sex} {self.age}岁  {self.id_masked}  {where}"

    @property
    def groups_text(self) -> str:
        return "、".join(g.label for g in SpecialGroup.parse_codes(self.special_groups))


def find_residents(ws: Workspace, actor: Actor, text: str, *, limit: int = 30,
                   registered_only: bool = False) -> list[ResidentHit]:
    """Residents in scope matching what was typed, for the pickers of the three archives.

    The registry's search does the matching (name, pinyin initials or full pinyin, any part
    of the ID number or phone, on its search index); this only shapes the first ``limit``
    hits, in pinyin order. A term too short to search (two digits) finds nobody rather than
    everybody.
    """
    term = registry.parse_search(text)
    if term is None or not term.active:
        return []
    status = ResidentStatus.REGISTERED.value if registered_only else None
    ids = registry.resident_ids(ws, actor, registry.RegistryFilter(search=text, status=status), "name")[:limit]
    if not ids:
        return []
    with ws.read() as session:
        people = {p.id: p for p in session.scalars(select(Resident).where(Resident.id.in_(ids)))}
        names = place_names(session)
    return [_hit(people[i], names) for i in ids if i in people]


def _hit(p: Resident, names: dict[str, str]) -> ResidentHit:
    return ResidentHit(p.id, p.name, p.sex, p.birth_date, mask_id(p.id_number), names.get(p.village_code or "", ""),
                       names.get(p.group_code or "", ""), p.phone, p.status, p.special_groups)


def resident_hit(ws: Workspace, actor: Actor, resident_id: str) -> ResidentHit:
    with ws.read() as session:
        return _hit(resident_or_404(session, actor, resident_id), place_names(session))


# -- the list (LazyTableModel) ----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceFilters:
    village_code: str | None = None
    kind: str | None = None
    doctor: str | None = None
    #: "YYYY-MM"; None for all months.
    month: str | None = None
    text: str = ""


SERVICE_SORTS = {
    "service_date": lambda: ServiceEntry.service_date,
    "kind": lambda: ServiceEntry.kind,
    "name": lambda: Resident.name_pinyin,
    "village": lambda: ServiceEntry.village_code,
    "doctor": lambda: ServiceEntry.doctor_username,
}


def service_ids(ws: Workspace, actor: Actor, filters: ServiceFilters | None = None, sort: str | None = None,
                asc: bool = True) -> list[str]:
    filters = filters or ServiceFilters()
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        query = select(ServiceEntry.id).where(ServiceEntry.deleted.is_(False),
                                              in_scope(ServiceEntry.village_code, allowed))
        condition = text_condition(filters.text)
        if condition is not None or sort == "name":
            # Only then: joining every entry to its resident costs more than the rest of the query.
            query = query.join(Resident, Resident.id == ServiceEntry.resident_id)
        if filters.village_code:
            query = query.where(ServiceEntry.village_code == filters.village_code)
        if filters.kind:
            query = query.where(ServiceEntry.kind == filters.kind)
        if filters.doctor:
            query = query.where(ServiceEntry.doctor_username == filters.doctor)
        if filters.month:
            first, last = _month_bounds(filters.month)
            query = query.where(ServiceEntry.service_date >= first, ServiceEntry.service_date <= last)
        if condition is not None:
            query = query.where(condition)
        if sort in SERVICE_SORTS:
            key = SERVICE_SORTS[sort]()
            query = query.order_by(key.asc() if asc else key.desc(), ServiceEntry.service_date.desc(), ServiceEntry.id)
        else:
            query = query.order_by(ServiceEntry.service_date.desc(), ServiceEntry.village_code, ServiceEntry.id)
        return fetch_ids(session, query)


def _display_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(User.username, User.display_name)).all())


def service_rows(ws: Workspace, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    with ws.read() as session:
        names = place_names(session)
        doctors = _display_names(session)
        rows = session.execute(select(ServiceEntry, Resident.name, Resident.group_code, Resident.phone)
                               .join(Resident, Resident.id == ServiceEntry.resident_id)
                               .where(ServiceEntry.id.in_(list(ids))))
        return {e.id: dict(service_date=e.service_date, kind=ServiceKind(e.kind).label, kind_code=e.kind, name=name,
                           village=names.get(e.village_code or "", ""), group=names.get(group or "", ""),
                           phone=mask_phone(phone) if phone else "",  # on screen: masked until 「显示」
                           doctor=doctors.get(e.doctor_username, e.doctor_username), doctor_username=e.doctor_username,
                           note=e.note, resident_id=e.resident_id)
                for e, name, group, phone in rows}


# -- 绩效: each doctor's counts ----------------------------------------------------------------


@dataclass
class DoctorCounts:
    username: str
    display_name: str
    counts: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in KINDS})
    #: The village (or township) the user works for, as the performance review names them.
    place_name: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class ServiceCounts:
    """One month: a row per doctor (village doctors in scope appear even with nothing logged)."""

    month: str
    doctors: list[DoctorCounts]

    @property
    def totals(self) -> dict[str, int]:
        return {k.value: sum(d.counts[k.value] for d in self.doctors) for k in KINDS}

    @property
    def total(self) -> int:
        return sum(d.total for d in self.doctors)

    def of(self, username: str) -> DoctorCounts | None:
        return next((d for d in self.doctors if d.username == username), None)


def doctor_choices(ws: Workspace, actor: Actor) -> list[tuple[str, str]]:
    """(username, name) of the village doctors placed in the actor's villages, then anyone else who logged services."""
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        users = session.execute(select(User.username, User.display_name, User.place_code, User.role)
                                .where(User.deleted.is_(False))).all()
        village_doctors = [(u, n) for u, n, place, role in users if role == Role.VILLAGE_DOCTOR.value
                           and (allowed is None or place in allowed)]
        known = {u for u, _ in village_doctors}
        logged = session.scalars(select(ServiceEntry.doctor_username).where(
            ServiceEntry.deleted.is_(False), in_scope(ServiceEntry.village_code, allowed)).distinct())
        names = {u: n for u, n, _p, _r in users}
        others = [(u, names.get(u, u)) for u in logged if u not in known]
    return sorted(village_doctors) + sorted(others)


def _scope_filters(session: Session, actor: Actor, village_code: str | None) -> list:
    allowed = villages_in_scope(session, actor)
    conditions = [ServiceEntry.deleted.is_(False), in_scope(ServiceEntry.village_code, allowed)]
    if village_code:
        check_village(session, actor, village_code)
        conditions.append(ServiceEntry.village_code == village_code)
    return conditions


def service_counts(ws: Workspace, actor: Actor, month: str | None = None, *, village_code: str | None = None,
                   today: date | None = None) -> ServiceCounts:
    """Doctor × kind counts of ``month`` ("YYYY-MM", default this month) in the actor's scope."""
    month = months_rules.month_key(months_rules.parse_month(month)) if month else months_rules.month_key(_today(today))
    first, last = _month_bounds(month)
    doctors = {u: DoctorCounts(u, n) for u, n in doctor_choices(ws, actor)} if not village_code else {}
    with ws.read() as session:
        conditions = _scope_filters(session, actor, village_code)
        names = _display_names(session)
        if village_code:
            doctors = {u: DoctorCounts(u, n) for u, n, place, role in session.execute(
                select(User.username, User.display_name, User.place_code, User.role).where(User.deleted.is_(False)))
                if role == Role.VILLAGE_DOCTOR.value and place == village_code}
        rows = session.execute(select(ServiceEntry.doctor_username, ServiceEntry.kind, func.count())
                               .where(*conditions, ServiceEntry.service_date >= first, ServiceEntry.service_date <= last)
                               .group_by(ServiceEntry.doctor_username, ServiceEntry.kind))
        for username, kind, count in rows:
            bucket = doctors.setdefault(username, DoctorCounts(username, names.get(username, username)))
            if kind in bucket.counts:
                bucket.counts[kind] += count
        places = place_names(session)
        user_places = dict(session.execute(select(User.username, User.place_code)).all())
    for doctor in doctors.values():
        doctor.place_name = places.get(user_places.get(doctor.username) or "", "")
    ordered = sorted(doctors.values(), key=lambda d: d.username)
    return ServiceCounts(month, ordered)


@dataclass(frozen=True)
class MonthCounts:
    month: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def service_series(ws: Workspace, actor: Actor, *, end_month: str | None = None, months: int = 12,
                   doctor: str | None = None, village_code: str | None = None,
                   today: date | None = None) -> list[MonthCounts]:
    """Counts by kind for each of the ``months`` months ending ``end_month`` (one doctor, or all)."""
    keys = months_rules.months_ending(end_month or months_rules.month_key(_today(today)), months)
    first, last = months_rules.parse_month(keys[0]), months_rules.month_last_day(keys[-1])
    month_expr = func.strftime("%Y-%m", ServiceEntry.service_date)
    with ws.read() as session:
        conditions = _scope_filters(session, actor, village_code)
        if doctor:
            conditions.append(ServiceEntry.doctor_username == doctor)
        rows = session.execute(select(month_expr, ServiceEntry.kind, func.count())
                               .where(*conditions, ServiceEntry.service_date >= first, ServiceEntry.service_date <= last)
                               .group_by(month_expr, ServiceEntry.kind)).all()
    table = {m: {k.value: 0 for k in KINDS} for m in keys}
    for month, kind, count in rows:
        if month in table and kind in table[month]:
            table[month][kind] += count
    return [MonthCounts(m, table[m]) for m in keys]


def resident_services(ws: Workspace, actor: Actor, resident_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest services for one resident (shown next to the entry row)."""
    with ws.read() as session:
        resident_or_404(session, actor, resident_id)
        doctors = _display_names(session)
        rows = session.scalars(select(ServiceEntry).where(
            ServiceEntry.resident_id == resident_id, ServiceEntry.deleted.is_(False))
            .order_by(ServiceEntry.service_date.desc()).limit(limit))
        return [dict(id=e.id, service_date=e.service_date, kind=ServiceKind(e.kind).label,
                     doctor=doctors.get(e.doctor_username, e.doctor_username), note=e.note) for e in rows]

