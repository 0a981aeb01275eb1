"""医疗救助 service: cases with the split check, the flow with roles, referrals, the list and 落实率."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import assistance
from station_app.store.models import AssistanceCase, AuditEntry
from tests.conftest import VILLAGE_A, VILLAGE_B

TODAY = date(2026, 11, 23)


def case_input(town, key="a1", **changes) -> assistance.CaseInput:
    data = assistance.CaseInput(
        resident_id=town.people[key], type_code="ZY", subject_category="低保对象" if key == "a1" else "因病致贫重病患者",
        hospital="汉阴县人民医院", hospital_level="county", admitted_on=date(2026, 9, 1), discharged_on=date(2026, 9, 12),
        total_fen=1_250_000, basic_insurance_fen=800_000, serious_illness_fen=150_000, assistance_fen=200_000,
        self_pay_fen=100_000, applied_date=date(2026, 9, 20),
        subject_since=None if key == "a1" else date(2026, 8, 1))
    return replace(data, **changes)


def new_case(town, key="a1", actor=None, **changes) -> str:
    actor = actor or (town.doctor_a if key.startswith("a") else town.doctor_b)
    return assistance.create_case(town.ws, actor, case_input(town, key, **changes), today=TODAY)


def cases(ws) -> int:
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(AssistanceCase))


def test_a_split_that_does_not_add_up_is_refused_and_nothing_saved(town):
    with pytest.raises(ValidationError) as error:
        new_case(town, basic_insurance_fen=780_000)
    assert error.value.message == ("费用分担不平：基本医保+大病保险+救助+自付=12,300.00 元，"
                                   "与总费用 12,500.00 元相差 200.00 元")
    assert cases(town.ws) == 0


@pytest.mark.parametrize("changes,match", [
    (dict(discharged_on=date(2026, 8, 30)), "出院日期.*不能早于入院日期"),
    (dict(hospital=" "), "就诊医院"),
    (dict(hospital_level="moon"), "医院等级"),
    (dict(type_code="OLD"), "不在本县救助类型目录"),
    (dict(subject_category="特困人员"), "与该居民登记的人员类别不符"),
    (dict(self_pay_fen=-1, total_fen=1_249_999), "自付不能为负数"),
    (dict(applied_date=date(2026, 8, 1)), "申请日期不能早于入院"),
    (dict(admitted_on=date(2026, 11, 24), discharged_on=date(2026, 11, 25)), "不能晚于今天"),
])
def test_case_checks(town, changes, match):
    with pytest.raises(ValidationError, match=match):
        new_case(town, **changes)
    assert cases(town.ws) == 0


def test_the_flow_to_payment(town):
    ws = town.ws
    case = new_case(town)
    detail = assistance.case_detail(ws, town.doctor_a, case)
    assert detail.status == "applied" and detail.data.split.balanced and detail.village_name == "群英村"
    assistance.review_case(ws, town.clerk, case, on=date(2026, 9, 25), today=TODAY)
    detail = assistance.case_detail(ws, town.clerk, case)
    assert (detail.status, detail.reviewed_date, detail.reviewed_by) == ("reviewed", date(2026, 9, 25), "周专干")
    with pytest.raises(ValidationError, match="发放日期.*不能早于审核日期"):
        assistance.pay_case(ws, town.clerk, case, on=date(2026, 9, 24), today=TODAY)
    assistance.pay_case(ws, town.clerk, case, on=date(2026, 10, 8), today=TODAY)
    detail = assistance.case_detail(ws, town.clerk, case)
    assert (detail.status, detail.paid_date) == ("paid", date(2026, 10, 8))
    with pytest.raises(ValidationError, match="当前状态为“已发放”，不能不予通过"):
        assistance.refuse_case(ws, town.clerk, case, reason="x", today=TODAY)
    with ws.read() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.row_id == case).order_by(AuditEntry.id)))
    assert actions == ["assistance_create", "assistance_review", "assistance_pay"]


@pytest.mark.parametrize("step", ["review", "pay", "refuse"])
def test_review_and_payment_need_the_clerk(town, step):
    case = new_case(town)
    if step == "pay":
        assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    call = {"review": lambda: assistance.review_case(town.ws, town.doctor_a, case, today=TODAY),
            "pay": lambda: assistance.pay_case(town.ws, town.doctor_a, case, today=TODAY),
            "refuse": lambda: assistance.refuse_case(town.ws, town.doctor_a, case, reason="x", today=TODAY)}[step]
    before = assistance.case_detail(town.ws, town.clerk, case)
    with pytest.raises(PermissionDenied, match="只有乡镇医保专干或管理员可以"):
        call()
    assert assistance.case_detail(town.ws, town.clerk, case) == before


def test_out_of_order_steps(town):
    case = new_case(town)
    with pytest.raises(ValidationError, match="当前状态为“申请”，不能发放"):
        assistance.pay_case(town.ws, town.clerk, case, today=TODAY)
    assistance.refuse_case(town.ws, town.clerk, case, reason="不符合救助条件", on=date(2026, 9, 30), today=TODAY)
    detail = assistance.case_detail(town.ws, town.clerk, case)
    assert (detail.status, detail.refused_reason, detail.reviewed_date) == ("refused", "不符合救助条件", date(2026, 9, 30))
    with pytest.raises(ValidationError, match="当前状态为“未通过”，不能审核"):
        assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    with pytest.raises(ValidationError, match="原因"):
        assistance.refuse_case(town.ws, town.clerk, new_case(town), reason=" ", today=TODAY)


def test_zero_assistance_cannot_be_paid(town):
    case = new_case(town, assistance_fen=0, self_pay_fen=300_000)
    assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    with pytest.raises(ValidationError, match="救助金额为 0"):
        assistance.pay_case(town.ws, town.clerk, case, today=TODAY)


def test_edit_only_while_applied(town):
    case = new_case(town)
    assistance.update_case(town.ws, town.doctor_a, case,
                           case_input(town, hospital="安康市中心医院", hospital_level="city"), today=TODAY)
    assert assistance.case_detail(town.ws, town.doctor_a, case).data.hospital == "安康市中心医院"
    with pytest.raises(ValidationError, match="费用分担不平"):
        assistance.update_case(town.ws, town.doctor_a, case, case_input(town, self_pay_fen=0), today=TODAY)
    assert assistance.case_detail(town.ws, town.doctor_a, case).data.self_pay_fen == 100_000
    with pytest.raises(ValidationError, match="另一位居民"):
        assistance.update_case(town.ws, town.doctor_a, case, case_input(town, "a2"), today=TODAY)
    assistance.review_case(town.ws, town.clerk, case, today=TODAY)
    with pytest.raises(ValidationError, match="已“审核”，不能再修改"):
        assistance.update_case(town.ws, town.doctor_a, case, case_input(town), today=TODAY)


def test_subjects_for_a_resident(town):
    # Issue 17.7: the 一至四类 classification only (重度残疾 is no class of its own).
    assert assistance.subject_choices(town.ws, town.doctor_a, town.people["a3"]) == [
        "一类（特困人员、孤儿）", "四类（因病致贫重病患者）"]
    assert assistance.type_choices(town.ws) == [("ZY", "住院救助"), ("MZ", "门诊救助")]


def test_scope(town):
    with pytest.raises(PermissionDenied):
        new_case(town, "b1", actor=town.doctor_a)
    a = new_case(town, "a1")
    b = new_case(town, "b1")
    assert assistance.case_ids(town.ws, town.doctor_a) == [a]
    assert set(assistance.case_ids(town.ws, town.clerk)) == {a, b}
    with pytest.raises(PermissionDenied):
        assistance.case_detail(town.ws, town.doctor_b, a)
    with pytest.raises(PermissionDenied):
        assistance.assistance_kpis(town.ws, town.doctor_a, 2026, village_code=VILLAGE_B)


def test_referrals_and_their_outcomes(town):
    ws = town.ws
    case = new_case(town)
    civil = assistance.add_referral(ws, town.doctor_a, case, agency="civil_affairs", referred_date=date(2026, 9, 22),
                                    today=TODAY)
    assistance.add_referral(ws, town.doctor_a, case, agency="charity", referred_date=date(2026, 9, 23), today=TODAY)
    with pytest.raises(ValidationError, match="已转介到民政"):
        assistance.add_referral(ws, town.doctor_a, case, agency="civil_affairs", today=TODAY)
    with pytest.raises(ValidationError, match="转介部门"):
        assistance.add_referral(ws, town.doctor_a, case, agency="bank", today=TODAY)
    with pytest.raises(ValidationError, match="转介日期.*不能早于申请日期"):
        assistance.add_referral(ws, town.doctor_a, case, agency="red_cross", referred_date=date(2026, 9, 1), today=TODAY)
    with pytest.raises(ValidationError, match="不能早于转介日期"):
        assistance.record_referral_outcome(ws, town.doctor_a, civil, outcome="已发放", outcome_date=date(2026, 9, 21),
                                           today=TODAY)
    assistance.record_referral_outcome(ws, town.doctor_a, civil, outcome="已发放临时救助金2000元",
                                       outcome_date=date(2026, 10, 10), amount_fen=200_000, today=TODAY)
    rows = assistance.referrals(ws, town.doctor_a, case)
    assert [(r.agency_label, r.done, r.amount_fen) for r in rows] == [("民政", True, 200_000), ("慈善", False, 0)]
    assert rows[0].outcome == "已发放临时救助金2000元"
    assert assistance.case_rows(ws, [case])[case]["referrals"] == 2
    with pytest.raises(PermissionDenied):
        assistance.record_referral_outcome(ws, town.doctor_b, civil, outcome="x", today=TODAY)
    refused = new_case(town, "a2")
    assistance.refuse_case(ws, town.clerk, refused, reason="x", today=TODAY)
    with pytest.raises(ValidationError, match="不能再转介"):
        assistance.add_referral(ws, town.doctor_a, refused, agency="charity", today=TODAY)


def test_list_filters_sort_and_rows(town):
    ws, clerk = town.ws, town.clerk
    big = new_case(town, "a1")
    small = new_case(town, "a2", type_code="MZ", total_fen=300_000, basic_insurance_fen=200_000, serious_illness_fen=0,
                     assistance_fen=50_000, self_pay_fen=50_000, applied_date=date(2026, 9, 25))
    old = new_case(town, "b1", admitted_on=date(2025, 12, 1), discharged_on=date(2025, 12, 5),
                   applied_date=date(2025, 12, 10))
    assert assistance.case_ids(ws, clerk) == [small, big, old]
    assert assistance.case_ids(ws, clerk, assistance.CaseFilters(year=2025)) == [old]
    assert assistance.case_ids(ws, clerk, assistance.CaseFilters(type_code="MZ")) == [small]
    assert assistance.case_ids(ws, clerk, assistance.CaseFilters(village_code=VILLAGE_A), "total", True) == [small, big]
    assert assistance.case_ids(ws, clerk, assistance.CaseFilters(text="wxy")) == [big]
    row = assistance.case_rows(ws, [big])[big]
    assert (row["type"], row["hospital_level"], row["status"], row["total"], row["assistance"]) == \
        ("住院救助", "县级", "申请", 1_250_000, 200_000)


def test_kpis_follow_the_documented_definition(town):
    ws, clerk = town.ws, town.clerk
    applied = new_case(town, "a1")
    reviewed = new_case(town, "a2")
    paid = new_case(town, "a3", subject_category="特困人员")
    refused = new_case(town, "b1")
    last_year = new_case(town, "b2", admitted_on=date(2025, 12, 1), discharged_on=date(2025, 12, 5),
                         applied_date=date(2025, 12, 10))
    for case in (reviewed, paid, last_year):
        assistance.review_case(ws, clerk, case, today=TODAY)
    assistance.pay_case(ws, clerk, paid, today=TODAY)
    assistance.refuse_case(ws, clerk, refused, reason="x", today=TODAY)
    kpis = assistance.assistance_kpis(ws, clerk, 2026)
    assert (kpis.applied, kpis.reviewed, kpis.paid, kpis.refused) == (1, 1, 1, 1)
    assert kpis.approved == 2 and kpis.total == 4 and kpis.paid_fen == 200_000
    assert (kpis.payout_rate.numerator, kpis.payout_rate.denominator, kpis.payout_rate.percent_text) == (1, 2, "50.0%")
    assert assistance.assistance_kpis(ws, clerk, 2025).payout_rate.percent_text == "0.0%"
    assert assistance.assistance_kpis(ws, clerk, None).approved == 3
    # A village doctor's figures cover their village only.
    mine = assistance.assistance_kpis(ws, town.doctor_a, 2026)
    assert (mine.applied, mine.reviewed, mine.paid, mine.refused) == (1, 1, 1, 0)
    assert applied in assistance.case_ids(ws, town.doctor_a)
    assert assistance.assistance_kpis(ws, clerk, 2024).payout_rate.percent_text == "—"
