"""慢病档案: card lifecycle, monthly usage and 卡月使用率, the refill reminder list and its one-click actions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from station_app.domain import chronic as rules
from station_app.domain.enums import (
    CardStatus,
    EnrollmentStatus,
    OutreachResult,
    PlaceLevel,
    ResidentStatus,
    ServiceKind,
)
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.masking import mask_id
from station_app.store.models import CardUsage, ChronicCard, Disease, Enrollment, Place, Resident, ServiceEntry

from .changes import Actor
from .reference import county_rules
from .scope import check_village, in_scope, place_names, villages_in_scope
from .workspace import Workspace

S = CardStatus
#: Cards that can have been in force at some time (the usage grid and rates look at these).
HELD_STATUSES = (S.ISSUED.value, S.CANCELLED.value, S.SUSPENDED.value)
_COVERED = tuple(s.value for s in EnrollmentStatus if s.is_covered)
#: The card list's status filter value for the 复审 work list.
REVIEW_DUE_FILTER = "review_due"
REVIEW_WINDOW_DAYS = 30


# -- small shared helpers (the assistance and service-log services use them too) ---------------


def require_clerk(actor: Actor, what: str) -> None:
    rules.require_clerk(actor.role, what)


def village_choices(ws: Workspace, actor: Actor) -> list[tuple[str, str]]:
    """(code, name) of the villages the actor may see, in the county's order."""
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        query = select(Place.code, Place.name).where(Place.level == PlaceLevel.VILLAGE.value,
                                                     Place.deleted.is_(False))
        if allowed is None and ws.station is not None and ws.station.scope == "township":
            query = query.where(Place.parent_code == ws.station.place_code)
        elif allowed is not None:
            query = query.where(Place.code.in_(sorted(allowed)))
        return [(code, name) for code, name in session.execute(query.order_by(Place.sort_order, Place.code))]


def resident_or_404(session: Session, actor: Actor, resident_id: str) -> Resident:
    person = session.get(Resident, resident_id)
    if person is None or person.deleted:
        raise NotFound("找不到该居民。")
    check_village(session, actor, person.village_code)
    return person


def text_condition(text: str):
    """Name prefix, pinyin or initials prefix, or any part of the ID number or phone."""
    text = (text or "").strip()
    if not text:
        return None
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if re.fullmatch(r"[0-9Xx]+", text):
        return or_(Resident.id_number.like(f"%{like.upper()}%", escape="\\"),
                   Resident.phone.like(f"%{like}%", escape="\\"))
    if re.fullmatch(r"[A-Za-z]+", text):
        low = like.lower()
        return or_(Resident.name_initials.like(f"{low}%", escape="\\"),
                   Resident.name_pinyin.like(f"{low}%", escape="\\"))
    return Resident.name.like(f"{like}%", escape="\\")


def fetch_ids(session: Session, query) -> list[str]:
    """Ids of a list query through Core: the ORM's row loading costs ~5 µs a row, ~70 ms for
    the 14,000 entries of the service log, for nothing a list of ids needs."""
    return list(session.connection().execute(query).scalars())


def _today(today: date | None) -> date:
    return today or date.today()


@dataclass(frozen=True)
class _CardList:
    """What every card work list (复审, 用卡情况, 续药提醒) starts from: the actor's villages
    (the chosen one checked), and the names of places and diseases for the rows."""

    allowed: set[str] | None
    village_code: str | None
    names: dict[str, str]
    diseases: dict[str, str]

    def place(self, code: str | None) -> str:
        return self.names.get(code or "", "")

    def disease(self, code: str) -> str:
        return self.diseases.get(code, code)

    def scoped(self, query):
        """The card query limited to the actor's villages, and to the chosen village if any."""
        query = query.where(in_scope(ChronicCard.village_code, self.allowed))
        return query.where(ChronicCard.village_code == self.village_code) if self.village_code else query


def _villages(session: Session, actor: Actor, village_code: str | None) -> set[str] | None:
    """The actor's villages (None: unscoped), after checking the chosen ``village_code`` is one of them."""
    allowed = villages_in_scope(session, actor)
    if village_code:
        check_village(session, actor, village_code)
    return allowed


def _card_list(session: Session, actor: Actor, village_code: str | None) -> _CardList:
    return _CardList(_villages(session, actor, village_code), village_code, place_names(session),
                     dict(session.execute(select(Disease.code, Disease.name)).all()))


# -- reference --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiseaseChoice:
    code: str
    name: str
    category: str


def disease_choices(ws: Workspace) -> list[DiseaseChoice]:
    """The county's 慢特病 catalogue (active entries)."""
    with ws.read() as session:
        query = select(Disease.code, Disease.name, Disease.category).where(
            Disease.deleted.is_(False), Disease.active.is_(True))
        if ws.station is not None:
            query = query.where(Disease.county_code == ws.station.county_code)
        return [DiseaseChoice(*row) for row in session.execute(query.order_by(Disease.code))]


def _disease(session: Session, ws: Workspace, code: str) -> Disease:
    row = session.scalar(select(Disease).where(Disease.code == (code or "").strip(), Disease.deleted.is_(False)))
    if row is None or not row.active or (ws.station is not None and row.county_code != ws.station.county_code):
        raise ValidationError(f"病种“{code}”不在本县门诊慢特病目录中。", field="disease_code")
    return row


# -- lifecycle --------------------------------------------------------------------------------


def _card(session: Session, actor: Actor, card_id: str) -> ChronicCard:
    card = session.get(ChronicCard, card_id)
    if card is None or card.deleted:
        raise NotFound("找不到该慢病卡。")
    check_village(session, actor, card.village_code)
    return card


