"""Archive 1, 参保 per benefit year: each resident's status, bulk marking, the unpaid list, a new year, 参保率.

Rules decided here (the domain leaves them to us; the UI shows these messages as is):

* **Dates and 待遇起始** (``domain.county_rules.decide_benefit_start``, every number from the
  county's rules): paid in the 集中缴费期 → benefits from 1 January; a newborn within the county's
  window after birth → from birth; a special group the county exempts → from the day enrolled;
  anyone else after the deadline → after the county's 待遇等待期 (国办发〔2024〕38号), or refused
  when the county has sent no late-enrollment rule (汉阴 "时限制", seed 000, "除特殊群体外": then
  困难群众 still pass). A payment for a benefit year already over is refused unless the county
  allows it. The start is stored on the record (``benefit_start``) and shown.
* **Amounts** are positive integer 分. The premium is one figure per year, so a payment must be
  exactly what the person owes: the premium, less any subsidy carried on the record.
* **资助参保** means enrolled and fully funded: subsidy + personal share = premium. A full rule
  (特困, 孤儿) needs no payment; a partial one (低保 150 元) needs the rest paid, with a date.
* **Subsidy suggestions** come from the resident's special groups and the county's rules of the
  year (``reference.suggest_subsidy``, the most generous rule wins). Applying them — in bulk, or
  when a year is started — turns 未缴费 into 资助参保 where the rule is full; where it is partial
  the record stays 未缴费 but carries the category and amount, so the list shows the reduced
  amount due, and marking that person paid records 资助参保 with the personal share.
* **Died / moved out** residents (not 在册) cannot be marked paid or subsidised; they may be
  set to 无需参保 or 其他渠道参保. Starting a year creates nothing for them: the year's roll is
  the residents who must enroll, and 参保率 counts only 在册 residents anyway.
* **Starting a year** needs the county's setting for it (premium, window): without one there is
  nothing to owe. It is idempotent and never touches earlier years.
* **参保率** = covered (已缴费 + 资助参保 + 其他渠道参保) / residents of the year except 无需参保
  and 待核实; "of the year": 在册, or died / moved out on or after 1 January of it (they were
  residents that year, as the platform's annual total counts them). An 在册 resident without a
  record for the year counts as required and not covered (应保尽保). docs/FIGURES.md.
* **A new year** carries 其他渠道参保 forward as 待核实 with the channel: not on the unpaid list,
  not in 参保率, until a clerk confirms them (``confirm_other_channel``).
* **Bulk marking** skips, and reports, residents already covered, 无需参保, or not 在册 — a
  township clerk selects a whole group; whatever is wrong with the input itself (a date after
  the deadline, a bad channel, another village) refuses the whole batch and writes nothing.

Writes of one resident go through the ORM (the recorder's before_flush hook audits them);
bulk writes go through Core executemany in the same unit of work and record the same outbox
ops and per-row audit entries themselves (``_record_updates``), so 5,000 rows take well under
a second instead of several.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import String, and_, case, exists, func, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session, aliased

from station_app.domain.county_rules import CountyRules, PaymentRefused, decide_benefit_start, gap_years
from station_app.domain.enums import (
    EnrollmentStatus,
    PaymentChannel,
    PlaceLevel,
    Relation,
    ResidentStatus,
    Role,
    Sex,
    SpecialGroup,
)
from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.domain.kpi import Ratio, days_until, deadline_text, enrollment_rate
from station_app.domain.money import yuan
from station_app.store.base import chunks
from station_app.store.models import (
    CountyYearSetting,
    Enrollment,
    Household,
    Place,
    Resident,
)

from .changes import Actor
from .overview import current_benefit_year, station_village_codes
from .reference import county_rules, subsidy_rules, suggest_subsidy, year_setting
from .scope import check_village, in_scope, place_names, villages_in_scope
from .workspace import Workspace

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

#: Filter / display value for an 在册 resident without a record for the year.
NO_RECORD = "none"
NO_RECORD_LABEL = "未登记"
#: Special-group filter values besides the SpecialGroup codes.
GROUP_FILTER_HARDSHIP = "hardship"
GROUP_FILTER_ANY = "any"
GROUP_FILTER_NONE = "none"

#: Choices offered for 其他渠道参保 and 无需参保 (free text is accepted too).
OTHER_CHANNEL_CHOICES = ("职工医保", "外地参保", "军人", "在校学生（学校参保）", "其他")
NOT_REQUIRED_REASONS = ("死亡", "迁出", "服刑人员", "出国（境）定居", "重复参保", "其他")

#: Working age for the "only the old and young paid" flag (seed 000).
YOUNG_BELOW, OLD_FROM = 18, 60

_CHUNK = 500  # ids per IN (…) query: well under SQLite's variable limit
_NEW_YEAR_CHUNK = 10_000
_COVERED = tuple(s.value for s in EnrollmentStatus if s.is_covered)
_NOT_COUNTED = tuple(s.value for s in EnrollmentStatus if not s.is_required)
#: Fields of a record a status change may set; the bulk path writes all of them every time.
_MANAGED = ("status", "subsidy_category", "subsidy_fen", "paid_fen", "paid_date", "channel",
            "other_channel_note", "note", "benefit_start")
_RELATION_ORDER = case({r.value: i for i, r in enumerate(Relation)}, value=Resident.relation, else_=99)


def status_label(code: str | None) -> str:
    return NO_RECORD_LABEL if not code or code == NO_RECORD else EnrollmentStatus.label_for(code)


def groups_label(codes: str | None) -> str:
    try:
        return "、".join(g.label for g in SpecialGroup.parse_codes(codes))
    except ValueError:
        return codes or ""


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _age_of_iso(birth: str | None, today: date) -> int | None:
    """``_age`` of a stored ISO date string (rows read without parsing every date)."""
    if not birth:
        return None
    return today.year - int(birth[:4]) - ((today.month, today.day) < (int(birth[5:7]), int(birth[8:10])))


def _county(ws: Workspace) -> str:
    if ws.station is None:
        raise ValidationError("本站尚未完成设置，不能办理参保登记。")
    return ws.station.county_code


def resident_of_year(year: int):
    """Residents counted for a benefit year: 在册, or died / moved out on or after its 1 January."""
    return or_(Resident.status == ResidentStatus.REGISTERED.value,
               and_(Resident.status_date.is_not(None), Resident.status_date >= date(year, 1, 1)))


def _rules_of(ws: Workspace, session: Session) -> CountyRules:
    return county_rules(session, ws.station.county_code if ws.station else None)


# ================================================================================= years


@dataclass(frozen=True)
class YearInfo:
    """The county's figures for a benefit year, and where today stands against its window."""

    year: int
    has_setting: bool
    premium_fen: int = 0
    collection_start: date | None = None
    deadline: date | None = None
    #: Days from today to the deadline; negative once it has passed.
    days_left: int | None = None
    deadline_text: str = ""
    #: Records existing for the year in the actor's scope (0 → the year is not started yet).
    records: int = 0
    #: "unset" (no county setting), "before" (window not open yet), "open", "closed".
    phase: str = "unset"
    #: The county accepts enrollment after the deadline, with a 待遇等待期.
    late_enrollment: bool = False

    @property
    def banner_text(self) -> str:
        """The line shown where people look: countdown, the date, the premium."""
        if not self.has_setting or self.deadline is None or self.collection_start is None:
            return f"{self.year} 年度：县医保局尚未下发缴费标准"
        premium = f"个人缴费 {yuan(self.premium_fen)} 元"
        if self.phase == "before":
            return (f"{self.year} 年度征缴 {self.collection_start:%Y-%m-%d} 开始，"
                    f"{self.deadline:%Y-%m-%d} 截止 · {premium}")
        if self.phase == "closed":
            if self.late_enrollment:
                return (f"集中缴费期已于 {self.deadline:%Y-%m-%d} 截止 · 现在参保设待遇等待期"
                        "（新生儿、特殊群体除外）")
            return f"{self.deadline_text}（{self.deadline:%Y-%m-%d}）· 除特殊群体外不能补缴"
        return f"{self.deadline_text}（截止 {self.deadline:%Y-%m-%d}）· {premium}"


