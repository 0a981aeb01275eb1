"""应享尽享: entitlement from the county's rules, 待落实 work items, 医疗救助落实率, 高额费用预警.

Definitions (docs/FIGURES.md says the same in words, with the SQL):

* **救助对象** here: residents whose special groups put them in 一至三类
  (``domain.entitlement.class_of_groups``; 四类 is recognised case by case and so never
  "missed" automatically). The class is the resident's as recorded now.
* **Qualifying settlement**: a 结算 of such a resident in the calendar year whose entitlement,
  computed over the person's settlements of the year in date order (起付 and 限额 carried),
  is above 0, and not marked 不适用.
* **待落实**: a qualifying settlement with no 救助 case linked to it (any status but deleted).
* **医疗救助落实率 (人)**: residents all of whose qualifying settlements have a linked case
  已发放 ÷ residents with at least one qualifying settlement. **(金额)**: Σ min(paid, entitled)
  over those settlements ÷ Σ entitled.
* **高额费用预警**: residents whose year's Σ 政策范围内个人自付 passes the county's threshold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from station_app.domain import entitlement as ent
from station_app.domain.enums import AssistanceStatus, Role, SpecialGroup
from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.domain.kpi import Ratio
from station_app.domain.masking import mask_id
from station_app.store.models import (
    AssistanceCase,
    AssistanceRule,
    BurdenAlert,
    BurdenAlertRule,
    Place,
    Resident,
    Settlement,
    SettlementReview,
)

from .changes import Actor
from .scope import check_village, in_scope, place_names, villages_in_scope
from .workspace import Workspace

PAID = AssistanceStatus.PAID.value
REFUSED = AssistanceStatus.REFUSED.value


# -- rules ----------------------------------------------------------------------------------------


def _county(session: Session, ws: Workspace) -> str | None:
    if ws.station is not None:
        return ws.station.county_code
    return session.scalar(select(Place.code).where(Place.level == "county").limit(1))


def rules_for_year(session: Session, county_code: str | None, year: int) -> dict[tuple[int, str], ent.AssistanceRule]:
    """The county's rules of ``year`` by (class, kind)."""
    query = select(AssistanceRule).where(AssistanceRule.year == year, AssistanceRule.deleted.is_(False))
    if county_code:
        query = query.where(AssistanceRule.county_code == county_code)
    return {(r.subject_class, r.kind): ent.AssistanceRule(
        r.subject_class, r.kind, r.deductible_fen, r.ratio_pct, r.self_referred_ratio_pct, r.annual_limit_fen,
        r.tilt_threshold_fen, r.tilt_ratio_pct, r.tilt_limit_fen, r.validity_months)
        for r in session.scalars(query)}


_GROUP_LABELS: dict[str, str] = {g.value: g.label for g in SpecialGroup}
_CLASS_CACHE: dict[str, int | None] = {}


def class_of_codes(special_groups: str) -> int | None:
    """一至三类 from a resident's stored special-group codes (by their names, see the domain)."""
    cached = _CLASS_CACHE.get(special_groups, 0)
    if cached != 0:
        return cached  # type: ignore[return-value]
    labels = [_GROUP_LABELS.get(code, code) for code in special_groups.split(",") if code]
    klass = ent.class_of_groups(labels)
    _CLASS_CACHE[special_groups] = klass
    return klass


def subject_choices(special_groups: str) -> list[str]:
    labels = [_GROUP_LABELS.get(code, code) for code in (special_groups or "").split(",") if code]
    return ent.subject_choices_for(labels)


# -- the entitlement of one case (the dialog) --------------------------------------------------


@dataclass(frozen=True)
class CaseQuestion:
    """What the dialog knows of a case, enough to compute its suggestion."""

    resident_id: str
    subject_category: str
    type_kind: str
    route: str
    policy_self_pay_fen: int
    day: date | None
    subject_since: date | None = None
    #: The case being edited (left out of its own history).
    case_id: str | None = None