def _step(card: ChronicCard, target: CardStatus) -> None:
    rules.check_transition(card.status, target.value)


def apply_card(ws: Workspace, actor: Actor, *, resident_id: str, disease_code: str, materials: str,
               applied_date: date | None = None, diagnosis_note: str = "",
               supply_days: int = rules.DEFAULT_SUPPLY_DAYS, today: date | None = None) -> str:
    """申请: a new card for a registered resident and a catalogue disease; returns its id."""
    today = _today(today)
    applied_date = applied_date or today
    rules.validate_application(disease_code=disease_code, materials=materials, applied_date=applied_date,
                               today=today)
    rules.validate_supply_days(supply_days)
    with ws.unit_of_work(actor, "chronic_apply") as session:
        person = resident_or_404(session, actor, resident_id)
        if person.status != ResidentStatus.REGISTERED.value:
            raise ValidationError(f"该居民状态为“{ResidentStatus(person.status).label}”，不能申请慢病卡。",
                                  field="resident_id")
        disease = _disease(session, ws, disease_code)
        existing = session.scalar(select(ChronicCard.status).where(
            ChronicCard.resident_id == person.id, ChronicCard.disease_code == disease.code,
            ChronicCard.deleted.is_(False), ChronicCard.status.in_([s.value for s in rules.OPEN_STATUSES])))
        if existing is not None:
            raise ValidationError(f"{person.name}已有“{disease.name}”的慢病卡（{S(existing).label}），不能重复申请。",
                                  field="disease_code", code="duplicate")
        card = ChronicCard(resident_id=person.id, village_code=person.village_code, disease_code=disease.code,
                           status=S.APPLIED.value, applied_date=applied_date, materials=materials.strip(),
                           diagnosis_note=(diagnosis_note or "").strip(), supply_days=supply_days)
        session.add(card)
        session.flush()
        return card.id


def assess_card(ws: Workspace, actor: Actor, card_id: str, *, assessed_date: date | None = None,
                assessed_by: str, today: date | None = None) -> None:
    """认定 passed (专干/admin)."""
    require_clerk(actor, "认定慢病卡")
    today = _today(today)
    assessed_date = assessed_date or today
    with ws.unit_of_work(actor, "chronic_assess") as session:
        card = _card(session, actor, card_id)
        _step(card, S.ASSESSED)
        rules.validate_assessment(applied_date=card.applied_date, assessed_date=assessed_date,
                                  assessed_by=assessed_by, today=today)
        card.status = S.ASSESSED.value
        card.assessed_date = assessed_date
        card.assessed_by = assessed_by.strip()


def county_card_rules(ws: Workspace):
    """The county's rules (待遇起始, 复审 …) for dialogs that preview them."""
    with ws.read() as session:
        return county_rules(session, ws.station.county_code if ws.station else None)


def suggest_card_no(ws: Workspace, issued: date | None = None) -> str:
    """Next free number in the demo county's pattern MT<year><5 digits>; the clerk may overwrite it."""
    year = (issued or date.today()).year
    prefix = f"MT{year}"
    with ws.read() as session:
        numbers = session.scalars(select(ChronicCard.card_no).where(ChronicCard.card_no.like(f"{prefix}%")))
        highest = max((int(n[len(prefix):]) for n in numbers if n[len(prefix):].isdigit()), default=0)
    return f"{prefix}{highest + 1:05d}"


def issue_card(ws: Workspace, actor: Actor, card_id: str, *, card_no: str, issued_date: date | None = None,
               today: date | None = None) -> date:
    """已发卡 (专干/admin): card number and date. Returns the 待遇起始: the first of the month after
    the date the county's rule names (``card_benefit_start``: 审批通过 (认定) per the policy text,
    or 发卡); the 复审 is due ``card_review_months`` after it (county rule)."""
    require_clerk(actor, "发放慢病卡")
    today = _today(today)
    issued_date = issued_date or today
    card_no = (card_no or "").strip()
    with ws.unit_of_work(actor, "chronic_issue") as session:
        card = _card(session, actor, card_id)
        _step(card, S.ISSUED)
        rules.validate_issue(assessed_date=card.assessed_date, issued_date=issued_date, card_no=card_no, today=today)
        taken = session.scalar(select(ChronicCard.id).where(ChronicCard.card_no == card_no, ChronicCard.id != card.id,
                                                            ChronicCard.deleted.is_(False)).limit(1))
        if taken is not None:
            raise ValidationError(f"卡号 {card_no} 已被使用，请核对。", field="card_no", code="duplicate")
        county = county_rules(session, ws.station.county_code if ws.station else None)
        card.status = S.ISSUED.value
        card.card_no = card_no
        card.issued_date = issued_date
        card.benefit_start = county.card_benefit_start_of(card.assessed_date, issued_date)
        card.review_due = county.review_due(card.benefit_start)
        return card.benefit_start


def refuse_card(ws: Workspace, actor: Actor, card_id: str, *, reason: str, on: date | None = None,
                today: date | None = None) -> None:
    """未通过 at 认定 (专干/admin), with the reason (kept in the station, never on a notice)."""
    require_clerk(actor, "作出慢病卡认定结论")
    today = _today(today)
    on = on or today
    with ws.unit_of_work(actor, "chronic_refuse") as session:
        card = _card(session, actor, card_id)
        _step(card, S.REFUSED)
        rules.validate_refusal(applied_date=card.applied_date, on=on, reason=reason, today=today)
        card.status = S.REFUSED.value
        card.refused_reason = reason.strip()
        if card.assessed_date is None:
            card.assessed_date = on  # the day the 认定 concluded


