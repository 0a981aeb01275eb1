"""居民一站式: everything the counter needs about one resident, in one read (issue 10).

Household and members (with the benefit year's 参保), 参保 of every year, 慢病卡 (status, 病种,
待遇起始, months used this year, next refill), 医疗救助 cases and payouts, the latest services —
and which next actions apply. Every query goes by an indexed key (resident id, household id,
card ids), a fixed number of statements whatever the size of the household or the archive.

``resident_slip`` makes the 参保缴费凭证/待遇查询单 the villager takes home: a one-page document in
the notices' style, masked by the notice settings (name, ID number, phone; 病种 and 救助类别 as
the disclosure setting allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from sqlalchemy import and_, func, select

from station_app.domain import chronic as card_rules
from station_app.domain.enums import (
    AssistanceStatus,
    CardStatus,
    EnrollmentStatus,
    PaymentChannel,
    ResidentStatus,
    ServiceKind,
    Sex,
    SpecialGroup,
)
from station_app.domain.masking import mask_id
from station_app.domain.money import yuan
from station_app.notices.data import CHRONIC_FALLBACK_CATEGORY, Column, NoticeDocument, masking_note
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
    ServiceEntry,
    User,
)

from .changes import Actor
from .chronic import resident_or_404
from .enrollment import YearInfo, year_info
from .overview import current_benefit_year
from .registry_search import HouseholdView, ResidentDetail, age_on, detail_of, household_of
from .scope import place_names
from .service_log import ResidentHit
from .workspace import Workspace

#: How many of the latest services the view lists.
RECENT_SERVICES = 8
#: The statuses a 收缴费 can change (no record yet counts as 未缴费).
OWING = (None, EnrollmentStatus.UNPAID.value, EnrollmentStatus.TO_VERIFY.value)
NOT_RECORDED = "未登记"


@dataclass(frozen=True)
class YearRow:
    """参保 of one benefit year."""

    year: int
    status: str  # EnrollmentStatus code
    status_label: str
    paid_fen: int
    paid_date: date | None
    channel: str  # label
    subsidy_fen: int
    subsidy_category: str
    other_channel_note: str
    benefit_start: date | None


@dataclass(frozen=True)
class CardRow:
    """One 慢病卡 with what the counter asks: 待遇起始, months used this year, next refill."""

    id: str
    disease: str
    category: str
    status: str  # CardStatus code
    status_label: str
    card_no: str
    applied_date: date
    benefit_start: date | None
    last_refill: date | None
    next_refill: date | None
    months_used: int  # this calendar year
    months_held: int  # this calendar year, up to this month

    @property
    def issued(self) -> bool:
        return self.status == CardStatus.ISSUED.value

    @property
    def refill_overdue(self) -> bool:
        return self.next_refill is not None and self.next_refill < date.today()


@dataclass(frozen=True)
class CaseRow:
    """One 医疗救助 case and its payout."""

    id: str
    applied_date: date
    type_name: str
    subject_category: str
    status: str  # AssistanceStatus code
    status_label: str
    hospital: str
    total_fen: int
    assistance_fen: int
    paid_date: date | None


@dataclass(frozen=True)
class ServiceRow:
    service_date: date
    kind: str  # label
    doctor: str
    note: str


@dataclass(frozen=True)
class CounterActions:
    """The next actions that apply to this person now (the view shows only these)."""

    collect: bool = False  # 收缴费 for the benefit year
    buy_medicine: bool = False  # 登记代购药 on an issued card
    apply_card: bool = False  # 申请慢病卡
    print_slip: bool = True  # 打印参保凭证


@dataclass
class ResidentOverview:
    detail: ResidentDetail
    household: HouseholdView | None
    #: The benefit year the counter works on (the latest whose collection has opened).
    year: int | None
    year_info: YearInfo | None
    #: member id → the benefit year's 参保 label (未登记 when there is no record).
    member_enrollment: dict[str, str] = field(default_factory=dict)
    enrollment: list[YearRow] = field(default_factory=list)  # newest year first
    cards: list[CardRow] = field(default_factory=list)
    cases: list[CaseRow] = field(default_factory=list)  # newest first
    services: list[ServiceRow] = field(default_factory=list)  # newest first
    actions: CounterActions = field(default_factory=CounterActions)
    #: 应缴 for the benefit year when it is still owed (premium less a fixed subsidy), else None.
    due_fen: int | None = None
    county_name: str = ""
    township_name: str = ""
    today: date = field(default_factory=date.today)

    @property
    def age(self) -> int | None:
        return age_on(self.detail.birth_date, self.today)

    @property
    def registered(self) -> bool:
        return self.detail.status == ResidentStatus.REGISTERED.value

    def year_row(self, year: int | None = None) -> YearRow | None:
        year = self.year if year is None else year
        return next((row for row in self.enrollment if row.year == year), None)

    @property
    def issued_cards(self) -> list[CardRow]:
        return [card for card in self.cards if card.issued]

    @property
    def assistance_paid_fen(self) -> int:
        return sum(c.assistance_fen for c in self.cases if c.status == AssistanceStatus.PAID.value)

    @property
    def hit(self) -> ResidentHit:
        """The person as the archive dialogs' picker shows a chosen resident."""
        d = self.detail
        return ResidentHit(d.id, d.name, d.sex, d.birth_date, mask_id(d.id_number), d.village, d.group, d.phone,
                           d.status, ",".join(d.special_groups))


