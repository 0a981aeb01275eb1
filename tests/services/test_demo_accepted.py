"""Issue 17.8: demo data a county official would accept — and that the app's own rules accept."""

from __future__ import annotations

import json
from station_app.store.encryption import connect_known
from datetime import date

import pytest

from station_app.domain.county_rules import PaymentRefused, decide_benefit_start, parse_rules
from station_app.services.demo import DEFAULT_TODAY, build_demo
from station_app.services.reference import demo_reference_path

TODAY = DEFAULT_TODAY


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("accepted")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STATION_APP_DATA_DIR", str(root / "userdata"))
        build_demo(root / "demo.db", villages=4, residents=8000, seed=1)
    connection = connect_known(root / "demo.db")
    yield connection
    connection.close()


def test_no_payment_before_birth(db):
    """Finding 8: 150 payments dated before the person's birth."""
    assert db.execute("SELECT count(*) FROM enrollment e JOIN resident r ON r.id = e.resident_id "
                      "WHERE e.paid_date < r.birth_date").fetchone() == (0,)


def test_every_payment_is_one_the_app_accepts_with_its_benefit_start(db):
    """Finding 1 in the demo: 970 newborn payments after the deadline the app would refuse."""
    reference = json.loads(demo_reference_path().read_text(encoding="utf-8"))
    rules = parse_rules({k: v["value"] for k, v in reference["rules"].items()})
    settings = {s["year"]: (date.fromisoformat(s["collection_start"]), date.fromisoformat(s["deadline"]))
                for s in reference["year_settings"]}
    rows = db.execute("SELECT e.year, e.paid_date, e.benefit_start, r.birth_date, r.special_groups "
                      "FROM enrollment e JOIN resident r ON r.id = e.resident_id "
                      "WHERE e.paid_date IS NOT NULL").fetchall()
    assert rows
    late = 0
    for year, paid, start, birth, groups in rows:
        collection_start, deadline = settings[year]
        paid, birth = date.fromisoformat(paid), date.fromisoformat(birth)
        try:
            decision = decide_benefit_start(year=year, paid_on=paid, collection_start=collection_start,
                                            deadline=deadline, birth_date=birth, special_groups=groups,
                                            gap_years=0, rules=rules)
        except PaymentRefused as refused:  # pragma: no cover - the failure message names the row
            pytest.fail(f"{year} paid {paid} born {birth}: {refused.message}")
        assert start == decision.benefit_start.isoformat()
        late += paid > deadline
    assert late > 0  # newborns and special groups enrolled during the year are there


def test_births_at_a_steady_rate(db):
    """Finding 8: 2026 births 1,047 vs 633 in 2025 (the clamp of children's ages to 0)."""
    def born(first: str, last: str) -> int:
        return db.execute("SELECT count(*) FROM resident WHERE birth_date BETWEEN ? AND ?", (first, last)).fetchone()[0]

    this_year = born(f"{TODAY.year}-01-01", TODAY.isoformat())
    days = (TODAY - date(TODAY.year, 1, 1)).days + 1
    per_year = [born(f"{y}-01-01", f"{y}-12-31") for y in range(TODAY.year - 5, TODAY.year)]
    average = sum(per_year) / len(per_year)
    assert 0.6 * average <= this_year * 365 / days <= 1.4 * average, (this_year, per_year)
    assert max(per_year) <= 1.5 * min(per_year), per_year


def test_catalogue_names_as_the_national_list_spells_them(db):
    names = {n for (n,) in db.execute("SELECT name FROM disease")}
    assert {"帕金森病", "严重精神障碍", "特发性血小板减少性紫癜"} <= names
    assert not names & {"帕金森氏综合症", "重性精神病", "特发性紫癜"}


def test_cancel_and_pause_reasons_are_the_apps(db):
    from station_app.domain.chronic import CANCEL_REASONS

    reasons = {r for (r,) in db.execute("SELECT DISTINCT cancel_reason FROM chronic_card WHERE status = 'cancelled'")}
    assert {r.split("：")[0] for r in reasons} <= set(CANCEL_REASONS)
    paused = db.execute("SELECT count(*) FROM chronic_card c WHERE c.status = 'suspended' "
                        "AND c.suspend_reason = '参保中断'").fetchone()[0]
    uncovered_issued = db.execute(
        "SELECT count(*) FROM chronic_card c JOIN resident r ON r.id = c.resident_id WHERE c.status = 'issued' "
        "AND c.benefit_start IS NOT NULL AND NOT EXISTS (SELECT 1 FROM enrollment e WHERE e.resident_id = "
        "c.resident_id AND e.year = ? AND e.status IN ('paid','subsidised','other_channel'))",
        (TODAY.year,)).fetchone()[0]
    assert paused > 0 and uncovered_issued == 0
    dead_holders = db.execute(
        "SELECT count(*) FROM chronic_card c JOIN resident r ON r.id = c.resident_id "
        "WHERE c.status = 'issued' AND r.status != 'registered'").fetchone()[0]
    assert dead_holders == 0
