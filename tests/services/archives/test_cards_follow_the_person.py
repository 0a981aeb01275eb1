"""Issue 17.4: 慢特病 cards follow the person — death, moving out, no enrollment; 复审; 待遇起始
from 审批通过; holders counted as people. The rules are the county's (reference data)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from station_app.domain import chronic as rules
from station_app.domain.errors import ValidationError
from station_app.services import chronic, enrollment
from station_app.services.reference import demo_reference_path, load_reference
from station_app.services.households import set_status
from tests.conftest import COUNTY

from .test_chronic_service import TODAY, apply, issued_card

RULES = json.loads(Path(demo_reference_path()).read_text(encoding="utf-8"))["rules"]


def _county(ws, **overrides):
    load_reference(ws, {"county": {"code": COUNTY, "name": "汉阴县"}, "rules": dict(RULES, **overrides)})


def _detail(town, card):
    return chronic.card_detail(town.ws, town.clerk, card)


def test_death_cancels_the_card_with_the_reason(town):
    """Finding 4: marking someone 死亡 left the card 已发卡 and them counted as 持卡人."""
    _county(town.ws)
    card = issued_card(town, "a1", issued=date(2026, 3, 20))
    set_status(town.ws, town.admin, town.people["a1"], "died", date(2026, 8, 5))
    detail = _detail(town, card)
    assert (detail.status, detail.cancelled_date, detail.cancel_reason) == ("cancelled", date(2026, 8, 5), "死亡")
    months = ["2026-07", "2026-08", "2026-09"]
    assert [r.holders for r in chronic.card_usage_rates(town.ws, town.clerk, months, today=TODAY)] == [1, 1, 0]


def test_moving_out_follows_the_countys_rule(town):
    _county(town.ws, card_on_move_out={"value": "suspend"})
    card = issued_card(town, "a2", issued=date(2026, 3, 20))
    set_status(town.ws, town.admin, town.people["a2"], "moved_out", date(2026, 6, 30))
    detail = _detail(town, card)
    assert detail.status == "suspended"
    assert chronic.card_usage_rates(town.ws, town.clerk, ["2026-06", "2026-07"], today=TODAY)[1].holders == 0


def test_dead_holders_are_not_counted_later_even_without_the_rule(town):
    """The figure follows the person whatever the county's card rule (5 dead holders counted Jan–Feb)."""
    card = issued_card(town, "a1", issued=date(2026, 3, 20))
    set_status(town.ws, town.admin, town.people["a1"], "died", date(2026, 9, 1))
    assert _detail(town, card).status == "issued"  # no county rule: the card is left to the clerk
    rates = chronic.card_usage_rates(town.ws, town.clerk, ["2026-09", "2026-10"], today=TODAY)
    assert [r.holders for r in rates] == [1, 0]


def test_holders_not_enrolled_for_the_year_are_not_counted_and_cards_pause(town):
    """Finding 4: November holders included people not enrolled for the year."""
    _county(town.ws)
    a1 = issued_card(town, "a1", issued=date(2026, 3, 20))
    a2 = issued_card(town, "a2", issued=date(2026, 3, 20))
    enrollment.set_paid(town.ws, town.admin, town.people["a1"], 2026, paid_on=date(2025, 10, 1),
                        channel="wechat", today=TODAY)
    enrollment.set_unpaid(town.ws, town.admin, town.people["a2"], 2026)
    rates = chronic.card_usage_rates(town.ws, town.clerk, ["2026-11"], today=TODAY)
    assert rates[0].holders == 1
    result = chronic.follow_enrollment(town.ws, town.clerk, 2026, on=date(2026, 1, 1), today=TODAY)
    assert (result.suspended, result.cancelled) == (1, 0)
    detail = _detail(town, a2)
    assert (detail.status, detail.suspend_reason) == ("suspended", "参保中断")
    assert _detail(town, a1).status == "issued"
    # Enrolled again (a 特困-style 动态参保 would do): the card resumes at the next check.
    enrollment.set_other_channel(town.ws, town.admin, town.people["a2"], 2026, "职工医保")
    assert chronic.follow_enrollment(town.ws, town.clerk, 2026, today=TODAY).resumed == 1
    assert _detail(town, a2).status == "issued"


def test_cancel_reasons_the_demo_uses():
    assert rules.cancel_reason_text("参保中断") == "参保中断"
    assert rules.cancel_reason_text("复审未通过") == "复审未通过"


def test_benefit_starts_the_month_after_approval_when_the_county_says_so(town):
    """Finding 4: benefits started the month after 发卡; the policy text says after 审批通过."""
    _county(town.ws)
    card = apply(town, "a3")
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=date(2026, 3, 25), assessed_by="专家组", today=TODAY)
    start = chronic.issue_card(town.ws, town.clerk, card, card_no="MT1", issued_date=date(2026, 4, 8), today=TODAY)
    assert start == date(2026, 4, 1)
    _county(town.ws, card_benefit_start={"value": "month_after_issue"})
    card = apply(town, "b1")
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=date(2026, 3, 25), assessed_by="专家组", today=TODAY)
    assert chronic.issue_card(town.ws, town.clerk, card, card_no="MT2", issued_date=date(2026, 4, 8),
                              today=TODAY) == date(2026, 5, 1)


def test_annual_review_due_dates_and_work_list(town):
    _county(town.ws)
    card = issued_card(town, "a1", issued=date(2025, 10, 20))  # approved 10-10: benefits from 11-01
    due = _detail(town, card)
    assert due.review_due == date(2026, 11, 1)  # 12 months after the benefit start (county rule)
    work = chronic.reviews_due(town.ws, town.clerk, today=TODAY)
    assert [(w.card_id, w.days_left) for w in work] == [(card, -22)]
    assert chronic.review_card(town.ws, town.clerk, card, passed=True, on=TODAY, today=TODAY) == date(2027, 11, 1)
    assert chronic.reviews_due(town.ws, town.clerk, today=TODAY) == []
    other = issued_card(town, "b1", issued=date(2025, 10, 20))
    chronic.review_card(town.ws, town.clerk, other, passed=False, on=TODAY, today=TODAY)
    detail = _detail(town, other)
    assert (detail.status, detail.cancel_reason) == ("cancelled", "复审未通过")
    with pytest.raises(Exception):
        chronic.review_card(town.ws, town.doctor_a, card, passed=True, today=TODAY)


def test_holders_are_people_not_cards(town):
    """Finding 4: 「持卡 184 人」 counted cards (172 people)."""
    issued_card(town, "a3", issued=date(2026, 3, 20))
    issued_card(town, "a3", disease="MB002", issued=date(2026, 3, 20))
    issued_card(town, "b1", issued=date(2026, 3, 20))
    assert chronic.card_holders(town.ws, town.clerk, on=TODAY) == 2


def test_a_suspended_card_cannot_be_used_for_services(town):
    _county(town.ws)
    card = issued_card(town, "a1", issued=date(2026, 3, 20))
    chronic.suspend_card(town.ws, town.clerk, card, reason="参保中断", on=date(2026, 10, 1), today=TODAY)
    with pytest.raises(ValidationError):
        chronic.buy_medicine(town.ws, town.doctor_a, card, today=TODAY)
    chronic.resume_card(town.ws, town.clerk, card)
    assert _detail(town, card).status == "issued"


def test_people_count_for_notices():
    """For the chronic notice's 「持卡 N 人」 (notices are h11's): people, not cards."""
    cards = [{"resident_id": "a"}, {"resident_id": "a"}, {"resident_id": "b"}]
    assert rules.people_count(cards) == 2
