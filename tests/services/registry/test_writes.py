"""Saving: validation with the domain's messages, duplicates, heads of household, moves, households."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.services import registry
from station_app.services.registry import ResidentInput, SimilarResidentsFound
from station_app.store.models import AuditEntry, Household, OutboxOp, Resident

from .conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, an_id, search


def counts(ws) -> tuple[int, int, int]:
    with ws.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Household, Resident, OutboxOp))


@pytest.mark.parametrize("field, data, message", [
    ("id_number", ResidentInput("孙丽", "61092119900101001"), "位数不对"),
    ("id_number", ResidentInput("孙丽", "610921199001010010"), "校验"),
    ("name", ResidentInput("Sun 丽1", an_id(date(1990, 1, 1), 77)), "姓名"),
    ("phone", ResidentInput("孙丽", an_id(date(1990, 1, 1), 77), phone="12345"), "联系电话"),
])
def test_invalid_input_is_refused_with_the_domain_message_and_nothing_saved(township_ws, field, data, message):
    ws, admin = township_ws
    data.group_code = GROUP_A1
    before = counts(ws)
    with pytest.raises(ValidationError) as caught:
        registry.register_household(ws, admin, village_code=VILLAGE_A, head=data)
    assert caught.value.field == field and message in caught.value.message
    assert counts(ws) == before


def test_same_id_number_is_refused(township_ws, people):
    ws, admin = township_ws
    before = counts(ws)
    with pytest.raises(ValidationError) as caught:
        registry.add_member(ws, admin, people.households["wang"],
                            ResidentInput("张三", an_id(date(1960, 3, 15), 11), relation="other"))
    assert caught.value.code == "duplicate" and "已登记" in caught.value.message
    assert counts(ws) == before


def test_same_name_and_birth_warns_and_the_clerk_can_confirm(township_ws, people):
    ws, admin = township_ws
    other_id = an_id(date(1960, 3, 15), 99)  # another valid number, same name and birth date
    before = counts(ws)
    with pytest.raises(SimilarResidentsFound) as caught:
        registry.register_household(ws, admin, village_code="610921103202",
                                    head=ResidentInput("张三", other_id, group_code=GROUP_B1))
    assert counts(ws) == before  # nothing half-saved: not even the household
    warning = caught.value
    assert warning.code == "similar" and [m.id for m in warning.matches] == [people["张三"]]
    assert "张*" in warning.message and "群英村" in warning.message and "********" in warning.message
    registry.register_household(ws, admin, village_code="610921103202",
                                head=ResidentInput("张三", other_id, group_code=GROUP_B1), confirm_similar=True)
    assert search(ws, admin, "张三") == ["张三", "张三"]


def test_editing_into_a_similar_person_warns_too(township_ws, people):
    ws, admin = township_ws
    detail = registry.resident_detail(ws, admin, people["王芳"])
    data = detail.as_input()
    data.name, data.id_number = "张三", an_id(date(1960, 3, 15), 98)
    with pytest.raises(SimilarResidentsFound):
        registry.update_resident(ws, admin, people["王芳"], data)
    assert registry.resident_detail(ws, admin, people["王芳"]).name == "王芳"
    # an edit that keeps name and birth date does not re-warn about itself
    data = registry.resident_detail(ws, admin, people["张三"]).as_input()
    data.phone = "13900000000"
    registry.update_resident(ws, admin, people["张三"], data)


def test_edit_saves_every_field_and_the_head_name_follows(township_ws, people):
    ws, admin = township_ws
    data = registry.resident_detail(ws, admin, people["张三"]).as_input()
    data.name, data.phone, data.special_groups, data.group_code = "张山", "13900000000", ("dibao",), GROUP_A2
    registry.update_resident(ws, admin, people["张三"], data)
    detail = registry.resident_detail(ws, admin, people["张三"])
    assert (detail.name, detail.phone, detail.special_groups, detail.group_code) == \
        ("张山", "13900000000", ("dibao",), GROUP_A2)
    assert registry.household_view(ws, admin, people.households["zhang"]).head_name == "张山"
    assert search(ws, admin, "zs") == ["张山"]  # the index follows the edit (initials unchanged)
    assert search(ws, admin, "zhangshan") == ["张山"] and search(ws, admin, "zhangsan") == []


def test_one_registered_head_per_household(township_ws, people):
    ws, admin = township_ws
    with pytest.raises(ValidationError) as caught:
        registry.add_member(ws, admin, people.households["zhang"],
                            ResidentInput("张四", an_id(date(1993, 2, 2), 13), relation="head"))
    assert caught.value.code == "second_head" and "张三" in caught.value.message
    # hand over: the old head first, then the new one
    old = registry.resident_detail(ws, admin, people["张三"]).as_input()
    old.relation = "father"
    registry.update_resident(ws, admin, people["张三"], old)
    new = registry.resident_detail(ws, admin, people["张建国"]).as_input()
    new.relation = "head"
    registry.update_resident(ws, admin, people["张建国"], new)
    view = registry.household_view(ws, admin, people.households["zhang"])
    assert view.head_name == "张建国" and view.members[0].name == "张建国"


def test_move_to_another_household_of_the_village(township_ws, people):
    ws, admin = township_ws
    registry.move_to_household(ws, admin, people["张建国"], people.households["wang"], "other")
    detail = registry.resident_detail(ws, admin, people["张建国"])
    assert detail.household_id == people.households["wang"] and detail.group_code == GROUP_A2
    assert [m.name for m in registry.household_view(ws, admin, people.households["wang"]).members] == \
        ["王芳", "赵子豪", "张建国"]  # head, son, other
    row = registry.resident_rows(ws, [people["张建国"]])[people["张建国"]]
    assert row["household_no"] == people.numbers["wang"] and row["group"] == "二组"
    assert search(ws, admin, "张建国", group_code=GROUP_A2) == ["张建国"]  # the index follows


@pytest.mark.parametrize("who, target, relation, code", [
    ("刘梓豪", "zhang", "other", "other_village"),
    ("张三", "wang", "other", "head_with_members"),
    ("张建国", "zhang", "other", "same"),
    ("张建国", "wang", "head", "second_head"),
])
def test_moves_that_are_refused(township_ws, people, who, target, relation, code):
    ws, admin = township_ws
    before = registry.resident_detail(ws, admin, people[who])
    with pytest.raises(ValidationError) as caught:
        registry.move_to_household(ws, admin, people[who], people.households[target], relation)
    assert caught.value.code == code
    assert registry.resident_detail(ws, admin, people[who]) == before


def test_village_doctor_cannot_write_outside_their_village(township_ws, people, doctor_a):
    ws, _admin = township_ws
    data = ResidentInput("周平", an_id(date(1999, 9, 9), 21), relation="son")
    with pytest.raises(PermissionDenied):
        registry.add_member(ws, doctor_a, people.households["liu"], data)
    registry.add_member(ws, doctor_a, people.households["zhang"], data)
    with ws.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "add_resident")
                                .order_by(AuditEntry.id.desc())).first()
    assert entry.username == "cy_a"


def test_household_category_and_helper(township_ws, people):
    ws, admin = township_ws
    hid = people.households["wang"]
    with pytest.raises(ValidationError) as caught:
        registry.update_household(ws, admin, hid, address="王家", phone="", category="seriously_ill")
    assert caught.value.field == "helper_name" and "包帮责任人" in caught.value.message
    registry.update_household(ws, admin, hid, address="王家沟 3 号", phone="0915-1234567",
                              category="seriously_ill", helper_name="陈书记", helper_phone="13911112222",
                              today=date(2026, 4, 1))
    view = registry.household_view(ws, admin, hid)
    assert (view.category_label, view.category_since, view.helper_name, view.phone) == \
        ("重病户", date(2026, 4, 1), "陈书记", "0915-1234567")


def test_mark_died_and_moved_out(township_ws, people):
    ws, admin = township_ws
    registry.set_status(ws, admin, people["赵子豪"], "moved_out", date(2026, 2, 1))
    detail = registry.resident_detail(ws, admin, people["赵子豪"])
    assert (detail.status_label, detail.status_date) == ("迁出", date(2026, 2, 1))
    with pytest.raises(ValidationError):
        registry.set_status(ws, admin, people["王芳"], "died", date.today() + timedelta(days=1))
    with pytest.raises(NotFound):
        registry.set_status(ws, admin, "missing", "died", date(2026, 1, 1))


def test_find_households_for_a_move(township_ws, people):
    ws, admin = township_ws
    found = registry.find_households(ws, admin, VILLAGE_A, "王", exclude_id=people.households["zhang"])
    assert [(h.head_name, h.members) for h in found] == [("王芳", 2)]
    assert len(registry.find_households(ws, admin, VILLAGE_A)) == 2
