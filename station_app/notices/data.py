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
#: How the chronic notice names the disease: catalogue category (default), catalogue name, or not at all.
DISEASE_DISPLAY: dict[str, str] = {"category": "只显示病种类别", "name": "显示病种名称", "hidden": "不显示病种"}
DEFAULT_PERIOD_DAYS = 7
MAX_PERIOD_DAYS = 60
#: Shown in place of an empty value, so a blank cell is never mistaken for a missing print.
EMPTY = "—"
CHRONIC_FALLBACK_CATEGORY = "门诊慢特病"
ORDINARY_RESIDENT = "普通居民"
NOT_REGISTERED = "未登记"

KIND_CODES = tuple(k.value for k in NoticeKind)


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
    disease_display: str = "category"
    issue_date: date | None = None

    def checked(self) -> "NoticeParams":
        if self.kind not in KIND_CODES:
            raise ValidationError(f"未知的公示类型：{self.kind}", field="kind")
        if not 2000 <= int(self.year) <= 2100:
            raise ValidationError("年度无效。", field="year")
        if not 1 <= int(self.period_days) <= MAX_PERIOD_DAYS:
            raise ValidationError(f"公示期应为 1 至 {MAX_PERIOD_DAYS} 天。", field="period_days")
        if self.disease_display not in DISEASE_DISPLAY:
            raise ValidationError("病种显示方式无效。", field="disease_display")
        return self


# --------------------------------------------------------------------------- small helpers


def cn_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else EMPTY


def iso_date(d: date | None) -> str:
    return d.isoformat() if d else EMPTY


def yuan(fen: int | None) -> str:
    return f"{(fen or 0) / 100:,.2f}"


def _label(enum_cls, code: str | None, default: str = EMPTY) -> str:
    try:
        return enum_cls(code).label
    except ValueError:
        return default


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


ENROLLMENT_COLUMNS = [
    Column("序号", "center", True), Column("村民小组", "center"), Column("户主姓名", "center"),
    Column("姓名", "center"), Column("与户主\n关系", "center"), Column("身份证号", "center", True),
    Column("人员类别", "center"), Column("资助类别", "center"), Column("个人缴费\n(元)", "right", True),
    Column("资助金额\n(元)", "right", True), Column("缴费状态", "center"),
]


def enrollment_rows(records: Iterable[EnrollmentRecord], policy: MaskingPolicy) -> list[list[str]]:
    rows = []
    for n, r in enumerate(records, 1):
        status = _label(EnrollmentStatus, r.status, NOT_REGISTERED) if r.status else NOT_REGISTERED
        rows.append([
            str(n), r.group_name or EMPTY, policy.name(r.head_name) or EMPTY, policy.name(r.name),
            _label(Relation, r.relation), policy.id_number(r.id_number),
            special_group_text(r.special_groups), r.subsidy_category or EMPTY,
            yuan(r.paid_fen) if r.paid_fen else EMPTY, yuan(r.subsidy_fen) if r.subsidy_fen else EMPTY,
            status,
        ])
    return rows


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


def chronic_columns(disease_display: str) -> list[Column]:
    cols = [Column("序号", "center", True), Column("村民小组", "center"), Column("姓名", "center"),
            Column("身份证号", "center", True)]
    if disease_display == "category":
        cols.append(Column("病种类别", "center"))
    elif disease_display == "name":
        cols.append(Column("病种", "center"))
    cols += [Column("认定日期", "center", True), Column("待遇起始\n日期", "center", True),
             Column("办理状态", "center"), Column("本年用卡\n(月数)", "center", True)]
    return cols


def chronic_status_text(status: str, issued_date: date | None, year: int) -> str:
    if status == CardStatus.ISSUED.value:
        return "新办发卡" if issued_date and issued_date.year == year else "已发卡"
    if status == CardStatus.ASSESSED.value:
        return "已认定待发卡"
    if status == CardStatus.APPLIED.value:
        return "申请待认定"
    return _label(CardStatus, status)


def chronic_rows(records: Iterable[ChronicRecord], policy: MaskingPolicy, disease_display: str,
                 year: int) -> list[list[str]]:
    rows = []
    for n, r in enumerate(records, 1):
        row = [str(n), r.group_name or EMPTY, policy.name(r.name), policy.id_number(r.id_number)]
        if disease_display == "category":
            row.append(r.disease_category or CHRONIC_FALLBACK_CATEGORY)
        elif disease_display == "name":
            row.append(r.disease_name or CHRONIC_FALLBACK_CATEGORY)
        used = str(r.months_used) if r.status == CardStatus.ISSUED.value else EMPTY
        row += [iso_date(r.assessed_date), iso_date(r.benefit_start),
                chronic_status_text(r.status, r.issued_date, year), used]
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