def cancel_card(ws: Workspace, actor: Actor, card_id: str, *, reason: str, on: date | None = None,
                detail: str = "", today: date | None = None) -> None:
    """注销 an issued card: 死亡 / 治愈 / 迁出 / 其他 (with words). The village doctor may record it."""
    today = _today(today)
    on = on or today
    text = rules.cancel_reason_text(reason, detail)
    with ws.unit_of_work(actor, "chronic_cancel") as session:
        card = _card(session, actor, card_id)
        _step(card, S.CANCELLED)
        rules.validate_cancel(issued_date=card.issued_date, on=on, today=today)
        card.status = S.CANCELLED.value
        card.cancelled_date = on
        card.cancel_reason = text


# -- cards follow the person (county rules card_on_death / card_on_move_out / card_without_enrollment)


def _suspend(card: ChronicCard, on: date, reason: str) -> None:
    card.status = S.SUSPENDED.value
    card.suspended_date = on
    card.suspend_reason = reason


def _cancel(card: ChronicCard, on: date, reason: str) -> None:
    card.status = S.CANCELLED.value
    # Not before the card was issued (a death recorded late for a card issued since).
    card.cancelled_date = max(on, card.issued_date) if card.issued_date else on
    card.cancel_reason = reason


def follow_holder(session: Session, county_code: str | None, resident_id: str, status: str, on: date) -> int:
    """Apply the county's rule to the issued (or paused) cards of a resident who died or moved out,
    in the caller's unit of work; returns how many cards changed. Open applications are left for
    the clerk (they end at 认定). Called by ``households.set_status``."""
    county = county_rules(session, county_code)
    if status == ResidentStatus.DIED.value:
        action, reason = county.card_on_death, rules.REASON_DIED
    elif status == ResidentStatus.MOVED_OUT.value:
        action, reason = county.card_on_move_out, rules.REASON_MOVED
    else:
        return 0
    if action == "keep":
        return 0
    cards = session.scalars(select(ChronicCard).where(
        ChronicCard.resident_id == resident_id, ChronicCard.deleted.is_(False),
        ChronicCard.status.in_([S.ISSUED.value, S.SUSPENDED.value]))).all()
    for card in cards:
        if action == "cancel":
            _cancel(card, on, reason)
        elif card.status == S.ISSUED.value:
            _suspend(card, on, reason)
    return len(cards)


@dataclass(frozen=True)
class FollowResult:
    suspended: int
    cancelled: int
    resumed: int

    @property
    def text(self) -> str:
        return f"暂停 {self.suspended} 张、注销 {self.cancelled} 张、恢复 {self.resumed} 张"


def follow_enrollment(ws: Workspace, actor: Actor, year: int, *, on: date | None = None,
                      today: date | None = None) -> FollowResult:
    """年度核对: cards of 在册 holders not covered for ``year`` are paused (or cancelled, county
    rule ``card_without_enrollment``) with the reason 参保中断, from ``on`` (default 1 January of
    the year, or today if later); cards paused for 参保中断 whose holder is covered again resume.
    A township clerk runs it once the year's 集中缴费期 is over."""
    require_clerk(actor, "做慢病卡年度参保核对")
    today = _today(today)
    on = on or min(max(date(year, 1, 1), today), today)
    with ws.unit_of_work(actor, "chronic_follow_enrollment") as session:
        county = county_rules(session, ws.station.county_code if ws.station else None)
        allowed = villages_in_scope(session, actor)
        covered = set(session.scalars(select(Enrollment.resident_id).where(
            Enrollment.year == year, Enrollment.deleted.is_(False), Enrollment.status.in_(_COVERED),
            in_scope(Enrollment.village_code, allowed))))
        cards = session.scalars(select(ChronicCard).join(Resident, Resident.id == ChronicCard.resident_id).where(
            ChronicCard.deleted.is_(False), ChronicCard.status.in_([S.ISSUED.value, S.SUSPENDED.value]),
            Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
            in_scope(ChronicCard.village_code, allowed))).all()
        suspended = cancelled = resumed = 0
        for card in cards:
            if card.resident_id in covered:
                if card.status == S.SUSPENDED.value and card.suspend_reason == rules.REASON_NOT_ENROLLED:
                    card.status, card.suspended_date, card.suspend_reason = S.ISSUED.value, None, ""
                    resumed += 1
            elif card.status == S.ISSUED.value and county.card_without_enrollment != "keep":
                if county.card_without_enrollment == "cancel":
                    _cancel(card, on, rules.REASON_NOT_ENROLLED)
                    cancelled += 1
                else:
                    _suspend(card, on, rules.REASON_NOT_ENROLLED)
                    suspended += 1
    return FollowResult(suspended, cancelled, resumed)


def suspend_card(ws: Workspace, actor: Actor, card_id: str, *, reason: str, on: date | None = None,
                 today: date | None = None) -> None:
    """暂停 an issued card (参保中断 …), the reason kept."""
    today = _today(today)
    on = on or today
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写暂停原因。", field="suspend_reason")
    with ws.unit_of_work(actor, "chronic_suspend") as session:
        card = _card(session, actor, card_id)
        _step(card, S.SUSPENDED)
        rules.validate_cancel(issued_date=card.issued_date, on=on, today=today)
        _suspend(card, on, reason[:60])


