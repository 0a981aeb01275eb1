"""医疗救助: cases with a validated cost split and the rules' suggestion, the 申请 → 审核 → 已发放 / 未通过
flow, 1+N referrals, case counts (医疗救助落实率 itself is ``services.entitlement``'s)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Sequence

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from station_app.domain import assistance as rules
from station_app.domain.enums import AssistanceStatus, HospitalLevel, ReferralAgency
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.kpi import Ratio
from station_app.domain.masking import mask_id
from station_app.domain import entitlement as ent
from station_app.store.models import AssistanceCase, AssistanceReferral, AssistanceType, Resident, Settlement

from . import entitlement
from .changes import Actor
from .chronic import fetch_ids, require_clerk, resident_or_404, text_condition
from .scope import check_village, in_scope, place_names, villages_in_scope
from .workspace import Workspace

A = AssistanceStatus


def _today(today: date | None) -> date:
    return today or date.today()


# -- reference --------------------------------------------------------------------------------


def type_choices(ws: Workspace) -> list[tuple[str, str]]:
    """(code, name) of the county's active assistance types, in the county's order."""
    with ws.read() as session:
        query = select(AssistanceType.code, AssistanceType.name).where(
            AssistanceType.deleted.is_(False), AssistanceType.active.is_(True))
        if ws.station is not None:
            query = query.where(AssistanceType.county_code == ws.station.county_code)
        # The county's own order, as delivered (住院救助 first in the demo feed), not by code.
        return [(c, n) for c, n in session.execute(query.order_by(literal_column("assistance_type.rowid")))]


def type_kinds(ws: Workspace) -> list[tuple[str, str]]:
    """(code, kind) of the county's assistance types: which 救助比例 (住院 / 门诊慢特病) applies."""
    with ws.read() as session:
        return list(session.execute(select(AssistanceType.code, AssistanceType.kind)
                                    .where(AssistanceType.deleted.is_(False))).tuples())


def subject_choices(ws: Workspace, actor: Actor, resident_id: str) -> list[str]:
    """救助对象类别 for this resident: their own class (一至三类), then 四类."""
    with ws.read() as session:
        person = resident_or_404(session, actor, resident_id)
        return rules.subject_choices(person.special_groups)


# -- cases ------------------------------------------------------------------------------------


@dataclass
class CaseInput:
    """What the clerk types for one case; amounts in fen."""

    resident_id: str
    type_code: str
    subject_category: str
    hospital: str
    hospital_level: str
    admitted_on: date | None
    discharged_on: date | None
    total_fen: int
    basic_insurance_fen: int
    serious_illness_fen: int
    assistance_fen: int
    self_pay_fen: int
    applied_date: date | None = None
    diagnosis_note: str = ""
    note: str = ""
    #: 政策范围内个人自付 (the entitlement's base; 0: unknown, the dialog fills it).
    policy_self_pay_fen: int = 0
    #: 县域内 / 规范转诊 / 自行异地就医 (domain.entitlement.Route); "": from the hospital level.
    route: str = ""
    #: 四类: the date the identity was recognised.
    subject_since: date | None = None
    #: The 结算 this case assists (opened from a 待落实 item).
    settlement_id: str | None = None
    #: Why the amount departs from the rules' suggestion.
    deviation_reason: str = ""

    @property
    def split(self) -> rules.CostSplit:
        return rules.CostSplit(self.total_fen, self.basic_insurance_fen, self.serious_illness_fen,
                               self.assistance_fen, self.self_pay_fen)


