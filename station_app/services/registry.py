"""The resident registry (居民档案): list queries and search as you type, households, moves, duplicates, history.

List queries run on the narrow ``resident_search`` index (see ``search_index``): the registry
keeps only ids in memory and fetches the visible rows a page at a time (``resident_rows``).
Writes go through ``ws.unit_of_work`` through ``households`` (validation, duplicates, one head); each
save is one transaction, so nothing is half-saved.
"""

from __future__ import annotations

import io
import json
import os
import re
import unicodedata
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import and_, case, column, func, literal, literal_column, or_, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from station_app.domain.enums import (
    HARDSHIP_GROUPS,
    EnrollmentStatus,
    HouseholdCategory,
    PaymentChannel,
    PlaceLevel,
    Relation,
    ResidentStatus,
    Sex,
    SpecialGroup,
)
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.masking import mask_id
from station_app.store.models import (
    AuditEntry,
    CountyYearSetting,
    Enrollment,
    Household,
    Place,
    Resident,
    User,
)

from . import search_index
from .changes import Actor
from .overview import current_benefit_year
from .households import (  # noqa: F401 - the old names, for callers of registry.*
    HouseholdChoice,
    ResidentInput,
    SimilarResident,
    SimilarResidentsFound,
    add_member,
    find_households,
    move_to_household,
    register_household,
    set_status,
    similar_residents,
    update_household,
    update_resident,
)
from .scope import check_village, place_names, villages_in_scope
from .workspace import Workspace

S = search_index.search_table
_GRAMS = search_index.gram_table
_FTS = table(search_index.FTS, column("rowid"))
_FTS_MATCH = literal_column(search_index.FTS)

Progress = Callable[[int, int, str], None]
_FTS_BY_ENGINE: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()

#: Enrollment filter values besides the EnrollmentStatus codes.
NOT_RECORDED = "none"          # no record for the year (未登记)
#: Special-group filter values besides the SpecialGroup codes.
ANY_HARDSHIP = "hardship"      # 困难群众: any of HARDSHIP_GROUPS
ANY_SPECIAL = "any"            # any special group
NO_SPECIAL = "ordinary"        # none

NOT_RECORDED_LABEL = "未登记"
RELATION_RANK = {r.value: i for i, r in enumerate(Relation)}

# -- search terms -------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_DIGITS = re.compile(r"[0-9]+x?|x[0-9]*", re.ASCII)
_LETTERS = re.compile(r"[a-z]+", re.ASCII)
MIN_DIGITS = 3


@dataclass(frozen=True)
class SearchTerm:
    """What the search box holds, classified: ``kind`` is name / letters / digits / text."""

    kind: str
    value: str
    #: Shown under the box when the term is too short to search (nothing is filtered then).
    hint: str = ""

    @property
    def active(self) -> bool:
        return not self.hint