ASSISTANCE_COLUMNS = [
    Column("序号", "center", True), Column("村民小组", "center"), Column("姓名", "center"),
    Column("身份证号", "center", True), Column("救助对象\n类别", "center"), Column("救助类型", "center"),
    Column("救助金额\n(元)", "right", True), Column("发放日期", "center", True),
]


def assistance_rows(records: Iterable[AssistanceRecord], policy: MaskingPolicy) -> list[list[str]]:
    return [[str(n), r.group_name or EMPTY, policy.name(r.name), policy.id_number(r.id_number),
             r.subject_category or EMPTY, r.type_name or EMPTY, yuan(r.assistance_fen), iso_date(r.paid_date)]
            for n, r in enumerate(records, 1)]


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


def _resident_filter(village_code: str, group_code: str | None):
    clauses = [Resident.village_code == village_code, Resident.deleted.is_(False)]
    if group_code:
        clauses.append(Resident.group_code == group_code)
    return and_(*clauses)


def fetch_enrollment(session: Session, village_code: str, group_code: str | None, year: int) -> list[EnrollmentRecord]:
    """在册 residents with their enrollment for the year; 无需参保 (died, moved) are not listed."""
    groups = group_names(session, village_code)
    query = (
        select(Resident.group_code, Household.household_no, Household.head_name, Resident.name,
               Resident.relation, Resident.id_number, Resident.special_groups, Resident.birth_date,
               Enrollment.status, Enrollment.subsidy_category, Enrollment.paid_fen, Enrollment.subsidy_fen)
        .select_from(Resident)
        .outerjoin(Household, Household.id == Resident.household_id)
        .outerjoin(Enrollment, and_(Enrollment.resident_id == Resident.id, Enrollment.year == year,
                                    Enrollment.deleted.is_(False)))
        .where(_resident_filter(village_code, group_code),
               Resident.status == ResidentStatus.REGISTERED.value)
    )
    raw = [r for r in session.execute(query) if r.status != EnrollmentStatus.NOT_REQUIRED.value]
    raw.sort(key=lambda r: (_group_key(groups, r.group_code), r.household_no or "",
                            r.relation != Relation.HEAD.value, r.birth_date))
    return [EnrollmentRecord(groups.get(r.group_code or "", (0, ""))[1], r.household_no or "",
                             r.head_name or "", r.name, r.relation, r.id_number, r.special_groups,
                             r.status, r.subsidy_category or "", r.paid_fen or 0, r.subsidy_fen or 0)
            for r in raw]


def fetch_chronic(session: Session, village_code: str, group_code: str | None, year: int) -> list[ChronicRecord]:
    """Cards in force (已发卡) plus the year's applications still in progress.

    Refused and cancelled cards are not published: a refusal reason is health information.
    ``diagnosis_note`` is deliberately not selected.
    """
    groups = group_names(session, village_code)
    active = (ChronicCard.status == CardStatus.ISSUED.value)
    pending = and_(ChronicCard.status.in_([CardStatus.APPLIED.value, CardStatus.ASSESSED.value]),
                   func.strftime("%Y", ChronicCard.applied_date) == str(year))
    usage = (select(CardUsage.card_id, func.count().label("months"))
             .where(CardUsage.used.is_(True), CardUsage.deleted.is_(False),
                    CardUsage.month.like(f"{year}-%"))
             .group_by(CardUsage.card_id).subquery())
    query = (
        select(Resident.group_code, Resident.name, Resident.id_number, Disease.name.label("disease_name"),
               Disease.category, ChronicCard.status, ChronicCard.assessed_date, ChronicCard.issued_date,
               ChronicCard.benefit_start, ChronicCard.applied_date, usage.c.months)
        .select_from(ChronicCard)
        .join(Resident, Resident.id == ChronicCard.resident_id)
        .outerjoin(Disease, Disease.code == ChronicCard.disease_code)
        .outerjoin(usage, usage.c.card_id == ChronicCard.id)
        .where(_resident_filter(village_code, group_code), ChronicCard.deleted.is_(False),
               Resident.status == ResidentStatus.REGISTERED.value, active | pending)
    )
    raw = list(session.execute(query))
    # Cards issued before or in the year; a card issued after the year is not "in force" then.
    raw = [r for r in raw if not (r.status == CardStatus.ISSUED.value and r.issued_date
                                  and r.issued_date.year > year)]
    raw.sort(key=lambda r: (_group_key(groups, r.group_code), r.applied_date, r.name))
    return [ChronicRecord(groups.get(r.group_code or "", (0, ""))[1], r.name, r.id_number,
                          r.disease_name or "", r.category or "", r.status, r.assessed_date,
                          r.issued_date, r.benefit_start, int(r.months or 0)) for r in raw]