def enrollment_years(ws: Workspace) -> list[int]:
    """Benefit years that have enrollments or a county setting, newest first."""
    with ws.read() as session:
        years = set(session.scalars(select(Enrollment.year).where(Enrollment.deleted.is_(False)).distinct()))
        query = select(CountyYearSetting.year).where(CountyYearSetting.deleted.is_(False))
        if ws.station is not None:
            query = query.where(CountyYearSetting.county_code == ws.station.county_code)
        years.update(session.scalars(query))
    return sorted(years, reverse=True)


def default_year(ws: Workspace, today: date | None = None) -> int | None:
    """The year a clerk means by "this year": the latest whose collection has opened."""
    today = today or date.today()
    years = enrollment_years(ws)
    if ws.station is not None:
        with ws.read() as session:
            current = current_benefit_year(session, ws.station.county_code, today)
        if current is not None:
            return current
    return years[0] if years else None


def year_info(ws: Workspace, year: int, *, actor: Actor | None = None, today: date | None = None) -> YearInfo:
    today = today or date.today()
    with ws.read() as session:
        records = 0
        if actor is not None:
            villages = villages_in_scope(session, actor)
            records = session.scalar(select(func.count()).select_from(Enrollment).where(
                Enrollment.year == year, Enrollment.deleted.is_(False),
                in_scope(Enrollment.village_code, villages))) or 0
        setting = year_setting(session, ws.station.county_code, year) if ws.station else None
        if setting is None:
            return YearInfo(year, False, records=records)
        days = days_until(setting.deadline, today)
        phase = "before" if today < setting.collection_start else "closed" if days < 0 else "open"
        return YearInfo(year, True, setting.premium_fen, setting.collection_start, setting.deadline,
                        days, deadline_text(setting.deadline, today), records, phase,
                        _rules_of(ws, session).late_enrollment)


# ================================================================================= the list


@dataclass(frozen=True)
class EnrollmentFilters:
    """What the year's list is narrowed to; every field optional."""

    village_code: str | None = None
    group_code: str | None = None
    #: An EnrollmentStatus code, or NO_RECORD.
    status: str | None = None
    #: A SpecialGroup code, GROUP_FILTER_HARDSHIP, GROUP_FILTER_ANY or GROUP_FILTER_NONE.
    special_group: str | None = None
    #: Name, pinyin initials or full pinyin, part of the ID number, or phone.
    text: str = ""

    def without_status(self) -> "EnrollmentFilters":
        return EnrollmentFilters(self.village_code, self.group_code, None, self.special_group, self.text)


def _special_group_clause(value: str, hardship: frozenset[str] = frozenset()):
    column = Resident.special_groups
    if value == GROUP_FILTER_ANY:
        return column != ""
    if value == GROUP_FILTER_NONE:
        return or_(column == "", column.is_(None))
    codes = sorted(hardship) if value == GROUP_FILTER_HARDSHIP else [SpecialGroup(value).value]
    # Codes are comma-joined and no code is a suffix of another after a comma, so matching
    # ",code," inside ",list," is exact.
    padded = "," + column + ","
    return or_(*[padded.like(f"%,{code},%") for code in codes])


def _text_clause(text: str):
    text = "".join(text.split())
    if not text:
        return None
    like = f"%{text}%"
    lower = text.lower()
    clauses = [Resident.name.like(like), Resident.id_number.like(f"%{text.upper()}%"), Resident.phone.like(like)]
    if lower.isascii() and lower.isalpha():
        clauses += [Resident.name_initials.like(f"{lower}%"), Resident.name_pinyin.like(f"{lower}%")]
    return or_(*clauses)


def _year_join(year: int):
    return and_(Enrollment.resident_id == Resident.id, Enrollment.year == year, Enrollment.deleted.is_(False))


def _has_record(year: int):
    # An alias: the outer query may join Enrollment too (to sort by it), and must not correlate.
    other = aliased(Enrollment)
    return exists().where(other.resident_id == Resident.id, other.year == year, other.deleted.is_(False))


def _resident_conditions(villages: set[str] | None, filters: EnrollmentFilters,
                         hardship: frozenset[str] | None = None) -> list:
    """Conditions on the resident alone (scope and every filter except the status)."""
    conditions: list = [Resident.deleted.is_(False), in_scope(Resident.village_code, villages)]
    if filters.village_code:
        conditions.append(Resident.village_code == filters.village_code)
    if filters.group_code:
        conditions.append(Resident.group_code == filters.group_code)
    if filters.special_group:
        conditions.append(_special_group_clause(filters.special_group, hardship if hardship is not None
                                                else CountyRules().hardship_codes))
    text = _text_clause(filters.text)
    if text is not None:
        conditions.append(text)
    return conditions


def _is_narrow(villages: set[str] | None, filters: EnrollmentFilters) -> bool:
    """A few thousand residents at most: reaching each one's record from the resident is cheap."""
    return bool(filters.village_code or filters.group_code or filters.text.strip()
                or (villages is not None and len(villages) <= 2))


#: Sort keys of the list → the columns they order by (the default order breaks ties).
SORT_KEYS: dict[str, tuple] = {
    "village": (Resident.village_code,),
    "group": (Resident.group_code,),
    "household_no": (Household.household_no,),
    "head_name": (Household.head_name,),
    "name": (Resident.name_pinyin,),
    "relation": (_RELATION_ORDER,),
    "sex": (Resident.sex,),
    "age": (Resident.birth_date,),
    "id_number": (Resident.id_number,),
    "phone": (Resident.phone,),
    "groups": (Resident.special_groups,),
    "resident_status": (Resident.status,),
    "status": (func.coalesce(Enrollment.status, ""),),
    "subsidy_category": (func.coalesce(Enrollment.subsidy_category, ""),),
    "subsidy_yuan": (func.coalesce(Enrollment.subsidy_fen, 0),),
    "paid_yuan": (func.coalesce(Enrollment.paid_fen, 0),),
    "paid_date": (Enrollment.paid_date,),
    "channel": (func.coalesce(Enrollment.channel, ""),),
}
_RECORD_SORT_KEYS = frozenset({"status", "subsidy_category", "subsidy_yuan", "paid_yuan", "paid_date", "channel"})
_DEFAULT_ORDER = (Resident.village_code, Resident.group_code, Household.household_no, _RELATION_ORDER,
                  Resident.birth_date, Resident.id)


def enrollment_ids(ws: Workspace, actor: Actor, year: int, filters: EnrollmentFilters | None = None,
                   sort_key: str | None = None, ascending: bool = True) -> list[str]:
    """Resident ids of the year's list in display order (one query; the model pages the rows).

    The year's roll is every 在册 resident plus anyone else with a record for the year. Each
    record lookup by UUID costs microseconds that add up at 60,000 rows, so the record is joined
    only when a status filter or a sort needs it: with a status the query starts from the
    enrollment index (year, status); otherwise the EXISTS runs only for the few not 在册.
    """
    filters = filters or EnrollmentFilters()
    if sort_key is not None and sort_key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {sort_key!r}")
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        conditions = _resident_conditions(villages, filters, _rules_of(ws, session).hardship_codes)
        joined = False
        if filters.status and filters.status != NO_RECORD:
            query = (select(Resident.id).select_from(Enrollment)
                     .join(Resident, Resident.id == Enrollment.resident_id)
                     .where(Enrollment.year == year, Enrollment.deleted.is_(False),
                            Enrollment.status == EnrollmentStatus(filters.status).value, *conditions))
            joined = True
        elif filters.status == NO_RECORD:
            query = select(Resident.id).select_from(Resident).where(
                *conditions, Resident.status == ResidentStatus.REGISTERED.value, ~_has_record(year))
        else:
            query = select(Resident.id).select_from(Resident).where(
                *conditions, or_(Resident.status == ResidentStatus.REGISTERED.value, _has_record(year)))
        if sort_key in _RECORD_SORT_KEYS and not joined:
            query = query.outerjoin(Enrollment, _year_join(year))
        query = query.outerjoin(Household, Household.id == Resident.household_id)
        order: list = []
        if sort_key:
            # "age" ascending means youngest first: the latest birth date.
            flip = not ascending if sort_key == "age" else ascending
            order = [c.asc() if flip else c.desc() for c in SORT_KEYS[sort_key]]
        return list(session.scalars(query.order_by(*order, *_DEFAULT_ORDER)))