def parse_search(raw: str | None) -> SearchTerm | None:
    """张 / 张三 → name; zs, zhangs → letters (initials or full pinyin prefix); 1990, 5597 →
    digits (any part of the ID number or phone, from 3 digits). None when empty."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(text.split()).lower().replace("ü", "v")
    if not text:
        return None
    if _CJK.search(text):
        return SearchTerm("name", "".join(ch for ch in text if _CJK.match(ch) or ch == "·") or text)
    if _DIGITS.fullmatch(text):
        if len(text.rstrip("x")) < MIN_DIGITS:
            return SearchTerm("digits", text, hint=f"请至少输入 {MIN_DIGITS} 位数字（身份证号或电话的任意部分）")
        return SearchTerm("digits", text)
    if _LETTERS.fullmatch(text):
        return SearchTerm("letters", text)
    return SearchTerm("text", text)


def _phrase(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _next_prefix(value: str) -> str:
    """The smallest string greater than every string starting with ``value``."""
    return value[:-1] + chr(ord(value[-1]) + 1)


def _fts_rids(query: str):
    return select(_FTS.c.rowid.label("rid")).where(_FTS_MATCH.op("MATCH")(query))


def _match_source(term: SearchTerm, fts: bool):
    """A SELECT of the ``rid`` of every index row matching the term (None: nothing to filter).

    Each kind has its own access path: letters → prefix ranges of the initials and pinyin
    indexes; one or two characters of a name → the name-piece table; three or more
    characters, digits → FTS5 trigram. Without FTS5 the narrow table is scanned.
    """
    if not term.active:
        return None
    value = term.value
    n = S.alias("n")
    if term.kind == "letters":
        upper = _next_prefix(value)
        return select(n.c.rid).where(or_(and_(n.c.initials >= value, n.c.initials < upper),
                                         and_(n.c.pinyin >= value, n.c.pinyin < upper)))
    if term.kind == "name" and len(value) <= 2:
        return select(_GRAMS.c.rid).where(_GRAMS.c.gram == value)
    if term.kind == "name":
        if fts:
            return _fts_rids("name : " + _phrase(value))
        return select(n.c.rid).where(func.instr(n.c.name, value) > 0)
    if term.kind == "digits":
        if fts:
            return _fts_rids("{id_number phone} : " + _phrase(value))
        upper = value.upper()  # ID numbers are stored with a capital X
        return select(n.c.rid).where(or_(func.instr(n.c.id_number, upper) > 0, func.instr(n.c.phone, upper) > 0))
    if fts and len(value) >= 3:
        return _fts_rids(_phrase(value))
    return select(n.c.rid).where(or_(func.instr(n.c.name, value) > 0,
                                     func.instr(n.c.id_number, value.upper()) > 0,
                                     func.instr(n.c.phone, value) > 0))


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryFilter:
    village_code: str | None = None
    group_code: str | None = None
    status: str | None = None               # ResidentStatus code
    special_group: str | None = None        # SpecialGroup code, ANY_HARDSHIP, ANY_SPECIAL, NO_SPECIAL
    enrollment_year: int | None = None
    enrollment_status: str | None = None    # EnrollmentStatus code or NOT_RECORDED
    search: str = ""
    include_deleted: bool = False


_STATUS_ORDER = case({s.value: i for i, s in enumerate(ResidentStatus)}, value=S.c.status, else_=99)
#: The default order, which is also the order of the index resident_search_order.
_HOUSEHOLD_ORDER = (S.c.village_code, S.c.group_code, S.c.household_no, S.c.relation_rank, S.c.birth_date,
                    S.c.resident_id)

#: Sort keys the list accepts (the LazyTableModel's Column.sort_key values).
SORT_KEYS = ("default", "name", "sex", "age", "birth_date", "id_number", "village", "group",
             "household_no", "relation", "phone", "special_groups", "status", "enrollment")


def _unindexed(col):
    """``+col``: the same value, but SQLite will not use an index for it (WHERE or ORDER BY)."""
    return literal_column(f"+{S.name}.{col.name}")


def _order_by(sort_key: str, ascending: bool, *, drive_by_matches: bool = False):
    """ORDER BY terms; ties fall back to the household order (which ends with the unique id).

    ``drive_by_matches``: write the default order so no index can give it, which makes SQLite
    fetch the (few) search matches and sort them instead of walking the whole list in order.
    """
    household = [_unindexed(c) for c in _HOUSEHOLD_ORDER] if drive_by_matches else list(_HOUSEHOLD_ORDER)

    def directed(*terms):
        return [t.asc() if ascending else t.desc() for t in terms]

    if sort_key in ("default", "village", "household_no"):
        return directed(*household)
    if sort_key == "group":
        return directed(S.c.group_code) + household
    if sort_key == "name":
        return directed(S.c.pinyin, S.c.name) + household
    if sort_key == "age":  # youngest first when ascending
        return [S.c.birth_date.desc() if ascending else S.c.birth_date.asc()] + household
    if sort_key == "relation":
        return directed(S.c.relation_rank) + household
    if sort_key == "status":
        return directed(_STATUS_ORDER) + household
    if sort_key == "enrollment":
        rank = case({s.value: i for i, s in enumerate(EnrollmentStatus)}, value=Enrollment.status, else_=99)
        return directed(rank) + household
    if sort_key in ("sex", "birth_date", "id_number", "phone", "special_groups"):
        return directed(S.c[sort_key]) + household
    raise ValidationError(f"不能按“{sort_key}”排序。")


def _special_condition(code: str):
    padded = literal(",") + S.c.special_groups + literal(",")
    if code == ANY_HARDSHIP:
        return or_(*[padded.like(f"%,{g.value},%") for g in sorted(HARDSHIP_GROUPS)])
    if code == ANY_SPECIAL:
        return S.c.special_groups != ""
    if code == NO_SPECIAL:
        return S.c.special_groups == ""
    return padded.like(f"%,{SpecialGroup(code).value},%")


#: A search with more matches than this is "broad" (a surname, one letter, the county's ID
#: prefix): reading the list's covering index in order and keeping the matches is then cheaper
#: than fetching and sorting them. Below it, the matches drive. (bench/bench_registry.py)
BROAD_MATCHES = 8000


def _source_for(filters: RegistryFilter, fts: bool):
    term = parse_search(filters.search)
    return None if term is None else _match_source(term, fts)


def registry_statement(session: Session, actor: Actor, filters: RegistryFilter | None = None,
                       sort_key: str = "default", ascending: bool = True, *, fts: bool | None = None,
                       selective: bool | None = None) -> Select:
    """The SELECT behind ``resident_ids`` (the benchmark runs it raw to compare).

    ``selective``: whether the search term has few matches (see BROAD_MATCHES); by default
    assumed when there is a term.
    """
    filters = filters or RegistryFilter()
    if fts is None:
        fts = search_index.has_fts(session.connection())
    source = _source_for(filters, fts)
    drive = source is not None and (selective is None or selective)
    query = select(S.c.resident_id)
    if not filters.include_deleted:
        # "+deleted" when the matches drive: else SQLite walks the list's index for deleted = 0.
        query = query.where((_unindexed(S.c.deleted) if drive else S.c.deleted) == literal_column("0"))
    allowed = villages_in_scope(session, actor)
    if allowed is not None:
        query = query.where(S.c.village_code.in_(sorted(allowed)))
    if filters.village_code:
        query = query.where(S.c.village_code == filters.village_code)
    if filters.group_code:
        query = query.where(S.c.group_code == filters.group_code)
    if filters.status:
        query = query.where(S.c.status == ResidentStatus(filters.status).value)
    if filters.special_group:
        query = query.where(_special_condition(filters.special_group))
    year = filters.enrollment_year
    if year and filters.enrollment_status:
        live = (Enrollment.year == year, Enrollment.deleted.is_(False))
        if filters.enrollment_status == NOT_RECORDED:
            query = query.where(~select(Enrollment.id).where(
                Enrollment.resident_id == S.c.resident_id, *live).exists())
        else:
            status = EnrollmentStatus(filters.enrollment_status).value
            if drive:  # a few matches: look each one up (unique index on resident_id, year)
                query = query.where(select(Enrollment.id).where(
                    Enrollment.resident_id == S.c.resident_id, Enrollment.status == status, *live).exists())
            else:  # the whole list: one pass over the year's records of that status
                query = query.where(S.c.resident_id.in_(select(Enrollment.resident_id).where(
                    Enrollment.status == status, *live)))
    if source is not None:
        term = parse_search(filters.search)
        if not drive and term is not None and term.kind == "digits":
            # Broad digits ("6109", the county's ID prefix): test each row of the ordered
            # covering index directly, instead of building a list of ~60,000 FTS matches.
            upper = term.value.upper()
            query = query.where(or_(func.instr(S.c.id_number, upper) > 0, func.instr(S.c.phone, upper) > 0))
        else:
            query = query.where(S.c.rid.in_(source))
    if sort_key == "enrollment":
        query = query.outerjoin(Enrollment, and_(Enrollment.resident_id == S.c.resident_id,
                                                 Enrollment.year == (year or 0),
                                                 Enrollment.deleted.is_(False)))
    return query.order_by(*_order_by(sort_key, ascending, drive_by_matches=drive))


def is_selective(session: Session, filters: RegistryFilter, *, fts: bool | None = None) -> bool | None:
    """Whether the search term has at most BROAD_MATCHES matches (None: no term).

    Counting stops at BROAD_MATCHES + 1, so this costs at most that many index steps.
    """
    if fts is None:
        fts = search_index.has_fts(session.connection())
    source = _source_for(filters, fts)
    if source is None:
        return None
    limited = source.limit(BROAD_MATCHES + 1).subquery()
    return (session.scalar(select(func.count()).select_from(limited)) or 0) <= BROAD_MATCHES


def compiled_sql(session: Session, statement) -> tuple[str, list[Any]]:
    """SQL text and positional parameters of a statement, as SQLite receives them."""
    compiled = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    original = {escaped: name for name, escaped in (compiled.escaped_bind_names or {}).items()}
    params = [_sqlite_value(compiled.params[original.get(name, name)]) for name in (compiled.positiontup or [])]
    return str(compiled), params


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite types would bind (only these kinds occur in registry queries)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _fetch_ids(session: Session, statement) -> list[str]:
    # 60,000 ids through SQLAlchemy's result machinery cost ~90 ms more than through the
    # DB-API cursor; the statement is still built and compiled by SQLAlchemy.
    sql, params = compiled_sql(session, statement)
    cursor = session.connection().connection.driver_connection.execute(sql, params)
    return [row[0] for row in cursor.fetchall()]


def prepare_index(ws: Workspace) -> None:
    """Make the search index whole and current (cheap when it is; see search_index)."""
    search_index.ensure(ws.engine)
    search_index.refresh(ws.engine)


def resident_ids(ws: Workspace, actor: Actor, filters: RegistryFilter | None = None,
                 sort_key: str = "default", ascending: bool = True) -> list[str]:
    """Ids of the residents the actor may see that match, in list order."""
    prepare_index(ws)
    filters = filters or RegistryFilter()
    with ws.read() as session:
        fts = _fts_enabled(ws, session)
        selective = is_selective(session, filters, fts=fts)
        statement = registry_statement(session, actor, filters, sort_key, ascending, fts=fts,
                                       selective=selective)
        return _fetch_ids(session, statement)


def _fts_enabled(ws: Workspace, session: Session) -> bool:
    cached = _FTS_BY_ENGINE.get(ws.engine)
    if cached is None:
        cached = _FTS_BY_ENGINE[ws.engine] = search_index.has_fts(session.connection())
    return cached


def search_hint(text: str) -> str:
    """The hint to show under the search box for this text ("" when it searches)."""
    term = parse_search(text)
    return term.hint if term else ""


# -- rows for the table -------------------------------------------------------------------------


def _label(enum, code: str | None) -> str:
    if not code:
        return ""
    try:
        return enum(code).label
    except ValueError:
        return code


def special_groups_text(codes: str | None) -> str:
    labels = []
    for code in (codes or "").split(","):
        if code:
            labels.append(_label(SpecialGroup, code))
    return "、".join(labels)


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def default_year(ws: Workspace, session: Session, today: date | None = None) -> int | None:
    """The benefit year the registry shows: the latest whose collection has opened."""
    if ws.station is None:
        return None
    return current_benefit_year(session, ws.station.county_code, today or date.today())


def resident_rows(ws: Workspace, ids: Sequence[str], *, year: int | None = None,
                  today: date | None = None) -> dict[str, dict[str, Any]]:
    """id → display values of the list's columns (plus a few raw codes the page needs)."""
    if not ids:
        return {}
    today = today or date.today()
    enrollment = Enrollment.__table__.alias("e")
    out: dict[str, dict[str, Any]] = {}
    with ws.read() as session:
        names = place_names(session)
        if year is None:
            year = default_year(ws, session, today)
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            query = (select(Resident.id, Resident.name, Resident.sex, Resident.birth_date, Resident.id_number,
                            Resident.phone, Resident.relation, Resident.status, Resident.status_date,
                            Resident.special_groups, Resident.village_code, Resident.group_code,
                            Resident.household_id, Resident.deleted, Household.household_no,
                            Household.head_name, Household.category,
                            enrollment.c.status.label("enrolled"), enrollment.c.subsidy_category)
                     .outerjoin(Household, Household.id == Resident.household_id)
                     .outerjoin(enrollment, and_(enrollment.c.resident_id == Resident.id,
                                                 enrollment.c.year == (year or 0),
                                                 enrollment.c.deleted.is_(False)))
                     .where(Resident.id.in_(chunk)))
            for r in session.execute(query):
                groups = r.special_groups or ""
                enrolled = r.enrolled
                out[r.id] = {
                    "name": r.name, "sex": _label(Sex, r.sex), "age": age_on(r.birth_date, today),
                    "birth_date": r.birth_date, "id_number": r.id_number, "phone": r.phone,
                    "village": names.get(r.village_code or "", r.village_code or ""),
                    "group": names.get(r.group_code or "", ""), "household_no": r.household_no or "",
                    "head_name": r.head_name or "", "relation": _label(Relation, r.relation),
                    "special_groups": special_groups_text(groups),
                    "status": _label(ResidentStatus, r.status) + ("（已作废）" if r.deleted else ""),
                    "status_date": r.status_date,
                    "enrollment": (_label(EnrollmentStatus, enrolled) if enrolled else
                                   (NOT_RECORDED_LABEL if year else "")),
                    "subsidy_category": r.subsidy_category or "",
                    "household_category": _label(HouseholdCategory, r.category),
                    # raw values for the page (selection, buttons, colouring)
                    "household_id": r.household_id, "village_code": r.village_code,
                    "group_code": r.group_code, "status_code": r.status, "enrollment_code": enrolled or "",
                    "hardship": any(g in groups.split(",") for g in HARDSHIP_GROUPS),
                    "year": year,
                }
    return out


