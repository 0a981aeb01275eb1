"""Fixtures for the 年度参保 tab: synchronous tasks and the small township with the year started."""

from __future__ import annotations

import pytest

from station_app.ui.tasks import TaskManager
from tests.services.enrollment.town import YEAR, Town, build_town


@pytest.fixture
def tasks(qapp):
    return TaskManager.synchronous()


@pytest.fixture
def town(township_ws) -> Town:
    ws, admin = township_ws
    return build_town(ws, admin)


@pytest.fixture
def started_town(town) -> Town:
    from station_app.services.enrollment import start_new_year

    start_new_year(town.ws, town.admin, YEAR)
    return town
