"""services.overview: the 工作台 figures from SQL aggregates, checked without any widget."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.services.overview import pending_changes, station_overview
from station_app.services.households import ResidentInput, register_household, set_status
from station_app.store.models import Enrollment
from tests.conftest import GROUP_A1, GROUP_B1, VILLAGE_A, VILLAGE_B

IDS = ("11010519491231002X", "440524188001010014", "34052419800101001X")


def _register(ws, actor, village, group, name, id_number) -> str:
    _household, resident = register_household(
        ws, actor, village_code=village, head=ResidentInput(name, id_number, group_code=group))
    return resident


def _enroll(ws, actor, resident_id: str, year: int, status: str, village: str) -> None:
    with ws.unit_of_work(actor, "test_enroll") as session:
        session.add(Enrollment(resident_id=resident_id, year=year, status=status, village_code=village))


def test_not_set_up_gives_zeros(workspace):
    overview = station_overview(workspace)
    assert overview.station_name == ""
    assert (overview.village_count, overview.household_count, overview.registered_residents) == (0, 0, 0)
    assert overview.benefit_year is None
    assert not overview.has_enrollments
    assert overview.enrollment_rate.percent_text == "—"


def test_counts_villages_households_and_registered_residents(township_ws):
    ws, admin = township_ws
    a = _register(ws, admin, VILLAGE_A, GROUP_A1, "张三", IDS[0])
    _register(ws, admin, VILLAGE_A, GROUP_A1, "李四", IDS[1])
    _register(ws, admin, VILLAGE_B, GROUP_B1, "王五", IDS[2])
    overview = station_overview(ws, today=date(2026, 3, 1))
    assert overview.station_name == "漩涡镇医保服务中心"
    assert overview.place_name == "漩涡镇"
    assert overview.village_count == 2
    assert overview.household_count == 3
    assert overview.registered_residents == 3

    set_status(ws, admin, a, "moved_out", date(2026, 2, 1))
    assert station_overview(ws).registered_residents == 2


@pytest.mark.parametrize("today, year", [
    (date(2025, 8, 31), None),   # before the first collection window opens
    (date(2025, 9, 1), 2026),
    (date(2026, 8, 31), 2026),
    (date(2026, 9, 1), 2027),    # the next year's collection has started
])
def test_benefit_year_is_latest_whose_collection_started(township_ws, today, year):
    ws, _admin = township_ws
    assert station_overview(ws, today=today).benefit_year == year


def test_enrollment_rate_counts_covered_over_required(township_ws):
    ws, admin = township_ws
    people = [
        _register(ws, admin, VILLAGE_A, GROUP_A1, "张三", IDS[0]),
        _register(ws, admin, VILLAGE_A, GROUP_A1, "李四", IDS[1]),
        _register(ws, admin, VILLAGE_B, GROUP_B1, "王五", IDS[2]),
    ]
    villages = [VILLAGE_A, VILLAGE_A, VILLAGE_B]
    for person, village, status in zip(people, villages, ["paid", "subsidised", "unpaid"]):
        _enroll(ws, admin, person, 2026, status, village)
    _enroll(ws, admin, people[0], 2027, "not_required", VILLAGE_A)  # another year: ignored

    overview = station_overview(ws, today=date(2026, 3, 1))
    assert overview.benefit_year == 2026
    assert (overview.covered, overview.required) == (2, 3)
    assert overview.enrollment_rate.percent_text == "66.7%"

    # Someone who moved out during the year was a resident of it: still counted for 2026
    # (issue 17.5 — 参保率 over everyone resident during the year, docs/FIGURES.md) …
    set_status(ws, admin, people[2], "moved_out", date(2026, 3, 2))
    overview = station_overview(ws, today=date(2026, 3, 3))
    assert (overview.covered, overview.required) == (2, 3)
    # … one who left before the year began is not.
    set_status(ws, admin, people[2], "moved_out", date(2025, 12, 2))
    overview = station_overview(ws, today=date(2026, 3, 3))
    assert (overview.covered, overview.required) == (2, 2)


def test_not_required_is_left_out_of_required(township_ws):
    ws, admin = township_ws
    a = _register(ws, admin, VILLAGE_A, GROUP_A1, "张三", IDS[0])
    b = _register(ws, admin, VILLAGE_A, GROUP_A1, "李四", IDS[1])
    _enroll(ws, admin, a, 2026, "other_channel", VILLAGE_A)
    _enroll(ws, admin, b, 2026, "not_required", VILLAGE_A)
    overview = station_overview(ws, today=date(2026, 3, 1))
    assert (overview.covered, overview.required) == (1, 1)
    assert overview.has_enrollments


def test_pending_changes_counts_outbox_ops(township_ws):
    ws, admin = township_ws
    before = pending_changes(ws)
    _register(ws, admin, VILLAGE_A, GROUP_A1, "张三", IDS[0])
    after = pending_changes(ws)
    assert after == before + 2  # the household and its head
    assert station_overview(ws).pending_outbox == after


def test_village_station_serves_its_own_village(workspace):
    from station_app.services.auth import setup_station
    from station_app.services.reference import load_reference
    from tests.conftest import SMALL_REFERENCE

    load_reference(workspace, SMALL_REFERENCE)
    setup_station(workspace, code="QY", name="群英村医保服务工作站", scope="village", place_code=VILLAGE_A,
                  admin_username="admin", admin_password="secret-1")
    overview = station_overview(workspace)
    assert (overview.place_name, overview.village_count) == ("群英村", 1)


def test_township_station_before_reference_data_has_no_villages(workspace):
    from station_app.services.auth import setup_station

    setup_station(workspace, code="XW", name="漩涡镇医保服务中心", scope="township",
                  place_code="610921103000", admin_username="admin", admin_password="secret-1")
    overview = station_overview(workspace)
    assert (overview.place_name, overview.village_count, overview.registered_residents) == ("", 0, 0)
    assert overview.benefit_year is None