# -- choices for the filter bar -----------------------------------------------------------------


@dataclass(frozen=True)
class RegistryChoices:
    villages: list[tuple[str, str]]
    groups: dict[str, list[tuple[str, str]]]
    years: list[int]
    current_year: int | None


def filter_choices(ws: Workspace, actor: Actor, *, today: date | None = None) -> RegistryChoices:
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        query = select(Place.code, Place.name).where(Place.level == PlaceLevel.VILLAGE.value,
                                                     Place.deleted.is_(False))
        if allowed is not None:
            query = query.where(Place.code.in_(sorted(allowed)))
        villages = [(c, n) for c, n in session.execute(query.order_by(Place.sort_order, Place.code))]
        codes = [c for c, _n in villages]
        groups: dict[str, list[tuple[str, str]]] = {c: [] for c in codes}
        for code, name, parent in session.execute(
                select(Place.code, Place.name, Place.parent_code)
                .where(Place.level == PlaceLevel.GROUP.value, Place.parent_code.in_(codes),
                       Place.deleted.is_(False)).order_by(Place.sort_order, Place.code)):
            groups.setdefault(parent, []).append((code, name))
        # The county's years only: DISTINCT over 180,000 enrollment rows would cost ~40 ms.
        years = set(session.scalars(select(CountyYearSetting.year).where(CountyYearSetting.deleted.is_(False))))
        current = default_year(ws, session, today)
    if current is not None:
        years.add(current)
    return RegistryChoices(villages, groups, sorted(years, reverse=True), current)