def resume_card(ws: Workspace, actor: Actor, card_id: str) -> None:
    """恢复 a paused card (the holder is enrolled again)."""
    with ws.unit_of_work(actor, "chronic_resume") as session:
        card = _card(session, actor, card_id)
        _step(card, S.ISSUED)
        person = session.get(Resident, card.resident_id)
        if person is None or person.status != ResidentStatus.REGISTERED.value:
            raise ValidationError("该居民已不在册，慢病卡不能恢复。", field="status")
        card.status, card.suspended_date, card.suspend_reason = S.ISSUED.value, None, ""


@dataclass(frozen=True)
class ReviewDue:
    card_id: str
    resident_id: str
    name: str
    village_name: str
    disease_name: str
    card_no: str
    review_due: date
    days_left: int


def reviews_due(ws: Workspace, actor: Actor, *, within_days: int = 30, village_code: str | None = None,
                today: date | None = None) -> list[ReviewDue]:
    """复审 work list: issued cards of 在册 holders whose review falls due within ``within_days``
    (overdue first)."""
    today = _today(today)
    limit = today + timedelta(days=within_days)
    with ws.read() as session:
        cards = _card_list(session, actor, village_code)
        query = cards.scoped(
            select(ChronicCard.id, ChronicCard.resident_id, Resident.name, ChronicCard.village_code,
                   ChronicCard.disease_code, ChronicCard.card_no, ChronicCard.review_due)
            .join(Resident, Resident.id == ChronicCard.resident_id)
            .where(ChronicCard.deleted.is_(False), ChronicCard.status == S.ISSUED.value,
                   ChronicCard.review_due.is_not(None), ChronicCard.review_due <= limit,
                   Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value)
            .order_by(ChronicCard.review_due, Resident.name_pinyin, ChronicCard.id))
        rows = session.connection().execute(query).all()
    return [ReviewDue(cid, rid, name, cards.place(village), cards.disease(disease), card_no, due,
                      (due - today).days) for cid, rid, name, village, disease, card_no, due in rows]


def review_card(ws: Workspace, actor: Actor, card_id: str, *, passed: bool, on: date | None = None,
                today: date | None = None) -> date | None:
    """复审 (专干/admin): passed → the next review is due a county period later (returned);
    not passed → the card is cancelled with the reason 复审未通过."""
    require_clerk(actor, "办理慢病卡复审")
    today = _today(today)
    on = on or today
    with ws.unit_of_work(actor, "chronic_review") as session:
        card = _card(session, actor, card_id)
        if card.status != S.ISSUED.value:
            raise ValidationError(f"慢病卡当前状态为“{S(card.status).label}”，不能复审。", field="status")
        rules.validate_cancel(issued_date=card.issued_date, on=on, today=today)
        if not passed:
            _step(card, S.CANCELLED)
            _cancel(card, on, rules.REASON_REVIEW_FAILED)
            card.review_due = None
            return None
        county = county_rules(session, ws.station.county_code if ws.station else None)
        card.review_due = county.review_due(card.review_due or on)  # the yearly cycle keeps its day
        return card.review_due


def card_holders(ws: Workspace, actor: Actor, *, on: date, village_code: str | None = None) -> int:
    """持卡人数 on a day: people (not cards) with an issued card whose benefit has started, 在册
    and not paused — what a notice means by 「持卡 N 人」 (docs/FIGURES.md)."""
    with ws.read() as session:
        allowed = _villages(session, actor, village_code)
        query = (select(func.count(func.distinct(ChronicCard.resident_id)))
                 .join(Resident, Resident.id == ChronicCard.resident_id)
                 .where(ChronicCard.deleted.is_(False), ChronicCard.status == S.ISSUED.value,
                        ChronicCard.benefit_start.is_not(None), ChronicCard.benefit_start <= on,
                        Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value,
                        in_scope(ChronicCard.village_code, allowed)))
        if village_code:
            query = query.where(ChronicCard.village_code == village_code)
        return session.scalar(query) or 0


def edit_card(ws: Workspace, actor: Actor, card_id: str, *, disease_code: str | None = None,
              applied_date: date | None = None, materials: str | None = None, diagnosis_note: str | None = None,
              supply_days: int | None = None, today: date | None = None) -> None:
    """Correct a card. Disease, application date and materials only while it is still 申请."""
    today = _today(today)
    with ws.unit_of_work(actor, "chronic_edit") as session:
        card = _card(session, actor, card_id)
        application = (disease_code, applied_date, materials)
        changes_application = any(
            v is not None and v != getattr(card, k)
            for k, v in zip(("disease_code", "applied_date", "materials"), application))
        if changes_application:
            if card.status != S.APPLIED.value:
                raise ValidationError(f"慢病卡已“{S(card.status).label}”，病种、申请日期和申请材料不能再改。",
                                      field="status")
            new_disease = disease_code if disease_code is not None else card.disease_code
            new_date = applied_date if applied_date is not None else card.applied_date
            new_materials = materials if materials is not None else card.materials
            rules.validate_application(disease_code=new_disease, materials=new_materials, applied_date=new_date,
                                       today=today)
            if new_disease != card.disease_code:
                disease = _disease(session, ws, new_disease)
                clash = session.scalar(select(ChronicCard.id).where(
                    ChronicCard.resident_id == card.resident_id, ChronicCard.disease_code == disease.code,
                    ChronicCard.id != card.id, ChronicCard.deleted.is_(False),
                    ChronicCard.status.in_([s.value for s in rules.OPEN_STATUSES])).limit(1))
                if clash is not None:
                    raise ValidationError(f"该居民已有“{disease.name}”的慢病卡，不能重复。", field="disease_code")
                card.disease_code = disease.code
            card.applied_date = new_date
            card.materials = new_materials.strip()
        if diagnosis_note is not None:
            card.diagnosis_note = diagnosis_note.strip()
        if supply_days is not None:
            card.supply_days = rules.validate_supply_days(supply_days)


