"""What each notice says: rows built from the database through a read session, already masked.

Nothing here draws. Personal values pass through ``MaskingPolicy`` before they become a cell,
so a ``NoticeDocument`` (which is also what the archive stores as ``data_json``) never holds a
clear name or ID number while masking is on. Free-text diagnoses are never selected at all:
the chronic notice shows the catalogue's category (or name, by setting) only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from station_app.domain.enums import (
    AssistanceStatus,
    CardStatus,
    EnrollmentStatus,
    HospitalLevel,
    NoticeKind,
    PlaceLevel,
    Relation,
    ResidentStatus,
    SpecialGroup,
)
from station_app.domain import money
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.kpi import enrollment_rate
from station_app.domain.masking import MaskingPolicy
from station_app.store.models import (
    AssistanceCase,
    AssistanceType,
    CardUsage,
    ChronicCard,
    CountyYearSetting,
    Disease,
    Enrollment,
    Household,
    Place,
    Policy,
    ReimbursementRate,
    Resident,
    SubsidyRule,
)

#: Paper choices: code → label. A3 is for the village board; A4 landscape fits the wide lists.
PAPERS: dict[str, str] = {
    "A4": "A4 纵向",
    "A4L": "A4 横向",
    "A3": "A3 纵向（公示栏）",
    "A3L": "A3 横向（公示栏）",
}
#: What the chronic and assistance notices say about disease and hardship (minimum necessary
#: disclosure, PIPL art. 6 and 28: health data is sensitive personal information). ``none`` (the
#: default) prints 「已办卡」/「已救助」 and dates only; ``category`` adds the catalogue category and
#: the assistance subject category and type; ``disease`` prints the catalogue disease name.
#: Free-text diagnoses are never printed whatever the setting.
DISCLOSURE: dict[str, str] = {
    "none": "不公示病种和困难类别（只公示已办卡及日期）",
    "category": "公示病种类别和救助对象类别",
    "disease": "公示病种名称和救助对象类别",
}
DEFAULT_DISCLOSURE = "none"
#: Older setting values (the chronic column only) → the disclosure they meant.
LEGACY_DISCLOSURE = {"hidden": "none", "name": "disease"}
#: How an enrollment notice is laid out: the compact roster (default), the summary by group plus
#: the exceptions, or the old wide table with every field.
LAYOUTS: dict[str, str] = {
    "roster": "紧凑名单（组、姓名、身份证号、状态，多栏）",
    "summary": "汇总+变动（各组汇总，只列未缴、新参保、停保）",
    "detail": "详细名单（全部字段，一人一行）",
}
DEFAULT_LAYOUT = "roster"
DEFAULT_PERIOD_DAYS = 7
#: 公示期 of at least 5 working days is usual (DOMAIN_FACTS_zh.md: 公示 5–7 天); 30 is a generous cap.
MAX_PERIOD_DAYS = 30
#: Shown in place of an empty value, so a blank cell is never mistaken for a missing print.
EMPTY = "—"
CHRONIC_FALLBACK_CATEGORY = "门诊慢特病"
ORDINARY_RESIDENT = "普通居民"
NOT_REGISTERED = "未登记"

KIND_CODES = tuple(k.value for k in NoticeKind)


class NoticeEmpty(ValidationError):
    """The year has no records of this kind (or the county has not published it): refused by default."""


# --------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class Column:
    title: str
    align: str = "center"  # left | center | right
    #: Keep on one line (ID numbers, amounts, dates): the layout gives it its full width.
    nowrap: bool = False


@dataclass
class PolicySection:
    title: str
    body: str
    category: str = ""
    doc_no: str = ""


@dataclass
class NoticeDocument:
    """Everything printed on one notice; masked already. JSON round-trips through ``to_dict``."""

    kind: str
    title: str
    county_name: str
    township_name: str
    village_code: str
    village_name: str
    group_code: str | None
    group_name: str
    year: int
    period_start: date
    period_end: date
    supervision_phone: str
    issuer: str
    issue_date: date
    intro: str = ""
    columns: list[Column] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    highlights: list[tuple[str, str]] = field(default_factory=list)  # policy: (label, value)
    sections: list[PolicySection] = field(default_factory=list)  # policy texts
    masking: dict[str, Any] = field(default_factory=dict)
    #: roster | summary | detail (see LAYOUTS); ``roster`` draws ``rows`` in narrow side-by-side columns.
    layout: str = "detail"
    #: Extra tables after the main one (the 汇总+变动 form): each {"title", "columns", "rows", "layout"}.
    blocks: list[dict[str, Any]] = field(default_factory=list)
    #: True when the notice says on purpose that the year has nothing to publish (--allow-empty).
    empty: bool = False
    #: False for a working list printed in the same style (未缴清单): no 公示期, objections or seal.
    is_notice: bool = True

    @property
    def kind_label(self) -> str:
        return NoticeKind(self.kind).label

    @property
    def place_text(self) -> str:
        """群英村一组 / 群英村."""
        return f"{self.village_name}{self.group_name}"

    @property
    def scope_text(self) -> str:
        """汉阴县漩涡镇群英村一组."""
        return f"{self.county_name}{self.township_name}{self.place_text}"

    @property
    def period_days(self) -> int:
        return (self.period_end - self.period_start).days + 1

    @property
    def is_table(self) -> bool:
        return self.kind != NoticeKind.POLICY.value

    def period_text(self) -> str:
        return f"{cn_date(self.period_start)}至{cn_date(self.period_end)}（共{self.period_days}天）"

    def objection_text(self) -> str:
        return f"如有异议，请在公示期内向{self.issuer}反映。"

    def all_text(self) -> str:
        """Every string the notice prints (tests and the masking check look at this)."""
        parts = [self.title, self.scope_text, self.intro, self.summary, self.period_text(),
                 self.objection_text(), self.issuer, self.supervision_phone, *self.notes]
        parts += [c.title for c in self.columns]
        parts += [cell for row in self.rows for cell in row]
        parts += [f"{a} {b}" for a, b in self.highlights]
        parts += [f"{s.title} {s.body} {s.doc_no}" for s in self.sections]
        for block in self.blocks:
            parts.append(block.get("title", ""))
            parts += [c.title if isinstance(c, Column) else c["title"] for c in block.get("columns", [])]
            parts += [cell for row in block.get("rows", []) for cell in row]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict: that deep-copies 30,000 cells one by one.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for key in ("period_start", "period_end", "issue_date"):
            data[key] = data[key].isoformat()
        data["columns"] = [asdict(c) for c in self.columns]
        data["rows"] = [list(row) for row in self.rows]
        data["notes"] = list(self.notes)
        data["highlights"] = [list(h) for h in self.highlights]
        data["sections"] = [asdict(s) for s in self.sections]
        data["masking"] = dict(self.masking)
        data["blocks"] = [{**b, "columns": [asdict(c) if isinstance(c, Column) else dict(c) for c in b["columns"]],
                           "rows": [list(r) for r in b["rows"]]} for b in self.blocks]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NoticeDocument":
        data = dict(data)
        for key in ("period_start", "period_end", "issue_date"):
            data[key] = date.fromisoformat(data[key])
        data["columns"] = [Column(**c) for c in data.get("columns", [])]
        data["sections"] = [PolicySection(**s) for s in data.get("sections", [])]
        data["highlights"] = [tuple(h) for h in data.get("highlights", [])]
        data["blocks"] = [{**b, "columns": [Column(**c) for c in b["columns"]]} for b in data.get("blocks", [])]
        return cls(**data)


@dataclass(frozen=True)
class NoticeParams:
    """What the clerk chose, plus the station's settings that shape the notice."""

    kind: str
    village_code: str
    year: int
    group_code: str | None = None
    period_start: date | None = None
    period_days: int = DEFAULT_PERIOD_DAYS
    supervision_phone: str = ""
    issuer: str = ""
    masking: MaskingPolicy = MaskingPolicy()
    disclosure: str = DEFAULT_DISCLOSURE
    issue_date: date | None = None
    layout: str = DEFAULT_LAYOUT
    #: Print an 「本年度无…」 notice instead of refusing a year with nothing to publish.
    allow_empty: bool = False

    def checked(self) -> "NoticeParams":
        if self.kind not in KIND_CODES:
            raise ValidationError(f"未知的公示类型：{self.kind}", field="kind")
        if not 2000 <= int(self.year) <= 2100:
            raise ValidationError("年度无效。", field="year")
        if not 1 <= int(self.period_days) <= MAX_PERIOD_DAYS:
            raise ValidationError(f"公示期应为 1 至 {MAX_PERIOD_DAYS} 天。", field="period_days")
        if self.disclosure not in DISCLOSURE:
            raise ValidationError(f"病种和困难类别公示方式无效：{self.disclosure}（可选 none、category、disease）。",
                                  field="disclosure")
        if self.layout not in LAYOUTS:
            raise ValidationError(f"版式无效：{self.layout}（可选 {'、'.join(LAYOUTS)}）。", field="layout")
        return self


