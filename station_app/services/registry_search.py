"""The resident list (居民档案): search as you type, filters, sorting, the rows a page shows, one household.

List queries run on the narrow ``resident_search`` index (see ``search_index``): the list keeps only
ids in memory and fetches the visible rows a page at a time (``resident_rows``).
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Sequence

from sqlalchemy import and_, case, column, func, literal, literal_column, or_, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from station_app.domain.enums import (
    HARDSHIP_GROUPS,
    EnrollmentStatus,
    HouseholdCategory,
    PlaceLevel,
    Relation,
    ResidentStatus,
    Sex,
    SpecialGroup,
)
from station_app.domain.errors import NotFound, ValidationError
from station_app.store.models import (
    CountyYearSetting,
    Enrollment,
    Household,
    Place,
    Resident,
)

from . import search_index
from .changes import Actor
from .households import ResidentInput
from .overview import current_benefit_year
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


def special_groups_text(codes: str | None) -> str:
    labels = []
    for code in (codes or "").split(","):
        if code:
            labels.append(SpecialGroup.label_for(code))
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
                    "name": r.name, "sex": Sex.label_for(r.sex), "age": age_on(r.birth_date, today),
                    "birth_date": r.birth_date, "id_number": r.id_number, "phone": r.phone,
                    "village": names.get(r.village_code or "", r.village_code or ""),
                    "group": names.get(r.group_code or "", ""), "household_no": r.household_no or "",
                    "head_name": r.head_name or "", "relation": Relation.label_for(r.relation),
                    "special_groups": special_groups_text(groups),
                    "status": ResidentStatus.label_for(r.status) + ("（已作废）" if r.deleted else ""),
                    "status_date": r.status_date,
                    "enrollment": (EnrollmentStatus.label_for(enrolled) if enrolled else
                                   (NOT_RECORDED_LABEL if year else "")),
                    "subsidy_category": r.subsidy_category or "",
                    "household_category": HouseholdCategory.label_for(r.category),
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
        return household_of(session, household, place_names(session), today)


def household_of(session: Session, household: Household, names: dict[str, str], today: date) -> HouseholdView:
    """``household`` (already scope-checked) and its members, read in the caller's session."""
    people = session.scalars(select(Resident).where(Resident.household_id == household.id,
                                                    Resident.deleted.is_(False))).all()
    members = [MemberRow(p.id, p.name, Relation.label_for(p.relation), p.relation, Sex.label_for(p.sex),
                         age_on(p.birth_date, today), p.id_number, p.phone, ResidentStatus.label_for(p.status),
                         p.status, special_groups_text(p.special_groups))
               for p in sorted(people, key=_member_order)]
    return HouseholdView(
        household.id, household.household_no, household.village_code or "",
        names.get(household.village_code or "", ""), household.group_code,
        names.get(household.group_code or "", ""), household.head_name, household.address,
        household.phone, household.category, HouseholdCategory.label_for(household.category),
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
        return ResidentStatus.label_for(self.status)

    def as_input(self) -> ResidentInput:
        return ResidentInput(self.name, self.id_number, self.phone, self.relation, self.special_groups,
                             self.note, self.group_code)


def resident_detail(ws: Workspace, actor: Actor, resident_id: str) -> ResidentDetail:
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        return detail_of(person, place_names(session))


def detail_of(person: Resident, names: dict[str, str]) -> ResidentDetail:
    """``person`` (already scope-checked) as the detail the pages and dialogs show."""
    return ResidentDetail(
        person.id, person.household_id, person.village_code, names.get(person.village_code or "", ""),
        person.group_code, names.get(person.group_code or "", ""), person.name, person.sex,
        person.birth_date, person.id_number, person.phone, person.relation, person.status,
        person.status_date, tuple(g.value for g in SpecialGroup.parse_codes(person.special_groups)),
        person.note)