# -- one resident, one household ----------------------------------------------------------------


@dataclass
class MemberRow:
    id: str
    name: str
    relation: str
    relation_code: str
    sex: str
    age: int | None
    id_number: str
    phone: str
    status: str
    status_code: str
    special_groups: str


@dataclass
class HouseholdView:
    id: str
    household_no: str
    village_code: str
    village: str
    group_code: str | None
    group: str
    head_name: str
    address: str
    phone: str
    category: str
    category_label: str
    category_since: date | None
    helper_name: str
    helper_phone: str
    note: str
    members: list[MemberRow] = field(default_factory=list)


def _member_order(person: Resident) -> tuple:
    return (person.status != ResidentStatus.REGISTERED.value, RELATION_RANK.get(person.relation, 99),
            person.birth_date or date.min)


def household_view(ws: Workspace, actor: Actor, household_id: str, *, today: date | None = None) -> HouseholdView:
    """A household with its members (registered first, head first)."""
    today = today or date.today()
    with ws.read() as session:
        household = session.get(Household, household_id)
        if household is None or household.deleted:
            raise NotFound("找不到该户。")
        check_village(session, actor, household.village_code)
        names = place_names(session)
        people = session.scalars(select(Resident).where(Resident.household_id == household_id,
                                                        Resident.deleted.is_(False))).all()
        members = [MemberRow(p.id, p.name, _label(Relation, p.relation), p.relation, _label(Sex, p.sex),
                             age_on(p.birth_date, today), p.id_number, p.phone, _label(ResidentStatus, p.status),
                             p.status, special_groups_text(p.special_groups))
                   for p in sorted(people, key=_member_order)]
        return HouseholdView(
            household.id, household.household_no, household.village_code or "",
            names.get(household.village_code or "", ""), household.group_code,
            names.get(household.group_code or "", ""), household.head_name, household.address,
            household.phone, household.category, _label(HouseholdCategory, household.category),
            household.category_since, household.helper_name, household.helper_phone, household.note, members)


