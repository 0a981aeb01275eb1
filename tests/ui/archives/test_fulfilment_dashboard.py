"""The 工作台 shows 医疗救助落实率 as the mechanism means it (issue 16), not the old case ratio."""

from __future__ import annotations

from datetime import date

from station_app.services.reference import load_reference
from station_app.ui.sections import PageContext
from station_app.ui.sections.dashboard import DashboardPage
from station_app.ui.tasks import TaskManager
from tests.services.archives.test_entitlement_service import RULES, add_settlement


def test_dashboard_card_counts_people_entitled_not_cases_applied(qtbot, town):
    year = date.today().year
    rules = {**RULES, "assistance_rules": [dict(r, year=year) for r in RULES["assistance_rules"]]}
    load_reference(town.ws, rules)
    # Two 救助对象 with settlements and no case at all: the old ratio had nothing to count (—);
    # the new one says nobody entitled has been helped yet.
    add_settlement(town, "a1", "JS1", date(year, 1, 10), 8_000)
    add_settlement(town, "a3", "JS2", date(year, 1, 12), 10_000)
    page = DashboardPage(PageContext(town.ws, town.clerk, TaskManager.synchronous()))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.assistance_card.value.text() == "0.0%", timeout=30_000)
    assert "应享 2 人，已落实 0 人" in page.assistance_card.detail.text()
    assert "待落实 2 笔" in page.assistance_card.detail.text()