def _clean(data: CaseInput, today: date) -> CaseInput:
    """Every check that needs no database; raises the first fault as a Chinese ValidationError."""
    if not data.type_code:
        raise ValidationError("请选择救助类型。", field="type_code")
    hospital = (data.hospital or "").strip()
    if not hospital:
        raise ValidationError("请填写就诊医院。", field="hospital")
    if len(hospital) > 80:
        raise ValidationError("医院名称不能超过 80 个字。", field="hospital")
    try:
        level = HospitalLevel(data.hospital_level).value
    except ValueError:
        raise ValidationError("请选择医院等级。", field="hospital_level") from None
    rules.validate_stay(data.admitted_on, data.discharged_on, today=today)
    rules.validate_split(data.split)
    applied = data.applied_date or today
    if applied > today:
        raise ValidationError("申请日期不能晚于今天。", field="applied_date")
    if data.admitted_on and applied < data.admitted_on:
        raise ValidationError("申请日期不能早于入院（就诊）日期。", field="applied_date")
    split = data.split
    out_of_bases = split.total - split.basic_insurance - split.serious_illness
    if data.policy_self_pay_fen < 0 or data.policy_self_pay_fen > max(0, out_of_bases):
        raise ValidationError(f"政策范围内个人自付应在 0 到 {rules.fen_text(max(0, out_of_bases))} 元之间"
                              f"（总费用减基本医保、大病保险）。", field="policy_self_pay_fen")
    route = data.route or ent.default_route(level).value
    if route not in ent.Route._value2member_map_:
        raise ValidationError("请选择就医路径：县域内、规范转诊或自行异地就医。", field="route")
    values = {f.name: getattr(data, f.name) for f in fields(CaseInput)}
    values.update(hospital=hospital, hospital_level=level, applied_date=applied, route=route,
                  diagnosis_note=(data.diagnosis_note or "").strip(), note=(data.note or "").strip())
    return CaseInput(**values)


def _check_type(session: Session, ws: Workspace, code: str) -> None:
    row = session.scalar(select(AssistanceType).where(AssistanceType.code == code, AssistanceType.deleted.is_(False)))
    if row is None or not row.active or (ws.station is not None and row.county_code != ws.station.county_code):
        raise ValidationError(f"救助类型“{code}”不在本县救助类型目录中。", field="type_code")


def _write(case: AssistanceCase, data: CaseInput) -> None:
    for name in ("type_code", "subject_category", "hospital", "hospital_level", "admitted_on", "discharged_on",
                 "total_fen", "basic_insurance_fen", "serious_illness_fen", "assistance_fen", "self_pay_fen",
                 "applied_date", "diagnosis_note", "note", "policy_self_pay_fen", "route", "subject_since",
                 "settlement_id", "deviation_reason"):
        setattr(case, name, getattr(data, name))


def _suggest(session: Session, ws: Workspace, actor: Actor, data: CaseInput, case_id: str | None,
             today: date) -> int | None:
    """The rules' suggestion for the case (None: no rule applies) and the reason check."""
    question = entitlement.CaseQuestion(
        data.resident_id, data.subject_category, entitlement.type_kind(session, data.type_code), data.route,
        data.policy_self_pay_fen, data.discharged_on or today, data.subject_since, case_id)
    result = entitlement.case_entitlement_in(session, ws, actor, question)
    suggested = result.suggested_fen if result is not None else None
    data.deviation_reason = rules.check_deviation(data.assistance_fen, suggested, data.deviation_reason)
    return suggested


def _check_settlement(session: Session, data: CaseInput, case_id: str | None) -> None:
    if not data.settlement_id:
        return
    row = session.get(Settlement, data.settlement_id)
    if row is None or row.deleted or row.resident_id != data.resident_id:
        raise ValidationError("关联的结算记录不存在或不属于该居民。", field="settlement_id")
    query = select(AssistanceCase.id).where(AssistanceCase.settlement_id == data.settlement_id,
                                            AssistanceCase.deleted.is_(False),
                                            AssistanceCase.status != A.REFUSED.value)
    if case_id:
        query = query.where(AssistanceCase.id != case_id)
    if session.scalar(query.limit(1)) is not None:
        raise ValidationError("该结算已有救助申请，请在原申请上办理。", field="settlement_id", code="duplicate")


