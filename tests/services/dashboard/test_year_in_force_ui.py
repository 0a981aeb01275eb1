"""Issue 17.5/17.6 on screen: the year in force beside the collection year, targets only where the
county set them, 提醒 calls counted apart from the services."""

from __future__ import annotations

from datetime import date

from station_app.services import enrollment as en
from station_app.services.dashboard import load_dashboard
from station_app.services.reference import load_reference
from station_app.services.service_log import record_service
from station_app.ui.sections import PageContext
from station_app.ui.sections.dashboard import DashboardPage
from station_app.ui.tasks import TaskManager
from tests.conftest import COUNTY

from ..enrollment.town import TODAY, YEAR, build_town


def _page(qtbot, ws, admin):
    page = DashboardPage(PageContext(ws, admin, TaskManager.synchronous()))
    qtbot.addWidget(page)
    return page


def test_year_in_force_targets_and_reminders_apart(qtbot, township_ws):
    ws, admin = township_ws
    town = build_town(ws, admin)
    en.start_new_year(ws, admin, YEAR)
    en.start_new_year(ws, admin, YEAR - 1)
    en.mark_paid(ws, admin, [town["赵六"]], YEAR - 1, paid_on=date(2025, 10, 20), channel="wechat", today=TODAY)
    for kind in ("reminder", "reminder", "medicine"):
        record_service(ws, admin, resident_id=town["张大山"], kind=kind, on=TODAY, today=TODAY)
    board = load_dashboard(ws, admin, today=TODAY)
    assert (board.year, board.in_force_year) == (YEAR, YEAR - 1)
    assert board.in_force_kpis.overall.numerator == 1
    page = _page(qtbot, ws, admin)
    page._show(board)
    assert f"{YEAR - 1} 年度（当前待遇年度）" in page.rate_card.detail.text()
    # No county target set: 困难群众参保率 shows no 「目标」, the chart draws no line.
    assert "目标" not in page.hardship_card.detail.text()
    assert page.usage_chart.target is None
    # Services: the work (代购药 1) and the 提醒 calls (2) apart.
    assert page.service_card.value.text() == "1 次" and "提醒电话 2 次" in page.service_card.detail.text()
    load_reference(ws, {"county": {"code": COUNTY, "name": "汉阴县"},
                        "rules": {"targets": {"value": {"hardship_enrollment_rate": 1.0, "card_usage_rate": 0.8}}}})
    page._show(load_dashboard(ws, admin, today=TODAY))
    assert "县定目标 100%" in page.hardship_card.detail.text()
    assert page.usage_chart.target == 0.8