def enrollment_rows(ws: Workspace, ids: Sequence[str], year: int, *, today: date | None = None) -> dict[str, dict[str, Any]]:
    """Display values of the given residents for the year (the LazyTableModel's fetch_rows)."""
    today = today or date.today()
    out: dict[str, dict[str, Any]] = {}
    if not ids:
        return out
    with ws.read() as session:
        names = place_names(session)
        setting = year_setting(session, ws.station.county_code, year) if ws.station else None
        premium = setting.premium_fen if setting else None
        for chunk in chunks(list(ids), _CHUNK):
            query = (select(Resident, Household.household_no, Household.head_name, Household.phone, Enrollment)
                     .select_from(Resident)
                     .outerjoin(Enrollment, _year_join(year))
                     .outerjoin(Household, Household.id == Resident.household_id)
                     .where(Resident.id.in_(chunk)))
            for person, household_no, head_name, household_phone, record in session.execute(query):
                code = record.status if record else NO_RECORD
                due = None
                if premium is not None and code in (NO_RECORD, EnrollmentStatus.UNPAID.value):
                    due = premium - (record.subsidy_fen if record else 0)
                out[person.id] = dict(
                    village=names.get(person.village_code, person.village_code or ""),
                    group=names.get(person.group_code, "") if person.group_code else "",
                    household_no=household_no or "", head_name=head_name or "",
                    name=person.name, relation=Relation.label_for(person.relation), sex=Sex.label_for(person.sex),
                    age=_age(person.birth_date, today), id_number=person.id_number,
                    phone=person.phone or household_phone or "", groups=groups_label(person.special_groups),
                    resident_status=ResidentStatus.label_for(person.status),
                    registered=person.status == ResidentStatus.REGISTERED.value,
                    status=status_label(code), status_code=code,
                    subsidy_category=record.subsidy_category if record else "",
                    subsidy_yuan=yuan(record.subsidy_fen) if record and record.subsidy_fen else "",
                    due_yuan=yuan(due) if due is not None else "",
                    paid_yuan=yuan(record.paid_fen) if record and record.paid_fen else "",
                    paid_date=record.paid_date if record else None,
                    channel=PaymentChannel.label_for(record.channel) if record else "",
                    benefit_start=record.benefit_start if record else None,
                    note=(record.other_channel_note or record.note) if record else "",
                )
    return out