def create_case(ws: Workspace, actor: Actor, data: CaseInput, *, today: date | None = None) -> str:
    """申请: a new case; nothing is written unless every field and the split are right."""
    data = _clean(data, _today(today))
    with ws.unit_of_work(actor, "assistance_create") as session:
        person = resident_or_404(session, actor, data.resident_id)
        _check_type(session, ws, data.type_code)
        data.subject_category = rules.check_subject(data.subject_category, person.special_groups,
                                                    since=data.subject_since, today=_today(today))
        _check_settlement(session, data, None)
        suggested = _suggest(session, ws, actor, data, None, _today(today))
        case = AssistanceCase(resident_id=person.id, village_code=person.village_code, status=A.APPLIED.value)
        _write(case, data)
        case.suggested_fen = suggested
        session.add(case)
        session.flush()
        return case.id


def _case(session: Session, actor: Actor, case_id: str) -> AssistanceCase:
    case = session.get(AssistanceCase, case_id)
    if case is None or case.deleted:
        raise NotFound("找不到该救助申请。")
    check_village(session, actor, case.village_code)
    return case


def update_case(ws: Workspace, actor: Actor, case_id: str, data: CaseInput, *, today: date | None = None) -> None:
    """Edit a case while it is still 申请 (once reviewed, its figures are the decision's basis)."""
    data = _clean(data, _today(today))
    with ws.unit_of_work(actor, "assistance_edit") as session:
        case = _case(session, actor, case_id)
        if case.status != A.APPLIED.value:
            raise ValidationError(f"救助申请已“{A(case.status).label}”，不能再修改。", field="status")
        if data.resident_id != case.resident_id:
            raise ValidationError("不能把救助申请改到另一位居民名下；请作废后重新登记。", field="resident_id")
        person = resident_or_404(session, actor, case.resident_id)
        _check_type(session, ws, data.type_code)
        data.subject_category = rules.check_subject(data.subject_category, person.special_groups,
                                                    since=data.subject_since, today=_today(today))
        if not data.settlement_id:
            data.settlement_id = case.settlement_id
        _check_settlement(session, data, case.id)
        suggested = _suggest(session, ws, actor, data, case.id, _today(today))
        _write(case, data)
        case.suggested_fen = suggested


def _decision_day(on: date | None, earlier: date | None, what: str, earlier_what: str, today: date) -> date:
    on = on or today
    if on > today:
        raise ValidationError(f"{what}不能晚于今天。")
    if earlier is not None and on < earlier:
        raise ValidationError(f"{what}（{on.isoformat()}）不能早于{earlier_what}（{earlier.isoformat()}）。")
    return on


def review_case(ws: Workspace, actor: Actor, case_id: str, *, on: date | None = None,
                today: date | None = None) -> None:
    """审核 passed (专干/admin)."""
    require_clerk(actor, "审核救助申请")
    today = _today(today)
    with ws.unit_of_work(actor, "assistance_review") as session:
        case = _case(session, actor, case_id)
        rules.check_transition(case.status, A.REVIEWED.value)
        case.reviewed_date = _decision_day(on, case.applied_date, "审核日期", "申请日期", today)
        case.reviewed_by = actor.display_name
        case.status = A.REVIEWED.value


def pay_case(ws: Workspace, actor: Actor, case_id: str, *, on: date | None = None, today: date | None = None) -> None:
    """已发放 (专干/admin) with the payment date."""
    require_clerk(actor, "登记救助金发放")
    today = _today(today)
    with ws.unit_of_work(actor, "assistance_pay") as session:
        case = _case(session, actor, case_id)
        rules.check_transition(case.status, A.PAID.value)
        if case.assistance_fen <= 0:
            raise ValidationError("救助金额为 0，不能登记发放；请先在申请中填写救助金额。", field="assistance_fen")
        case.paid_date = _decision_day(on, case.reviewed_date, "发放日期", "审核日期", today)
        case.status = A.PAID.value


