"""Issue 17.5/17.6: every figure of the 工作台 and the notices is defined in docs/FIGURES.md with
plain SQL; each SQL block, run with sqlite3 on the demo township, matches the service's figure."""

from __future__ import annotations

import re
from station_app.store.encryption import connect_known
from datetime import date
from pathlib import Path

import pytest

from station_app.domain import chronic as chronic_rules
from station_app.services import assistance, chronic, enrollment
from station_app.services.auth import login
from station_app.services.dashboard import load_dashboard
from station_app.services.demo import ADMIN_PASSWORD, ADMIN_USERNAME, DEFAULT_TODAY, build_demo
from station_app.services.workspace import Workspace

FIGURES = Path(__file__).resolve().parents[3] / "docs" / "FIGURES.md"
TODAY = DEFAULT_TODAY


def _blocks() -> dict[str, str]:
    return dict(re.findall(r"```sql (\w+)\n(.*?)```", FIGURES.read_text(encoding="utf-8"), re.S))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STATION_APP_DATA_DIR", str(root / "userdata"))
        build_demo(root / "demo.db", villages=3, residents=2500, seed=3)
        ws = Workspace.open(root / "demo.db")
        admin = login(ws, ADMIN_USERNAME, ADMIN_PASSWORD)
        board = load_dashboard(ws, admin, today=TODAY)
        connection = connect_known(root / "demo.db")
        yield ws, admin, board, connection
        connection.close()
        ws.close()


def sql(connection, name: str, **params) -> tuple:
    return connection.execute(_blocks()[name], params).fetchone()


def test_every_block_is_tested():
    tested = {"enrollment_rate", "hardship_enrollment_rate", "unpaid", "card_usage", "card_holders", "new_cards",
              "assistance_handled", "assistance_fulfilment", "services_work", "services_reminders", "refills_due"}
    assert set(_blocks()) == tested


def test_enrollment_rates_of_both_years(demo):
    """From 1 September the collection year and the year in force are both on the 工作台."""
    ws, admin, board, connection = demo
    assert (board.year, board.in_force_year) == (TODAY.year + 1, TODAY.year)
    for year, kpis in ((board.year, board.kpis), (board.in_force_year, board.in_force_kpis)):
        overall = sql(connection, "enrollment_rate", year=year)
        assert (kpis.overall.numerator, kpis.overall.denominator) == overall
        hardship = sql(connection, "hardship_enrollment_rate", year=year)
        assert (kpis.hardship.numerator, kpis.hardship.denominator) == hardship
        assert hardship[1] > 0
    assert sql(connection, "unpaid", year=board.year) == (board.unpaid,)


def test_residents_who_died_during_the_year_still_count(demo):
    """Finding 5: people covered in the year who died in it dropped out of both counts."""
    _ws, _admin, board, connection = demo
    died = connection.execute(
        "SELECT count(*) FROM resident r JOIN enrollment e ON e.resident_id = r.id AND e.year = ? "
        "WHERE r.status != 'registered' AND r.status_date >= ? AND e.status IN ('paid','subsidised')",
        (TODAY.year, f"{TODAY.year}-01-01")).fetchone()[0]
    assert died > 0
    registered_only = connection.execute(
        "SELECT count(*) FROM resident r JOIN enrollment e ON e.resident_id = r.id AND e.year = ? "
        "WHERE r.status = 'registered' AND r.deleted = 0 AND e.status IN ('paid','subsidised','other_channel')",
        (TODAY.year,)).fetchone()[0]
    assert board.in_force_kpis.overall.numerator >= registered_only + died


def test_card_usage_per_month_counts_people(demo):
    ws, admin, board, connection = demo
    for month in board.usage:
        assert sql(connection, "card_usage", month=month.month) == (month.used, month.holders), month.month
    assert sql(connection, "card_holders", day=TODAY.isoformat()) == (chronic.card_holders(ws, admin, on=TODAY),)


def test_new_cards_and_assistance_handled_per_period(demo):
    """Finding 6: 办理医疗救助人次 and 新增门诊慢特病卡 were computed nowhere."""
    _ws, _admin, board, connection = demo
    month = (TODAY.replace(day=1).isoformat(), TODAY.isoformat())
    year = (date(TODAY.year, 1, 1).isoformat(), TODAY.isoformat())
    figures = board.figures
    assert sql(connection, "new_cards", first=month[0], last=month[1]) == (figures.new_cards.month_count,)
    assert sql(connection, "new_cards", first=year[0], last=year[1]) == (figures.new_cards.year_count,)
    assert figures.new_cards.year_count > 0
    assert sql(connection, "assistance_handled", first=month[0], last=month[1]) == (figures.assistance_handled.month_count,)
    assert sql(connection, "assistance_handled", first=year[0], last=year[1]) == (figures.assistance_handled.year_count,)
    assert figures.assistance_handled.year_count > 0


def test_assistance_payout_rate(demo):
    ws, admin, _board, connection = demo
    rate = assistance.assistance_kpis(ws, admin, TODAY.year).payout_rate  # 已审核救助发放率
    assert sql(connection, "assistance_fulfilment", year=TODAY.year) == (rate.numerator, rate.denominator)


def test_services_count_reminders_apart(demo):
    """Finding 6: 提醒 calls were counted with 代购药/答疑 as if the same work."""
    _ws, _admin, board, connection = demo
    first, last = TODAY.replace(day=1).isoformat(), chronic_rules.month_last_day(f"{TODAY:%Y-%m}").isoformat()
    assert sql(connection, "services_work", first=first, last=last) == (board.work_services,)
    assert sql(connection, "services_reminders", first=first, last=last) == (board.reminder_calls,)
    assert board.reminder_calls > 0
    assert board.work_services + board.reminder_calls == board.services.total


def test_refills_due(demo):
    _ws, _admin, board, connection = demo
    assert sql(connection, "refills_due", today=TODAY.isoformat()) == (board.reminders_due,)


def test_targets_only_where_the_county_set_them(demo):
    """Finding 5: 「目标 80 %」 labelled seed 003's achieved figure as a target."""
    _ws, _admin, board, _connection = demo
    assert board.target("hardship_enrollment_rate") == 1.0
    assert board.target("card_usage_rate") is None