@dataclass
class ResidentDetail:
    id: str
    household_id: str | None
    village_code: str | None
    village: str
    group_code: str | None
    group: str
    name: str
    sex: str
    birth_date: date
    id_number: str
    phone: str
    relation: str
    status: str
    status_date: date | None
    special_groups: tuple[str, ...]
    note: str

    @property
    def status_label(self) -> str:
        return _label(ResidentStatus, self.status)

    def as_input(self) -> ResidentInput:
        return ResidentInput(self.name, self.id_number, self.phone, self.relation, self.special_groups,
                             self.note, self.group_code)


def resident_detail(ws: Workspace, actor: Actor, resident_id: str) -> ResidentDetail:
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        names = place_names(session)
        return ResidentDetail(
            person.id, person.household_id, person.village_code, names.get(person.village_code or "", ""),
            person.group_code, names.get(person.group_code or "", ""), person.name, person.sex,
            person.birth_date, person.id_number, person.phone, person.relation, person.status,
            person.status_date, tuple(g.value for g in SpecialGroup.parse_codes(person.special_groups)),
            person.note)




# -- duplicate scan -----------------------------------------------------------------------------


@dataclass
class DuplicateMember:
    id: str
    name: str
    sex: str
    birth_date: date
    id_number: str
    village: str
    group: str
    household_no: str
    status: str


