"""Chronic card domain rules: lifecycle, step fields, benefit start, refill dates, months, 卡月使用率."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, strategies as st

from station_app.domain import chronic as rules
from station_app.domain.enums import CardStatus as S, Role
from station_app.domain.errors import PermissionDenied, ValidationError

TODAY = date(2026, 11, 23)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))

ALLOWED = {(S.APPLIED, S.ASSESSED), (S.APPLIED, S.REFUSED), (S.ASSESSED, S.ISSUED), (S.ASSESSED, S.REFUSED),
           (S.ISSUED, S.CANCELLED),
           # 暂停 while the holder is not enrolled (参保中断), resumed or ended later (issue 17.4)
           (S.ISSUED, S.SUSPENDED), (S.SUSPENDED, S.ISSUED), (S.SUSPENDED, S.CANCELLED)}


@pytest.mark.parametrize("current", list(S), ids=lambda s: s.value)
@pytest.mark.parametrize("target", list(S), ids=lambda s: s.value)
def test_lifecycle(current, target):
    if (current, target) in ALLOWED:
        rules.check_transition(current.value, target.value)
    else:
        with pytest.raises(ValidationError) as error:
            rules.check_transition(current.value, target.value)
        assert error.value.message.startswith(f"慢病卡当前状态为“{current.label}”，不能")


@pytest.mark.parametrize("role,allowed", [(Role.VILLAGE_DOCTOR, False), (Role.TOWNSHIP_CLERK, True), (Role.ADMIN, True)])
def test_clerk_steps(role, allowed):
    if allowed:
        rules.require_clerk(role.value, "认定慢病卡")
    else:
        with pytest.raises(PermissionDenied, match="只有乡镇医保专干或管理员可以认定慢病卡"):
            rules.require_clerk(role.value, "认定慢病卡")


@given(days)
def test_benefit_starts_on_the_first_of_the_next_month(issued):
    start = rules.benefit_start(issued)
    assert start.day == 1
    assert issued < start <= issued + timedelta(days=31)
    assert (start.year * 12 + start.month) - (issued.year * 12 + issued.month) == 1


@pytest.mark.parametrize("issued,start", [(date(2026, 12, 31), date(2027, 1, 1)), (date(2026, 1, 1), date(2026, 2, 1)),
                                          (date(2024, 2, 29), date(2024, 3, 1))])
def test_benefit_start_examples(issued, start):
    assert rules.benefit_start(issued) == start


@given(days, st.integers(1, rules.MAX_SUPPLY_DAYS))
def test_refill_due_is_last_refill_plus_supply(last, supply):
    assert (rules.refill_due(last, supply) - last).days == supply


@pytest.mark.parametrize("days_left,due", [(-30, True), (-1, True), (0, True), (6, True), (7, True), (8, False),
                                           (30, False)])
def test_refill_window_boundaries(days_left, due):
    assert rules.refill_is_due(TODAY + timedelta(days=days_left), TODAY) is due


def test_refill_text():
    assert rules.refill_text(TODAY + timedelta(days=3), TODAY) == "还剩 3 天"
    assert rules.refill_text(TODAY, TODAY) == "今天断药"
    assert rules.refill_text(TODAY - timedelta(days=2), TODAY) == "已断药 2 天"


def test_application_needs_its_fields():
    ok = dict(disease_code="MB001", materials="身份证或户口簿", applied_date=TODAY, today=TODAY)
    rules.validate_application(**ok)
    for change, message in [(dict(disease_code=""), "病种"), (dict(materials="  "), "申请材料"),
                            (dict(applied_date=None), "申请日期"), (dict(applied_date=TODAY + timedelta(days=1)), "晚于今天")]:
        with pytest.raises(ValidationError, match=message):
            rules.validate_application(**{**ok, **change})


def test_assessment_issue_refusal_and_cancel_fields():
    applied = date(2026, 10, 1)
    rules.validate_assessment(applied_date=applied, assessed_date=date(2026, 10, 9), assessed_by="县医保局专家组", today=TODAY)
    with pytest.raises(ValidationError, match="认定机构"):
        rules.validate_assessment(applied_date=applied, assessed_date=date(2026, 10, 9), assessed_by=" ", today=TODAY)
    with pytest.raises(ValidationError, match="不能早于申请日期"):
        rules.validate_assessment(applied_date=applied, assessed_date=date(2026, 9, 9), assessed_by="x", today=TODAY)
    with pytest.raises(ValidationError, match="卡号"):
        rules.validate_issue(assessed_date=applied, issued_date=TODAY, card_no="", today=TODAY)
    with pytest.raises(ValidationError, match="发卡日期.*不能早于认定日期"):
        rules.validate_issue(assessed_date=date(2026, 10, 9), issued_date=date(2026, 10, 8), card_no="K1", today=TODAY)
    with pytest.raises(ValidationError, match="原因"):
        rules.validate_refusal(applied_date=applied, on=TODAY, reason="", today=TODAY)
    with pytest.raises(ValidationError, match="注销日期.*不能早于发卡日期"):
        rules.validate_cancel(issued_date=date(2026, 10, 9), on=date(2026, 10, 1), today=TODAY)


@pytest.mark.parametrize("reason,detail,text", [("死亡", "", "死亡"), ("迁出", "迁往西安", "迁出：迁往西安"),
                                                ("其他", "本人申请注销", "其他：本人申请注销")])
def test_cancel_reasons(reason, detail, text):
    assert rules.cancel_reason_text(reason, detail) == text


@pytest.mark.parametrize("reason,detail,message", [("其他", "", "写明具体原因"), ("出国", "", "请选择注销原因")])
def test_cancel_reasons_refused(reason, detail, message):
    with pytest.raises(ValidationError, match=message):
        rules.cancel_reason_text(reason, detail)


def test_supply_days():
    assert rules.validate_supply_days(30) == 30
    for bad in (0, -1, rules.MAX_SUPPLY_DAYS + 1):
        with pytest.raises(ValidationError, match="供药天数"):
            rules.validate_supply_days(bad)


# -- months -----------------------------------------------------------------------------------


@given(days, st.integers(1, 36))
def test_months_ending(day, count):
    end = rules.month_key(day)
    keys = rules.months_ending(end, count)
    assert len(keys) == count and keys[-1] == end
    assert keys == sorted(keys) and len(set(keys)) == count
    for a, b in zip(keys, keys[1:]):
        assert rules.add_months(a, 1) == b


@pytest.mark.parametrize("text", ["2026-3", "2026/03", "26-03", "2026-13", "abc"])
def test_bad_month(text):
    with pytest.raises(ValidationError, match="月份格式"):
        rules.parse_month(text)


def test_month_last_day():
    assert rules.month_last_day("2024-02") == date(2024, 2, 29)
    assert rules.month_last_day("2026-12") == date(2026, 12, 31)


def _held_by_dates(month: str, start: date | None, cancelled: date | None) -> bool:
    """The definition in dates, as an oracle for the key comparison."""
    if start is None:
        return False
    return start <= rules.month_last_day(month) and (cancelled is None or cancelled >= rules.parse_month(month))


@given(days, st.one_of(st.none(), days), days)
def test_held_in_month_matches_the_date_definition(start, cancelled, probe):
    month = rules.month_key(probe)
    assert rules.held_in_month(month, start, cancelled) == _held_by_dates(month, start, cancelled)


card_strategy = st.builds(
    lambda i, holder, start, cancelled: rules.HeldCard(f"c{i}", f"p{holder}", start, cancelled),
    st.integers(0, 10**6), st.integers(0, 6),
    st.one_of(st.none(), st.dates(date(2025, 6, 1), date(2027, 3, 1))),
    st.one_of(st.none(), st.dates(date(2025, 6, 1), date(2027, 3, 1))))


@given(st.lists(card_strategy, max_size=12, unique_by=lambda c: c.card_id), st.data())
def test_monthly_usage_counts_people_with_a_card_in_force(cards, data):
    months = rules.months_ending("2026-11", 12)
    pairs = {(c.card_id, m) for c in cards for m in months}
    used = data.draw(st.sets(st.sampled_from(sorted(pairs)) if pairs else st.nothing()))
    result = rules.monthly_usage(cards, used, months)
    assert [r.month for r in result] == months
    by_card: dict[str, set[str]] = {}
    for card_id, month in used:
        by_card.setdefault(card_id, set()).add(month)
    assert rules.monthly_usage(cards, by_card, months) == result  # the form the service passes
    for row in result:
        holders = {c.holder_id for c in cards if _held_by_dates(row.month, c.benefit_start, c.cancelled_date)}
        users = {c.holder_id for c in cards if _held_by_dates(row.month, c.benefit_start, c.cancelled_date)
                 and (c.card_id, row.month) in used}
        assert (row.used, row.holders) == (len(users), len(holders))
        assert 0 <= row.used <= row.holders
        assert row.rate.denominator == row.holders


def test_monthly_usage_example():
    months = ["2026-01", "2026-02", "2026-03"]
    cards = [rules.HeldCard("a", "p1", date(2026, 1, 1)),
             rules.HeldCard("b", "p1", date(2026, 2, 1)),                    # same person, second card
             rules.HeldCard("c", "p2", date(2026, 2, 1), date(2026, 2, 10)),  # cancelled in February
             rules.HeldCard("d", "p3", None)]                                # never issued
    used = {("a", "2026-01"), ("b", "2026-02"), ("c", "2026-03"), ("d", "2026-01")}
    result = rules.monthly_usage(cards, used, months)
    assert [(r.used, r.holders) for r in result] == [(1, 1), (1, 2), (0, 1)]
    assert result[1].rate.percent_text == "50.0%"