def counter_actions(actor: Actor, overview: ResidentOverview) -> CounterActions:
    """What the signed-in user can do for this person now — the same conditions the services
    check (scope was checked by the read; 村医, 专干 and admin may do these four for the people
    of their villages), so the view never offers what would be refused."""
    registered = overview.registered
    row = overview.year_row()
    info = overview.year_info
    collect = (registered and info is not None and info.has_setting and info.phase != "before"
               and (row.status if row else None) in OWING)
    return CounterActions(collect=collect, buy_medicine=registered and bool(overview.issued_cards),
                          apply_card=registered, print_slip=True)


def resident_overview(ws: Workspace, actor: Actor, resident_id: str, *, today: date | None = None) -> ResidentOverview:
    """The whole counter view of one resident of the actor's villages (NotFound / PermissionDenied otherwise)."""
    today = today or date.today()
    year_start, year_end = f"{today.year:04d}-01", f"{today.year:04d}-12"
    with ws.read() as session:
        person = resident_or_404(session, actor, resident_id)
        names = place_names(session)
        detail = detail_of(person, names)
        household = None
        if person.household_id:
            row = session.get(Household, person.household_id)
            if row is not None and not row.deleted:
                household = household_of(session, row, names, today)
        county = ws.station.county_code if ws.station else ""
        year = current_benefit_year(session, county, today) if county else None
        if year is None:  # before the county opens a year: the newest year the person has
            year = session.scalar(select(func.max(Enrollment.year)).where(
                Enrollment.resident_id == person.id, Enrollment.deleted.is_(False)))

        enrollment = [
            YearRow(e.year, e.status, EnrollmentStatus.label_for(e.status), e.paid_fen, e.paid_date,
                    PaymentChannel.label_for(e.channel) if e.channel else "", e.subsidy_fen, e.subsidy_category,
                    e.other_channel_note, e.benefit_start)
            for e in session.scalars(select(Enrollment).where(Enrollment.resident_id == person.id,
                                                              Enrollment.deleted.is_(False))
                                     .order_by(Enrollment.year.desc()))]
        member_enrollment: dict[str, str] = {}
        if household is not None and year is not None:
            member_ids = [m.id for m in household.members]
            statuses = dict(session.execute(select(Enrollment.resident_id, Enrollment.status).where(
                Enrollment.resident_id.in_(member_ids), Enrollment.year == year, Enrollment.deleted.is_(False))).all())
            member_enrollment = {m: EnrollmentStatus.label_for(statuses[m]) if m in statuses else NOT_RECORDED
                                 for m in member_ids}

        due = None
        current = next((r for r in enrollment if r.year == year), None)
        if year is not None and (current.status if current else None) in OWING:
            premium = session.scalar(select(CountyYearSetting.premium_fen).where(
                CountyYearSetting.county_code == county, CountyYearSetting.year == year,
                CountyYearSetting.deleted.is_(False)))
            if premium is not None:
                due = max(premium - (current.subsidy_fen if current else 0), 0)

        cards = session.scalars(select(ChronicCard).where(ChronicCard.resident_id == person.id,
                                                          ChronicCard.deleted.is_(False))
                                .order_by(ChronicCard.applied_date.desc())).all()
        used: dict[str, int] = {}
        diseases: dict[str, tuple[str, str]] = {}
        if cards:
            card_ids = [c.id for c in cards]
            used = dict(session.execute(
                select(CardUsage.card_id, func.count()).where(
                    CardUsage.card_id.in_(card_ids), CardUsage.used.is_(True), CardUsage.deleted.is_(False),
                    and_(CardUsage.month >= year_start, CardUsage.month <= year_end))
                .group_by(CardUsage.card_id)).all())
            diseases = {code: (name, category) for code, name, category in session.execute(
                select(Disease.code, Disease.name, Disease.category).where(
                    Disease.code.in_({c.disease_code for c in cards})))}
        months = [f"{today.year:04d}-{m:02d}" for m in range(1, today.month + 1)]
        card_rows = []
        for card in cards:
            disease, category = diseases.get(card.disease_code, (card.disease_code, ""))
            issued = card.status == CardStatus.ISSUED.value
            next_refill = (card.last_refill_date + timedelta(days=card.supply_days)
                           if issued and card.last_refill_date else None)
            held = sum(1 for m in months if card_rules.held_in_month(m, card.benefit_start, card.cancelled_date)) \
                if card.benefit_start else 0
            card_rows.append(CardRow(card.id, disease, category, card.status, CardStatus.label_for(card.status),
                                     card.card_no, card.applied_date, card.benefit_start, card.last_refill_date,
                                     next_refill, used.get(card.id, 0), held))

        cases = session.scalars(select(AssistanceCase).where(AssistanceCase.resident_id == person.id,
                                                             AssistanceCase.deleted.is_(False))
                                .order_by(AssistanceCase.applied_date.desc())).all()
        types = dict(session.execute(select(AssistanceType.code, AssistanceType.name).where(
            AssistanceType.code.in_({c.type_code for c in cases}))).all()) if cases else {}
        case_rows = [CaseRow(c.id, c.applied_date, types.get(c.type_code, c.type_code), c.subject_category,
                             c.status, AssistanceStatus.label_for(c.status), c.hospital, c.total_fen,
                             c.assistance_fen, c.paid_date) for c in cases]

        entries = session.scalars(select(ServiceEntry).where(ServiceEntry.resident_id == person.id,
                                                             ServiceEntry.deleted.is_(False))
                                  .order_by(ServiceEntry.service_date.desc()).limit(RECENT_SERVICES)).all()
        doctors = dict(session.execute(select(User.username, User.display_name).where(
            User.username.in_({e.doctor_username for e in entries}))).all()) if entries else {}
        services = [ServiceRow(e.service_date, ServiceKind.label_for(e.kind),
                               doctors.get(e.doctor_username, e.doctor_username), e.note) for e in entries]

        township = session.scalar(select(Place.parent_code).where(Place.code == person.village_code))
        county_code = session.scalar(select(Place.parent_code).where(Place.code == township)) if township else None
    overview = ResidentOverview(
        detail, household, year, year_info(ws, year, today=today) if year is not None else None,
        member_enrollment, enrollment, card_rows, case_rows, services, due_fen=due,
        county_name=names.get(county_code or "", ""), township_name=names.get(township or "", ""), today=today)
    overview.actions = counter_actions(actor, overview)
    return overview