# --------------------------------------------------------------------------- small helpers


def cn_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else EMPTY


def iso_date(d: date | None) -> str:
    return d.isoformat() if d else EMPTY


def yuan(fen: int | None) -> str:
    """A notice shows 0.00 for no amount."""
    return money.yuan(fen or 0, thousands=True)


def special_group_text(codes: str | None) -> str:
    return "、".join(_lenient_groups(codes)) or ORDINARY_RESIDENT


def _lenient_groups(codes: str | None) -> list[str]:
    out = []
    for code in (codes or "").split(","):
        if code:
            try:
                out.append(SpecialGroup(code).label)
            except ValueError:
                continue  # a code from a newer county catalogue: not printed rather than guessed
    return out


def masking_note(policy: MaskingPolicy) -> str:
    if not policy.enabled:
        return ""
    ids = "身份证号已隐藏" if policy.id_mode == "hidden" else "身份证号仅显示前6位和后4位"
    return f"注：为保护个人隐私，姓名已作部分隐藏，{ids}。"


# --------------------------------------------------------------------------- records → rows (pure)

#: How a person who has since died or moved away is marked on the year's notice (they were
#: enrolled / held a card / were helped in that year, so they stay on it: "as of the year").
SINCE_MARK = {ResidentStatus.DIED.value: "（已故）", ResidentStatus.MOVED_OUT.value: "（迁出）"}
#: The same in the narrow roster, explained under it (ROSTER_MARK_NOTE).
SHORT_MARK = {ResidentStatus.DIED.value: "※", ResidentStatus.MOVED_OUT.value: "△"}
ROSTER_MARK_NOTE = "状态后标 ※ 的已故、标 △ 的已迁出，按该年度记录公示。"
SINCE_NOTE = "标注（已故）（迁出）的，按该年度记录公示。"


