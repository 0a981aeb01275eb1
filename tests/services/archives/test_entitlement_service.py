"""应享尽享 at a station: the suggestion and its reason, 待落实 until a case or 不适用, 落实率, 高额费用预警."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import assistance, entitlement
from station_app.services.changes import system_actor
from station_app.services.reference import load_reference
from station_app.store.models import AuditEntry, Settlement
from tests.conftest import COUNTY, VILLAGE_A

TODAY = date(2026, 11, 23)
TWO = "二类（低保对象、返贫致贫人口）"
ONE = "一类（特困人员、孤儿）"

RULES = {
    "county": {"code": COUNTY, "name": "汉阴县"},
    "assistance_rules": [
        {"year": 2026, "subject_class": 1, "kind": "inpatient", "ratio_pct": 80, "self_referred_ratio_pct": 60,
         "annual_limit_yuan": 30000, "tilt_threshold_yuan": 10000, "tilt_ratio_pct": 50, "tilt_limit_yuan": 20000},
        {"year": 2026, "subject_class": 2, "kind": "inpatient", "ratio_pct": 70, "self_referred_ratio_pct": 50,
         "annual_limit_yuan": 20000},
        {"year": 2026, "subject_class": 4, "kind": "inpatient", "deductible_yuan": 3000, "ratio_pct": 50,
         "annual_limit_yuan": 10000, "validity_months": 12},
    ],
    "burden_alert_rules": [{"year": 2026, "threshold_yuan": 20000}],
}


def add_settlement(town, key: str, number: str, day: date, policy_yuan: int, total_yuan: int = 0) -> str:
    """A settlement as the county stream would deliver it."""
    ws = town.ws
    with ws.read() as session:
        from station_app.store.models import Resident

        village = session.get(Resident, town.people[key]).village_code
    total = (total_yuan or policy_yuan * 3) * 100
    with ws.unit_of_work(system_actor(ws.station.code), "test_settlement", reference_write=True,
                         skip_outbox=True) as session:
        row = Settlement(settlement_no=number, resident_id=town.people[key], village_code=village, settled_on=day,
                         admitted_on=day, hospital="汉阴县人民医院", hospital_level="county", kind="inpatient",
                         route="in_county", total_fen=total, basic_insurance_fen=total - policy_yuan * 100,
                         serious_illness_fen=0, policy_self_pay_fen=policy_yuan * 100)
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def ruled(town):
    load_reference(town.ws, RULES)
    return town


def case_for(town, key, settlement_id=None, **changes) -> assistance.CaseInput:
    data = assistance.CaseInput(
        resident_id=town.people[key], type_code="ZY", subject_category=TWO if key == "a1" else ONE,
        hospital="汉阴县人民医院", hospital_level="county", admitted_on=date(2026, 5, 1), discharged_on=date(2026, 5, 1),
        total_fen=2_400_000, basic_insurance_fen=1_600_000, serious_illness_fen=0, assistance_fen=560_000,
        self_pay_fen=240_000, applied_date=date(2026, 5, 10), policy_self_pay_fen=800_000,
        settlement_id=settlement_id)
    return replace(data, **changes)


def test_the_suggestion_is_stored_and_a_departure_needs_a_reason_that_is_audited(ruled):
    town = ruled
    # 二类 8,000 × 70% = 5,600: the suggestion, no reason needed.
    case = assistance.create_case(town.ws, town.doctor_a, case_for(town, "a1"), today=TODAY)
    assert assistance.case_detail(town.ws, town.clerk, case).data.assistance_fen == 560_000
    with town.ws.read() as session:
        from station_app.store.models import AssistanceCase

        assert session.get(AssistanceCase, case).suggested_fen == 560_000
    # A different amount without a reason is refused, with the suggestion in the message.
    other = case_for(town, "a1", assistance_fen=300_000, self_pay_fen=500_000, admitted_on=date(2026, 6, 1),
                     discharged_on=date(2026, 6, 1), applied_date=date(2026, 6, 5))
    with pytest.raises(ValidationError, match="建议金额 5,600.00 元不一致"):
        assistance.create_case(town.ws, town.doctor_a, other, today=TODAY)
    second = assistance.create_case(town.ws, town.doctor_a, replace(other, deviation_reason="部分费用属于政策范围外"),
                                    today=TODAY)
    with town.ws.read() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.row_id == second)).one()
    after = json.loads(audit.after_json)
    assert after["suggested_fen"] == 560_000 and after["assistance_fen"] == 300_000
    assert after["deviation_reason"] == "部分费用属于政策范围外"


def test_the_annual_limit_is_carried_across_the_years_cases(ruled):
    town = ruled
    # 二类 limit 20,000: a first case of 25,000 × 70% = 17,500; a second of 10,000 → 7,000 capped at 2,500.
    first = case_for(town, "a1", total_fen=6_000_000, basic_insurance_fen=3_500_000, policy_self_pay_fen=2_500_000,
                     assistance_fen=1_750_000, self_pay_fen=750_000)
    assistance.create_case(town.ws, town.doctor_a, first, today=TODAY)
    question = entitlement.CaseQuestion(town.people["a1"], TWO, "inpatient", "in_county", 1_000_000, date(2026, 7, 1))
    result = entitlement.case_entitlement(town.ws, town.clerk, question)
    assert result.suggested_fen == 250_000
    assert "尚余 2,500.00 元" in result.text


def test_a_settlement_is_pending_until_a_case_is_opened_or_it_is_marked_not_applicable(ruled):
    town = ruled
    s1 = add_settlement(town, "a1", "JS1", date(2026, 5, 1), 8_000)   # 二类: 5,600 due
    s2 = add_settlement(town, "a3", "JS2", date(2026, 6, 1), 10_000)  # 一类: 8,000 due
    add_settlement(town, "a2", "JS3", date(2026, 6, 1), 10_000)        # no class: never 待落实
    items = entitlement.pending_list(town.ws, town.clerk, 2026)
    assert [(i.name, i.due.entitled_fen) for i in items] == [("李桂兰", 800_000), ("王秀英", 560_000)]
    assert items[0].id_number_masked.count("*") >= 8
    figures = entitlement.year_entitlements(town.ws, town.clerk, 2026)
    assert (figures.total.people, figures.total.people_paid, figures.total.pending) == (2, 0, 2)
    # The clerk opens a case from the item: pre-filled from the settlement, linked to it.
    data = entitlement.settlement_case_input(town.ws, town.clerk, s1)
    assert (data.settlement_id, data.policy_self_pay_fen, data.subject_category) == (s1, 800_000, TWO)
    case = assistance.create_case(town.ws, town.clerk, replace(data, assistance_fen=560_000,
                                                                self_pay_fen=data.self_pay_fen - 560_000), today=TODAY)
    with pytest.raises(ValidationError, match="已有救助申请"):
        assistance.create_case(town.ws, town.clerk, replace(data, assistance_fen=560_000,
                                                             self_pay_fen=data.self_pay_fen - 560_000), today=TODAY)
    assert [i.due.settlement_id for i in entitlement.pending_list(town.ws, town.clerk, 2026)] == [s2]
    # 不适用 needs a reason; then nothing is pending.
    with pytest.raises(ValidationError, match="原因"):
        entitlement.mark_not_applicable(town.ws, town.clerk, s2, " ")
    entitlement.mark_not_applicable(town.ws, town.clerk, s2, "外伤由第三方承担")
    assert entitlement.pending_list(town.ws, town.clerk, 2026) == []
    # 落实率: one person due (the other is 不适用), paid once the case is paid.
    assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    figures = entitlement.year_entitlements(town.ws, town.clerk, 2026)
    assert (figures.total.people, figures.total.people_paid, figures.not_applicable) == (1, 0, 1)
    assistance.pay_case(town.ws, town.clerk, case, today=TODAY)
    figures = entitlement.year_entitlements(town.ws, town.clerk, 2026)
    assert figures.rate.percent_text == "100.0%" and figures.amount_rate.percent_text == "100.0%"
    assert list(figures.villages) == [VILLAGE_A]
    # A village doctor of the other village sees none of it.
    assert entitlement.year_entitlements(town.ws, town.doctor_b, 2026).total.people == 0


def test_high_burden_flag_for_the_clerk_with_an_audited_outcome(ruled):
    town = ruled
    add_settlement(town, "b1", "JS9", date(2026, 3, 1), 15_000)
    add_settlement(town, "b1", "JS10", date(2026, 8, 1), 9_000)   # 24,000 > 20,000
    add_settlement(town, "b2", "JS11", date(2026, 8, 1), 5_000)
    flags = entitlement.burden_flags(town.ws, town.clerk, 2026)
    assert [(f.name, f.burden_fen, f.settlements, f.outcome_label) for f in flags] == [
        ("赵德华", 2_400_000, 2, "待研判")]
    with pytest.raises(PermissionDenied):
        entitlement.decide_burden_flag(town.ws, town.doctor_b, town.people["b1"], 2026, outcome="monitor")
    with pytest.raises(ValidationError, match="须填写原因"):
        entitlement.decide_burden_flag(town.ws, town.clerk, town.people["b1"], 2026, outcome="not_monitor")
    with pytest.raises(ValidationError, match="未超过预警标准"):
        entitlement.decide_burden_flag(town.ws, town.clerk, town.people["b2"], 2026, outcome="monitor")
    alert = entitlement.decide_burden_flag(town.ws, town.clerk, town.people["b1"], 2026, outcome="not_monitor",
                                           reason="家庭有稳定务工收入", today=TODAY)
    flags = entitlement.burden_flags(town.ws, town.clerk, 2026)
    assert (flags[0].outcome_label, flags[0].reason, flags[0].decided_by) == ("不纳入", "家庭有稳定务工收入", "周专干")
    with town.ws.read() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.row_id == alert)).one()
        from station_app.store.models import OutboxOp

        assert session.scalars(select(OutboxOp).where(OutboxOp.row_id == alert)).one().table_name == "burden_alert"
    assert audit.action == "burden_alert_decide" and "家庭有稳定务工收入" in audit.after_json


def test_the_assistance_notice_shows_the_new_fulfilment_rate(ruled):
    from station_app.notices.data import NoticeParams, build_document

    town = ruled
    s1 = add_settlement(town, "a1", "JS1", date(2026, 5, 1), 8_000)
    add_settlement(town, "a3", "JS2", date(2026, 6, 1), 10_000)
    data = entitlement.settlement_case_input(town.ws, town.clerk, s1)
    case = assistance.create_case(town.ws, town.clerk, replace(data, assistance_fen=560_000,
                                                                self_pay_fen=data.self_pay_fen - 560_000), today=TODAY)
    assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    assistance.pay_case(town.ws, town.clerk, case, today=TODAY)
    with town.ws.read() as session:
        doc = build_document(session, NoticeParams("assistance", VILLAGE_A, 2026), today=TODAY)
    assert "本村2026年医疗救助落实率 50.0%（按县救助规则应享 2 人，已落实 1 人）" in doc.summary