def case_entitlement(ws: Workspace, actor: Actor, question: CaseQuestion) -> ent.Entitlement | None:
    """The suggestion for a case, after this year's earlier cases of the person (None: no rule)."""
    with ws.read() as session:
        return case_entitlement_in(session, ws, actor, question)


def case_entitlement_in(session: Session, ws: Workspace, actor: Actor,
                        question: CaseQuestion) -> ent.Entitlement | None:
    person = session.get(Resident, question.resident_id)
    if person is None or person.deleted:
        raise NotFound("找不到该居民。")
    check_village(session, actor, person.village_code)
    klass = ent.class_of_label(question.subject_category)
    day = question.day or date.today()
    if klass is None:
        return None
    rules = rules_for_year(session, _county(session, ws), day.year)
    rule = rules.get((klass, question.type_kind))
    if rule is None:
        return None
    # The person's earlier cases this year, across stations once synced: what they used.
    first, last = date(day.year, 1, 1), date(day.year, 12, 31)
    query = (select(AssistanceCase, _type_kind_column())
             .where(AssistanceCase.resident_id == person.id, AssistanceCase.deleted.is_(False),
                    AssistanceCase.status != REFUSED, AssistanceCase.discharged_on >= first,
                    AssistanceCase.discharged_on <= last))
    if question.case_id:
        query = query.where(AssistanceCase.id != question.case_id)
    state = ent.YearState()
    earlier = sorted(session.execute(query), key=lambda r: (r[0].discharged_on, r[0].applied_date, r[0].id))
    for case, kind in earlier:
        if case.discharged_on > day:
            continue
        case_class = ent.class_of_label(case.subject_category) or klass
        case_rule = rules.get((case_class, kind or "inpatient")) or rule
        base = case.policy_self_pay_fen or max(0, case.total_fen - case.basic_insurance_fen - case.serious_illness_fen)
        state = ent.advance(case_rule, ent.Visit(kind or "inpatient", case.route or "in_county", base, case.discharged_on),
                            state, case.assistance_fen, identity_since=case.subject_since)
    visit = ent.Visit(question.type_kind, question.route or "in_county", question.policy_self_pay_fen, day)
    return ent.entitle(rule, visit, state, identity_since=question.subject_since)


def _type_kind_column():
    from station_app.store.models import AssistanceType

    return (select(AssistanceType.kind).where(AssistanceType.code == AssistanceCase.type_code)
            .limit(1).scalar_subquery())


def type_kind(session: Session, type_code: str) -> str:
    from station_app.store.models import AssistanceType

    return session.scalar(select(AssistanceType.kind).where(AssistanceType.code == type_code).limit(1)) or "inpatient"


# -- the township's year: 待落实 and 落实率 --------------------------------------------------------


@dataclass(frozen=True)
class SettlementDue:
    """One qualifying settlement: what the rules say is due, and what became of it."""

    settlement_id: str
    settlement_no: str
    resident_id: str
    village_code: str
    subject_class: int
    settled_on: date
    hospital: str
    hospital_level: str
    kind: str
    route: str
    total_fen: int
    basic_insurance_fen: int
    serious_illness_fen: int
    policy_self_pay_fen: int
    entitled_fen: int
    case_id: str | None
    case_status: str | None
    paid_fen: int

    @property
    def pending(self) -> bool:
        """待落实: due, and no case opened for it."""
        return self.case_id is None

    @property
    def fulfilled(self) -> bool:
        return self.case_status == PAID


@dataclass
class VillageFulfilment:
    village_code: str
    village_name: str
    people: int = 0
    people_paid: int = 0
    entitled_fen: int = 0
    paid_fen: int = 0
    pending: int = 0
    pending_fen: int = 0

    @property
    def rate(self) -> Ratio:
        return Ratio(self.people_paid, self.people)

    @property
    def amount_rate(self) -> Ratio:
        return Ratio(self.paid_fen, self.entitled_fen)