@dataclass(frozen=True)
class CardDetail:
    id: str
    resident_id: str
    resident_name: str
    id_number_masked: str
    village_name: str
    disease_code: str
    disease_name: str
    status: str
    applied_date: date
    materials: str
    assessed_date: date | None
    assessed_by: str
    issued_date: date | None
    card_no: str
    benefit_start: date | None
    refused_reason: str
    cancelled_date: date | None
    cancel_reason: str
    last_refill_date: date | None
    supply_days: int
    diagnosis_note: str
    review_due: date | None = None
    suspended_date: date | None = None
    suspend_reason: str = ""

    @property
    def status_label(self) -> str:
        return S(self.status).label

    @property
    def steps(self) -> frozenset[CardStatus]:
        return rules.allowed_steps(self.status)


def card_detail(ws: Workspace, actor: Actor, card_id: str) -> CardDetail:
    with ws.read() as session:
        card = _card(session, actor, card_id)
        person = session.get(Resident, card.resident_id)
        disease = session.scalar(select(Disease.name).where(Disease.code == card.disease_code))
        names = place_names(session)
        return CardDetail(
            card.id, card.resident_id, person.name if person else "", mask_id(person.id_number) if person else "",
            names.get(card.village_code or "", ""), card.disease_code, disease or card.disease_code, card.status,
            card.applied_date, card.materials, card.assessed_date, card.assessed_by, card.issued_date, card.card_no,
            card.benefit_start, card.refused_reason, card.cancelled_date, card.cancel_reason, card.last_refill_date,
            card.supply_days, card.diagnosis_note, card.review_due, card.suspended_date, card.suspend_reason)


# -- the card list (LazyTableModel) -----------------------------------------------------------


@dataclass(frozen=True)
class CardFilters:
    village_code: str | None = None
    status: str | None = None
    disease_code: str | None = None
    text: str = ""


def _refill_due_expr():
    # SQLite: days since the epoch of the day the medicine runs out.
    return func.julianday(ChronicCard.last_refill_date) + ChronicCard.supply_days


CARD_SORTS = {
    "name": lambda: Resident.name_pinyin,
    "village": lambda: ChronicCard.village_code,
    "group": lambda: Resident.group_code,
    "disease": lambda: ChronicCard.disease_code,
    "status": lambda: ChronicCard.status,
    "applied_date": lambda: ChronicCard.applied_date,
    "assessed_date": lambda: ChronicCard.assessed_date,
    "issued_date": lambda: ChronicCard.issued_date,
    "card_no": lambda: ChronicCard.card_no,
    "benefit_start": lambda: ChronicCard.benefit_start,
    "refill_due": _refill_due_expr,
}


def card_ids(ws: Workspace, actor: Actor, filters: CardFilters | None = None, sort: str | None = None,
             asc: bool = True) -> list[str]:
    """Ids of the cards in scope matching the filters, in display order (default: newest application first)."""
    filters = filters or CardFilters()
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        query = (select(ChronicCard.id).join(Resident, Resident.id == ChronicCard.resident_id)
                 .where(ChronicCard.deleted.is_(False), in_scope(ChronicCard.village_code, allowed)))
        if filters.village_code:
            query = query.where(ChronicCard.village_code == filters.village_code)
        if filters.status == REVIEW_DUE_FILTER:
            # The 复审 work list: issued cards whose review falls due within 30 days, or is overdue.
            query = query.where(ChronicCard.status == S.ISSUED.value, ChronicCard.review_due.is_not(None),
                                ChronicCard.review_due <= date.today() + timedelta(days=REVIEW_WINDOW_DAYS))
        elif filters.status:
            query = query.where(ChronicCard.status == filters.status)
        if filters.disease_code:
            query = query.where(ChronicCard.disease_code == filters.disease_code)
        condition = text_condition(filters.text)
        if condition is not None:
            query = query.where(condition)
        if sort in CARD_SORTS:
            key = CARD_SORTS[sort]()
            query = query.order_by(key.asc() if asc else key.desc(), Resident.name_pinyin, ChronicCard.id)
        else:
            query = query.order_by(ChronicCard.applied_date.desc(), ChronicCard.village_code, Resident.name_pinyin,
                                   ChronicCard.id)
        return fetch_ids(session, query)


def card_rows(ws: Workspace, ids: Sequence[str], *, today: date | None = None) -> dict[str, dict[str, Any]]:
    """One page of the card list: {card id: {column key: value}}."""
    today = _today(today)
    if not ids:
        return {}
    with ws.read() as session:
        names = place_names(session)
        diseases = {code: (name, category) for code, name, category in
                    session.execute(select(Disease.code, Disease.name, Disease.category))}
        rows = session.execute(
            select(ChronicCard, Resident.name, Resident.id_number, Resident.group_code, Resident.phone)
            .join(Resident, Resident.id == ChronicCard.resident_id)
            .where(ChronicCard.id.in_(list(ids))))
        out: dict[str, dict[str, Any]] = {}
        for card, name, id_number, group_code, phone in rows:
            disease, category = diseases.get(card.disease_code, (card.disease_code, ""))
            due = (rules.refill_due(card.last_refill_date, card.supply_days)
                   if card.status == S.ISSUED.value and card.last_refill_date else None)
            note = card.refused_reason if card.status == S.REFUSED.value else (
                card.cancel_reason if card.status == S.CANCELLED.value else (
                    f"暂停：{card.suspend_reason}" if card.status == S.SUSPENDED.value else ""))
            out[card.id] = dict(
                name=name, id_number=mask_id(id_number), village=names.get(card.village_code or "", ""),
                group=names.get(group_code or "", ""), phone=phone, disease=disease, category=category,
                status=S(card.status).label, status_code=card.status, applied_date=card.applied_date,
                assessed_date=card.assessed_date, issued_date=card.issued_date, card_no=card.card_no,
                benefit_start=card.benefit_start, refill_due=due,
                refill_text=rules.refill_text(due, today) if due else "", note=note,
                review_due=card.review_due, resident_id=card.resident_id)
        return out