def since_mark(resident_status: str | None, short: bool = False) -> str:
    return (SHORT_MARK if short else SINCE_MARK).get(resident_status or "", "")


@dataclass(frozen=True)
class EnrollmentRecord:
    group_name: str
    household_no: str
    head_name: str
    name: str
    relation: str
    id_number: str
    special_groups: str
    status: str | None  # EnrollmentStatus code, None when no enrollment row exists for the year
    subsidy_category: str
    paid_fen: int
    subsidy_fen: int
    resident_status: str = ResidentStatus.REGISTERED.value
    #: EnrollmentStatus of the year before (None: no record); the 汇总+变动 form uses it.
    previous: str | None = None


ENROLLMENT_COLUMNS = [
    Column("序号", "center", True), Column("村民小组", "center"), Column("户主姓名", "center"),
    Column("姓名", "center"), Column("与户主\n关系", "center"), Column("身份证号", "center", True),
    Column("人员类别", "center"), Column("资助类别", "center"), Column("个人缴费\n(元)", "right", True),
    Column("资助金额\n(元)", "right", True), Column("缴费状态", "center"),
]
#: The compact roster: four narrow columns, drawn side by side two or three times a page.
ROSTER_COLUMNS = [Column("组", "center", True), Column("姓名", "center", True),
                  Column("身份证号", "center", True), Column("状态", "center", True)]

#: Short status words for the compact forms (one line in a narrow column).
SHORT_STATUS = {"paid": "已缴费", "unpaid": "未缴费", "subsidised": "资助参保", "other_channel": "其他渠道",
                "not_required": "无需参保"}


def enrollment_status_text(r: EnrollmentRecord, short: bool = False) -> str:
    if not r.status:
        text = NOT_REGISTERED
    elif short:
        text = SHORT_STATUS.get(r.status, r.status)
    else:
        text = EnrollmentStatus.label_for(r.status, NOT_REGISTERED)
    return text + since_mark(r.resident_status, short)


def enrollment_rows(records: Iterable[EnrollmentRecord], policy: MaskingPolicy) -> list[list[str]]:
    rows = []
    for n, r in enumerate(records, 1):
        rows.append([
            str(n), r.group_name or EMPTY, policy.name(r.head_name) or EMPTY, policy.name(r.name),
            Relation.label_for(r.relation, EMPTY), policy.id_number(r.id_number),
            special_group_text(r.special_groups), r.subsidy_category or EMPTY,
            yuan(r.paid_fen) if r.paid_fen else EMPTY, yuan(r.subsidy_fen) if r.subsidy_fen else EMPTY,
            enrollment_status_text(r),
        ])
    return rows


def roster_rows(records: Iterable[EnrollmentRecord], policy: MaskingPolicy) -> list[list[str]]:
    """组, 姓名, masked ID, 状态: the compact roster (also what the 未缴清单 printout uses)."""
    return [[r.group_name or EMPTY, policy.name(r.name), policy.id_number(r.id_number),
             enrollment_status_text(r, short=True)] for r in records]


def _covered(status: str | None) -> bool:
    try:
        return bool(status) and EnrollmentStatus(status).is_covered
    except ValueError:
        return False


def enrollment_changes(records: Sequence[EnrollmentRecord]) -> dict[str, list[EnrollmentRecord]]:
    """The exceptions of the 汇总+变动 form: 未缴 (this year), 新参保 (covered now, not last year),
    停保 (covered last year, neither covered nor 未缴 this year)."""
    unpaid = [r for r in records if r.status in (None, EnrollmentStatus.UNPAID.value)]
    new = [r for r in records if _covered(r.status) and not _covered(r.previous)]
    stopped = [r for r in records if _covered(r.previous) and not _covered(r.status)
               and r.status not in (None, EnrollmentStatus.UNPAID.value)]
    return {"未缴费": unpaid, "新参保": new, "停保": stopped}


@dataclass(frozen=True)
class ChronicRecord:
    group_name: str
    name: str
    id_number: str
    disease_name: str
    disease_category: str
    status: str  # CardStatus code
    assessed_date: date | None
    issued_date: date | None
    benefit_start: date | None
    months_used: int
    resident_status: str = ResidentStatus.REGISTERED.value
    #: Set when the card was cancelled within the year (a card cancelled later is still in force then).
    cancelled_date: date | None = None


def chronic_columns(disclosure: str) -> list[Column]:
    disclosure = LEGACY_DISCLOSURE.get(disclosure, disclosure)
    cols = [Column("序号", "center", True), Column("村民小组", "center"), Column("姓名", "center"),
            Column("身份证号", "center", True)]
    if disclosure == "category":
        cols.append(Column("病种类别", "center"))
    elif disclosure == "disease":
        cols.append(Column("病种", "center"))
    cols += [Column("办卡日期", "center", True), Column("待遇起始\n日期", "center", True),
             Column("办理状态", "center")]
    if disclosure != "none":
        cols.append(Column("本年用卡\n(月数)", "center", True))
    return cols


def chronic_status_text(status: str, issued_date: date | None, year: int,
                        cancelled_date: date | None = None) -> str:
    if cancelled_date is not None and cancelled_date.year == year:
        return f"{cancelled_date.month}月注销"
    if status in (CardStatus.ISSUED.value, CardStatus.CANCELLED.value):
        return "新办卡" if issued_date and issued_date.year == year else "已办卡"
    if status == CardStatus.ASSESSED.value:
        return "已认定待发卡"
    if status == CardStatus.APPLIED.value:
        return "申请待认定"
    return CardStatus.label_for(status, EMPTY)