@dataclass
class YearEntitlements:
    """Every qualifying settlement of the year in scope, and the figures made of them."""

    year: int
    dues: list[SettlementDue] = field(default_factory=list)
    villages: dict[str, VillageFulfilment] = field(default_factory=dict)
    #: Settlements of 救助对象 in the year marked 不适用.
    not_applicable: int = 0

    @property
    def total(self) -> VillageFulfilment:
        out = VillageFulfilment("", "合计")
        for v in self.villages.values():
            out.people += v.people
            out.people_paid += v.people_paid
            out.entitled_fen += v.entitled_fen
            out.paid_fen += v.paid_fen
            out.pending += v.pending
            out.pending_fen += v.pending_fen
        return out

    @property
    def rate(self) -> Ratio:
        return self.total.rate

    @property
    def amount_rate(self) -> Ratio:
        return self.total.amount_rate

    @property
    def pending_items(self) -> list[SettlementDue]:
        return [d for d in self.dues if d.pending]


def year_entitlements(ws: Workspace, actor: Actor, year: int, *, village_code: str | None = None) -> YearEntitlements:
    with ws.read() as session:
        return year_entitlements_in(session, ws, actor, year, village_code=village_code)


def year_entitlements_in(session: Session, ws: Workspace, actor: Actor, year: int, *,
                         village_code: str | None = None) -> YearEntitlements:
    allowed = villages_in_scope(session, actor)
    if village_code:
        check_village(session, actor, village_code)
    return compute_year(session, _county(session, ws), year, allowed=allowed, village_code=village_code)


def village_fulfilment(session: Session, county_code: str | None, year: int, village_code: str) -> VillageFulfilment:
    """One village's 医疗救助落实率 figures (the assistance notice prints them)."""
    result = compute_year(session, county_code, year, village_code=village_code)
    return result.villages.get(village_code) or VillageFulfilment(village_code, "")


def compute_year(session: Session, county_code: str | None, year: int, *, allowed: set[str] | None = None,
                 village_code: str | None = None) -> YearEntitlements:
    """The year's qualifying settlements and figures within ``allowed`` villages (None: all)."""
    rules = rules_for_year(session, county_code, year)
    first, last = date(year, 1, 1), date(year, 12, 31)
    rows = _hardship_settlements(session, first, last, allowed, village_code)
    cases: dict[str, tuple[str, str, int]] = {}
    reviewed: set[str] = set()
    if rows:
        for case_id, settlement_id, status, amount in session.execute(
                select(AssistanceCase.id, AssistanceCase.settlement_id, AssistanceCase.status,
                       AssistanceCase.assistance_fen)
                .where(AssistanceCase.settlement_id.is_not(None), AssistanceCase.deleted.is_(False),
                       in_scope(AssistanceCase.village_code, allowed))
                .order_by(AssistanceCase.applied_date)):
            # Several cases for one settlement (a refused one, then a new one): the paid one wins.
            prior = cases.get(settlement_id)
            if prior is None or prior[1] != PAID:
                cases[settlement_id] = (case_id, status, amount)
        reviewed = set(session.scalars(select(SettlementReview.settlement_id).where(
            SettlementReview.deleted.is_(False), in_scope(SettlementReview.village_code, allowed))))
    names = place_names(session)
    result = YearEntitlements(year)
    by_person: dict[str, list] = defaultdict(list)
    for row in rows:
        by_person[row[2]].append(row)
    rule_for = lambda klass, kind: rules.get((klass, kind))  # noqa: E731
    for resident_id, visits in by_person.items():
        klass = class_of_codes(visits[0][13])
        if klass is None:
            continue
        found, not_applicable = ent.person_dues(
            klass, [(v[0], v[4], v[7], v[8], v[12]) for v in visits], rule_for, cases, reviewed)
        result.not_applicable += not_applicable
        dues: list[SettlementDue] = []
        for due in found:
            (sid, number, _rid, village, day, hospital, level, kind, route, total, basic, serious, policy,
             _groups) = visits[due.index]
            case = due.case
            dues.append(SettlementDue(
                sid, number, resident_id, village, klass, day, hospital, level, kind, route, total, basic, serious,
                policy, due.entitled_fen, case[0] if case else None, case[1] if case else None, due.paid_fen))
        if not dues:
            continue
        village = dues[0].village_code
        figures = result.villages.get(village)
        if figures is None:
            figures = result.villages[village] = VillageFulfilment(village, names.get(village, village))
        figures.people += 1
        figures.people_paid += all(d.case_status == PAID for d in dues)
        for d in dues:
            figures.entitled_fen += d.entitled_fen
            figures.paid_fen += d.paid_fen
            if d.case_id is None:
                figures.pending += 1
                figures.pending_fen += d.entitled_fen
        result.dues.extend(dues)
    result.villages = dict(sorted(result.villages.items()))
    return result