@dataclass
class DuplicateGroup:
    kind: str          # "id_number" | "name_birth"
    key: str           # what they share, as shown
    members: list[DuplicateMember]

    @property
    def kind_label(self) -> str:
        return "身份证号相同" if self.kind == "id_number" else "姓名和出生日期相同"


def _quiet(_done: int, _total: int, _message: str = "") -> None:
    pass


def duplicate_scan(ws: Workspace, actor: Actor, progress: Progress | None = None) -> list[DuplicateGroup]:
    """Suspected duplicates among the residents the actor may see (not deleted):
    the same ID number (should never be; sync or an import can cause it), then the same name and
    birth date (a typo in the ID number, a person registered in two villages)."""
    progress = progress or _quiet
    total = 3
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        live = [Resident.deleted.is_(False)]
        if allowed is not None:
            live.append(Resident.village_code.in_(sorted(allowed)))
        progress(0, total, "查找身份证号相同的居民")
        same_id = list(session.scalars(select(Resident.id_number).where(*live)
                                       .group_by(Resident.id_number).having(func.count() > 1)))
        progress(1, total, "查找姓名和出生日期相同的居民")
        same_name = session.execute(select(Resident.name, Resident.birth_date).where(*live)
                                    .group_by(Resident.name, Resident.birth_date).having(func.count() > 1)).all()
        progress(2, total, "整理结果")
        names = place_names(session)

        def members(condition) -> list[DuplicateMember]:
            rows = session.execute(select(Resident, Household.household_no)
                                   .outerjoin(Household, Household.id == Resident.household_id)
                                   .where(condition, *live).order_by(Resident.village_code, Resident.id)).all()
            return [DuplicateMember(p.id, p.name, _label(Sex, p.sex), p.birth_date, p.id_number,
                                    names.get(p.village_code or "", ""), names.get(p.group_code or "", ""),
                                    no or "", _label(ResidentStatus, p.status)) for p, no in rows]

        groups: list[DuplicateGroup] = []
        seen: set[frozenset[str]] = set()
        for number in same_id:
            group = DuplicateGroup("id_number", mask_id(number), members(Resident.id_number == number))
            seen.add(frozenset(m.id for m in group.members))
            groups.append(group)
        for name, birth in same_name:
            group = DuplicateGroup("name_birth", f"{name}　{birth.isoformat()}",
                                   members(and_(Resident.name == name, Resident.birth_date == birth)))
            if frozenset(m.id for m in group.members) not in seen:
                groups.append(group)
    progress(total, total, f"查重完成：{len(groups)} 组疑似重复")
    return groups


# -- history ------------------------------------------------------------------------------------

_HIDDEN_FIELDS = frozenset({"id", "updated_hlc", "row_version", "name_pinyin", "name_initials",
                            "resident_id"})
_FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "联系电话", "relation": "与户主关系", "status": "状态",
    "status_date": "状态日期", "special_groups": "人员类别", "group_code": "村民小组", "household_id": "所在户",
    "village_code": "村", "note": "备注", "sex": "性别", "birth_date": "出生日期", "deleted": "已作废",
    "year": "年度", "paid_fen": "实缴金额", "subsidy_fen": "资助金额", "subsidy_category": "资助类别",
    "paid_date": "缴费日期", "channel": "缴费渠道", "other_channel_note": "其他参保渠道",
}
_ACTION_LABELS = {
    "insert": "新增", "update": "修改", "delete": "作废", "register_household": "登记新户",
    "add_resident": "添加成员", "update_resident": "修改信息", "move_resident": "迁户",
    "resident_died": "标记死亡", "resident_moved_out": "标记迁出", "resident_registered": "恢复在册",
    "import_roster": "导入花名册", "update_household": "修改户信息",
}