# --------------------------------------------------------------------------- the slip


SLIP_TITLE = "城乡居民医保参保缴费凭证及待遇查询单"


@dataclass(frozen=True)
class SlipLimits:
    """How many rows of each kind the slip lists (the newest); the rest are counted in a note."""

    years: int = 3
    members: int = 10
    cards: int = 3
    cases: int = 4


#: Tighter and tighter, until the slip fits one page (``resident_slip``'s ``fits``).
SLIP_STEPS = (SlipLimits(), SlipLimits(3, 6, 2, 2), SlipLimits(2, 4, 2, 1), SlipLimits(1, 0, 1, 1))


def date_text(day: date | None) -> str:
    """2026-03-01, or — for no date (the view and the slip)."""
    return f"{day:%Y-%m-%d}" if day else "—"


def money_text(fen: int) -> str:
    """12,300.00, or — for nothing (the view and the slip)."""
    return yuan(fen, thousands=True) if fen else "—"


def _more(what: str, total: int, shown: int) -> str:
    return f"{what}另有 {total - shown} 条较早的记录未列出。" if total > shown else ""


def slip_document(overview: ResidentOverview, *, masking, disclosure: str, issuer: str,
                  limits: SlipLimits = SlipLimits()) -> NoticeDocument:
    """The one-page 参保缴费凭证/待遇查询单, masked as a notice is (``masking`` is the notices'
    MaskingPolicy; ``disclosure`` the notices' none | category | disease for 病种 and 救助类别)."""
    d, today = overview.detail, overview.today
    members = overview.household.members if overview.household else []
    year = overview.year or today.year
    sex = Sex.label_for(d.sex)
    groups = "、".join(SpecialGroup(code).label for code in d.special_groups) or "普通居民"
    household_no = overview.household.household_no if overview.household else "—"
    intro = (f"姓名：{masking.name(d.name)}　　性别：{sex}　　年龄：{overview.age} 岁　　人员类别：{groups}\n"
             f"身份证号：{masking.id_number(d.id_number)}　　联系电话：{masking.phone(d.phone) or '—'}\n"
             f"住址：{d.village}{d.group}　　户编号：{household_no}　　状态：{d.status_label}")
    rows = [[str(r.year), r.status_label, money_text(r.paid_fen), r.channel or "—", date_text(r.paid_date),
             money_text(r.subsidy_fen), r.subsidy_category or r.other_channel_note or "—", date_text(r.benefit_start)]
            for r in overview.enrollment[:limits.years]]
    current = overview.year_row()
    if current is None:
        summary = f"{year} 年度尚未登记参保"
    elif EnrollmentStatus(current.status).is_covered:
        start = f"，待遇自 {current.benefit_start:%Y-%m-%d} 起享受" if current.benefit_start else ""
        summary = f"{year} 年度：{current.status_label}{start}"
    else:
        summary = f"{year} 年度：{current.status_label}"
    if overview.due_fen is not None:
        deadline = overview.year_info.deadline if overview.year_info else None
        summary += f"，应缴 {yuan(overview.due_fen)} 元" + (f"（缴费截止 {deadline:%Y-%m-%d}）" if deadline else "")
    summary += "。"

    blocks = []
    if members and limits.members:
        blocks.append({"title": f"家庭成员 {year} 年度参保情况", "layout": "detail",
                       "columns": [Column("姓名"), Column("与户主关系"), Column("性别"), Column("参保状态"),
                                   Column("人员状态")],
                       "rows": [[masking.name(m.name), m.relation, m.sex,
                                 overview.member_enrollment.get(m.id, NOT_RECORDED), m.status]
                                for m in members[:limits.members]]})
    card_columns = [Column("病种" if disclosure == "disease" else "病种类别")] if disclosure != "none" else []
    card_columns += [Column("办理状态"), Column("待遇起始", nowrap=True), Column(f"{today.year}年用卡\n(已用/持卡月)", nowrap=True),
                     Column("下次取药", nowrap=True)]
    card_rows = []
    for c in overview.cards[:limits.cards]:
        shown = [c.disease if disclosure == "disease" else (c.category or CHRONIC_FALLBACK_CATEGORY)] \
            if disclosure != "none" else []
        card_rows.append(shown + [c.status_label, date_text(c.benefit_start),
                                  f"{c.months_used}/{c.months_held}" if c.benefit_start else "—",
                                  date_text(c.next_refill)])
    blocks.append({"title": "门诊慢特病（慢病卡）", "layout": "detail", "columns": card_columns, "rows": card_rows})
    case_columns = [Column("申请日期", nowrap=True)]
    case_columns += [Column("救助类型")] if disclosure != "none" else []
    case_columns += [Column("办理状态"), Column("救助金额(元)", "right", True), Column("发放日期", nowrap=True)]
    case_rows = [[date_text(c.applied_date)] + ([c.type_name] if disclosure != "none" else [])
                 + [c.status_label, money_text(c.assistance_fen), date_text(c.paid_date)]
                 for c in overview.cases[:limits.cases]]
    blocks.append({"title": "医疗救助", "layout": "detail", "columns": case_columns, "rows": case_rows})

    notes = [masking_note(masking)]
    if disclosure == "none":
        notes.append("按最少必要原则，本单不打印病种和救助类型。")
    notes.append(_more("参保", len(overview.enrollment), limits.years))
    if members and len(members) > limits.members:
        notes.append(f"家庭成员另有 {len(members) - limits.members} 人未列出。")
    notes.append(_more("慢病卡", len(overview.cards), limits.cards))
    notes.append(_more("医疗救助", len(overview.cases), limits.cases))
    if overview.assistance_paid_fen:
        notes.append(f"历年已发放医疗救助合计 {yuan(overview.assistance_paid_fen, thousands=True)} 元。")
    notes.append("本单为村医保服务站查询凭证，具体待遇以县医保局系统记录为准。")
    return NoticeDocument(
        kind="enrollment", title=SLIP_TITLE, county_name=overview.county_name,
        township_name=overview.township_name, village_code=d.village_code or "", village_name=d.village,
        group_code=d.group_code, group_name=d.group, year=year, period_start=today, period_end=today,
        supervision_phone="", issuer=issuer, issue_date=today, intro=intro,
        columns=[Column("年度", nowrap=True), Column("参保状态"), Column("个人缴费\n(元)", "right", True),
                 Column("缴费渠道"), Column("缴费日期", nowrap=True), Column("资助金额\n(元)", "right", True),
                 Column("资助类别\n/说明"), Column("待遇起始", nowrap=True)],
        rows=rows, summary=summary, notes=["".join(n for n in notes if n)],
        masking={"enabled": masking.enabled, "id_mode": masking.id_mode, "disclosure": disclosure},
        layout="detail", blocks=blocks, is_notice=False)


def resident_slip(ws: Workspace, actor: Actor, resident_id: str, *, today: date | None = None,
                  fits: Callable[[NoticeDocument], bool] | None = None) -> NoticeDocument:
    """The 参保缴费凭证/待遇查询单 of one resident, masked by the station's notice settings.

    ``fits(doc)`` (e.g. "one A4 page", measured by the renderer) makes the lists shorter step by
    step (SLIP_STEPS) until the slip fits; the rows left out are counted in its note."""
    from .notices import get_settings

    settings = get_settings(ws)
    overview = resident_overview(ws, actor, resident_id, today=today)
    issuer = ws.station.name if ws.station else ""
    doc = None
    for limits in SLIP_STEPS:
        doc = slip_document(overview, masking=settings.masking, disclosure=settings.disclosure, issuer=issuer,
                            limits=limits)
        if fits is None or fits(doc):
            break
    return doc