def refuse_case(ws: Workspace, actor: Actor, case_id: str, *, reason: str, on: date | None = None,
                today: date | None = None) -> None:
    """未通过 (专干/admin) with the reason; the decision date is kept as the review date."""
    require_clerk(actor, "作出救助审核结论")
    today = _today(today)
    if not (reason or "").strip():
        raise ValidationError("请填写未通过的原因。", field="refused_reason")
    with ws.unit_of_work(actor, "assistance_refuse") as session:
        case = _case(session, actor, case_id)
        rules.check_transition(case.status, A.REFUSED.value)
        day = _decision_day(on, case.reviewed_date or case.applied_date, "审核日期", "申请日期", today)
        if case.reviewed_date is None:
            case.reviewed_date = day
            case.reviewed_by = actor.display_name
        case.refused_reason = reason.strip()
        case.status = A.REFUSED.value


@dataclass(frozen=True)
class CaseDetail:
    id: str
    resident_id: str
    resident_name: str
    id_number_masked: str
    special_groups: str
    village_name: str
    data: CaseInput
    status: str
    reviewed_date: date | None
    reviewed_by: str
    paid_date: date | None
    refused_reason: str

    @property
    def status_label(self) -> str:
        return A(self.status).label

    @property
    def steps(self) -> frozenset[AssistanceStatus]:
        return rules.allowed_steps(self.status)


def case_detail(ws: Workspace, actor: Actor, case_id: str) -> CaseDetail:
    with ws.read() as session:
        case = _case(session, actor, case_id)
        person = session.get(Resident, case.resident_id)
        names = place_names(session)
        data = CaseInput(case.resident_id, case.type_code, case.subject_category, case.hospital, case.hospital_level,
                         case.admitted_on, case.discharged_on, case.total_fen, case.basic_insurance_fen,
                         case.serious_illness_fen, case.assistance_fen, case.self_pay_fen, case.applied_date,
                         case.diagnosis_note, case.note, case.policy_self_pay_fen, case.route, case.subject_since,
                         case.settlement_id, case.deviation_reason)
        return CaseDetail(case.id, case.resident_id, person.name if person else "",
                          mask_id(person.id_number) if person else "", person.special_groups if person else "",
                          names.get(case.village_code or "", ""), data, case.status, case.reviewed_date,
                          case.reviewed_by, case.paid_date, case.refused_reason)


# -- 1+N referrals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralInfo:
    id: str
    agency: str
    referred_date: date
    outcome: str
    outcome_date: date | None
    amount_fen: int

    @property
    def agency_label(self) -> str:
        return ReferralAgency(self.agency).label

    @property
    def done(self) -> bool:
        return self.outcome_date is not None


def add_referral(ws: Workspace, actor: Actor, case_id: str, *, agency: str, referred_date: date | None = None,
                 today: date | None = None) -> str:
    """Refer a case to 民政 / 人社 / 残联 / 慈善 / 红十字会 (seed 004 "1+N")."""
    today = _today(today)
    try:
        agency = ReferralAgency(agency).value
    except ValueError:
        raise ValidationError("请选择转介部门：民政、人社、残联、慈善或红十字会。", field="agency") from None
    with ws.unit_of_work(actor, "assistance_referral") as session:
        case = _case(session, actor, case_id)
        if case.status == A.REFUSED.value:
            raise ValidationError("救助申请未通过，不能再转介。", field="status")
        day = _decision_day(referred_date, case.applied_date, "转介日期", "申请日期", today)
        exists = session.scalar(select(AssistanceReferral.id).where(
            AssistanceReferral.case_id == case.id, AssistanceReferral.agency == agency,
            AssistanceReferral.deleted.is_(False)).limit(1))
        if exists is not None:
            raise ValidationError(f"该申请已转介到{ReferralAgency(agency).label}，请在原记录上登记结果。",
                                  field="agency", code="duplicate")
        referral = AssistanceReferral(case_id=case.id, village_code=case.village_code, agency=agency,
                                      referred_date=day)
        session.add(referral)
        session.flush()
        return referral.id