#: Driven from the residents (a few thousand 救助对象 of 60,000) into the settlements' (resident,
#: day) index: CROSS JOIN keeps SQLite from scanning every settlement of the year instead.
_HARDSHIP_SETTLEMENTS = """
SELECT s.id, s.settlement_no, s.resident_id, s.village_code, s.settled_on, s.hospital, s.hospital_level, s.kind,
       s.route, s.total_fen, s.basic_insurance_fen, s.serious_illness_fen, s.policy_self_pay_fen, r.special_groups
FROM resident r CROSS JOIN settlement s ON s.resident_id = r.id
WHERE r.special_groups != '' AND r.deleted = 0 AND s.deleted = 0 AND s.settled_on BETWEEN :first AND :last
"""


def _hardship_settlements(session: Session, first: date, last: date, allowed: set[str] | None,
                          village_code: str | None) -> list[tuple]:
    """Settlements in [first, last] of residents in any special group, sorted per person by day."""
    sql = _HARDSHIP_SETTLEMENTS
    params: dict[str, object] = {"first": first.isoformat(), "last": last.isoformat()}
    if village_code:
        sql += " AND s.village_code = :village"
        params["village"] = village_code
    rows = session.execute(text(sql), params).all()
    fromiso = date.fromisoformat
    out = [(sid, no, rid, village, fromiso(day), *rest) for sid, no, rid, village, day, *rest in rows
           if allowed is None or village in allowed]
    out.sort(key=lambda r: (r[2], r[4], r[1]))
    return out


@dataclass(frozen=True)
class PendingRow:
    """A 待落实 line for the work list: who, what, how much is due (ID masked)."""

    due: SettlementDue
    name: str
    id_number_masked: str
    village_name: str

    @property
    def what(self) -> str:
        kind = ent.VisitKind(self.due.kind).label if self.due.kind in ent.VisitKind._value2member_map_ else self.due.kind
        return f"{self.due.settled_on.isoformat()} {self.due.hospital} {kind}结算"


def pending_list(ws: Workspace, actor: Actor, year: int, *, village_code: str | None = None) -> list[PendingRow]:
    """待落实 items, largest amount due first."""
    with ws.read() as session:
        figures = year_entitlements_in(session, ws, actor, year, village_code=village_code)
        items = figures.pending_items
        people = {}
        ids = sorted({d.resident_id for d in items})
        for start in range(0, len(ids), 500):
            for rid, name, number in session.execute(select(Resident.id, Resident.name, Resident.id_number)
                                                     .where(Resident.id.in_(ids[start:start + 500]))):
                people[rid] = (name, mask_id(number))
        names = place_names(session)
    items.sort(key=lambda d: (-d.entitled_fen, d.settled_on, d.settlement_no))
    return [PendingRow(d, *people.get(d.resident_id, ("", "")), names.get(d.village_code, d.village_code))
            for d in items]


