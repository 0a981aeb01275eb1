"""Record history from the audit log, the duplicate scan, and the export of the list as shown."""

from __future__ import annotations

from datetime import date

from openpyxl import load_workbook

from station_app.services import registry
from station_app.services.registry import ResidentInput
from station_app.store.models import Enrollment, Resident

from .conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, an_id


def test_history_says_who_changed_what_in_chinese(township_ws, people):
    ws, admin = township_ws
    rid = people["王芳"]
    data = registry.resident_detail(ws, admin, rid).as_input()
    data.name, data.phone, data.id_number = "王芳芳", "13900000000", an_id(date(1975, 5, 20), 46)
    registry.update_resident(ws, admin, rid, data)
    registry.set_status(ws, admin, rid, "moved_out", date(2026, 3, 1))
    history = registry.resident_history(ws, rid, admin)
    assert [h.action for h in history] == ["标记迁出", "修改信息", "登记新户"]
    assert all(h.who == "管理员（admin）" for h in history)
    moved, edited, created = history
    assert "状态：在册 → 迁出" in moved.detail and "状态日期：2026-03-01" in moved.detail
    assert "姓名：王芳 → 王芳芳" in edited.detail and "联系电话：13700001111 → 13900000000" in edited.detail
    old_id, new_id = an_id(date(1975, 5, 20), 44), an_id(date(1975, 5, 20), 46)
    assert f"身份证号：610921********{old_id[-4:]} → 610921********{new_id[-4:]}" in edited.detail  # as audited
    assert "19750520" not in edited.detail and "zhang" not in edited.detail  # no birth digits, no pinyin keys
    assert "人员类别：低保对象" in created.detail and "与户主关系：户主" in created.detail
    assert created.at <= edited.at <= moved.at


def test_history_of_a_move_and_of_enrollment_records(township_ws, people):
    ws, admin = township_ws
    rid = people["张建国"]
    registry.move_to_household(ws, admin, rid, people.households["wang"], "other")
    with ws.unit_of_work(admin, "mark_paid") as session:
        session.add(Enrollment(resident_id=rid, village_code=VILLAGE_A, year=2026, status="paid", paid_fen=40000))
    history = registry.resident_history(ws, rid)
    assert history[0].subject == "2026 年度参保" and "状态：已缴费" in history[0].detail
    assert "实缴金额：400.00 元" in history[0].detail
    move = history[1]
    assert move.action == "迁户" and move.subject == "居民信息"
    assert f"所在户：户号 {people.numbers['zhang']} → 户号 {people.numbers['wang']}" in move.detail
    assert "村民小组：一组 → 二组" in move.detail and "与户主关系：子 → 其他" in move.detail


def test_bulk_loaded_residents_have_no_per_person_history(township_ws):
    ws, admin = township_ws
    row = dict(village_code=VILLAGE_A, household_id=None, group_code=GROUP_A1, name="钱多多", name_pinyin="",
               name_initials="", sex="F", id_number=an_id(date(2001, 1, 1), 124), birth_date=date(2001, 1, 1),
               phone="", relation="other", status="registered", status_date=None, special_groups="", note="")
    with ws.unit_of_work(admin, "import_roster") as session:
        ws.recorder.bulk_insert(session, Resident, [row], summary="导入")
    rid = registry.resident_ids(ws, admin, registry.RegistryFilter(search="钱多多"))[0]
    assert registry.resident_history(ws, rid) == []


def test_duplicate_scan_finds_same_id_and_same_name_and_birth(township_ws, people):
    ws, admin = township_ws
    # same name + birth, another ID: saved after the clerk confirmed
    registry.register_household(ws, admin, village_code="610921103202",
                                head=ResidentInput("张三", an_id(date(1960, 3, 15), 99), group_code=GROUP_B1),
                                confirm_similar=True)
    # same ID twice: only possible around the services (two stations, sync); bulk insert here
    twin = dict(village_code=VILLAGE_A, household_id=people.households["wang"], group_code=GROUP_A2,
                name="王芳", name_pinyin="wangfang", name_initials="wf", sex="F",
                id_number=an_id(date(1975, 5, 20), 44), birth_date=date(1975, 5, 20), phone="", relation="other",
                status="registered", status_date=None, special_groups="", note="")
    with ws.unit_of_work(admin, "sync_test") as session:
        ws.recorder.bulk_insert(session, Resident, [twin], summary="测试")
    seen = []
    groups = registry.duplicate_scan(ws, admin, lambda done, total, msg: seen.append((done, total)))
    assert [(g.kind_label, len(g.members)) for g in groups] == [("身份证号相同", 2), ("姓名和出生日期相同", 2)]
    assert groups[0].key.startswith("610921********") and groups[1].key == "张三　1960-03-15"
    assert {m.village for m in groups[1].members} == {"群英村", "堰坪村"}
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


def test_duplicate_scan_respects_scope(township_ws, people, doctor_a):
    ws, admin = township_ws
    registry.register_household(ws, admin, village_code="610921103202",
                                head=ResidentInput("张三", an_id(date(1960, 3, 15), 99), group_code=GROUP_B1),
                                confirm_similar=True)
    assert len(registry.duplicate_scan(ws, admin)) == 1
    assert registry.duplicate_scan(ws, doctor_a) == []  # the other 张三 is in 堰坪村


def test_export_of_the_list_as_shown(township_ws, people, tmp_path, doctor_a):
    ws, admin = township_ws
    ids = registry.resident_ids(ws, admin, registry.RegistryFilter(search="z"))
    result = registry.export_list(ws, admin, ids, tmp_path / "名册", title="居民档案", filters_text="搜索：z")
    assert result.path.suffix == ".xlsx" and result.rows == 3
    sheet = load_workbook(result.path).active
    assert sheet["A1"].value == "居民档案" and "共 3 人" in sheet["A2"].value
    assert [c.value for c in sheet[3]][:7] == ["序号", "村", "村民小组", "户编号", "户主姓名", "与户主关系", "姓名"]
    assert [sheet.cell(r, 7).value for r in (4, 5, 6)] == ["张三", "张建国", "赵子豪"]
    id_cell = sheet.cell(4, 10)
    assert id_cell.value == an_id(date(1960, 3, 15), 11) and id_cell.number_format == "@"
    # ids outside the actor's villages are left out, whatever the caller passes
    everyone = registry.resident_ids(ws, admin)
    assert registry.export_list(ws, doctor_a, everyone, tmp_path / "a.xlsx").rows == 5