def record_referral_outcome(ws: Workspace, actor: Actor, referral_id: str, *, outcome: str,
                            outcome_date: date | None = None, amount_fen: int = 0,
                            today: date | None = None) -> None:
    today = _today(today)
    outcome_date = outcome_date or today
    with ws.unit_of_work(actor, "assistance_referral_outcome") as session:
        referral = session.get(AssistanceReferral, referral_id)
        if referral is None or referral.deleted:
            raise NotFound("找不到该转介记录。")
        check_village(session, actor, referral.village_code)
        rules.validate_referral_outcome(referred=referral.referred_date, outcome=outcome, outcome_date=outcome_date,
                                        amount_fen=amount_fen, today=today)
        referral.outcome = outcome.strip()
        referral.outcome_date = outcome_date
        referral.amount_fen = amount_fen


def referrals(ws: Workspace, actor: Actor, case_id: str) -> list[ReferralInfo]:
    with ws.read() as session:
        _case(session, actor, case_id)
        rows = session.scalars(select(AssistanceReferral).where(
            AssistanceReferral.case_id == case_id, AssistanceReferral.deleted.is_(False))
            .order_by(AssistanceReferral.referred_date, AssistanceReferral.agency))
        return [ReferralInfo(r.id, r.agency, r.referred_date, r.outcome, r.outcome_date, r.amount_fen) for r in rows]


# -- the case list (LazyTableModel) -----------------------------------------------------------


@dataclass(frozen=True)
class CaseFilters:
    village_code: str | None = None
    status: str | None = None
    type_code: str | None = None
    #: Calendar year of the application date.
    year: int | None = None
    text: str = ""


CASE_SORTS = {
    "name": lambda: Resident.name_pinyin,
    "village": lambda: AssistanceCase.village_code,
    "type": lambda: AssistanceCase.type_code,
    "subject": lambda: AssistanceCase.subject_category,
    "hospital_level": lambda: AssistanceCase.hospital_level,
    "admitted_on": lambda: AssistanceCase.admitted_on,
    "total": lambda: AssistanceCase.total_fen,
    "assistance": lambda: AssistanceCase.assistance_fen,
    "self_pay": lambda: AssistanceCase.self_pay_fen,
    "status": lambda: AssistanceCase.status,
    "applied_date": lambda: AssistanceCase.applied_date,
    "reviewed_date": lambda: AssistanceCase.reviewed_date,
    "paid_date": lambda: AssistanceCase.paid_date,
}


def _year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def case_ids(ws: Workspace, actor: Actor, filters: CaseFilters | None = None, sort: str | None = None,
             asc: bool = True) -> list[str]:
    filters = filters or CaseFilters()
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        query = (select(AssistanceCase.id).join(Resident, Resident.id == AssistanceCase.resident_id)
                 .where(AssistanceCase.deleted.is_(False), in_scope(AssistanceCase.village_code, allowed)))
        if filters.village_code:
            query = query.where(AssistanceCase.village_code == filters.village_code)
        if filters.status:
            query = query.where(AssistanceCase.status == filters.status)
        if filters.type_code:
            query = query.where(AssistanceCase.type_code == filters.type_code)
        if filters.year:
            first, last = _year_bounds(filters.year)
            query = query.where(AssistanceCase.applied_date >= first, AssistanceCase.applied_date <= last)
        condition = text_condition(filters.text)
        if condition is not None:
            query = query.where(condition)
        if sort in CASE_SORTS:
            key = CASE_SORTS[sort]()
            query = query.order_by(key.asc() if asc else key.desc(), Resident.name_pinyin, AssistanceCase.id)
        else:
            query = query.order_by(AssistanceCase.applied_date.desc(), Resident.name_pinyin, AssistanceCase.id)
        return fetch_ids(session, query)