def settlement_case_input(ws: Workspace, actor: Actor, settlement_id: str):
    """A new case's fields pre-filled from a settlement (the clerk opens a case for a 待落实 item)."""
    from .assistance import CaseInput

    with ws.read() as session:
        row = session.get(Settlement, settlement_id)
        if row is None or row.deleted:
            raise NotFound("找不到该结算记录。")
        check_village(session, actor, row.village_code)
        person = session.get(Resident, row.resident_id)
        from station_app.store.models import AssistanceType

        types = session.execute(select(AssistanceType.code, AssistanceType.kind).where(
            AssistanceType.active.is_(True), AssistanceType.deleted.is_(False))
            .order_by(AssistanceType.code)).all()
        type_code = next((c for c, k in types if k == row.kind), types[0][0] if types else "")
        choices = subject_choices(person.special_groups if person else "")
        self_pay = row.total_fen - row.basic_insurance_fen - row.serious_illness_fen
        return CaseInput(
            resident_id=row.resident_id, type_code=type_code, subject_category=choices[0], hospital=row.hospital,
            hospital_level=row.hospital_level, admitted_on=row.admitted_on or row.settled_on,
            discharged_on=row.settled_on, total_fen=row.total_fen, basic_insurance_fen=row.basic_insurance_fen,
            serious_illness_fen=row.serious_illness_fen, assistance_fen=0, self_pay_fen=max(0, self_pay),
            policy_self_pay_fen=row.policy_self_pay_fen, route=row.route, settlement_id=row.id)