@dataclass(frozen=True)
class HistoryChange:
    field: str
    label: str
    before: str
    after: str

    @property
    def text(self) -> str:
        if not self.before:
            return f"{self.label}：{self.after or '（空）'}"
        return f"{self.label}：{self.before} → {self.after or '（空）'}"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime          # local time
    username: str
    who: str
    action: str
    subject: str          # 居民 / 2026 年度参保
    changes: tuple[HistoryChange, ...]
    summary: str = ""

    @property
    def detail(self) -> str:
        return self.summary or "；".join(c.text for c in self.changes)


def _loads(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _local(at: datetime) -> datetime:
    """The audit stores UTC; the clerk reads local time."""
    return at.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


def _show_value(table_name: str, field_name: str, value: Any, names: dict[str, str],
                households: dict[str, str]) -> str:
    if value is None or value == "":
        return ""
    if field_name == "id_number":
        return mask_id(str(value))  # masked when written; masked again for rows of older versions
    if field_name == "relation":
        return _label(Relation, value)
    if field_name == "sex":
        return _label(Sex, value)
    if field_name == "status":
        return _label(ResidentStatus if table_name == "resident" else EnrollmentStatus, value)
    if field_name == "special_groups":
        return special_groups_text(value)
    if field_name in ("group_code", "village_code"):
        return names.get(value, value)
    if field_name == "household_id":
        return f"户号 {households.get(value, '（已不存在）')}"
    if field_name == "channel":
        return _label(PaymentChannel, value)
    if field_name.endswith("_fen"):
        return f"{int(value) / 100:.2f} 元"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def resident_history(ws: Workspace, resident_id: str, actor: Actor | None = None) -> list[HistoryEntry]:
    """Who changed what and when for a resident and their enrollment records, newest first.

    From the audit log, with Chinese field names and labels; ID numbers stay masked as the
    audit stores them. Rows loaded in bulk (demo, roster import) have one summary entry per
    batch, not per person, so their history starts at the first change made here.
    """
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        if person is None:
            raise NotFound("找不到该居民。")
        if actor is not None:
            check_village(session, actor, person.village_code)
        enrollment_years = dict(session.execute(
            select(Enrollment.id, Enrollment.year).where(Enrollment.resident_id == resident_id)).all())
        entries = session.scalars(
            select(AuditEntry).where(or_(
                and_(AuditEntry.table_name == "resident", AuditEntry.row_id == resident_id),
                and_(AuditEntry.table_name == "enrollment", AuditEntry.row_id.in_(list(enrollment_years) or [""]))))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()
        usernames = {e.username for e in entries}
        who = dict(session.execute(select(User.username, User.display_name)
                                   .where(User.username.in_(usernames))).all()) if usernames else {}
        household_ids: set[str] = set()
        for e in entries:
            for payload in (_loads(e.before_json), _loads(e.after_json)):
                if payload.get("household_id"):
                    household_ids.add(payload["household_id"])
        households = dict(session.execute(select(Household.id, Household.household_no)
                                          .where(Household.id.in_(household_ids))).all()) if household_ids else {}
        names = place_names(session)
    out: list[HistoryEntry] = []
    for e in entries:
        before, after = _loads(e.before_json), _loads(e.after_json)
        changes = []
        for key in sorted(set(before) | set(after), key=lambda k: list(_FIELD_LABELS).index(k)
                          if k in _FIELD_LABELS else 99):
            if key in _HIDDEN_FIELDS:
                continue
            old = _show_value(e.table_name, key, before.get(key), names, households)
            new = _show_value(e.table_name, key, after.get(key), names, households)
            if old == new:
                continue
            changes.append(HistoryChange(key, _FIELD_LABELS.get(key, key), old, new))
        subject = "居民信息" if e.table_name == "resident" else f"{enrollment_years.get(e.row_id, '')} 年度参保"
        action = _ACTION_LABELS.get(e.action, e.action)
        display = who.get(e.username, "")
        out.append(HistoryEntry(_local(e.at), e.username,
                                f"{display}（{e.username}）" if display and display != e.username else e.username,
                                action, subject, tuple(changes), e.summary or ""))
    return out


# -- export of the list as shown ----------------------------------------------------------------

EXPORT_COLUMNS = (
    ("序号", 7), ("村", 12), ("村民小组", 9), ("户编号", 13), ("户主姓名", 10), ("与户主关系", 10),
    ("姓名", 10), ("性别", 6), ("出生日期", 12), ("身份证号", 21), ("联系电话", 14), ("人员类别", 18),
    ("状态", 7), ("参保状态", 12),
)


@dataclass
class ListExport:
    path: Path
    rows: int


def export_list(ws: Workspace, actor: Actor, ids: Sequence[str], out: str | Path, *, title: str = "居民花名册",
                filters_text: str = "", year: int | None = None, progress: Progress | None = None,
                password: str | None = None) -> ListExport:
    """The list as filtered and sorted on screen, to xlsx (the ID number as text, never 1.1E+17).

    With a password (or one set in ``export_protection.export_password``) the file is encrypted;
    the export is audited either way."""
    from . import export_protection
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    progress = progress or _quiet
    ids = list(ids)
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("居民")
    for i, (_title, width) in enumerate(EXPORT_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    last = get_column_letter(len(EXPORT_COLUMNS))
    sheet.merged_cells.add(f"A1:{last}1")
    sheet.merged_cells.add(f"A2:{last}2")
    sheet.freeze_panes = "A4"
    head = WriteOnlyCell(sheet, title)
    head.font = Font(bold=True, size=16)
    head.alignment = Alignment(horizontal="center")
    sheet.append([head])
    meta = "　".join(p for p in (filters_text, f"共 {len(ids)} 人", f"导出日期：{date.today():%Y-%m-%d}",
                                 f"导出人：{actor.display_name}") if p)
    sheet.append([meta])
    header = []
    for title_text, _width in EXPORT_COLUMNS:
        cell = WriteOnlyCell(sheet, title_text)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE7F0")
        header.append(cell)
    sheet.append(header)
    progress(0, len(ids), "导出")
    written = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = resident_rows(ws, chunk, year=year)
        for rid in chunk:
            row = rows.get(rid)
            if row is None or (allowed is not None and row["village_code"] not in allowed):
                continue
            written += 1
            id_cell = WriteOnlyCell(sheet, row["id_number"])
            id_cell.number_format = "@"
            birth = WriteOnlyCell(sheet, row["birth_date"])
            birth.number_format = "yyyy-mm-dd"
            sheet.append([written, row["village"], row["group"], row["household_no"], row["head_name"],
                          row["relation"], row["name"], row["sex"], birth, id_cell, row["phone"],
                          row["special_groups"], row["status"], row["enrollment"]])
        progress(min(start + len(chunk), len(ids)), len(ids), "导出")
    path = Path(out)
    if path.suffix.lower() != ".xlsx":
        path = path.with_suffix(".xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    password = password if password is not None else export_protection.export_password.get()
    try:
        if password:  # built in memory: the plain workbook never touches the disk
            buffer = io.BytesIO()
            workbook.save(buffer)
            temporary = path.with_name(f".{path.name}.part")
            export_protection.write_protected(buffer, temporary, password)
            os.replace(temporary, path)
        else:
            workbook.save(path)
    except PermissionError as error:
        raise ValidationError(f"无法写入文件（是否正在 Excel 中打开？）：{path}") from error
    export_protection.record_export(ws, actor, title, written, path, protected=bool(password), full_ids=True)
    progress(len(ids), len(ids), "导出完成")
    return ListExport(path, written)


__all__ = [
    "ANY_HARDSHIP", "ANY_SPECIAL", "NOT_RECORDED", "NO_SPECIAL", "SORT_KEYS", "DuplicateGroup",
    "HistoryEntry", "HouseholdChoice", "HouseholdView", "RegistryChoices",
    "RegistryFilter", "ResidentDetail", "ResidentInput", "SearchTerm", "SimilarResidentsFound",
    "add_member", "duplicate_scan", "export_list", "filter_choices", "find_households",
    "household_view", "move_to_household", "parse_search", "prepare_index", "register_household",
    "registry_statement", "resident_detail", "resident_history", "resident_ids", "resident_rows",
    "search_hint", "set_status", "similar_residents", "update_household", "update_resident",
]