# -- monthly usage ----------------------------------------------------------------------------


def _months(months: int | Sequence[str], today: date) -> list[str]:
    if isinstance(months, int):
        return rules.months_ending(rules.month_key(today), months)
    keys = [rules.month_key(rules.parse_month(m)) for m in months]
    return sorted(set(keys))


def _held_cards_query(allowed: set[str] | None, months: list[str], village_code: str | None):
    first, last = rules.parse_month(months[0]), rules.month_last_day(months[-1])
    query = (select(ChronicCard.id, ChronicCard.resident_id, ChronicCard.benefit_start, ChronicCard.cancelled_date,
                    ChronicCard.suspended_date, Resident.status, Resident.status_date)
             .join(Resident, Resident.id == ChronicCard.resident_id)
             .where(ChronicCard.deleted.is_(False), Resident.deleted.is_(False),
                    ChronicCard.status.in_(HELD_STATUSES), ChronicCard.benefit_start.is_not(None),
                    ChronicCard.benefit_start <= last,
                    or_(ChronicCard.cancelled_date.is_(None), ChronicCard.cancelled_date >= first),
                    in_scope(ChronicCard.village_code, allowed)))
    if village_code:
        query = query.where(ChronicCard.village_code == village_code)
    return query


def _used_months(session: Session, allowed: set[str] | None, months: list[str],
                 village_code: str | None, card_id: str | None = None) -> dict[str, set[str]]:
    """card id → the months in ``months`` it is marked used: one row per card (group_concat),
    so at 60k residents ~2,300 rows cross into Python instead of ~16,000."""
    query = select(CardUsage.card_id, func.group_concat(CardUsage.month)).where(
        CardUsage.used.is_(True), CardUsage.deleted.is_(False), CardUsage.month.in_(months),
        in_scope(CardUsage.village_code, allowed))
    if village_code:
        query = query.where(CardUsage.village_code == village_code)
    if card_id:
        query = query.where(CardUsage.card_id == card_id)
    return {cid: set(joined.split(",")) for cid, joined in
            session.connection().execute(query.group_by(CardUsage.card_id))}


def card_usage_rates(ws: Workspace, actor: Actor, months: int | Sequence[str] = 12, *,
                     village_code: str | None = None, today: date | None = None) -> list[rules.MonthlyUsage]:
    """卡月使用率 per month, oldest first: holders who used a card / holders of a card in force.

    ``months`` is a count (that many months ending with the current one) or "YYYY-MM" keys.
    See ``domain.chronic.monthly_usage`` for who counts as a holder.
    """
    keys = _months(months, _today(today))
    with ws.read() as session:
        allowed = _villages(session, actor, village_code)
        rows = session.connection().execute(_held_cards_query(allowed, keys, village_code)).all()
        cards = _held_cards(session, rows, keys)
        used = _used_months(session, allowed, keys, village_code)
    return rules.monthly_usage(cards, used, keys)


def _held_cards(session: Session, rows, months: list[str]) -> list[rules.HeldCard]:
    """HeldCards that follow their holder: a card stops counting after the holder's death or move
    (their status date) or its suspension, and in a year the holder was not enrolled for
    (docs/FIGURES.md, 卡月使用率)."""
    years = sorted({int(m[:4]) for m in months})
    holders = {row[1] for row in rows}
    covered: dict[str, set[int]] = {}
    if holders:
        # One pass from the card holders (a few thousand) to their records of these years,
        # through the (resident_id, year) unique index.
        card_holders = (select(ChronicCard.resident_id).where(
            ChronicCard.deleted.is_(False), ChronicCard.status.in_(HELD_STATUSES)).distinct().subquery())
        for rid, year in session.connection().execute(
                select(Enrollment.resident_id, Enrollment.year)
                .select_from(card_holders).join(Enrollment, Enrollment.resident_id == card_holders.c.resident_id)
                .where(Enrollment.year.in_(years), Enrollment.deleted.is_(False), Enrollment.status.in_(_COVERED))):
            if rid in holders:
                covered.setdefault(rid, set()).add(year)
    # A year the station keeps no enrollment records for (not started, or before the station's
    # time) says nothing about anyone's cover: it is not checked.
    unknown = frozenset(y for y in years if session.scalar(
        select(Enrollment.id).where(Enrollment.year == y, Enrollment.deleted.is_(False)).limit(1)) is None)
    out = []
    for cid, rid, start, cancelled, suspended, status, status_date in rows:
        ends = [d for d in (suspended, status_date if status != ResidentStatus.REGISTERED.value else None) if d]
        out.append(rules.HeldCard(cid, rid, start, cancelled, min(ends) if ends else None,
                                  frozenset(covered.get(rid, ())) | unknown))
    return out


