"""慢病档案 service: lifecycle with roles and scope, usage marks and 卡月使用率, refill reminders and one-click actions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.services import chronic, service_log
from station_app.store.models import AuditEntry, CardUsage, ChronicCard, OutboxOp, ServiceEntry
from tests.conftest import VILLAGE_A, VILLAGE_B

TODAY = date(2026, 11, 23)


def apply(town, key="a1", disease="MB001", actor=None, applied=date(2026, 3, 1)):
    return chronic.apply_card(town.ws, actor or town.doctor_a if key.startswith("a") else actor or town.doctor_b,
                              resident_id=town.people[key], disease_code=disease, materials="身份证或户口簿、诊断证明",
                              applied_date=applied, today=TODAY)


def issued_card(town, key="a1", disease="MB001", issued=date(2026, 3, 20), card_no=None):
    card = apply(town, key, disease, applied=issued - timedelta(days=19))
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=issued - timedelta(days=10),
                        assessed_by="县医保局专家组", today=TODAY)
    chronic.issue_card(town.ws, town.clerk, card, card_no=card_no or f"K-{key}-{disease}", issued_date=issued,
                       today=TODAY)
    return card


def count(ws, model, *conditions):
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*conditions))


# -- lifecycle --------------------------------------------------------------------------------


def test_the_whole_lifecycle(town):
    ws = town.ws
    card = apply(town)
    detail = chronic.card_detail(ws, town.doctor_a, card)
    assert (detail.status, detail.materials, detail.resident_name) == ("applied", "身份证或户口簿、诊断证明", "王秀英")
    assert "*" in detail.id_number_masked

    chronic.assess_card(ws, town.clerk, card, assessed_date=date(2026, 3, 10), assessed_by="县医保局专家组", today=TODAY)
    assert chronic.card_detail(ws, town.clerk, card).status == "assessed"

    start = chronic.issue_card(ws, town.clerk, card, card_no="MT202600001", issued_date=date(2026, 3, 20), today=TODAY)
    detail = chronic.card_detail(ws, town.clerk, card)
    assert start == date(2026, 4, 1) == detail.benefit_start
    assert (detail.status, detail.card_no, detail.issued_date) == ("issued", "MT202600001", date(2026, 3, 20))

    chronic.cancel_card(ws, town.doctor_a, card, reason="迁出", detail="迁往西安", on=date(2026, 9, 1), today=TODAY)
    detail = chronic.card_detail(ws, town.doctor_a, card)
    assert (detail.status, detail.cancelled_date, detail.cancel_reason) == ("cancelled", date(2026, 9, 1), "迁出：迁往西安")

    with ws.read() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.row_id == card).order_by(AuditEntry.id)))
        users = set(session.scalars(select(AuditEntry.username).where(AuditEntry.row_id == card)))
    assert actions == ["chronic_apply", "chronic_assess", "chronic_issue", "chronic_cancel"]
    assert users == {"cy01", "zg01"}
    assert count(ws, OutboxOp, OutboxOp.row_id == card) == 4


def test_refusal_keeps_the_reason(town):
    card = apply(town)
    chronic.refuse_card(town.ws, town.clerk, card, reason="病历资料不足，未达认定标准", on=date(2026, 3, 12), today=TODAY)
    detail = chronic.card_detail(town.ws, town.clerk, card)
    assert (detail.status, detail.refused_reason, detail.assessed_date) == ("refused", "病历资料不足，未达认定标准",
                                                                             date(2026, 3, 12))
    with pytest.raises(ValidationError, match="当前状态为“未通过”，不能认定"):
        chronic.assess_card(town.ws, town.clerk, card, assessed_by="x", today=TODAY)
    # A refused card does not block a new application for the same disease.
    assert apply(town, applied=date(2026, 6, 1)) != card


@pytest.mark.parametrize("step", ["assess", "issue", "refuse"])
def test_township_steps_need_the_clerk(town, step):
    card = apply(town)
    if step == "issue":
        chronic.assess_card(town.ws, town.clerk, card, assessed_date=date(2026, 3, 5), assessed_by="x", today=TODAY)
    calls = {
        "assess": lambda: chronic.assess_card(town.ws, town.doctor_a, card, assessed_by="村卫生室", today=TODAY),
        "issue": lambda: chronic.issue_card(town.ws, town.doctor_a, card, card_no="X1", today=TODAY),
        "refuse": lambda: chronic.refuse_card(town.ws, town.doctor_a, card, reason="x", today=TODAY),
    }
    before = chronic.card_detail(town.ws, town.admin, card)
    with pytest.raises(PermissionDenied, match="只有乡镇医保专干或管理员可以"):
        calls[step]()
    assert chronic.card_detail(town.ws, town.admin, card) == before


@pytest.mark.parametrize("step,match", [
    ("issue", "当前状态为“申请”，不能发卡"),
    ("cancel", "当前状态为“申请”，不能注销"),
])
def test_steps_out_of_order_are_refused(town, step, match):
    card = apply(town)
    with pytest.raises(ValidationError, match=match):
        if step == "issue":
            chronic.issue_card(town.ws, town.clerk, card, card_no="X1", today=TODAY)
        else:
            chronic.cancel_card(town.ws, town.clerk, card, reason="死亡", today=TODAY)
    assert chronic.card_detail(town.ws, town.clerk, card).status == "applied"


def test_issued_card_cannot_be_refused_or_reissued(town):
    card = issued_card(town)
    with pytest.raises(ValidationError, match="当前状态为“已发卡”，不能不予通过"):
        chronic.refuse_card(town.ws, town.clerk, card, reason="x", today=TODAY)
    with pytest.raises(ValidationError, match="不能发卡"):
        chronic.issue_card(town.ws, town.clerk, card, card_no="X2", today=TODAY)


def test_application_checks(town):
    ws = town.ws
    apply(town)
    with pytest.raises(ValidationError, match="已有“高血压（Ⅱ级及以上）”的慢病卡（申请），不能重复申请"):
        apply(town)
    with pytest.raises(ValidationError, match="不在本县门诊慢特病目录中"):
        apply(town, disease="MB099")
    with pytest.raises(ValidationError, match="不在本县门诊慢特病目录中"):
        apply(town, disease="NOPE")
    with pytest.raises(ValidationError, match="申请材料"):
        chronic.apply_card(ws, town.doctor_a, resident_id=town.people["a2"], disease_code="MB001", materials=" ",
                           today=TODAY)
    with pytest.raises(NotFound):
        chronic.apply_card(ws, town.doctor_a, resident_id="nobody", disease_code="MB001", materials="x", today=TODAY)


def test_a_resident_who_died_cannot_apply(town):
    from station_app.services.households import set_status

    set_status(town.ws, town.admin, town.people["a2"], "died", date(2026, 5, 1))
    with pytest.raises(ValidationError, match="状态为“死亡”，不能申请慢病卡"):
        apply(town, "a2")


def test_scope_village_doctor_sees_and_writes_only_their_village(town):
    with pytest.raises(PermissionDenied, match="无权操作其他村"):
        chronic.apply_card(town.ws, town.doctor_a, resident_id=town.people["b1"], disease_code="MB001",
                           materials="x", today=TODAY)
    a = issued_card(town, "a1")
    b = issued_card(town, "b1")
    assert set(chronic.card_ids(town.ws, town.doctor_a)) == {a}
    assert set(chronic.card_ids(town.ws, town.doctor_b)) == {b}
    assert set(chronic.card_ids(town.ws, town.clerk)) == {a, b}
    with pytest.raises(PermissionDenied):
        chronic.card_detail(town.ws, town.doctor_a, b)
    with pytest.raises(PermissionDenied):
        chronic.set_usage(town.ws, town.doctor_a, b, "2026-05", True, today=TODAY)
    with pytest.raises(PermissionDenied):
        chronic.card_usage_rates(town.ws, town.doctor_a, 3, village_code=VILLAGE_B, today=TODAY)


def test_card_numbers_are_unique(town):
    issued_card(town, "a1", card_no="MT202600007")
    card = apply(town, "a2")
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=date(2026, 3, 5), assessed_by="x", today=TODAY)
    with pytest.raises(ValidationError, match="卡号 MT202600007 已被使用"):
        chronic.issue_card(town.ws, town.clerk, card, card_no="MT202600007", today=TODAY)
    assert chronic.suggest_card_no(town.ws, date(2026, 5, 1)) == "MT202600008"


def test_edit_only_while_applied(town):
    card = apply(town)
    chronic.edit_card(town.ws, town.doctor_a, card, disease_code="MB002", materials="身份证或户口簿", supply_days=60,
                      today=TODAY)
    detail = chronic.card_detail(town.ws, town.doctor_a, card)
    assert (detail.disease_code, detail.materials, detail.supply_days) == ("MB002", "身份证或户口簿", 60)
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=date(2026, 3, 5), assessed_by="x", today=TODAY)
    with pytest.raises(ValidationError, match="不能再改"):
        chronic.edit_card(town.ws, town.doctor_a, card, disease_code="MB001", today=TODAY)
    chronic.edit_card(town.ws, town.doctor_a, card, diagnosis_note="原发性高血压", supply_days=30, today=TODAY)
    assert chronic.card_detail(town.ws, town.doctor_a, card).diagnosis_note == "原发性高血压"


# -- list -------------------------------------------------------------------------------------


def test_list_filters_sort_and_rows(town):
    a1 = issued_card(town, "a1", issued=date(2026, 3, 20))
    a2 = apply(town, "a2", disease="MB002", applied=date(2026, 6, 1))
    b1 = issued_card(town, "b1", issued=date(2026, 2, 10))
    ws, clerk = town.ws, town.clerk
    assert chronic.card_ids(ws, clerk)[0] == a2  # newest application first
    assert chronic.card_ids(ws, clerk, chronic.CardFilters(status="issued"), "issued_date", True) == [b1, a1]
    assert chronic.card_ids(ws, clerk, chronic.CardFilters(status="issued"), "issued_date", False) == [a1, b1]
    assert chronic.card_ids(ws, clerk, chronic.CardFilters(village_code=VILLAGE_A, disease_code="MB002")) == [a2]
    assert chronic.card_ids(ws, clerk, chronic.CardFilters(text="zjg")) == [a2]     # 张建国 initials
    assert chronic.card_ids(ws, clerk, chronic.CardFilters(text="赵")) == [b1]
    rows = chronic.card_rows(ws, [a1, a2], today=TODAY)
    assert rows[a1]["status"] == "已发卡" and rows[a1]["benefit_start"] == date(2026, 4, 1)
    assert rows[a1]["village"] == "群英村" and rows[a1]["disease"] == "高血压（Ⅱ级及以上）"
    assert rows[a2]["status"] == "申请" and rows[a2]["refill_due"] is None
    assert "*" in rows[a1]["id_number"]


# -- usage and 卡月使用率 -----------------------------------------------------------------------


def test_usage_marks_move_the_monthly_rate(town):
    ws = town.ws
    a1 = issued_card(town, "a1", issued=date(2026, 3, 20))             # benefit from April
    a3 = issued_card(town, "a3", issued=date(2026, 4, 2))              # from May
    issued_card(town, "a3", disease="MB002", issued=date(2026, 4, 2))  # same person, second card
    months = ["2026-03", "2026-04", "2026-05"]

    def rates():
        return [(r.used, r.holders) for r in chronic.card_usage_rates(ws, town.clerk, months, today=TODAY)]

    assert rates() == [(0, 0), (0, 1), (0, 2)]
    chronic.set_usage(ws, town.doctor_a, a1, "2026-05", True, today=TODAY)
    assert rates() == [(0, 0), (0, 1), (1, 2)]
    chronic.set_usage(ws, town.doctor_a, a3, "2026-05", True, today=TODAY)
    assert rates() == [(0, 0), (0, 1), (2, 2)]
    assert chronic.card_usage_rates(ws, town.clerk, months, today=TODAY)[2].rate.percent_text == "100.0%"
    chronic.set_usage(ws, town.doctor_a, a1, "2026-05", False, today=TODAY)
    assert rates() == [(0, 0), (0, 1), (1, 2)]
    chronic.set_usage(ws, town.doctor_a, a1, "2026-05", True, today=TODAY)  # the same row again, not a second one
    assert count(ws, CardUsage, CardUsage.card_id == a1) == 1
    # The village doctor's figures are their village's; village B has no holders.
    assert [r.holders for r in chronic.card_usage_rates(ws, town.doctor_b, months, today=TODAY)] == [0, 0, 0]


def test_usage_outside_the_card_period_is_refused(town):
    a1 = issued_card(town, "a1", issued=date(2026, 3, 20))
    with pytest.raises(ValidationError, match="2026-03 不在有效期内"):
        chronic.set_usage(town.ws, town.doctor_a, a1, "2026-03", True, today=TODAY)
    with pytest.raises(ValidationError, match="未来月份"):
        chronic.set_usage(town.ws, town.doctor_a, a1, "2026-12", True, today=TODAY)
    chronic.cancel_card(town.ws, town.doctor_a, a1, reason="治愈", on=date(2026, 8, 15), today=TODAY)
    chronic.set_usage(town.ws, town.doctor_a, a1, "2026-08", True, today=TODAY)  # the month of cancellation counts
    with pytest.raises(ValidationError, match="2026-09 不在有效期内"):
        chronic.set_usage(town.ws, town.doctor_a, a1, "2026-09", True, today=TODAY)
    with pytest.raises(ValidationError, match="月份格式"):
        chronic.set_usage(town.ws, town.doctor_a, a1, "2026/08", True, today=TODAY)


def test_usage_grid_cells_and_rates(town):
    a1 = issued_card(town, "a1", issued=date(2026, 3, 20))
    chronic.set_usage(town.ws, town.doctor_a, a1, "2026-06", True, today=TODAY)
    chronic.set_usage(town.ws, town.doctor_a, a1, "2026-07", False, today=TODAY)
    grid = chronic.usage_grid(town.ws, town.doctor_a, village_code=VILLAGE_A, end_month="2026-11", today=TODAY)
    assert grid.months[0] == "2025-12" and grid.months[-1] == "2026-11" and len(grid.months) == 12
    [row] = grid.rows
    assert row.card_id == a1 and row.resident_name == "王秀英"
    assert row.cells["2026-03"] is None and row.cells["2026-04"] is False
    assert row.cells["2026-06"] is True and row.cells["2026-07"] is False
    by_month = {r.month: (r.used, r.holders) for r in grid.rates}
    assert by_month["2026-03"] == (0, 0) and by_month["2026-06"] == (1, 1) and by_month["2026-07"] == (0, 1)
    # The grid's rate row is the same figure the dashboard gets.
    assert grid.rates == chronic.card_usage_rates(town.ws, town.doctor_a, grid.months, village_code=VILLAGE_A)
    single = chronic.usage_grid(town.ws, town.doctor_a, card_id=a1, end_month="2026-11", today=TODAY)
    assert [r.card_id for r in single.rows] == [a1] and single.rows[0].cells == row.cells


def test_rates_default_to_the_last_twelve_months(town):
    rates = chronic.card_usage_rates(town.ws, town.clerk, today=TODAY)
    assert [r.month for r in rates] == [f"2025-12"] + [f"2026-{m:02d}" for m in range(1, 12)]
    assert all(r.rate.percent_text == "—" for r in rates)


# -- refills ----------------------------------------------------------------------------------


def _refilled(town, key, days_ago, supply=30, disease="MB001"):
    card = issued_card(town, key, disease=disease, issued=date(2026, 1, 10))
    actor = town.doctor_a if key.startswith("a") else town.doctor_b
    chronic.record_refill(town.ws, actor, card, on=TODAY - timedelta(days=days_ago), supply_days=supply, today=TODAY)
    return card


def test_refill_list_boundaries_and_order(town):
    in_7 = _refilled(town, "a1", days_ago=23)             # due in 7 days: listed
    in_8 = _refilled(town, "a2", days_ago=22)             # due in 8 days: not listed
    overdue = _refilled(town, "a3", days_ago=33)          # ran out 3 days ago: listed first
    today_due = _refilled(town, "b1", days_ago=15, supply=15)
    rows = chronic.refill_reminders(town.ws, town.clerk, today=TODAY)
    assert [r.card_id for r in rows] == [overdue, today_due, in_7]
    assert in_8 not in {r.card_id for r in rows}
    assert [r.days_left for r in rows] == [-3, 0, 7]
    assert [r.due_text for r in rows] == ["已断药 3 天", "今天断药", "还剩 7 天"]
    assert rows[0].due_date == TODAY - timedelta(days=3) and rows[0].phone.startswith("139")
    # Scope: the village doctor sees their own village only.
    assert [r.card_id for r in chronic.refill_reminders(town.ws, town.doctor_a, today=TODAY)] == [overdue, in_7]
    assert [r.card_id for r in chronic.refill_reminders(town.ws, town.clerk, village_code=VILLAGE_B, today=TODAY)] \
        == [today_due]


def test_cancelled_cards_and_absent_people_leave_the_list(town):
    from station_app.services.households import set_status

    card = _refilled(town, "a1", days_ago=40)
    other = _refilled(town, "a2", days_ago=40)
    chronic.cancel_card(town.ws, town.doctor_a, card, reason="治愈", on=TODAY, today=TODAY)
    set_status(town.ws, town.admin, town.people["a2"], "moved_out", TODAY)
    ids = {r.card_id for r in chronic.refill_reminders(town.ws, town.clerk, today=TODAY)}
    assert card not in ids and other not in ids


def test_buy_medicine_in_one_click(town):
    ws = town.ws
    card = _refilled(town, "a1", days_ago=28)
    before = service_log.service_counts(ws, town.clerk, "2026-11").of("cy01").counts["medicine"]
    entry = chronic.buy_medicine(ws, town.doctor_a, card, today=TODAY)
    assert card not in {r.card_id for r in chronic.refill_reminders(ws, town.doctor_a, today=TODAY)}
    detail = chronic.card_detail(ws, town.doctor_a, card)
    assert detail.last_refill_date == TODAY
    with ws.read() as session:
        row = session.get(ServiceEntry, entry)
        assert (row.kind, row.doctor_username, row.service_date) == ("medicine", "cy01", TODAY)
        assert "高血压" in row.note
        usage = session.scalar(select(CardUsage).where(CardUsage.card_id == card, CardUsage.month == "2026-11"))
        assert usage.used is True and usage.source == "clinic"
        # One unit of work: the three rows were audited under one action.
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.row_id.in_([entry, card, usage.id]))))
    assert "chronic_buy_medicine" in actions
    assert service_log.service_counts(ws, town.clerk, "2026-11").of("cy01").counts["medicine"] == before + 1


def test_reminder_call_is_logged_and_the_row_stays(town):
    card = _refilled(town, "a1", days_ago=28)
    chronic.remind_refill(town.ws, town.doctor_a, card, today=TODAY)
    [row] = [r for r in chronic.refill_reminders(town.ws, town.doctor_a, today=TODAY) if r.card_id == card]
    assert row.reminded_on == TODAY
    assert service_log.service_counts(town.ws, town.clerk, "2026-11").of("cy01").counts["reminder"] == 1


def test_one_click_actions_write_nothing_when_refused(town):
    card = apply(town)
    with pytest.raises(ValidationError, match="只有已发卡的可以"):
        chronic.buy_medicine(town.ws, town.doctor_a, card, today=TODAY)
    issued = _refilled(town, "a2", days_ago=30)
    with pytest.raises(ValidationError, match="不能晚于今天"):
        chronic.buy_medicine(town.ws, town.doctor_a, issued, on=TODAY + timedelta(days=1), today=TODAY)
    with pytest.raises(PermissionDenied):
        chronic.buy_medicine(town.ws, town.doctor_b, issued, today=TODAY)
    assert count(town.ws, ServiceEntry) == 0
    assert chronic.card_detail(town.ws, town.clerk, issued).last_refill_date == TODAY - timedelta(days=30)


def test_village_choices_follow_scope(town):
    assert [c for c, _n in chronic.village_choices(town.ws, town.clerk)] == [VILLAGE_A, VILLAGE_B]
    assert chronic.village_choices(town.ws, town.doctor_a) == [(VILLAGE_A, "群英村")]
    assert [d.code for d in chronic.disease_choices(town.ws)] == ["MB001", "MB002"]


def test_cards_are_soft_state_only(town):
    card = issued_card(town)
    with town.ws.read() as session:
        assert session.get(ChronicCard, card).village_code == VILLAGE_A
