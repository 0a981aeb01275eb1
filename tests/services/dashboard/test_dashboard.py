"""工作台: figures agree with the archives' services, and marking paid moves the 参保率 on screen."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.services import enrollment as en
from station_app.services.dashboard import load_dashboard
from station_app.ui.sections import PageContext
from station_app.ui.sections.dashboard import DashboardPage
from station_app.ui.tasks import TaskManager

from ..enrollment.town import TODAY, YEAR, build_town


@pytest.fixture
def settled(township_ws):
    ws, admin = township_ws
    town = build_town(ws, admin)
    en.start_new_year(ws, admin, YEAR)
    en.mark_paid(ws, admin, [town[n] for n in ("张大山", "刘桂兰", "张朵朵")], YEAR,
                 paid_on=date(2026, 10, 20), channel="wechat", today=TODAY)
    return ws, admin, town


def test_dashboard_matches_the_enrollment_kpis(settled):
    ws, admin, _town = settled
    board = load_dashboard(ws, admin, today=TODAY)
    kpis = en.enrollment_kpis(ws, admin, YEAR)
    assert board.year == YEAR
    assert board.kpis.overall == kpis.overall
    assert board.unpaid == kpis.overall.denominator - kpis.overall.numerator  # nothing else uncovered here
    assert board.year_info.days_left == (date(2026, 12, 31) - TODAY).days
    assert len(board.usage) == 12 and board.reminders_due == 0 and board.services.total == 0


def test_a_village_doctor_sees_only_their_village(settled):
    ws, _admin, town = settled
    doctor = town.doctor()
    board = load_dashboard(ws, doctor, today=TODAY)
    assert {p.code for p in board.kpis.by_village} <= {doctor.place_code}


def test_marking_paid_moves_the_rate_on_the_dashboard(qtbot, settled):
    ws, admin, town = settled
    page = DashboardPage(PageContext(ws, admin, TaskManager.synchronous()))
    qtbot.addWidget(page)
    before = page.dashboard.kpis.overall
    assert page.rate_card.value.text() == before.percent_text
    unpaid_id = town["张小龙"]
    en.mark_paid(ws, admin, [unpaid_id], YEAR, paid_on=date(2026, 11, 1), channel="wechat", today=TODAY)
    page.refresh_button.click()
    after = page.dashboard.kpis.overall
    assert after.numerator == before.numerator + 1 and after.denominator == before.denominator
    assert page.rate_card.value.text() == after.percent_text != before.percent_text
    assert page.unpaid_card.value.text() == f"{page.dashboard.unpaid} 人"
    # The village table lists every village in scope with its rate.
    names = {page.village_tree.topLevelItem(i).text(0) for i in range(page.village_tree.topLevelItemCount())}
    assert "群英村" in names
