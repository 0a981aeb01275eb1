"""The registry list: filters, sort orders, scope, the rows the table shows, the household view."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import registry
from station_app.services.registry import RegistryFilter
from station_app.store.models import Enrollment

from .conftest import GROUP_A2, VILLAGE_A, VILLAGE_B, names_of


def listed(ws, actor, sort_key="default", ascending=True, **filters) -> list[str]:
    return names_of(ws, registry.resident_ids(ws, actor, RegistryFilter(**filters), sort_key, ascending))


def test_default_order_is_village_group_household_head_first(town):
    ws, admin, _people = town
    assert listed(ws, admin) == ["张三", "李秀英", "张建国", "王芳", "赵子豪", "刘梓豪"]


@pytest.mark.parametrize("key, ascending, expected", [
    ("name", True, ["刘梓豪", "李秀英", "王芳", "张建国", "张三", "赵子豪"]),  # by pinyin: liu < lix
    ("age", True, ["赵子豪", "张建国", "刘梓豪", "王芳", "李秀英", "张三"]),  # youngest first
    ("age", False, ["张三", "李秀英", "王芳", "刘梓豪", "张建国", "赵子豪"]),
    ("default", False, ["刘梓豪", "赵子豪", "王芳", "张建国", "李秀英", "张三"]),
    ("relation", True, ["张三", "王芳", "刘梓豪", "李秀英", "张建国", "赵子豪"]),
])
def test_sort_orders(town, key, ascending, expected):
    ws, admin, _people = town
    assert listed(ws, admin, key, ascending) == expected


def test_unknown_sort_key_is_refused(town):
    ws, admin, _people = town
    with pytest.raises(ValidationError):
        registry.resident_ids(ws, admin, None, "salary")


def test_filters_village_group_and_special_group(town):
    ws, admin, _people = town
    assert listed(ws, admin, village_code=VILLAGE_B) == ["刘梓豪"]
    assert listed(ws, admin, group_code=GROUP_A2) == ["王芳", "赵子豪"]
    assert listed(ws, admin, special_group="tekun") == ["张三"]
    # 特困, 脱贫人口, 低保: 脱贫人口 are 困难群众 by default (issue 17.2; the county's rule decides).
    assert listed(ws, admin, special_group=registry.ANY_HARDSHIP) == ["张三", "张建国", "王芳"]
    assert listed(ws, admin, special_group=registry.ANY_SPECIAL) == ["张三", "张建国", "王芳"]
    assert listed(ws, admin, special_group=registry.NO_SPECIAL) == ["李秀英", "赵子豪", "刘梓豪"]


def test_status_filter_follows_marking_died(township_ws, people):
    ws, admin = township_ws
    registry.set_status(ws, admin, people["李秀英"], "died", date(2026, 1, 5))
    assert listed(ws, admin, status="died") == ["李秀英"]
    assert "李秀英" not in listed(ws, admin, status="registered")
    assert registry.resident_rows(ws, [people["李秀英"]])[people["李秀英"]]["status"] == "死亡"


def test_enrollment_status_of_a_year(township_ws, people):
    ws, admin = township_ws
    with ws.unit_of_work(admin, "test_enroll") as session:
        session.add(Enrollment(resident_id=people["张三"], village_code=VILLAGE_A, year=2026, status="paid"))
        session.add(Enrollment(resident_id=people["王芳"], village_code=VILLAGE_A, year=2026, status="unpaid"))
        session.add(Enrollment(resident_id=people["刘梓豪"], village_code=VILLAGE_B, year=2027, status="unpaid"))
    assert listed(ws, admin, enrollment_year=2026, enrollment_status="paid") == ["张三"]
    assert listed(ws, admin, enrollment_year=2026, enrollment_status="unpaid") == ["王芳"]
    assert listed(ws, admin, enrollment_year=2026, enrollment_status=registry.NOT_RECORDED) == \
        ["李秀英", "张建国", "赵子豪", "刘梓豪"]
    # with a search term the records are looked up per match: same answers
    assert listed(ws, admin, enrollment_year=2026, enrollment_status="unpaid", search="wf") == ["王芳"]
    assert listed(ws, admin, enrollment_year=2026, enrollment_status="paid", search="wf") == []
    rows = registry.resident_rows(ws, [people["张三"], people["李秀英"]], year=2026)
    assert rows[people["张三"]]["enrollment"] == "已缴费"
    assert rows[people["李秀英"]]["enrollment"] == "未登记"
    assert listed(ws, admin, "enrollment", enrollment_year=2026)[:2] == ["张三", "王芳"]  # 已缴费 < 未缴费


def test_village_doctor_sees_their_village_only(town, doctor_a):
    ws, _admin, people = town
    assert listed(ws, doctor_a) == ["张三", "李秀英", "张建国", "王芳", "赵子豪"]
    assert listed(ws, doctor_a, village_code=VILLAGE_B) == []
    with pytest.raises(PermissionDenied):
        registry.household_view(ws, doctor_a, people.households["liu"])
    with pytest.raises(PermissionDenied):
        registry.resident_detail(ws, doctor_a, people["刘梓豪"])
    choices = registry.filter_choices(ws, doctor_a)
    assert [code for code, _name in choices.villages] == [VILLAGE_A]


def test_rows_hold_what_the_table_shows(town):
    ws, _admin, people = town
    row = registry.resident_rows(ws, [people["张三"]], today=date(2026, 3, 15))[people["张三"]]
    assert row["name"] == "张三" and row["sex"] == "男" and row["age"] == 66
    assert row["village"] == "群英村" and row["group"] == "一组"
    assert row["relation"] == "户主" and row["special_groups"] == "特困人员"
    assert row["household_no"] == people.numbers["zhang"] and row["head_name"] == "张三"
    assert row["status"] == "在册" and row["hardship"] is True
    assert registry.resident_rows(ws, []) == {}
    assert registry.resident_rows(ws, ["no-such-id"]) == {}


def test_household_view_lists_members_head_first(town):
    ws, admin, people = town
    view = registry.household_view(ws, admin, people.households["zhang"])
    assert [m.name for m in view.members] == ["张三", "李秀英", "张建国"]
    assert view.head_name == "张三" and view.village == "群英村" and view.category_label == "一般参保对象户"


def test_filter_choices(town):
    ws, admin, _people = town
    choices = registry.filter_choices(ws, admin)
    assert [name for _code, name in choices.villages] == ["群英村", "堰坪村"]
    assert [name for _code, name in choices.groups[VILLAGE_A]] == ["一组", "二组"]
    assert 2026 in choices.years and 2027 in choices.years