def case_rows(ws: Workspace, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    with ws.read() as session:
        names = place_names(session)
        types = dict(session.execute(select(AssistanceType.code, AssistanceType.name)).all())
        counts = dict(session.execute(
            select(AssistanceReferral.case_id, func.count()).where(
                AssistanceReferral.case_id.in_(list(ids)), AssistanceReferral.deleted.is_(False))
            .group_by(AssistanceReferral.case_id)).all())
        rows = session.execute(select(AssistanceCase, Resident.name, Resident.id_number)
                               .join(Resident, Resident.id == AssistanceCase.resident_id)
                               .where(AssistanceCase.id.in_(list(ids))))
        out: dict[str, dict[str, Any]] = {}
        for case, name, id_number in rows:
            out[case.id] = dict(
                name=name, id_number=mask_id(id_number), village=names.get(case.village_code or "", ""),
                type=types.get(case.type_code, case.type_code), subject=case.subject_category,
                hospital=case.hospital,
                hospital_level=HospitalLevel(case.hospital_level).label if case.hospital_level in
                HospitalLevel._value2member_map_ else case.hospital_level,
                admitted_on=case.admitted_on, discharged_on=case.discharged_on, total=case.total_fen,
                basic=case.basic_insurance_fen, serious=case.serious_illness_fen, assistance=case.assistance_fen,
                self_pay=case.self_pay_fen, status=A(case.status).label, status_code=case.status,
                applied_date=case.applied_date, reviewed_date=case.reviewed_date, paid_date=case.paid_date,
                referrals=counts.get(case.id, 0), refused_reason=case.refused_reason, resident_id=case.resident_id)
        return out


# -- case counts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssistanceKpis:
    """Counts of the cases applied for in ``year`` (None: all years), by status.

    已审核救助发放率 = 已发放 / 审核通过, where 审核通过 (``approved``) = cases
    approved at 审核 (status 审核 or 已发放). 申请 cases are undecided and 未通过 ones not entitled; both are
    left out. ``paid_fen`` sums the assistance paid out.
    """

    year: int | None
    applied: int
    reviewed: int
    paid: int
    refused: int
    paid_fen: int
    referrals: int

    @property
    def approved(self) -> int:
        return self.reviewed + self.paid

    @property
    def total(self) -> int:
        return self.applied + self.reviewed + self.paid + self.refused

    @property
    def payout_rate(self) -> Ratio:
        """已审核救助发放率 (the old "落实率", under its honest name); see ``services.entitlement``
        for 医疗救助落实率 over everyone the rules entitle."""
        return rules.payout_rate(self.reviewed, self.paid)


def assistance_kpis(ws: Workspace, actor: Actor, year: int | None = None, *,
                    village_code: str | None = None) -> AssistanceKpis:
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        if village_code:
            check_village(session, actor, village_code)
        conditions = [AssistanceCase.deleted.is_(False), in_scope(AssistanceCase.village_code, allowed)]
        if village_code:
            conditions.append(AssistanceCase.village_code == village_code)
        if year:
            first, last = _year_bounds(year)
            conditions += [AssistanceCase.applied_date >= first, AssistanceCase.applied_date <= last]
        counts: dict[str, tuple[int, int]] = {
            status: (n, paid or 0) for status, n, paid in session.execute(
                select(AssistanceCase.status, func.count(), func.sum(AssistanceCase.assistance_fen))
                .where(*conditions).group_by(AssistanceCase.status))}
        referrals_count = session.scalar(
            select(func.count()).select_from(AssistanceReferral)
            .join(AssistanceCase, AssistanceCase.id == AssistanceReferral.case_id)
            .where(AssistanceReferral.deleted.is_(False), *conditions)) or 0

    def n(status: AssistanceStatus) -> int:
        return counts.get(status.value, (0, 0))[0]

    return AssistanceKpis(year, n(A.APPLIED), n(A.REVIEWED), n(A.PAID), n(A.REFUSED),
                          counts.get(A.PAID.value, (0, 0))[1], referrals_count)