def chronic_rows(records: Iterable[ChronicRecord], policy: MaskingPolicy, disclosure: str,
                 year: int) -> list[list[str]]:
    disclosure = LEGACY_DISCLOSURE.get(disclosure, disclosure)
    rows = []
    for n, r in enumerate(records, 1):
        row = [str(n), r.group_name or EMPTY, policy.name(r.name), policy.id_number(r.id_number)]
        if disclosure == "category":
            row.append(r.disease_category or CHRONIC_FALLBACK_CATEGORY)
        elif disclosure == "disease":
            row.append(r.disease_name or CHRONIC_FALLBACK_CATEGORY)
        row += [iso_date(r.issued_date), iso_date(r.benefit_start),
                chronic_status_text(r.status, r.issued_date, year, r.cancelled_date) + since_mark(r.resident_status)]
        if disclosure != "none":
            row.append(str(r.months_used) if r.issued_date else EMPTY)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class AssistanceRecord:
    group_name: str
    name: str
    id_number: str
    subject_category: str
    type_name: str
    assistance_fen: int
    paid_date: date | None
    resident_status: str = ResidentStatus.REGISTERED.value


ASSISTANCE_COLUMNS = [
    Column("序号", "center", True), Column("村民小组", "center"), Column("姓名", "center"),
    Column("身份证号", "center", True), Column("救助对象\n类别", "center"), Column("救助类型", "center"),
    Column("救助金额\n(元)", "right", True), Column("发放日期", "center", True),
]
#: Under ``none`` the board shows that someone was helped, how much and when — not why.
ASSISTANCE_COLUMNS_NONE = [
    Column("序号", "center", True), Column("村民小组", "center"), Column("姓名", "center"),
    Column("身份证号", "center", True), Column("救助金额\n(元)", "right", True),
    Column("发放日期", "center", True),
]


def assistance_columns(disclosure: str) -> list[Column]:
    disclosure = LEGACY_DISCLOSURE.get(disclosure, disclosure)
    return list(ASSISTANCE_COLUMNS_NONE if disclosure == "none" else ASSISTANCE_COLUMNS)


def assistance_rows(records: Iterable[AssistanceRecord], policy: MaskingPolicy,
                    disclosure: str = "category") -> list[list[str]]:
    disclosure = LEGACY_DISCLOSURE.get(disclosure, disclosure)
    rows = []
    for n, r in enumerate(records, 1):
        name = policy.name(r.name) + since_mark(r.resident_status)
        if disclosure == "none":
            rows.append([str(n), r.group_name or EMPTY, name, policy.id_number(r.id_number),
                         yuan(r.assistance_fen), iso_date(r.paid_date)])
        else:
            rows.append([str(n), r.group_name or EMPTY, name, policy.id_number(r.id_number),
                         r.subject_category or EMPTY, r.type_name or EMPTY, yuan(r.assistance_fen),
                         iso_date(r.paid_date)])
    return rows


# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class PlaceNames:
    county: str
    township: str
    village: str
    group: str
    county_code: str


def _place(session: Session, code: str | None) -> Place | None:
    if not code:
        return None
    return session.scalar(select(Place).where(Place.code == code, Place.deleted.is_(False)))


def place_names(session: Session, village_code: str, group_code: str | None) -> PlaceNames:
    village = _place(session, village_code)
    if village is None or village.level != PlaceLevel.VILLAGE.value:
        raise NotFound(f"找不到行政村：{village_code}")
    group_name = ""
    if group_code:
        group = _place(session, group_code)
        if group is None or group.parent_code != village_code:
            raise ValidationError("村民小组不属于该村。", field="group_code")
        group_name = group.name
    township = _place(session, village.parent_code)
    county = _place(session, township.parent_code if township else None)
    return PlaceNames(county.name if county else "", township.name if township else "",
                      village.name, group_name, county.code if county else "")


def group_names(session: Session, village_code: str) -> dict[str, tuple[int, str]]:
    """group code → (sort order, name) for ordering rows by group."""
    rows = session.execute(select(Place.code, Place.sort_order, Place.name).where(
        Place.parent_code == village_code, Place.level == PlaceLevel.GROUP.value))
    return {code: (order, name) for code, order, name in rows}


def _group_key(groups: dict[str, tuple[int, str]], code: str | None) -> tuple[int, str]:
    order, _name = groups.get(code or "", (1 << 30, ""))
    return order, code or "~"


# --------------------------------------------------------------------------- database → records
#
# "The year" of a notice, one rule for every kind (docs/NOTICES.md): the rows of year Y are the
# records *of* Y, as they stand, whoever has since died or moved away (marked 已故/迁出):
#   enrollment  — the enrollment records for benefit year Y (无需参保 ones are not listed);
#                 while Y is still being collected (Y ≥ the current collection year) people now
#                 在册 without a record for Y are listed as 未登记;
#   chronic     — cards in force at any time in Y (issued on or before 31 Dec Y, not cancelled
#                 before 1 Jan Y), plus applications made in Y still in progress;
#   assistance  — cases decided (paid) in Y.
# A resident row that was deleted (entered in error) is never listed.