@dataclass
class UsageRow:
    card_id: str
    resident_name: str
    village_name: str
    disease_name: str
    card_no: str
    #: month → True (used) / False (held, not used) / None (not in force that month).
    cells: dict[str, bool | None] = field(default_factory=dict)


@dataclass
class UsageGrid:
    months: list[str]
    rows: list[UsageRow]
    rates: list[rules.MonthlyUsage]


def usage_grid(ws: Workspace, actor: Actor, *, village_code: str | None = None, card_id: str | None = None,
               end_month: str | None = None, months: int = 12, today: date | None = None) -> UsageGrid:
    """Month-by-month use of each card in force in the 12 months ending ``end_month`` (a village, or one card)."""
    today = _today(today)
    keys = rules.months_ending(end_month or rules.month_key(today), months)
    with ws.read() as session:
        cards = _card_list(session, actor, village_code)
        allowed = cards.allowed
        # The rates' own query (the first seven columns feed _held_cards), plus what a row shows.
        query = _held_cards_query(allowed, keys, village_code).add_columns(
            Resident.name, ChronicCard.village_code, ChronicCard.disease_code, ChronicCard.card_no)
        if card_id:
            query = query.where(ChronicCard.id == card_id)
        records = session.connection().execute(query.order_by(ChronicCard.village_code, Resident.name_pinyin, ChronicCard.id)).all()
        used = _used_months(session, allowed, keys, village_code, card_id) if records else {}
        held = _held_cards(session, [r[:7] for r in records], keys)
    rows = []
    for card, (cid, *_rest, name, village, disease, card_no) in zip(held, records):
        first = rules.month_key(card.benefit_start)  # held_in_month's rule, with the keys worked out once per card
        last = rules.month_key(card.cancelled_date) if card.cancelled_date else None
        ended = rules.month_key(card.ended) if card.ended else None
        card_used = used.get(cid, ())

        def in_force(m: str) -> bool:
            return (first <= m and (last is None or m <= last) and (ended is None or m <= ended)
                    and (card.covered_years is None or int(m[:4]) in card.covered_years))
        cells = {m: (m in card_used) if in_force(m) else None for m in keys}
        rows.append(UsageRow(cid, name, cards.place(village), cards.disease(disease), card_no, cells))
    return UsageGrid(keys, rows, rules.monthly_usage(held, used, keys))


def _mark(session: Session, card: ChronicCard, month: str, used: bool, source: str = "clinic") -> None:
    row = session.scalar(select(CardUsage).where(CardUsage.card_id == card.id, CardUsage.month == month))
    if row is None:
        session.add(CardUsage(card_id=card.id, month=month, used=used, source=source,
                              village_code=card.village_code))
        return
    if row.deleted:
        row.deleted = False
    if row.used != used:
        row.used = used
        row.source = source


def set_usage(ws: Workspace, actor: Actor, card_id: str, month: str, used: bool, *,
              today: date | None = None) -> None:
    """Record at the clinic whether the holder used the card in ``month`` ("YYYY-MM")."""
    today = _today(today)
    month = rules.month_key(rules.parse_month(month))
    if month > rules.month_key(today):
        raise ValidationError("不能登记未来月份的用卡情况。", field="month")
    with ws.unit_of_work(actor, "chronic_usage") as session:
        card = _card(session, actor, card_id)
        if card.status not in HELD_STATUSES or not rules.held_in_month(month, card.benefit_start, card.cancelled_date):
            raise ValidationError(f"该慢病卡在 {month} 不在有效期内（待遇起始 "
                                  f"{card.benefit_start.isoformat() if card.benefit_start else '—'}），不能登记用卡。",
                                  field="month")
        _mark(session, card, month, used)


# -- refills ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefillDue:
    card_id: str
    resident_id: str
    name: str
    village_name: str
    group_name: str
    phone: str
    disease_name: str
    card_no: str
    last_refill_date: date
    supply_days: int
    due_date: date
    days_left: int
    #: The latest 提醒 recorded for this person since their last refill, if any.
    reminded_on: date | None

    @property
    def due_text(self) -> str:
        return rules.refill_text(self.due_date, self.due_date - timedelta(days=self.days_left))


def refill_reminders(ws: Workspace, actor: Actor, *, village_code: str | None = None, today: date | None = None,
                     window_days: int = rules.REFILL_WINDOW_DAYS) -> list[RefillDue]:
    """Issued cards of registered residents whose medicine runs out within ``window_days`` days.

    Overdue ones first (earliest run-out date first), then by name.
    """
    today = _today(today)
    limit = date.fromordinal(today.toordinal() + window_days)
    due_expr = _refill_due_expr()
    with ws.read() as session:
        cards = _card_list(session, actor, village_code)
        query = cards.scoped(
            select(ChronicCard.id, ChronicCard.resident_id, Resident.name, ChronicCard.village_code,
                   Resident.group_code, Resident.phone, ChronicCard.disease_code, ChronicCard.card_no,
                   ChronicCard.last_refill_date, ChronicCard.supply_days)
            .join(Resident, Resident.id == ChronicCard.resident_id)
            .where(ChronicCard.deleted.is_(False), ChronicCard.status == S.ISSUED.value,
                   ChronicCard.last_refill_date.is_not(None), due_expr <= func.julianday(limit),
                   Resident.deleted.is_(False), Resident.status == ResidentStatus.REGISTERED.value)
            .order_by(due_expr, Resident.name_pinyin, ChronicCard.id))
        records = session.connection().execute(query).all()
        residents = sorted({r[1] for r in records})
        reminded: dict[str, list[date]] = {}
        if residents:
            since = min(r[8] for r in records)
            for rid, day in session.connection().execute(select(ServiceEntry.resident_id, ServiceEntry.service_date).where(
                    ServiceEntry.kind == ServiceKind.REMINDER.value, ServiceEntry.deleted.is_(False),
                    ServiceEntry.service_date >= since, ServiceEntry.resident_id.in_(residents))):
                reminded.setdefault(rid, []).append(day)
    out = []
    for cid, rid, name, village, group, phone, disease, card_no, last, supply in records:
        due = rules.refill_due(last, supply)
        days = [d for d in reminded.get(rid, []) if d >= last]
        out.append(RefillDue(cid, rid, name, cards.place(village), cards.place(group), phone,
                             cards.disease(disease), card_no, last, supply, due, (due - today).days,
                             max(days) if days else None))
    return out


