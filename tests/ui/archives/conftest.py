"""The small township of tests/services/archives, plus page contexts with synchronous tasks, for widget tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.services.archives.conftest import Town, build_town


@pytest.fixture
def town(township_ws, monkeypatch) -> Town:
    monkeypatch.setattr("station_app.services.auth.hash_password", lambda _password: "test-not-a-hash")
    ws, admin = township_ws
    return build_town(ws, admin)


@pytest.fixture
def context(qapp, town):
    """context(actor) → a PageContext whose tasks run inline."""
    from station_app.ui.sections import PageContext
    from station_app.ui.tasks import TaskManager

    tasks = TaskManager.synchronous()
    return lambda actor: PageContext(town.ws, actor, tasks)


def issued_card(town, key: str, *, days_ago: int = 90, refill_days_ago: int | None = None, supply: int = 30,
                disease: str = "MB001") -> str:
    """A card issued ``days_ago`` (so in force this month), optionally with a last refill."""
    from station_app.services import chronic

    today = date.today()
    actor = town.doctor_a if key.startswith("a") else town.doctor_b
    card = chronic.apply_card(town.ws, actor, resident_id=town.people[key], disease_code=disease, materials="身份证或户口簿",
                              applied_date=today - timedelta(days=days_ago + 20))
    chronic.assess_card(town.ws, town.clerk, card, assessed_date=today - timedelta(days=days_ago + 5), assessed_by="x")
    chronic.issue_card(town.ws, town.clerk, card, card_no=f"K-{key}-{disease}", issued_date=today - timedelta(days=days_ago))
    if refill_days_ago is not None:
        chronic.record_refill(town.ws, actor, card, on=today - timedelta(days=refill_days_ago), supply_days=supply)
    return card