def _sum_statuses(rows: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for status, count in rows:
        counts[status or NO_RECORD] += count
    return dict(counts)


def _ratio_of(counts: dict[str, int]) -> Ratio:
    covered = sum(counts.get(code, 0) for code in _COVERED)
    required = sum(n for code, n in counts.items() if code not in _NOT_COUNTED)
    return enrollment_rate(covered, required)


@dataclass(frozen=True)
class FilterSummary:
    """参保率 of what the list is narrowed to (status filter ignored: it would make the rate trivial)."""

    year: int
    ratio: Ratio
    #: 在册 residents by status code (NO_RECORD for those without a record).
    counts: dict[str, int]

    @property
    def unpaid(self) -> int:
        return self.counts.get(EnrollmentStatus.UNPAID.value, 0) + self.counts.get(NO_RECORD, 0)

    @property
    def text(self) -> str:
        r = self.ratio
        return f"参保率 {r.percent_text}（已参保 {r.numerator:,} / 应参保 {r.denominator:,}，未缴 {self.unpaid:,} 人）"


def _status_counts(session: Session, year: int, villages: set[str] | None, filters: EnrollmentFilters,
                   hardship: frozenset[str] | None = None) -> dict[str, int]:
    """Residents of the year matching the filters, by their status of the year (NO_RECORD: no record)."""
    conditions = [*_resident_conditions(villages, filters, hardship), resident_of_year(year)]
    if _is_narrow(villages, filters):
        return _sum_statuses(session.execute(
            select(Enrollment.status, func.count()).select_from(Resident)
            .outerjoin(Enrollment, _year_join(year)).where(*conditions).group_by(Enrollment.status)).all())
    # Township-wide: walk the year's records and look each resident up by primary key (about
    # half the cost of the other way round), then count the residents without a record as the
    # difference from a plain count.
    counts = _sum_statuses(session.execute(
        select(Enrollment.status, func.count()).select_from(Enrollment)
        .join(Resident, Resident.id == Enrollment.resident_id)
        .where(Enrollment.year == year, Enrollment.deleted.is_(False), *conditions)
        .group_by(Enrollment.status)).all())
    registered = session.scalar(select(func.count()).select_from(Resident).where(*conditions)) or 0
    missing = registered - sum(counts.values())
    if missing > 0:
        counts[NO_RECORD] = missing
    return counts


def filter_summary(ws: Workspace, actor: Actor, year: int, filters: EnrollmentFilters | None = None) -> FilterSummary:
    filters = (filters or EnrollmentFilters()).without_status()
    with ws.read() as session:
        counts = _status_counts(session, year, villages_in_scope(session, actor), filters,
                                _rules_of(ws, session).hardship_codes)
    return FilterSummary(year, _ratio_of(counts), counts)


# ================================================================================= KPIs


@dataclass(frozen=True)
class PlaceRate:
    code: str
    name: str
    village_code: str
    ratio: Ratio


@dataclass(frozen=True)
class EnrollmentKpis:
    """参保率 of a year for the 工作台: overall, 困难群众, by special group, village and group.

    Over the residents of the year (``resident_of_year``); 困难群众 as the county's rule
    ``hardship_groups`` names them. docs/FIGURES.md.
    """

    year: int
    overall: Ratio
    hardship: Ratio
    by_special_group: dict[str, Ratio]
    by_village: list[PlaceRate]
    by_group: list[PlaceRate]
    #: Residents of the year by status code (NO_RECORD for those without a record).
    counts: dict[str, int]
    #: 在册 residents still owing (未缴费 or no record): the unpaid list's people.
    unpaid: int = 0


def enrollment_kpis(ws: Workspace, actor: Actor, year: int) -> EnrollmentKpis:
    """One grouped query (~0.1 s at 60,000 residents), aggregated in Python."""
    return enrollment_kpis_of_years(ws, actor, [year])[year]


def enrollment_kpis_of_years(ws: Workspace, actor: Actor, years: Sequence[int]) -> dict[int, EnrollmentKpis]:
    """``enrollment_kpis`` of several years (the 工作台's collection year and year in force) from
    ONE pass over the residents: each year's record is joined through the (resident_id, year)
    unique index, so two years cost ~1.3 times one, not twice (bench/bench_dashboard.py)."""
    years = list(dict.fromkeys(years))
    if not years:
        return {}
    registered = Resident.status == ResidentStatus.REGISTERED.value
    joined = [aliased(Enrollment) for _ in years]
    columns: list = [Resident.village_code, Resident.group_code, Resident.special_groups, registered]
    for alias, year in zip(joined, years):
        columns += [alias.status, resident_of_year(year)]
    query = select(*columns, func.count()).select_from(Resident)
    for alias, year in zip(joined, years):
        query = query.outerjoin(alias, and_(alias.resident_id == Resident.id, alias.year == year,
                                            alias.deleted.is_(False)))
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        rows = session.execute(
            query.where(Resident.deleted.is_(False), or_(*(resident_of_year(y) for y in years)),
                        in_scope(Resident.village_code, villages))
            .group_by(*columns)).all()
        hardship_codes = _rules_of(ws, session).hardship_codes
        names = place_names(session)
        orders = dict(session.execute(select(Place.code, Place.sort_order)).all())
    out = {}
    for i, year in enumerate(years):
        status_at, of_year_at = 4 + 2 * i, 5 + 2 * i
        year_rows = [(row[0], row[1], row[2], row[status_at], row[3], row[-1]) for row in rows if row[of_year_at]]
        out[year] = _kpis_of_rows(year, year_rows, hardship_codes, names, orders)
    return out


def _kpis_of_rows(year: int, rows: Iterable[tuple], hardship_codes: frozenset[str], names: dict[str, str],
                  orders: dict[str, int]) -> EnrollmentKpis:
    """Aggregate (village, group, special groups, status, 在册?, count) rows of one year."""
    total: dict[str, int] = defaultdict(int)
    hardship: dict[str, int] = defaultdict(int)
    by_group_code: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_place: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unpaid = 0
    owing = (NO_RECORD, EnrollmentStatus.UNPAID.value)  # an enum's .value is a descriptor call: once, not per row
    for village, group, groups, status, registered, count in rows:
        status = status or NO_RECORD
        total[status] += count
        if registered and status in owing:
            unpaid += count
        by_village[village or ""][status] += count
        by_place[(village or "", group or "")][status] += count
        codes = set(groups.split(",")) if groups else set()
        for code in codes:
            by_group_code[code][status] += count
        if codes & hardship_codes:
            hardship[status] += count
    special = {g.value: _ratio_of(by_group_code.get(g.value, {})) for g in SpecialGroup}
    village_rates = [PlaceRate(code, names.get(code, code), code, _ratio_of(c))
                     for code, c in sorted(by_village.items(), key=lambda kv: (orders.get(kv[0], 0), kv[0]))]
    group_rates = [PlaceRate(group, names.get(group, "未分组") if group else "未分组", village, _ratio_of(c))
                   for (village, group), c in sorted(by_place.items(), key=lambda kv: (kv[0][0], orders.get(kv[0][1], 0), kv[0][1]))]
    return EnrollmentKpis(year, _ratio_of(total), _ratio_of(hardship), special, village_rates, group_rates, dict(total),
                          unpaid)


# ================================================================================= status changes


@dataclass(frozen=True)
class StatusChange:
    """One status to set; which fields matter depends on the status."""

    status: str
    paid_on: date | None = None
    channel: str = ""
    #: Amount paid by the person; None → what they owe (premium − subsidy carried).
    amount_fen: int | None = None
    subsidy_category: str = ""
    #: Subsidy amount for 资助参保; None → the amount suggested by the county's rules.
    subsidy_fen: int | None = None
    #: 其他渠道 (职工医保 …) or the reason for 无需参保.
    note: str = ""


def paid(paid_on: date, channel: str, amount_fen: int | None = None) -> StatusChange:
    return StatusChange(EnrollmentStatus.PAID.value, paid_on=paid_on, channel=channel, amount_fen=amount_fen)


@dataclass
class _State:
    """A resident and their record of the year (None when there is none yet)."""

    resident_id: str
    village_code: str | None
    name: str
    resident_status: str
    special_groups: str
    record: dict[str, Any] | None
    birth_date: date | None = None


@dataclass
class _YearRules:
    year: int
    setting: CountyYearSetting | None
    rules: dict
    county: CountyRules = field(default_factory=CountyRules)
    #: Resident id → benefit years just before ``year`` without cover (filled for late payments).
    gaps: dict[str, int] = field(default_factory=dict)

    def hardship(self, state: "_State") -> bool:
        return self.county.is_hardship(state.special_groups)

    def require_setting(self) -> CountyYearSetting:
        if self.setting is None:
            raise ValidationError(f"县医保局尚未下发 {self.year} 年度缴费标准，不能登记缴费。", code="no_setting")
        return self.setting

    def suggestion(self, special_groups: str) -> tuple[str, int] | None:
        if self.setting is None:
            return None
        return suggest_subsidy(self.rules, special_groups, self.setting.premium_fen)


def _year_rules(ws: Workspace, session: Session, year: int) -> _YearRules:
    county = _county(ws)
    return _YearRules(year, year_setting(session, county, year), subsidy_rules(session, county, year),
                      county_rules(session, county))


def _load_gaps(session: Session, rules: _YearRules, resident_ids: Iterable[str]) -> None:
    """Fill ``rules.gaps`` (the 变动等待期 counts) for residents paying after the deadline."""
    if not rules.county.late_enrollment or not rules.county.extra_months_per_gap_year:
        return
    covered: dict[str, dict[int, bool]] = defaultdict(dict)
    ids = list(dict.fromkeys(resident_ids))
    for chunk in chunks(ids, _CHUNK):
        for rid, y, status in session.execute(select(Enrollment.resident_id, Enrollment.year, Enrollment.status).where(
                Enrollment.resident_id.in_(chunk), Enrollment.year < rules.year, Enrollment.deleted.is_(False))):
            covered[rid][y] = status in _COVERED
    for rid in ids:
        rules.gaps[rid] = gap_years(covered.get(rid, {}), rules.year)


class _Skip(Exception):
    """A resident a bulk change leaves alone; ``reason`` is one of SKIP_REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


SKIP_REASONS = {"covered": "已参保", "not_required": "无需参保", "not_registered": "已死亡或迁出",
                "no_rule": "无适用的资助规则", "unchanged": "无需改动"}


def _check_paid_date(on: date | None, rules: _YearRules, state: _State, today: date) -> tuple[date, date]:
    """(the payment date, the benefit start it gives) — or a ValidationError saying why not."""
    setting = rules.require_setting()
    if on is None:
        raise ValidationError("请填写缴费日期。", field="paid_on")
    if on > today:
        raise ValidationError("缴费日期不能晚于今天。", field="paid_on")
    if state.birth_date is not None and on < state.birth_date:
        raise ValidationError(f"缴费日期早于{state.name}的出生日期（{state.birth_date:%Y-%m-%d}）。", field="paid_on")
    try:
        decision = decide_benefit_start(
            year=rules.year, paid_on=on, collection_start=setting.collection_start, deadline=setting.deadline,
            birth_date=state.birth_date, special_groups=state.special_groups,
            gap_years=rules.gaps.get(state.resident_id, 0), rules=rules.county, legacy_exempt=rules.hardship(state))
    except PaymentRefused as refused:
        raise ValidationError(refused.message, field="paid_on", code=refused.code) from None
    return on, decision.benefit_start


def _check_channel(channel: str) -> str:
    try:
        return PaymentChannel(channel).value
    except ValueError:
        raise ValidationError("请选择缴费渠道。", field="channel") from None


def _not_registered(state: _State, what: str) -> ValidationError:
    label = ResidentStatus.label_for(state.resident_status)
    return ValidationError(f"{state.name}已{label.removeprefix('已')}，不能{what}；可登记为“无需参保”。",
                           field="status", code="not_registered")


def _plan(change: StatusChange, state: _State, rules: _YearRules, today: date, *, bulk: bool) -> dict[str, Any]:
    """The record's new values for ``change``; raises ValidationError (refuse) or _Skip (bulk only)."""
    status = EnrollmentStatus(change.status)
    record = state.record or {}
    current = record.get("status")
    registered = state.resident_status == ResidentStatus.REGISTERED.value
    values: dict[str, Any] = dict(status=status.value, subsidy_category="", subsidy_fen=0, paid_fen=0,
                                  paid_date=None, channel="", other_channel_note="", note=record.get("note", ""),
                                  benefit_start=None)

    if status is EnrollmentStatus.PAID:
        if bulk and current in _COVERED:
            raise _Skip("covered", "已参保")
        if bulk and current == EnrollmentStatus.NOT_REQUIRED.value:
            raise _Skip("not_required", "无需参保")
        if not registered:
            if bulk:
                raise _Skip("not_registered", "已死亡或迁出")
            raise _not_registered(state, "登记缴费")
        setting = rules.require_setting()
        values["paid_date"], values["benefit_start"] = _check_paid_date(change.paid_on, rules, state, today)
        values["channel"] = _check_channel(change.channel)
        # A subsidy carried on the record (a partial rule applied earlier) lowers what is owed.
        subsidy = record.get("subsidy_fen") or 0
        category = record.get("subsidy_category") or ""
        if subsidy >= setting.premium_fen:
            subsidy = 0  # a full subsidy would leave nothing to pay: the payment replaces it
        due = setting.premium_fen - subsidy
        amount = due if change.amount_fen is None else change.amount_fen
        _check_amount(amount, due, setting.premium_fen)
        values["paid_fen"] = amount
        if subsidy and category:
            values.update(status=EnrollmentStatus.SUBSIDISED.value, subsidy_category=category, subsidy_fen=subsidy)
        return values

    if status is EnrollmentStatus.SUBSIDISED:
        if not registered:
            if bulk:
                raise _Skip("not_registered", "已死亡或迁出")
            raise _not_registered(state, "登记资助参保")
        setting = rules.require_setting()
        premium = setting.premium_fen
        category = change.subsidy_category.strip()
        subsidy = change.subsidy_fen
        if not category or subsidy is None:  # fill what was left blank from the county's rules
            suggested = rules.suggestion(state.special_groups)
            if suggested is None:
                if bulk:
                    raise _Skip("no_rule", "无适用的资助规则")
                raise ValidationError("该居民的人员类别没有适用的资助规则，请填写资助类别和金额。",
                                      field="subsidy_category")
            category = category or suggested[0]
            subsidy = suggested[1] if subsidy is None else subsidy
        if len(category) > 40:
            raise ValidationError("资助类别不能超过 40 个字。", field="subsidy_category")
        if subsidy <= 0:
            raise ValidationError("资助金额必须大于 0。", field="subsidy_fen")
        if subsidy > premium:
            raise ValidationError(f"资助金额不能超过个人缴费标准 {yuan(premium)} 元。", field="subsidy_fen")
        values.update(subsidy_category=category, subsidy_fen=subsidy)
        share = premium - subsidy
        if share > 0:
            # Partial subsidy: 资助参保 only once the person's own share is paid.
            if change.paid_on is None:
                raise ValidationError(f"个人还需缴纳 {yuan(share)} 元：请填写个人部分的缴费日期。", field="paid_on")
            values["paid_date"], values["benefit_start"] = _check_paid_date(change.paid_on, rules, state, today)
            values["channel"] = _check_channel(change.channel)
            amount = share if change.amount_fen is None else change.amount_fen
            _check_amount(amount, share, premium)
            values["paid_fen"] = amount
        else:
            if change.channel:
                values["channel"] = _check_channel(change.channel)  # 资助代缴 (proxy) by the county
            # Fully funded: enrolled on the day given, or today (动态参保 of a newly identified 特困 …).
            on = change.paid_on or today
            if change.paid_on is None and on <= setting.deadline:
                values["benefit_start"] = date(rules.year, 1, 1)
            else:
                _on, values["benefit_start"] = _check_paid_date(on, rules, state, today)
        return values

    if status is EnrollmentStatus.OTHER_CHANNEL:
        note = change.note.strip()
        if not note:
            raise ValidationError("请填写参保渠道（如职工医保、外地参保、军人）。", field="note")
        if len(note) > 60:
            raise ValidationError("参保渠道说明不能超过 60 个字。", field="note")
        values["other_channel_note"] = note
        return values

    if status is EnrollmentStatus.NOT_REQUIRED:
        reason = change.note.strip()
        if not reason:
            raise ValidationError("请填写无需参保的原因（如死亡、迁出）。", field="note")
        if len(reason) > 200:
            raise ValidationError("原因不能超过 200 个字。", field="note")
        values["note"] = reason
        return values

    # 未缴费: a clean slate, except a partial subsidy the person is still entitled to.
    premium = rules.setting.premium_fen if rules.setting else None
    subsidy = record.get("subsidy_fen") or 0
    if premium is not None and 0 < subsidy < premium and record.get("subsidy_category"):
        values.update(subsidy_category=record["subsidy_category"], subsidy_fen=subsidy)
    return values


def _check_amount(amount: int, due: int, premium: int) -> None:
    """The premium is one fixed figure per year: what is paid is exactly what is owed."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise ValidationError("缴费金额无效。", field="amount")
    if amount <= 0:
        raise ValidationError("缴费金额必须大于 0。", field="amount")
    if amount > premium:
        raise ValidationError(f"缴费金额不能超过个人缴费标准 {yuan(premium)} 元。", field="amount")
    if amount != due:
        owed = f"应缴 {yuan(due)} 元" if due == premium else f"应缴 {yuan(due)} 元（已扣除资助 {yuan(premium - due)} 元）"
        raise ValidationError(f"缴费金额 {yuan(amount)} 元与{owed}不符。", field="amount")


_RECORD_COLUMNS = (Enrollment.id, Enrollment.village_code, Enrollment.row_version, *[
    getattr(Enrollment, name) for name in _MANAGED])


def _load_states(session: Session, year: int, resident_ids: Sequence[str]) -> dict[str, _State]:
    states: dict[str, _State] = {}
    for chunk in chunks(list(dict.fromkeys(resident_ids)), _CHUNK):
        query = (select(Resident.id, Resident.village_code, Resident.name, Resident.status, Resident.special_groups,
                        Resident.birth_date, *_RECORD_COLUMNS)
                 .select_from(Resident).outerjoin(Enrollment, _year_join(year))
                 .where(Resident.id.in_(chunk), Resident.deleted.is_(False)))
        for row in session.execute(query):
            rid, village, name, status, groups, birth, *record = row
            record_dict = None
            if record[0] is not None:
                record_dict = dict(zip(("id", "village_code", "row_version", *_MANAGED), record))
            states[rid] = _State(rid, village, name, status, groups or "", record_dict, birth)
    return states


def _check_scope(session: Session, actor: Actor, states: Iterable[_State]) -> None:
    allowed = villages_in_scope(session, actor)
    if allowed is None:
        return
    if any(s.village_code not in allowed for s in states):
        raise PermissionDenied("无权操作其他村的数据。")


def set_enrollment(ws: Workspace, actor: Actor, resident_id: str, year: int, change: StatusChange, *,
                   today: date | None = None) -> str:
    """Set one resident's status for the year (creating the record if needed); returns the status set."""
    today = today or date.today()
    with ws.unit_of_work(actor, f"enrollment_{EnrollmentStatus(change.status).value}") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        record = session.scalar(select(Enrollment).where(
            Enrollment.resident_id == resident_id, Enrollment.year == year, Enrollment.deleted.is_(False)))
        state = _State(person.id, person.village_code, person.name, person.status, person.special_groups or "",
                       {name: getattr(record, name) for name in _MANAGED} if record else None, person.birth_date)
        rules = _year_rules(ws, session, year)
        _load_gaps(session, rules, [person.id])
        values = _plan(change, state, rules, today, bulk=False)
        if record is None:
            session.add(Enrollment(resident_id=person.id, year=year, village_code=person.village_code, **values))
        else:
            for name, value in values.items():
                if getattr(record, name) != value:
                    setattr(record, name, value)
        return values["status"]


def set_paid(ws: Workspace, actor: Actor, resident_id: str, year: int, *, paid_on: date, channel: str,
             amount_fen: int | None = None, today: date | None = None) -> str:
    return set_enrollment(ws, actor, resident_id, year, paid(paid_on, channel, amount_fen), today=today)


def set_unpaid(ws: Workspace, actor: Actor, resident_id: str, year: int) -> str:
    return set_enrollment(ws, actor, resident_id, year, StatusChange(EnrollmentStatus.UNPAID.value))


def set_subsidised(ws: Workspace, actor: Actor, resident_id: str, year: int, *, category: str = "",
                   subsidy_fen: int | None = None, paid_on: date | None = None, channel: str = "",
                   amount_fen: int | None = None, today: date | None = None) -> str:
    return set_enrollment(ws, actor, resident_id, year, StatusChange(
        EnrollmentStatus.SUBSIDISED.value, paid_on=paid_on, channel=channel, amount_fen=amount_fen,
        subsidy_category=category, subsidy_fen=subsidy_fen), today=today)


def set_other_channel(ws: Workspace, actor: Actor, resident_id: str, year: int, note: str) -> str:
    return set_enrollment(ws, actor, resident_id, year, StatusChange(EnrollmentStatus.OTHER_CHANNEL.value, note=note))


def set_not_required(ws: Workspace, actor: Actor, resident_id: str, year: int, reason: str) -> str:
    return set_enrollment(ws, actor, resident_id, year, StatusChange(EnrollmentStatus.NOT_REQUIRED.value, note=reason))


@dataclass(frozen=True)
class Suggestion:
    category: str
    subsidy_fen: int
    premium_fen: int

    @property
    def full(self) -> bool:
        return self.subsidy_fen >= self.premium_fen

    @property
    def share_fen(self) -> int:
        return max(self.premium_fen - self.subsidy_fen, 0)


def suggest_for(ws: Workspace, resident_id: str, year: int) -> Suggestion | None:
    """The subsidy the county's rules give this resident in the year, or None."""
    with ws.read() as session:
        groups = session.scalar(select(Resident.special_groups).where(Resident.id == resident_id))
        rules = _year_rules(ws, session, year)
        found = rules.suggestion(groups or "")
        if found is None or rules.setting is None:
            return None
        return Suggestion(found[0], found[1], rules.setting.premium_fen)


def subsidy_categories(ws: Workspace, year: int) -> list[str]:
    """The county's subsidy categories of the year, most generous first (for the dialog's choices)."""
    if ws.station is None:
        return []
    with ws.read() as session:
        rules = subsidy_rules(session, ws.station.county_code, year)
    ordered = sorted(rules.values(), key=lambda r: (r.level, -r.amount_fen, r.category_name))
    return list(dict.fromkeys(r.category_name for r in ordered))


# -- bulk ----------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    """What a bulk change did: counts by the status written, and who was left alone and why."""

    changed: int = 0
    created: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_written(self) -> int:
        return self.changed + self.created

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skipped_text(self) -> str:
        order = list(SKIP_REASONS)
        ranked = sorted(self.skipped.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
        return "、".join(f"{SKIP_REASONS.get(k, k)} {n} 人" for k, n in ranked if n)


def _apply_bulk(ws: Workspace, session: Session, year: int, planned: list[tuple[_State, dict[str, Any]]],
                summary: str, result: BulkResult, progress: Progress | None = None) -> None:
    updates = [(s.record, v) for s, v in planned if s.record is not None]
    inserts = [dict(resident_id=s.resident_id, year=year, village_code=s.village_code, **v)
               for s, v in planned if s.record is None]
    if progress:
        progress(0, len(planned), "写入数据库…")
    ws.recorder.bulk_update(session, Enrollment, updates)  # planned values set exactly _MANAGED
    if inserts:
        ws.recorder.bulk_insert(session, Enrollment, inserts, summary=summary)
    for state, values in planned:
        if state.record is not None and all(state.record.get(k) == values[k] for k in _MANAGED):
            continue
        result.by_status[values["status"]] = result.by_status.get(values["status"], 0) + 1
    result.created = len(inserts)
    result.changed = sum(1 for before, after in updates if any(before.get(k) != after[k] for k in _MANAGED))
    if progress:
        progress(len(planned), len(planned), "完成")


def set_enrollment_many(ws: Workspace, actor: Actor, resident_ids: Sequence[str], year: int, change: StatusChange, *,
                        today: date | None = None, progress: Progress | None = None) -> BulkResult:
    """Apply one change to many residents in one unit of work (see the module docstring for skips)."""
    today = today or date.today()
    started = time.perf_counter()
    status = EnrollmentStatus(change.status)
    result = BulkResult()
    with ws.unit_of_work(actor, f"enrollment_bulk_{status.value}") as session:
        states = _load_states(session, year, resident_ids)
        if len(states) < len(set(resident_ids)):
            raise NotFound("所选居民中有记录已不存在，请刷新列表后重试。")
        _check_scope(session, actor, states.values())
        rules = _year_rules(ws, session, year)
        if change.paid_on is not None and rules.setting is not None and change.paid_on > rules.setting.deadline:
            _load_gaps(session, rules, list(states))
        planned: list[tuple[_State, dict[str, Any]]] = []
        for i, state in enumerate(states.values()):
            try:
                values = _plan(change, state, rules, today, bulk=True)
            except _Skip as skip:
                result.skipped[skip.reason] = result.skipped.get(skip.reason, 0) + 1
                continue
            except ValidationError as error:
                if len(states) > 1 and error.field in ("amount", "subsidy_fen", "subsidy_category"):
                    # Depends on the person (their subsidy): say whom it is about.
                    raise ValidationError(f"{state.name}：{error.message}", field=error.field,
                                          code=error.code) from None
                raise
            planned.append((state, values))
            if progress and i % 2000 == 0:
                progress(i, len(states), "检查…")
        _apply_bulk(ws, session, year, planned, f"批量登记{status.label}（{year} 年度）", result, progress)
    result.seconds = time.perf_counter() - started
    return result


def mark_paid(ws: Workspace, actor: Actor, resident_ids: Sequence[str], year: int, *, paid_on: date, channel: str,
              amount_fen: int | None = None, today: date | None = None, progress: Progress | None = None) -> BulkResult:
    """标记已缴费 for many at once: those owing become 已缴费 (or 资助参保 with a partial subsidy)."""
    return set_enrollment_many(ws, actor, resident_ids, year, paid(paid_on, channel, amount_fen),
                               today=today, progress=progress)


def _suggested_values(state: _State, rules: _YearRules) -> dict[str, Any] | None:
    """New values for an unpaid / missing record from the rules; None when no rule applies."""
    found = rules.suggestion(state.special_groups)
    if found is None or rules.setting is None:
        return None
    category, subsidy = found
    base = dict(subsidy_category=category, subsidy_fen=subsidy, paid_fen=0, paid_date=None, channel="",
                other_channel_note="", note=(state.record or {}).get("note", ""), benefit_start=None)
    if subsidy >= rules.setting.premium_fen:
        return dict(base, status=EnrollmentStatus.SUBSIDISED.value, benefit_start=date(rules.year, 1, 1))
    return dict(base, status=EnrollmentStatus.UNPAID.value)


def apply_suggested_subsidies(ws: Workspace, actor: Actor, year: int, resident_ids: Sequence[str] | None = None, *,
                              progress: Progress | None = None) -> BulkResult:
    """套用资助建议 to 未缴费 / 未登记 在册 residents (all in scope when ``resident_ids`` is None).

    A full rule makes the record 资助参保; a partial one leaves it 未缴费 carrying the category and
    amount (the person still owes the rest). Records in any other status are left alone.
    """
    started = time.perf_counter()
    result = BulkResult()
    require_year_manager(actor, "套用资助建议")
    with ws.unit_of_work(actor, "enrollment_apply_subsidies") as session:
        rules = _year_rules(ws, session, year)
        rules.require_setting()
        if resident_ids is None:
            villages = villages_in_scope(session, actor)
            resident_ids = list(session.scalars(
                select(Resident.id).select_from(Resident).outerjoin(Enrollment, _year_join(year))
                .where(Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
                       Resident.special_groups != "", in_scope(Resident.village_code, villages),
                       or_(Enrollment.id.is_(None), Enrollment.status == EnrollmentStatus.UNPAID.value))))
        states = _load_states(session, year, resident_ids)
        _check_scope(session, actor, states.values())
        planned = []
        for state in states.values():
            current = (state.record or {}).get("status")
            if state.resident_status != ResidentStatus.REGISTERED.value:
                reason = "not_registered"
            elif current not in (None, EnrollmentStatus.UNPAID.value):
                reason = "covered" if current in _COVERED else "not_required"
            else:
                values = _suggested_values(state, rules)
                if values is None:
                    reason = "no_rule"
                elif state.record is not None and all(state.record.get(k) == values[k] for k in _MANAGED):
                    reason = "unchanged"
                else:
                    planned.append((state, values))
                    continue
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
        _apply_bulk(ws, session, year, planned, f"套用资助建议（{year} 年度）", result, progress)
    result.seconds = time.perf_counter() - started
    return result


# ================================================================================= a new year


@dataclass(frozen=True)
class NewYearResult:
    year: int
    created: int
    #: Of those created: 资助参保 by a full rule, and 未缴费 carrying a partial subsidy.
    subsidised: int
    partial: int
    #: 在册 residents in scope that already had a record for the year.
    existing: int
    seconds: float
    #: Of those created: 其他渠道参保 last year, carried forward as 待核实 with the channel.
    to_verify: int = 0

    @property
    def text(self) -> str:
        if not self.created:
            return f"{self.year} 年度参保记录已齐全（{self.existing:,} 人），没有新建。"
        verify = f"，上年其他渠道参保的 {self.to_verify:,} 人为待核实" if self.to_verify else ""
        return (f"已为 {self.created:,} 名在册居民建立 {self.year} 年度参保记录：其中资助参保 {self.subsidised:,} 人"
                f"（全额资助），定额资助待缴 {self.partial:,} 人{verify}，其余为未缴费。")


def require_year_manager(actor: Actor, what: str) -> None:
    """Year-level bulk operations (开始新年度, 套用资助建议) belong to the 乡镇医保专干 or an admin
    (issue 10: a 村医 saw and could run the township's bulk buttons)."""
    if actor.role not in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value):
        raise PermissionDenied(f"只有乡镇医保专干或管理员可以{what}。")


def may_manage_year(actor: Actor) -> bool:
    return actor.role in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value)