def mark_not_applicable(ws: Workspace, actor: Actor, settlement_id: str, reason: str, *,
                        today: date | None = None) -> str:
    """Close a 待落实 item without a case: 不适用, with the reason (audited, synced)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("请填写不适用的原因（如：已在外县一站式结算救助）。", field="reason")
    if len(reason) > 200:
        raise ValidationError("原因不能超过 200 个字。", field="reason")
    with ws.unit_of_work(actor, "settlement_not_applicable") as session:
        row = session.get(Settlement, settlement_id)
        if row is None or row.deleted:
            raise NotFound("找不到该结算记录。")
        check_village(session, actor, row.village_code)
        exists = session.scalar(select(SettlementReview.id).where(
            SettlementReview.settlement_id == settlement_id, SettlementReview.deleted.is_(False)))
        if exists:
            raise ValidationError("该结算已标记为不适用。", code="duplicate")
        review = SettlementReview(settlement_id=row.id, resident_id=row.resident_id, village_code=row.village_code,
                                  reason=reason, decided_by=actor.display_name, decided_on=today or date.today())
        session.add(review)
        session.flush()
        return review.id


# -- 高额费用预警 ----------------------------------------------------------------------------------

OUTCOMES = {"monitor": "纳入监测", "not_monitor": "不纳入"}


@dataclass(frozen=True)
class BurdenFlag:
    resident_id: str
    name: str
    id_number_masked: str
    village_code: str
    village_name: str
    year: int
    burden_fen: int
    threshold_fen: int
    settlements: int
    largest_hospital: str
    outcome: str
    reason: str
    decided_by: str
    decided_on: date | None

    @property
    def outcome_label(self) -> str:
        return OUTCOMES.get(self.outcome, "待研判")


def burden_threshold(session: Session, ws: Workspace, year: int) -> int | None:
    county = _county(session, ws)
    query = select(BurdenAlertRule.threshold_fen).where(BurdenAlertRule.year == year,
                                                        BurdenAlertRule.deleted.is_(False))
    if county:
        query = query.where(BurdenAlertRule.county_code == county)
    return session.scalar(query.limit(1))


def burden_flags(ws: Workspace, actor: Actor, year: int) -> list[BurdenFlag]:
    """Residents whose year's 政策范围内自付 passes the county's threshold, with the evidence and outcome."""
    with ws.read() as session:
        threshold = burden_threshold(session, ws, year)
        if threshold is None:
            return []
        allowed = villages_in_scope(session, actor)
        total = func.sum(Settlement.policy_self_pay_fen)
        rows = session.execute(
            select(Settlement.resident_id, total, func.count(), func.max(Settlement.total_fen))
            .where(Settlement.deleted.is_(False), Settlement.settled_on >= date(year, 1, 1),
                   Settlement.settled_on <= date(year, 12, 31), in_scope(Settlement.village_code, allowed))
            .group_by(Settlement.resident_id).having(total > threshold)).all()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        people, decisions, largest = {}, {}, {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for p in session.execute(select(Resident.id, Resident.name, Resident.id_number, Resident.village_code)
                                     .where(Resident.id.in_(chunk))):
                people[p.id] = p
            for d in session.scalars(select(BurdenAlert).where(BurdenAlert.resident_id.in_(chunk),
                                                                BurdenAlert.year == year,
                                                                BurdenAlert.deleted.is_(False))):
                decisions[d.resident_id] = d
            for rid, hospital, amount in session.execute(
                    select(Settlement.resident_id, Settlement.hospital, Settlement.total_fen)
                    .where(Settlement.resident_id.in_(chunk), Settlement.deleted.is_(False),
                           Settlement.settled_on >= date(year, 1, 1), Settlement.settled_on <= date(year, 12, 31))):
                if rid not in largest or amount > largest[rid][1]:
                    largest[rid] = (hospital, amount)
        names = place_names(session)
    out = []
    for rid, burden, count, _biggest in rows:
        p = people.get(rid)
        if p is None:
            continue
        d = decisions.get(rid)
        out.append(BurdenFlag(rid, p.name, mask_id(p.id_number), p.village_code, names.get(p.village_code, ""), year,
                              int(burden), threshold, int(count), largest.get(rid, ("", 0))[0],
                              d.outcome if d else "", d.reason if d else "", d.decided_by if d else "",
                              d.decided_on if d else None))
    out.sort(key=lambda f: (f.outcome != "", -f.burden_fen))
    return out


def decide_burden_flag(ws: Workspace, actor: Actor, resident_id: str, year: int, *, outcome: str,
                       reason: str = "", today: date | None = None) -> str:
    """The township clerk's outcome: 纳入监测, or 不纳入 with the reason (audited, synced)."""
    if actor.role not in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value):
        raise PermissionDenied("只有乡镇医保专干可以研判高额费用预警。")
    if outcome not in OUTCOMES:
        raise ValidationError("请选择研判结果：纳入监测或不纳入。", field="outcome")
    reason = (reason or "").strip()
    if outcome == "not_monitor" and not reason:
        raise ValidationError("不纳入监测须填写原因。", field="reason")
    with ws.unit_of_work(actor, "burden_alert_decide") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        threshold = burden_threshold(session, ws, year)
        burden = session.scalar(select(func.sum(Settlement.policy_self_pay_fen)).where(
            Settlement.resident_id == resident_id, Settlement.deleted.is_(False),
            Settlement.settled_on >= date(year, 1, 1), Settlement.settled_on <= date(year, 12, 31))) or 0
        if threshold is None or burden <= threshold:
            raise ValidationError("该居民本年度个人自付未超过预警标准。", field="resident_id")
        alert = session.scalar(select(BurdenAlert).where(BurdenAlert.resident_id == resident_id,
                                                         BurdenAlert.year == year, BurdenAlert.deleted.is_(False)))
        if alert is None:
            alert = BurdenAlert(resident_id=resident_id, year=year, village_code=person.village_code)
            session.add(alert)
        alert.burden_fen, alert.threshold_fen = int(burden), threshold
        alert.outcome, alert.reason = outcome, reason
        alert.decided_by, alert.decided_on = actor.display_name, today or date.today()
        session.flush()
        return alert.id


def figures_by_village(result: YearEntitlements) -> Iterable[VillageFulfilment]:
    return result.villages.values()
