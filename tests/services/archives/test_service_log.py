"""服务记录 service: quick entry, the list, each doctor's monthly counts, scope, resident lookup."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import service_log as svc
from tests.conftest import VILLAGE_A

TODAY = date(2026, 11, 23)


def log(town, key, kind, on=TODAY, actor=None, note=""):
    actor = actor or (town.doctor_a if key.startswith("a") else town.doctor_b)
    return svc.record_service(town.ws, actor, resident_id=town.people[key], kind=kind, on=on, note=note, today=TODAY)


def test_quick_entry_is_attributed_to_the_signed_in_doctor(town):
    entry = log(town, "a1", "home_visit", note="测血压 150/95")
    [row] = svc.service_rows(town.ws, [entry]).values()
    assert (row["kind"], row["doctor"], row["doctor_username"], row["name"], row["service_date"], row["note"]) == \
        ("上门", "张村医", "cy01", "王秀英", TODAY, "测血压 150/95")


def test_date_defaults_to_today(town):
    entry = svc.record_service(town.ws, town.doctor_a, resident_id=town.people["a1"], kind="question")
    assert svc.service_rows(town.ws, [entry])[entry]["service_date"] == date.today()


@pytest.mark.parametrize("kind,on,match", [
    ("shopping", TODAY, "服务类型"),
    ("home_visit", TODAY + timedelta(days=1), "不能晚于今天"),
    ("home_visit", TODAY - timedelta(days=400), "早于一年前"),
])
def test_entry_checks(town, kind, on, match):
    with pytest.raises(ValidationError, match=match):
        log(town, "a1", kind, on=on)
    assert svc.service_ids(town.ws, town.clerk) == []


def test_scope_and_absent_residents(town):
    from station_app.services.households import set_status

    with pytest.raises(PermissionDenied):
        log(town, "b1", "question", actor=town.doctor_a)
    set_status(town.ws, town.admin, town.people["a2"], "died", TODAY)
    with pytest.raises(ValidationError, match="状态为“死亡”"):
        log(town, "a2", "home_visit")


def test_counts_per_doctor_and_kind(town):
    log(town, "a1", "home_visit")
    log(town, "a1", "medicine", on=date(2026, 11, 1))
    log(town, "a3", "medicine")
    log(town, "a3", "question", on=date(2026, 10, 31))   # previous month
    log(town, "b1", "errand")
    log(town, "b1", "home_visit", actor=town.clerk)      # the clerk visited too
    counts = svc.service_counts(town.ws, town.clerk, "2026-11")
    assert [d.username for d in counts.doctors] == ["cy01", "cy02", "zg01"]
    assert counts.of("cy01").counts == {"home_visit": 1, "medicine": 2, "question": 0, "errand": 0, "reminder": 0}
    assert counts.of("cy02").total == 1 and counts.of("zg01").display_name == "周专干"
    assert counts.totals["home_visit"] == 2 and counts.total == 5
    october = svc.service_counts(town.ws, town.clerk, "2026-10")
    assert october.of("cy01").counts["question"] == 1
    assert october.of("cy02").total == 0          # doctors in scope are listed with zero
    # A village doctor sees their village's entries only.
    mine = svc.service_counts(town.ws, town.doctor_a, "2026-11")
    assert [d.username for d in mine.doctors] == ["cy01"] and mine.total == 3
    village = svc.service_counts(town.ws, town.clerk, "2026-11", village_code=VILLAGE_A)
    assert village.total == 3


def test_twelve_month_series(town):
    log(town, "a1", "home_visit", on=date(2026, 1, 5))
    log(town, "a1", "home_visit", on=date(2026, 11, 5))
    log(town, "a1", "reminder", on=date(2026, 11, 6))
    log(town, "b1", "reminder", on=date(2026, 11, 6))
    series = svc.service_series(town.ws, town.clerk, end_month="2026-11", today=TODAY)
    assert [m.month for m in series][0] == "2025-12" and len(series) == 12
    by_month = {m.month: m for m in series}
    assert by_month["2026-01"].counts["home_visit"] == 1 and by_month["2026-11"].total == 3
    mine = svc.service_series(town.ws, town.clerk, end_month="2026-11", doctor="cy02", today=TODAY)
    assert sum(m.total for m in mine) == 1


def test_list_filters_and_sort(town):
    first = log(town, "a1", "home_visit", on=date(2026, 10, 2))
    second = log(town, "a3", "medicine", on=date(2026, 11, 2))
    third = log(town, "b1", "errand", on=date(2026, 11, 3))
    ws, clerk = town.ws, town.clerk
    assert svc.service_ids(ws, clerk) == [third, second, first]
    assert svc.service_ids(ws, clerk, svc.ServiceFilters(month="2026-11")) == [third, second]
    assert svc.service_ids(ws, clerk, svc.ServiceFilters(kind="home_visit")) == [first]
    assert svc.service_ids(ws, clerk, svc.ServiceFilters(doctor="cy02")) == [third]
    assert svc.service_ids(ws, clerk, svc.ServiceFilters(text="lgl")) == [second]
    assert svc.service_ids(ws, clerk, None, "service_date", True) == [first, second, third]
    assert svc.service_ids(ws, town.doctor_a) == [second, first]


def test_void_own_entries_only(town):
    entry = log(town, "a1", "home_visit")
    other = svc.record_service(town.ws, town.clerk, resident_id=town.people["a1"], kind="question", today=TODAY)
    with pytest.raises(PermissionDenied, match="只能作废自己"):
        svc.void_service(town.ws, town.doctor_a, other)
    svc.void_service(town.ws, town.doctor_a, entry)
    assert svc.service_ids(town.ws, town.clerk) == [other]
    assert svc.service_counts(town.ws, town.clerk, TODAY.strftime("%Y-%m"), today=TODAY).of("cy01").total == 0


def test_resident_lookup(town):
    ws = town.ws
    assert [h.name for h in svc.find_residents(ws, town.clerk, "王")] == ["王秀英"]
    assert [h.name for h in svc.find_residents(ws, town.clerk, "zdh")] == ["赵德华"]
    assert [h.name for h in svc.find_residents(ws, town.clerk, "zhaode")] == ["赵德华"]
    assert [h.name for h in svc.find_residents(ws, town.doctor_a, "zdh")] == []      # other village
    hit = svc.find_residents(ws, town.clerk, "13912345673")[0]
    assert hit.name == "赵德华" and "*" in hit.id_masked and hit.village_name == "堰坪村"
    assert svc.find_residents(ws, town.clerk, "") == []
    assert svc.find_residents(ws, town.clerk, "100%") == []
    assert svc.resident_hit(ws, town.clerk, town.people["a3"]).groups_text == "重度残疾、特困人员"