def _resident_filter(village_code: str, group_code: str | None):
    clauses = [Resident.village_code == village_code, Resident.deleted.is_(False)]
    if group_code:
        clauses.append(Resident.group_code == group_code)
    return and_(*clauses)


def _year_span(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def collection_year(today: date) -> int:
    """The benefit year being collected: from September the coming one (DOMAIN_FACTS_zh.md:
    集中缴费期 9–12 月 for the next year)."""
    return today.year + 1 if today.month >= 9 else today.year


def fetch_enrollment(session: Session, village_code: str, group_code: str | None, year: int, *,
                     today: date | None = None) -> list[EnrollmentRecord]:
    groups = group_names(session, village_code)
    this_year = (select(Enrollment.resident_id, Enrollment.status, Enrollment.subsidy_category,
                        Enrollment.paid_fen, Enrollment.subsidy_fen)
                 .where(Enrollment.year == year, Enrollment.deleted.is_(False)).subquery())
    last_year = (select(Enrollment.resident_id, Enrollment.status)
                 .where(Enrollment.year == year - 1, Enrollment.deleted.is_(False)).subquery())
    query = (
        select(Resident.group_code, Household.household_no, Household.head_name, Resident.name,
               Resident.relation, Resident.id_number, Resident.special_groups, Resident.birth_date,
               Resident.status.label("resident_status"), Resident.id.label("rid"),
               this_year.c.status, this_year.c.subsidy_category, this_year.c.paid_fen, this_year.c.subsidy_fen,
               last_year.c.status.label("previous"))
        .select_from(Resident)
        .outerjoin(Household, Household.id == Resident.household_id)
        .outerjoin(this_year, this_year.c.resident_id == Resident.id)
        .outerjoin(last_year, last_year.c.resident_id == Resident.id)
        .where(_resident_filter(village_code, group_code))
    )
    collecting = year >= collection_year(today or date.today())
    raw = []
    for r in session.execute(query):
        if r.status == EnrollmentStatus.NOT_REQUIRED.value:
            continue
        if r.status is None and not (collecting and r.resident_status == ResidentStatus.REGISTERED.value):
            continue
        raw.append(r)
    raw.sort(key=lambda r: (_group_key(groups, r.group_code), r.household_no or "",
                            r.relation != Relation.HEAD.value, r.birth_date, r.rid))
    return [EnrollmentRecord(groups.get(r.group_code or "", (0, ""))[1], r.household_no or "",
                             r.head_name or "", r.name, r.relation, r.id_number, r.special_groups,
                             r.status, r.subsidy_category or "", r.paid_fen or 0, r.subsidy_fen or 0,
                             r.resident_status, r.previous)
            for r in raw]


def fetch_chronic(session: Session, village_code: str, group_code: str | None, year: int) -> list[ChronicRecord]:
    """Cards in force at any time in the year, plus the year's applications still in progress.

    Refused cards are not published (a refusal reason is health information); a card cancelled
    in the year is listed with its month of cancellation. ``diagnosis_note`` is never selected.
    """
    groups = group_names(session, village_code)
    first, last = _year_span(year)
    in_force = and_(ChronicCard.status.in_([CardStatus.ISSUED.value, CardStatus.CANCELLED.value]),
                    ChronicCard.issued_date.is_not(None), ChronicCard.issued_date <= last,
                    (ChronicCard.cancelled_date.is_(None)) | (ChronicCard.cancelled_date >= first))
    pending = and_(ChronicCard.status.in_([CardStatus.APPLIED.value, CardStatus.ASSESSED.value]),
                   ChronicCard.applied_date >= first, ChronicCard.applied_date <= last)
    usage = (select(CardUsage.card_id, func.count().label("months"))
             .where(CardUsage.used.is_(True), CardUsage.deleted.is_(False),
                    CardUsage.month.like(f"{year}-%"))
             .group_by(CardUsage.card_id).subquery())
    query = (
        select(Resident.group_code, Resident.name, Resident.id_number, Resident.status.label("resident_status"),
               Disease.name.label("disease_name"), Disease.category, ChronicCard.id.label("card_id"),
               ChronicCard.status, ChronicCard.assessed_date, ChronicCard.issued_date,
               ChronicCard.benefit_start, ChronicCard.applied_date, ChronicCard.cancelled_date, usage.c.months)
        .select_from(ChronicCard)
        .join(Resident, Resident.id == ChronicCard.resident_id)
        .outerjoin(Disease, Disease.code == ChronicCard.disease_code)
        .outerjoin(usage, usage.c.card_id == ChronicCard.id)
        .where(_resident_filter(village_code, group_code), ChronicCard.deleted.is_(False), in_force | pending)
    )
    raw = list(session.execute(query))
    raw.sort(key=lambda r: (_group_key(groups, r.group_code), r.applied_date, r.name, r.card_id))
    out = []
    for r in raw:
        cancelled = r.cancelled_date if r.cancelled_date and r.cancelled_date <= last else None
        out.append(ChronicRecord(groups.get(r.group_code or "", (0, ""))[1], r.name, r.id_number,
                                 r.disease_name or "", r.category or "", r.status, r.assessed_date,
                                 r.issued_date, r.benefit_start, int(r.months or 0), r.resident_status, cancelled))
    return out


def fetch_assistance(session: Session, village_code: str, group_code: str | None, year: int) -> list[AssistanceRecord]:
    """Cases decided (paid, 已发放) in the year. Hospital, costs and diagnosis stay off the board."""
    groups = group_names(session, village_code)
    first, last = _year_span(year)
    query = (
        select(Resident.group_code, Resident.name, Resident.id_number, Resident.status.label("resident_status"),
               AssistanceCase.id.label("case_id"), AssistanceCase.subject_category,
               AssistanceType.name.label("type_name"), AssistanceCase.type_code,
               AssistanceCase.assistance_fen, AssistanceCase.paid_date)
        .select_from(AssistanceCase)
        .join(Resident, Resident.id == AssistanceCase.resident_id)
        .outerjoin(AssistanceType, AssistanceType.code == AssistanceCase.type_code)
        .where(_resident_filter(village_code, group_code), AssistanceCase.deleted.is_(False),
               AssistanceCase.status == AssistanceStatus.PAID.value,
               AssistanceCase.paid_date >= first, AssistanceCase.paid_date <= last)
    )
    raw = sorted(session.execute(query),
                 key=lambda r: (_group_key(groups, r.group_code), r.paid_date, r.name, r.case_id))
    return [AssistanceRecord(groups.get(r.group_code or "", (0, ""))[1], r.name, r.id_number,
                             r.subject_category or "", r.type_name or r.type_code or "",
                             r.assistance_fen or 0, r.paid_date, r.resident_status) for r in raw]


def policy_published(session: Session, county_code: str, year: int) -> bool:
    """The county has published year Y: its own policy texts or its settings for Y exist."""
    texts = session.scalar(select(func.count()).select_from(Policy).where(
        Policy.county_code == county_code, Policy.deleted.is_(False), Policy.year == year))
    setting = session.scalar(select(func.count()).select_from(CountyYearSetting).where(
        CountyYearSetting.county_code == county_code, CountyYearSetting.year == year,
        CountyYearSetting.deleted.is_(False)))
    return bool(texts or setting)


def fetch_policy_sections(session: Session, county_code: str, year: int) -> list[PolicySection]:
    """The county's policy texts for the year (and those without a year), in the county's order."""
    rows = session.scalars(select(Policy).where(
        Policy.county_code == county_code, Policy.deleted.is_(False),
        (Policy.year.is_(None)) | (Policy.year == year)).order_by(Policy.sort_order, Policy.title))
    return [PolicySection(p.title, p.body or "", p.category or "", p.doc_no or "") for p in rows]


def policy_highlights(session: Session, county_code: str, year: int) -> list[tuple[str, str]]:
    """Key figures from the reference tables: premium, deadline, ratios, subsidy categories."""
    out: list[tuple[str, str]] = []
    setting = session.scalar(select(CountyYearSetting).where(
        CountyYearSetting.county_code == county_code, CountyYearSetting.year == year,
        CountyYearSetting.deleted.is_(False)))
    if setting is not None:
        out.append(("个人缴费标准", f"{yuan(setting.premium_fen).removesuffix('.00')} 元/人·年"))
        out.append(("集中缴费期", f"{cn_date(setting.collection_start)}至{cn_date(setting.deadline)}"))
        if setting.fiscal_subsidy_fen:
            out.append(("财政补助", f"{yuan(setting.fiscal_subsidy_fen).removesuffix('.00')} 元/人·年"))
    rates = session.scalars(select(ReimbursementRate).where(
        ReimbursementRate.county_code == county_code, ReimbursementRate.year == year,
        ReimbursementRate.deleted.is_(False)))
    order = {level.value: i for i, level in enumerate(HospitalLevel)}
    rates = sorted(rates, key=lambda r: order.get(r.hospital_level, 99))
    if rates:
        out.append(("住院报销比例", "，".join(
            f"{HospitalLevel.label_for(r.hospital_level, r.hospital_level)} {r.ratio_pct}%" for r in rates)))
    rules = sorted(session.scalars(select(SubsidyRule).where(
        SubsidyRule.county_code == county_code, SubsidyRule.year == year, SubsidyRule.deleted.is_(False))),
        key=lambda r: (r.level, r.special_group))
    if rules:
        out.append(("资助参保", "；".join(
            f"{SpecialGroup.label_for(r.special_group, r.special_group)}"
            f"{'全额资助' if r.full else '资助 ' + yuan(r.amount_fen).removesuffix('.00') + ' 元'}"
            for r in rules)))
    return out


# --------------------------------------------------------------------------- assembly


def _title(kind: str, place: str, year: int) -> str:
    return {
        NoticeKind.ENROLLMENT.value: f"{place}{year}年度城乡居民医保参保情况公示",
        NoticeKind.CHRONIC.value: f"{place}{year}年度门诊慢特病卡办理享受情况公示",
        NoticeKind.ASSISTANCE.value: f"{place}{year}年度医疗救助待遇享受情况公示",
        NoticeKind.POLICY.value: f"{place}{year}年度医保惠民政策公示",
    }[kind]


def build_document(session: Session, params: NoticeParams, *, today: date | None = None) -> NoticeDocument:
    """Read the data for one notice and return it masked and ready to lay out.

    A year with nothing to publish raises ``NoticeEmpty`` unless ``params.allow_empty``: then the
    notice says 「本年度无…」 on purpose.
    """
    p = params.checked()
    today = today or date.today()
    names = place_names(session, p.village_code, p.group_code)
    place = f"{names.village}{names.group}"
    start = p.period_start or today
    doc = NoticeDocument(
        kind=p.kind, title=_title(p.kind, place, p.year), county_name=names.county,
        township_name=names.township, village_code=p.village_code, village_name=names.village,
        group_code=p.group_code, group_name=names.group, year=p.year, period_start=start,
        period_end=start + timedelta(days=p.period_days - 1), supervision_phone=p.supervision_phone,
        issuer=p.issuer or f"{names.township}医保服务中心", issue_date=p.issue_date or start,
        masking={"enabled": p.masking.enabled, "id_mode": p.masking.id_mode, "disclosure": p.disclosure},
        layout=p.layout if p.kind == NoticeKind.ENROLLMENT.value else "detail",
    )
    note = masking_note(p.masking)
    what = EMPTY_WHAT[p.kind]
    if p.kind == NoticeKind.ENROLLMENT.value:
        records = fetch_enrollment(session, p.village_code, p.group_code, p.year, today=today)
        if not any(r.status for r in records):
            _empty(doc, p, f"{place}{p.year}年度没有参保记录", what)
            return doc
        _enrollment(doc, records, p, place, names)
    elif p.kind == NoticeKind.CHRONIC.value:
        records = fetch_chronic(session, p.village_code, p.group_code, p.year)
        if not records:
            _empty(doc, p, f"{place}{p.year}年度没有在有效期内的门诊慢特病卡，也没有办理中的申请", what)
            return doc
        doc.columns = chronic_columns(p.disclosure)
        doc.rows = chronic_rows(records, p.masking, p.disclosure, p.year)
        held = [r for r in records if r.issued_date]
        new = sum(1 for r in held if r.issued_date.year == p.year)
        cancelled = sum(1 for r in held if r.cancelled_date)
        doc.intro = (f"根据门诊慢特病管理有关规定，现将{place}{p.year}年度门诊慢特病卡办理及享受情况"
                     f"予以公示，接受群众监督。")
        doc.summary = (f"本次公示{p.year}年度持卡 {len(held)} 人（其中新办 {new} 人，年内注销 {cancelled} 人），"
                       f"办理中 {len(records) - len(held)} 人。")
        note = _join(note, DISCLOSURE_NOTE[p.disclosure])
    elif p.kind == NoticeKind.ASSISTANCE.value:
        records = fetch_assistance(session, p.village_code, p.group_code, p.year)
        if not records:
            _empty(doc, p, f"{place}{p.year}年度没有已发放的医疗救助", what)
            return doc
        doc.columns = assistance_columns(p.disclosure)
        doc.rows = assistance_rows(records, p.masking, p.disclosure)
        total = sum(r.assistance_fen for r in records)
        people = len({r.id_number for r in records})
        doc.intro = (f"根据医疗救助有关规定，现将{place}{p.year}年度医疗救助待遇享受情况予以公示，"
                     f"接受群众监督。")
        doc.summary = f"本次公示救助 {len(records)} 人次（{people} 人），救助金额合计 {yuan(total)} 元。"
        from station_app.services.entitlement import village_fulfilment  # issue 16: 落实率 per the county's rules

        due = village_fulfilment(session, names.county_code, p.year, p.village_code)
        doc.summary += (f"本村{p.year}年医疗救助落实率 {due.rate.percent_text}"
                        f"（按县救助规则应享 {due.people} 人，已落实 {due.people_paid} 人）。")
        if p.disclosure == "none":
            note = _join(note, "按最少必要原则，不公示救助对象类别和救助原因。")
    else:
        if not policy_published(session, names.county_code, p.year):
            _empty(doc, p, f"{names.county}尚未发布{p.year}年度医保政策", what)
            return doc
        doc.sections = fetch_policy_sections(session, names.county_code, p.year)
        doc.highlights = policy_highlights(session, names.county_code, p.year)
        doc.intro = (f"为让广大群众应知尽知、应享尽享，现将{names.county}{p.year}年度城乡居民医疗保障"
                     f"主要惠民政策公示如下。")
        doc.summary = (f"政策咨询：{doc.issuer}" + (f"，电话 {doc.supervision_phone}" if doc.supervision_phone else "")
                       + "。具体以县医保局正式文件为准。")
        note = ""
    cells = [cell for row in doc.rows for cell in row] + [c for b in doc.blocks for row in b["rows"] for c in row]
    if any(m in cell for cell in cells for m in SINCE_MARK.values()):
        note = _join(note, SINCE_NOTE)
    if (doc.layout != "detail" or doc.blocks) and any(m in cell for cell in cells for m in SHORT_MARK.values()):
        note = _join(note, ROSTER_MARK_NOTE)
    if note:
        doc.notes.append(note)
    return doc


#: 「本年度无…」: what an empty notice says it has none of.
EMPTY_WHAT = {
    NoticeKind.ENROLLMENT.value: "参保记录",
    NoticeKind.CHRONIC.value: "门诊慢特病卡办理享受记录",
    NoticeKind.ASSISTANCE.value: "医疗救助待遇享受记录",
    NoticeKind.POLICY.value: "县医保局发布的年度政策",
}
DISCLOSURE_NOTE = {
    "none": "按最少必要原则，不公示病种。",
    "category": "病种按目录类别公示，不公示具体诊断。",
    "disease": "病种按目录名称公示，不公示具体诊断。",
}


def _join(a: str, b: str) -> str:
    return a + b if a else b


def _empty(doc: NoticeDocument, p: NoticeParams, reason: str, what: str) -> None:
    if not p.allow_empty:
        raise NoticeEmpty(f"{reason}，不生成公示（以免误导）。请核对年度；确需张贴「本年度无{what}」"
                          "的公示，请使用 --allow-empty（界面上勾选“无记录时也生成”）。", field="year")
    doc.empty = True
    doc.intro = f"经核查，{doc.place_text}{doc.year}年度无{what}，特此公示。"
    doc.summary = f"本年度无{what}。"


def _enrollment(doc: NoticeDocument, records: list[EnrollmentRecord], p: NoticeParams, place: str,
                names: PlaceNames) -> None:
    counts = {s: 0 for s in EnrollmentStatus}
    missing = 0
    for r in records:
        if r.status:
            counts[EnrollmentStatus(r.status)] += 1
        else:
            missing += 1
    covered = sum(n for s, n in counts.items() if s.is_covered)
    rate = enrollment_rate(covered, len(records)).percent_text
    doc.intro = (f"根据{names.county}{p.year}年度城乡居民基本医疗保险参保缴费工作安排，现将{place}"
                 f"{p.year}年度居民参保情况予以公示，接受群众监督。")
    doc.summary = (f"本次公示 {len(records)} 人：已缴费 {counts[EnrollmentStatus.PAID]} 人，"
                   f"资助参保 {counts[EnrollmentStatus.SUBSIDISED]} 人，"
                   f"其他渠道参保 {counts[EnrollmentStatus.OTHER_CHANNEL]} 人，"
                   f"未缴费 {counts[EnrollmentStatus.UNPAID]} 人"
                   + (f"，未登记 {missing} 人" if missing else "") + f"；参保率 {rate}。")
    if p.layout == "detail":
        doc.columns = list(ENROLLMENT_COLUMNS)
        doc.rows = enrollment_rows(records, p.masking)
    elif p.layout == "roster":
        doc.columns = list(ROSTER_COLUMNS)
        doc.rows = roster_rows(records, p.masking)
    else:
        doc.columns, doc.rows = group_summary(records)
        changes = enrollment_changes(records)
        for label, people in changes.items():
            title = f"{label}（{len(people)} 人）"
            if label != "未缴费":
                title = f"{label}（与{p.year - 1}年度相比，{len(people)} 人）"
            doc.blocks.append({"title": title, "columns": list(ROSTER_COLUMNS),
                               "rows": roster_rows(people, p.masking), "layout": "roster"})


def group_summary(records: Sequence[EnrollmentRecord]) -> tuple[list[Column], list[list[str]]]:
    """One row per group (in the county's order) and a total: counts by status and the rate."""
    columns = [Column("村民小组", "center"), Column("公示人数", "right", True), Column("已缴费", "right", True),
               Column("资助参保", "right", True), Column("其他渠道", "right", True),
               Column("未缴费", "right", True), Column("未登记", "right", True), Column("参保率", "right", True)]
    order: list[str] = []
    tally: dict[str, list[int]] = {}
    for r in records:
        key = r.group_name or EMPTY
        if key not in tally:
            order.append(key)
            tally[key] = [0] * 6
        t = tally[key]
        t[0] += 1
        index = {"paid": 1, "subsidised": 2, "other_channel": 3, "unpaid": 4}.get(r.status or "", 5)
        t[index] += 1
    total = [sum(t[i] for t in tally.values()) for i in range(6)]

    def row(name: str, t: list[int]) -> list[str]:
        rate = enrollment_rate(t[1] + t[2] + t[3], t[0]).percent_text
        return [name] + [str(n) for n in t] + [rate]

    return columns, [row(k, tally[k]) for k in order] + [row("合计", total)]


def list_document(title: str, rows: list[list[str]], *, village_code: str, village_name: str, year: int,
                  columns: list[Column] | None = None, county_name: str = "", township_name: str = "",
                  group_name: str = "", issuer: str = "", issue_date: date | None = None, intro: str = "",
                  summary: str = "", notes: Sequence[str] = ()) -> NoticeDocument:
    """A printable list in the notice style — the compact roster by default (组, 姓名, 身份证号, 状态,
    side by side, ≥ 10 pt, one line a person) — for lists that are not public notices, such as the
    未缴清单. ``rows`` must already be masked (``roster_rows`` / ``MaskingPolicy``). Draw it with
    ``station_app.notices.render.render_pdf`` (or ``paint`` on a printer)."""
    day = issue_date or date.today()
    return NoticeDocument(
        kind=NoticeKind.ENROLLMENT.value, title=title, county_name=county_name, township_name=township_name,
        village_code=village_code, village_name=village_name, group_code=None, group_name=group_name, year=year,
        period_start=day, period_end=day, supervision_phone="", issuer=issuer, issue_date=day, intro=intro,
        columns=list(columns or ROSTER_COLUMNS), rows=[list(r) for r in rows], summary=summary, notes=list(notes),
        layout="roster", is_notice=False)


def names_and_ids(records: Sequence[Any]) -> tuple[set[str], set[str]]:
    """The clear names and ID numbers behind a set of records (for tests and self-checks)."""
    names, ids = set(), set()
    for r in records:
        for attr in ("name", "head_name"):
            value = getattr(r, attr, "")
            if value:
                names.add(value)
        if getattr(r, "id_number", ""):
            ids.add(r.id_number)
    return names, ids