def _issued_card_for_service(session: Session, actor: Actor, card_id: str) -> tuple[ChronicCard, Resident, str]:
    card = _card(session, actor, card_id)
    if card.status != S.ISSUED.value:
        raise ValidationError(f"慢病卡当前状态为“{S(card.status).label}”，只有已发卡的可以登记取药或提醒。",
                              field="status")
    person = session.get(Resident, card.resident_id)
    if person is None or person.deleted or person.status != ResidentStatus.REGISTERED.value:
        raise ValidationError("该居民已不在册，不能登记服务。", field="resident_id")
    disease = session.scalar(select(Disease.name).where(Disease.code == card.disease_code)) or card.disease_code
    return card, person, disease


def _service_day(card: ChronicCard, on: date | None, today: date) -> date:
    on = on or today
    if on > today:
        raise ValidationError("服务日期不能晚于今天。", field="service_date")
    if card.issued_date and on < card.issued_date:
        raise ValidationError("服务日期不能早于发卡日期。", field="service_date")
    return on


def buy_medicine(ws: Workspace, actor: Actor, card_id: str, *, on: date | None = None, note: str = "",
                 mark_used: bool = True, today: date | None = None) -> str:
    """代购药 in one unit of work: a service entry by the signed-in doctor, the card's last refill
    set to that day, and (``mark_used``) the month marked used — the doctor bought the medicine
    with the holder's card at the designated clinic. Returns the service entry id."""
    today = _today(today)
    with ws.unit_of_work(actor, "chronic_buy_medicine") as session:
        card, person, disease = _issued_card_for_service(session, actor, card_id)
        on = _service_day(card, on, today)
        entry = ServiceEntry(resident_id=person.id, village_code=person.village_code, kind=ServiceKind.MEDICINE.value,
                             service_date=on, doctor_username=actor.username,
                             note=(note or "").strip() or f"代购{disease}用药")
        session.add(entry)
        if card.last_refill_date is None or card.last_refill_date < on:
            card.last_refill_date = on
        month = rules.month_key(on)
        if mark_used and rules.held_in_month(month, card.benefit_start, card.cancelled_date):
            _mark(session, card, month, True)
        session.flush()
        return entry.id


def _remind(session: Session, actor: Actor, card_id: str, on: date | None, today: date,
            note: str = "") -> ServiceEntry:
    card, person, disease = _issued_card_for_service(session, actor, card_id)
    entry = ServiceEntry(resident_id=person.id, village_code=person.village_code, kind=ServiceKind.REMINDER.value,
                         service_date=_service_day(card, on, today), doctor_username=actor.username,
                         note=(note or "").strip() or f"提醒按时取药（{disease}）")
    session.add(entry)
    return entry


def remind_refill(ws: Workspace, actor: Actor, card_id: str, *, on: date | None = None, note: str = "",
                  today: date | None = None) -> str:
    """提醒 call: a service entry of kind reminder by the signed-in doctor. Returns its id."""
    with ws.unit_of_work(actor, "chronic_remind") as session:
        entry = _remind(session, actor, card_id, on, _today(today), note)
        session.flush()
        return entry.id


def apply_refill_outcome(session: Session, actor: Actor, card_id: str, result: str, *, on: date | None = None,
                         today: date | None = None, note: str = "") -> tuple[Resident, date]:
    """What a 续药提醒 outcome does besides being recorded (services.outreach), in the caller's unit
    of work: 已提醒 is a 提醒 service by the signed-in doctor (their 绩效 counts it); 已取药 — the
    holder fetched the medicine themselves — moves the card's last refill to that day, so the
    holder leaves the list; 未接通 changes nothing. Returns the holder and the day."""
    today = _today(today)
    card, person, _disease = _issued_card_for_service(session, actor, card_id)
    on = _service_day(card, on, today)
    if result == OutreachResult.REMINDED.value:
        _remind(session, actor, card_id, on, today, note)
    elif result == OutreachResult.REFILLED.value and (card.last_refill_date is None or card.last_refill_date < on):
        card.last_refill_date = on
    return person, on


def record_refill(ws: Workspace, actor: Actor, card_id: str, *, on: date | None = None,
                  supply_days: int | None = None, today: date | None = None) -> None:
    """The holder fetched the medicine themselves: only the refill date (and supply) change."""
    today = _today(today)
    with ws.unit_of_work(actor, "chronic_refill") as session:
        card, _person, _disease = _issued_card_for_service(session, actor, card_id)
        card.last_refill_date = _service_day(card, on, today)
        if supply_days is not None:
            card.supply_days = rules.validate_supply_days(supply_days)