def fetch_assistance(session: Session, village_code: str, group_code: str | None, year: int) -> list[AssistanceRecord]:
    """Cases paid (已发放) in the year. Hospital, costs and diagnosis stay off the board."""
    groups = group_names(session, village_code)
    query = (
        select(Resident.group_code, Resident.name, Resident.id_number, AssistanceCase.subject_category,
               AssistanceType.name.label("type_name"), AssistanceCase.type_code,
               AssistanceCase.assistance_fen, AssistanceCase.paid_date)
        .select_from(AssistanceCase)
        .join(Resident, Resident.id == AssistanceCase.resident_id)
        .outerjoin(AssistanceType, AssistanceType.code == AssistanceCase.type_code)
        .where(_resident_filter(village_code, group_code), AssistanceCase.deleted.is_(False),
               AssistanceCase.status == AssistanceStatus.PAID.value,
               func.strftime("%Y", AssistanceCase.paid_date) == str(year))
    )
    raw = sorted(session.execute(query), key=lambda r: (_group_key(groups, r.group_code), r.paid_date, r.name))
    return [AssistanceRecord(groups.get(r.group_code or "", (0, ""))[1], r.name, r.id_number,
                             r.subject_category or "", r.type_name or r.type_code or "",
                             r.assistance_fen or 0, r.paid_date) for r in raw]


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
            f"{_label(HospitalLevel, r.hospital_level, r.hospital_level)} {r.ratio_pct}%" for r in rates)))
    rules = sorted(session.scalars(select(SubsidyRule).where(
        SubsidyRule.county_code == county_code, SubsidyRule.year == year, SubsidyRule.deleted.is_(False))),
        key=lambda r: (r.level, r.special_group))
    if rules:
        out.append(("资助参保", "；".join(
            f"{_label(SpecialGroup, r.special_group, r.special_group)}"
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
    """Read the data for one notice and return it masked and ready to lay out."""
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
        masking={"enabled": p.masking.enabled, "id_mode": p.masking.id_mode,
                 "disease_display": p.disease_display},
    )
    note = masking_note(p.masking)
    if p.kind == NoticeKind.ENROLLMENT.value:
        records = fetch_enrollment(session, p.village_code, p.group_code, p.year)
        doc.columns = list(ENROLLMENT_COLUMNS)
        doc.rows = enrollment_rows(records, p.masking)
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
    elif p.kind == NoticeKind.CHRONIC.value:
        records = fetch_chronic(session, p.village_code, p.group_code, p.year)
        doc.columns = chronic_columns(p.disease_display)
        doc.rows = chronic_rows(records, p.masking, p.disease_display, p.year)
        issued = [r for r in records if r.status == CardStatus.ISSUED.value]
        new = sum(1 for r in issued if r.issued_date and r.issued_date.year == p.year)
        doc.intro = (f"根据门诊慢特病管理有关规定，现将{place}{p.year}年度门诊慢特病卡办理及享受情况"
                     f"予以公示，接受群众监督。")
        doc.summary = (f"本次公示持卡 {len(issued)} 人（其中{p.year}年新办 {new} 人），"
                       f"办理中 {len(records) - len(issued)} 人。")
        if p.disease_display != "name":
            note = (note + "病种按目录类别公示，不公示具体诊断。") if note else "病种按目录类别公示，不公示具体诊断。"
    elif p.kind == NoticeKind.ASSISTANCE.value:
        records = fetch_assistance(session, p.village_code, p.group_code, p.year)
        doc.columns = list(ASSISTANCE_COLUMNS)
        doc.rows = assistance_rows(records, p.masking)
        total = sum(r.assistance_fen for r in records)
        people = len({r.id_number for r in records})
        doc.intro = (f"根据医疗救助有关规定，现将{place}{p.year}年度医疗救助待遇享受情况予以公示，"
                     f"接受群众监督。")
        doc.summary = f"本次公示救助 {len(records)} 人次（{people} 人），救助金额合计 {yuan(total)} 元。"
        from station_app.services.entitlement import village_fulfilment  # issue 16: 落实率 per the county's rules

        due = village_fulfilment(session, names.county_code, p.year, p.village_code)
        doc.summary += (f"本村{p.year}年医疗救助落实率 {due.rate.percent_text}"
                        f"（按县救助规则应享 {due.people} 人，已落实 {due.people_paid} 人）。")
    else:
        doc.sections = fetch_policy_sections(session, names.county_code, p.year)
        doc.highlights = policy_highlights(session, names.county_code, p.year)
        doc.intro = (f"为让广大群众应知尽知、应享尽享，现将{names.county}{p.year}年度城乡居民医疗保障"
                     f"主要惠民政策公示如下。")
        doc.summary = (f"政策咨询：{doc.issuer}" + (f"，电话 {doc.supervision_phone}" if doc.supervision_phone else "")
                       + "。具体以县医保局正式文件为准。")
        note = ""
    if note:
        doc.notes.append(note)
    return doc


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