def new_year_plan(ws: Workspace, actor: Actor, year: int) -> tuple[int, int]:
    """(records to create, records already there) for the confirmation question."""
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        conditions = (Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
                      in_scope(Resident.village_code, villages))
        has = exists().where(Enrollment.resident_id == Resident.id, Enrollment.year == year)
        missing = session.scalar(select(func.count()).select_from(Resident).where(*conditions, ~has)) or 0
        there = session.scalar(select(func.count()).select_from(Resident).where(*conditions, has)) or 0
    return missing, there


def start_new_year(ws: Workspace, actor: Actor, year: int, *, progress: Progress | None = None) -> NewYearResult:
    """Give every 在册 resident in scope without a record for ``year`` one (see the module docstring).

    Idempotent: residents who already have a record (even a deleted one) are left alone, and
    previous years are never touched. Core bulk inserts with outbox, 10,000 rows per batch.
    """
    started = time.perf_counter()
    progress = progress or (lambda _d, _t, _m: None)
    require_year_manager(actor, "开始新年度")
    with ws.unit_of_work(actor, "enrollment_new_year") as session:
        rules = _year_rules(ws, session, year)
        if rules.setting is None:
            raise ValidationError(f"县医保局尚未下发 {year} 年度缴费标准（个人缴费、征缴期），不能开始新年度。",
                                  code="no_setting")
        premium = rules.setting.premium_fen
        villages = villages_in_scope(session, actor)
        conditions = (Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
                      in_scope(Resident.village_code, villages))
        has = exists().where(Enrollment.resident_id == Resident.id, Enrollment.year == year)
        people = session.execute(select(Resident.id, Resident.village_code, Resident.special_groups)
                                 .where(*conditions, ~has)).all()
        # 其他渠道参保 last year (职工医保, 外地, 学生, 军人) usually still is: carried forward as
        # 待核实 with the channel, not put back on the unpaid list.
        carried: dict[str, str] = dict(session.execute(select(Enrollment.resident_id, Enrollment.other_channel_note).where(
            Enrollment.year == year - 1, Enrollment.deleted.is_(False),
            Enrollment.status == EnrollmentStatus.OTHER_CHANNEL.value)).all())
        to_verify = 0
        verify_ = EnrollmentStatus.TO_VERIFY.value
        existing = session.scalar(select(func.count()).select_from(Resident).where(*conditions, has)) or 0
        total = len(people)
        progress(0, total, "准备新年度记录…")
        # The rules are few and so are the distinct special-group sets: suggest once per set.
        cache: dict[str, tuple[str, int] | None] = {}
        subsidised = partial = 0
        unpaid_ = EnrollmentStatus.UNPAID.value
        subsidised_ = EnrollmentStatus.SUBSIDISED.value
        batches = max(1, -(-total // _NEW_YEAR_CHUNK))
        for number, start in enumerate(range(0, total, _NEW_YEAR_CHUNK), start=1):
            rows = []
            for rid, village, groups in people[start:start + _NEW_YEAR_CHUNK]:
                groups = groups or ""
                if groups not in cache:
                    cache[groups] = suggest_subsidy(rules.rules, groups, premium) if groups else None
                found = cache[groups]
                status, category, subsidy = unpaid_, "", 0
                channel_note, benefit = "", None
                if rid in carried:
                    status, channel_note = verify_, carried[rid] or ""
                    to_verify += 1
                elif found is not None:
                    category, subsidy = found
                    if subsidy >= premium:
                        status, benefit = subsidised_, date(year, 1, 1)
                        subsidised += 1
                    else:
                        partial += 1
                rows.append(dict(resident_id=rid, year=year, village_code=village, status=status,
                                 subsidy_category=category, subsidy_fen=subsidy, paid_fen=0, paid_date=None,
                                 channel="", other_channel_note=channel_note, note="", benefit_start=benefit))
            ws.recorder.bulk_insert(session, Enrollment, rows,
                                    summary=f"开始 {year} 年度参保登记（第 {number}/{batches} 批）")
            progress(min(start + _NEW_YEAR_CHUNK, total), total, "写入新年度记录…")
        progress(total, total, "提交…")
    seconds = time.perf_counter() - started
    logger.info("new year %s: %d records in %.2f s", year, total, seconds)
    return NewYearResult(year, total, subsidised, partial, existing, seconds, to_verify)


def confirm_other_channel(ws: Workspace, actor: Actor, resident_ids: Sequence[str] | None, year: int, *,
                          still_covered: bool = True) -> BulkResult:
    """A clerk's answer for 待核实 records (all in scope when ``resident_ids`` is None): still covered
    elsewhere → 其他渠道参保 with the channel kept; not any more → 未缴费 (on the unpaid list).
    Records in any other status are left alone ("unchanged")."""
    started = time.perf_counter()
    result = BulkResult()
    verify_ = EnrollmentStatus.TO_VERIFY.value
    with ws.unit_of_work(actor, "enrollment_confirm_other_channel") as session:
        if resident_ids is None:
            villages = villages_in_scope(session, actor)
            resident_ids = list(session.scalars(select(Enrollment.resident_id).where(
                Enrollment.year == year, Enrollment.status == verify_, Enrollment.deleted.is_(False),
                in_scope(Enrollment.village_code, villages))))
        states = _load_states(session, year, resident_ids)
        _check_scope(session, actor, states.values())
        planned = []
        for state in states.values():
            record = state.record or {}
            if record.get("status") != verify_:
                result.skipped["unchanged"] = result.skipped.get("unchanged", 0) + 1
                continue
            values = {k: record.get(k) for k in _MANAGED}
            if still_covered:
                values.update(status=EnrollmentStatus.OTHER_CHANNEL.value,
                              other_channel_note=record.get("other_channel_note") or "其他")
            else:
                values.update(status=EnrollmentStatus.UNPAID.value, other_channel_note="")
            planned.append((state, values))
        what = "其他渠道参保" if still_covered else "未缴费"
        _apply_bulk(ws, session, year, planned, f"待核实确认为{what}（{year} 年度）", result)
    result.seconds = time.perf_counter() - started
    return result


# ================================================================================= the unpaid list


@dataclass
class UnpaidMember:
    resident_id: str
    name: str
    relation: str
    sex: str
    age: int | None
    phone: str
    groups: str
    status: str
    due_fen: int | None
    subsidy_category: str


@dataclass
class UnpaidHousehold:
    household_id: str
    household_no: str
    head_name: str
    phone: str
    address: str
    #: Members who still owe, in household order.
    unpaid: list[UnpaidMember]
    #: 在册 members of the household, and how many of them are covered for the year.
    members: int
    covered: int
    #: Seed 000: the old and the young paid, the working-age did not.
    only_old_young_paid: bool

    @property
    def phones(self) -> list[str]:
        seen = [self.phone] if self.phone else []
        for m in self.unpaid:
            if m.phone and m.phone not in seen:
                seen.append(m.phone)
        return seen


@dataclass
class UnpaidGroup:
    village_code: str
    village_name: str
    group_code: str
    group_name: str
    households: list[UnpaidHousehold]

    @property
    def people(self) -> int:
        return sum(len(h.unpaid) for h in self.households)

    @property
    def title(self) -> str:
        return f"{self.village_name} {self.group_name or '未分组'}"


@dataclass
class UnpaidList:
    year: int
    deadline: date | None
    deadline_text: str
    groups: list[UnpaidGroup]

    @property
    def people(self) -> int:
        return sum(g.people for g in self.groups)

    @property
    def households(self) -> int:
        return sum(len(g.households) for g in self.groups)

    @property
    def flagged(self) -> int:
        return sum(1 for g in self.groups for h in g.households if h.only_old_young_paid)


def _is_working_age(age: int | None) -> bool:
    return age is not None and YOUNG_BELOW <= age < OLD_FROM


def unpaid_list(ws: Workspace, actor: Actor, year: int, *, village_code: str | None = None,
                group_code: str | None = None, today: date | None = None) -> UnpaidList:
    """未缴费清单 (汉阴 "清单制"): 在册 residents owing for the year, by village → group → household.

    Owing: 未缴费, or no record yet. Whole households are read (not only who owes), so each one
    shows how many members are covered and whether only its old and young paid (seed 000).
    """
    today = today or date.today()
    unpaid_ = EnrollmentStatus.UNPAID.value
    registered = ResidentStatus.REGISTERED.value
    relation_rank = {r.value: i for i, r in enumerate(Relation)}
    relation_labels = {r.value: r.label for r in Relation}
    sex_labels = {s.value: s.label for s in Sex}
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        if village_code:
            check_village(session, actor, village_code)
        setting = year_setting(session, ws.station.county_code, year) if ws.station else None
        premium = setting.premium_fen if setting else None
        filters = EnrollmentFilters(village_code=village_code, group_code=group_code)
        # One statement, one pass over the residents in scope (each probing its year's record on
        # the (resident_id, year) index): who owes — 未缴费 or no record yet. Then every 在册
        # member of their households (so each shows how many are covered and whether only the
        # old and young paid, seed 000) with the household's own row, streamed, no per-row lookup.
        owing = (select(Resident.household_id.label("household_id"), Resident.id.label("resident_id"))
                 .select_from(Resident).outerjoin(Enrollment, _year_join(year))
                 .where(*_resident_conditions(villages, filters), Resident.status == registered,
                        or_(Enrollment.id.is_(None), Enrollment.status == unpaid_))
                 .cte("owing"))
        owing_households = select(owing.c.household_id).where(owing.c.household_id.is_not(None)).distinct() \
            .subquery("owing_households")
        columns = (Resident.id, Resident.household_id, Resident.village_code, Resident.group_code, Resident.name,
                   Resident.relation, Resident.sex, type_coerce(Resident.birth_date, String).label("birth"),
                   Resident.phone, Resident.special_groups, Enrollment.status, Enrollment.subsidy_fen,
                   Enrollment.subsidy_category, Household.household_no, Household.head_name,
                   Household.phone.label("household_phone"), Household.address,
                   Household.group_code.label("household_group"))
        # Whole households of those who owe, then those who owe without a household (alone).
        members_query = union_all(
            select(*columns).select_from(owing_households)
            .join(Resident, Resident.household_id == owing_households.c.household_id)
            .outerjoin(Enrollment, _year_join(year)).outerjoin(Household, Household.id == Resident.household_id)
            .where(Resident.deleted.is_(False), Resident.status == registered),
            select(*columns).select_from(owing).join(Resident, Resident.id == owing.c.resident_id)
            .outerjoin(Enrollment, _year_join(year)).outerjoin(Household, Household.id == Resident.household_id)
            .where(owing.c.household_id.is_(None)))
        # Rows are unpacked as plain tuples (attribute access on 16,000 rows cost more than the query).
        by_household: dict[str, list[tuple]] = defaultdict(list)
        households: dict[str, tuple] = {}
        for (rid, hid, village, group, name, relation, sex, birth, phone, special, status, subsidy_fen, category,
             household_no, head_name, household_phone, address, household_group) in session.execute(members_query):
            if hid is not None and household_no is not None and hid not in households:
                households[hid] = (household_no, head_name, household_phone, address, household_group)
            by_household[hid or f"solo:{rid}"].append((relation_rank.get(relation, 99), birth or "", rid, village,
                                                       group, name, relation, sex, phone, special, status,
                                                       subsidy_fen, category))
        names = place_names(session)
        orders = dict(session.execute(select(Place.code, Place.sort_order)).all())

    groups: dict[tuple[str, str], UnpaidGroup] = {}
    group_labels: dict[str | None, str] = {}
    status_labels: dict[str | None, str] = {}
    head_ = Relation.HEAD.value
    for key, members in by_household.items():
        members.sort()  # relation order, then the oldest first
        unpaid: list[UnpaidMember] = []
        covered_ages: list[int | None] = []
        head = None
        for _rank, birth, rid, _v, _g, name, relation, sex, phone, special, status, subsidy_fen, category in members:
            if head is None and relation == head_:
                head = (name, phone)
            age = _age_of_iso(birth, today)
            if status is None or status == unpaid_:
                label = group_labels.get(special)
                if label is None:
                    label = group_labels[special] = groups_label(special)
                shown = status_labels.get(status)
                if shown is None:
                    shown = status_labels[status] = status_label(status)
                unpaid.append(UnpaidMember(rid, name, relation_labels.get(relation, relation or ""),
                                           sex_labels.get(sex, sex or ""), age, phone or "", label, shown,
                                           premium - (subsidy_fen or 0) if premium is not None else None,
                                           category or ""))
            elif status in _COVERED:
                covered_ages.append(age)
        if not unpaid:
            continue
        flagged = bool(covered_ages) and not any(_is_working_age(a) for a in covered_ages) and \
            any(_is_working_age(u.age) for u in unpaid)
        first = members[0]
        household_no, head_name, household_phone, address, household_group = households.get(key, ("", "", "", "", None))
        entry = UnpaidHousehold(
            household_id=key if key in households else "", household_no=household_no,
            head_name=head_name or (head[0] if head else first[5]),
            phone=household_phone or (head[1] if head else "") or "", address=address, unpaid=unpaid,
            members=len(members), covered=len(covered_ages), only_old_young_paid=flagged)
        village = first[3] or ""
        group = household_group or first[4] or ""
        bucket = groups.get((village, group))
        if bucket is None:
            bucket = groups[(village, group)] = UnpaidGroup(village, names.get(village, village), group,
                                                            names.get(group, "") if group else "", [])
        bucket.households.append(entry)
    ordered = sorted(groups.values(), key=lambda g: (orders.get(g.village_code, 0), g.village_code,
                                                      orders.get(g.group_code, 0), g.group_code))
    for g in ordered:
        g.households.sort(key=lambda h: (h.household_no, h.head_name))
    return UnpaidList(year, setting.deadline if setting else None,
                      deadline_text(setting.deadline, today) if setting else "", ordered)


# ================================================================================= places for filters


def filter_places(ws: Workspace, actor: Actor) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(village code, name, [(group code, name)]) in scope, in the county's order, for the filters."""
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        station_villages = station_village_codes(session, ws.station)
        codes = [c for c in station_villages if villages is None or c in villages] or sorted(villages or [])
        rows = session.execute(select(Place.code, Place.name, Place.parent_code, Place.level, Place.sort_order)
                               .where(or_(Place.code.in_(codes), Place.parent_code.in_(codes)),
                                      Place.deleted.is_(False))).all()
    village_rows = sorted((r for r in rows if r.level == PlaceLevel.VILLAGE.value), key=lambda r: (r.sort_order, r.code))
    out = []
    for v in village_rows:
        groups = sorted((r for r in rows if r.parent_code == v.code and r.level == PlaceLevel.GROUP.value),
                        key=lambda r: (r.sort_order, r.code))
        out.append((v.code, v.name, [(g.code, g.name) for g in groups]))
    return out
