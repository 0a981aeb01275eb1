"""Roster import end to end: a real-shaped file with every fault, what went in, what the error report says."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.domain.roster import SCIENTIFIC_ID_REASON
from station_app.services.households import ResidentInput, register_household
from station_app.services.roster_import import (
    ImportCancelled,
    import_roster,
    plan_import,
    read_roster,
)
from station_app.store.models import AuditEntry, Enrollment, Household, OutboxOp, Resident

from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B
from .rosters import EXACT_INT, fullwidth, person_id, write_xlsx

# People of the roster, by role in the test.
ZHANG = person_id(1)           # head, text with a trailing space
LI = person_id(2)              # spouse, full-width digits
WEI = "61092119600105031X"     # son, lower-case x
WANG_OLD = "610921560101003"   # old 15-digit number stored as a number
WANG_NEW = "610921195601010034"
ZHAO = person_id(5)            # wife, ID saved by Excel in scientific notation
HUA_OLD = "610921870203004"    # granddaughter: old 15-digit number as text
INT_ID = next(person_id(n) for n in range(100, 200) if person_id(n)[-1] != "X")  # an exact integer cell
CHEN = person_id(8)            # unknown group
LIU = person_id(9)             # already registered as 刘德华
SUN = person_id(10)            # registered as 孙悟空, the roster says 孙行者
BAD_PHONE = person_id(11)
ZHOU = person_id(12)           # 特困, 脱贫户 — two special groups
BAD_CHECK = person_id(13)[:-1] + ("0" if person_id(13)[-1] != "0" else "1")

HEADER = ["序号", "村民小组 ", "户主姓名", "与户主关系", "公民身份号码", "姓  名", "性别", "联系电话",
          "人员类别", "缴费状态", "备注"]


def real_roster(path: Path) -> Path:
    """Title rows with merged cells, shuffled columns, household columns merged down, every fault."""
    title = "漩涡镇群英村2027年度城乡居民基本医疗保险参保花名册"
    rows = [
        [title] + [None] * 10,
        ["填报单位：群英村村委会（盖章）", None, None, None, None, None, "填报日期：2026年10月8日"],
        HEADER,
        # row 4-6: household 张建国 in 一组, 户主姓名 and 组 merged down over three rows
        [1, "一组", "张建国", "户主", ZHANG + " ", "张建国 ", "男", "13800138000 ", "低保", "资助参保", None],
        [2, None, None, "配偶", fullwidth(LI), "李秀英", "女", None, None, "已缴费", None],
        [3, None, None, "子", WEI.lower(), "张伟", "男", None, "", "未缴费", "在外务工"],
        # row 7-9: household 王大明 in "2组"
        [4, "2组", "王大明", "户主", int(WANG_OLD), "王大明", "男", 13912345678, "一般", "已缴费", None],
        [5, "2组", "王大明", "妻", float(ZHAO), "赵兰", "女", None, None, "已缴费", None],
        [6, "2组", "王大明", "孙女", HUA_OLD, "王小花", "女", None, None, "未缴费", None],
        # row 10: an ID stored as an exact integer number; household of its own
        [7, "一组", "钱多多", "户主", EXACT_INT + INT_ID, "钱多多", "男", None, "特困,脱贫户", "资助参保", None],
        # row 11: a group 群英村 does not have
        [8, "三组", "陈老汉", "户主", CHEN, "陈老汉", "男", None, None, "未缴费", None],
        # row 12: 李秀英 a second time
        [9, "一组", "张建国", "配偶", LI, "李秀英", "女", None, None, "已缴费", None],
        # row 13: already registered, same name → skipped, not an error
        [10, "一组", "刘德华", "户主", LIU, "刘德华", "男", None, None, "已缴费", None],
        # row 14: registered under another name
        [11, "一组", "孙行者", "户主", SUN, "孙行者", "男", None, None, "未缴费", None],
        # row 15: bad phone
        [12, "二组", "周大福", "户主", BAD_PHONE, "周大福", "男", "1380013800", None, "未缴费", None],
        # row 16: wrong check digit, unknown 人员类别
        [13, "二组", "吴用", "户主", BAD_CHECK, "吴用", "男", None, "贫困户甲", "未缴费", None],
        # row 17: totals line
        ["合计", None, None, None, None, None, None, None, None, None, None],
    ]
    merges = ["A1:K1", "A2:F2", "G2:K2", "B4:B6", "C4:C6"]
    return write_xlsx(path, rows, merges)


ERROR_ROWS = {8, 11, 12, 14, 15, 16}
NEW_ROWS = {4, 5, 6, 7, 9, 10}


def counts(ws) -> dict[str, int]:
    with ws.read() as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                for m in (Household, Resident, Enrollment, OutboxOp, AuditEntry)}


@pytest.fixture
def prepared(township_ws):
    """The township with 刘德华 and 孙悟空 already registered in 群英村."""
    ws, admin = township_ws
    register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("刘德华", LIU, group_code=GROUP_A1))
    register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("孙悟空", SUN, group_code=GROUP_A1))
    return ws, admin


def residents_by_id(ws) -> dict[str, Resident]:
    with ws.read() as session:
        return {r.id_number: r for r in session.scalars(select(Resident))}


def test_a_real_roster_imports_the_valid_rows_and_reports_the_rest(prepared, tmp_path):
    ws, admin = prepared
    before = counts(ws)
    result = import_roster(ws, admin, real_roster(tmp_path / "群英村花名册.xlsx"), village_code=VILLAGE_A,
                           year=2027, report_path=tmp_path / "report.xlsx", backups=tmp_path / "backups")

    assert (result.added, result.existing, result.errors, result.skipped) == (6, 1, 6, 1)
    assert result.households_added == 3
    assert {r.row_no for r in result.plan.errors} == ERROR_ROWS
    assert {r.row_no for r in result.plan.rows if r.status == "new"} == NEW_ROWS
    after = counts(ws)
    assert after["resident"] == before["resident"] + 6
    assert after["household"] == before["household"] + 3
    # the six new people, and 刘德华 (registered before) whose 2027 status was missing
    assert after["enrollment"] == before["enrollment"] + 7

    people = residents_by_id(ws)
    zhang, li, wei = people[ZHANG], people[LI], people[WEI]
    assert zhang.name == "张建国" and zhang.relation == "head" and zhang.phone == "13800138000"
    assert zhang.special_groups == "dibao" and zhang.group_code == GROUP_A1
    assert li.relation == "spouse" and li.group_code == GROUP_A1
    assert wei.relation == "son" and wei.note == "在外务工"
    assert zhang.household_id == li.household_id == wei.household_id
    wang, hua = people[WANG_NEW], people["610921198702030046"]
    assert wang.group_code == GROUP_A2 and wang.phone == "13912345678" and wang.household_id == hua.household_id
    assert hua.relation == "granddaughter" and hua.birth_date.isoformat() == "1987-02-03"
    qian = people[INT_ID]
    assert qian.special_groups == "tekun,tuopin" and qian.household_id != zhang.household_id
    assert CHEN not in people and BAD_PHONE not in people
    assert people[SUN].name == "孙悟空"  # not overwritten

    with ws.read() as session:
        household = session.get(Household, zhang.household_id)
        assert (household.head_name, household.group_code, household.phone) == ("张建国", GROUP_A1, "13800138000")
        status = {e.resident_id: e for e in session.scalars(select(Enrollment).where(Enrollment.year == 2027))}
        assert status[zhang.id].status == "subsidised"
        assert (status[zhang.id].subsidy_category, status[zhang.id].subsidy_fen) == ("二类（低保）定额资助", 15000)
        assert status[li.id].status == "paid" and status[li.id].paid_fen == 40000
        assert status[wei.id].status == "unpaid"
        assert status[qian.id].subsidy_fen == 40000  # 特困: full
        assert status[people[LIU].id].status == "paid"


def test_the_error_report_gives_each_row_its_reason_and_original_values(prepared, tmp_path):
    ws, admin = prepared
    result = import_roster(ws, admin, real_roster(tmp_path / "roster.xlsx"), village_code=VILLAGE_A, year=2027,
                           report_path=tmp_path / "report.xlsx", backups=tmp_path / "backups")
    assert result.report_path == tmp_path / "report.xlsx"
    book = load_workbook(result.report_path)
    sheet = book["错误行"]
    assert "roster.xlsx" in sheet["A1"].value and "6 行未导入" in sheet["A1"].value
    header = [c.value for c in sheet[2]]
    assert header[:2] == ["原行号", "错误原因"]
    assert header[2:] == ["序号", "村民小组", "户主姓名", "与户主关系", "公民身份号码", "姓名", "性别",
                          "联系电话", "人员类别", "缴费状态", "备注"]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=3, values_only=True)}
    assert set(rows) == ERROR_ROWS
    assert rows[8][1] == SCIENTIFIC_ID_REASON
    assert rows[8][6] == "6.10921194304150E+17" or rows[8][6].endswith("E+17")
    assert "村民小组“三组”在群英村不存在（现有：一组、二组）" in rows[11][1]
    assert rows[12][1] == "与第 5 行重复（同一人出现两次），本行未导入"
    assert "已登记为“孙*空”" in rows[14][1] and "与本行姓名不一致" in rows[14][1]
    assert "联系电话格式不对" in rows[15][1]
    assert "身份证号校验码错误" in rows[16][1] and "人员类别“贫困户甲”无法识别" in rows[16][1]
    # Original values as the clerk wrote them, IDs as text so a corrected file re-imports cleanly.
    id_cell = sheet.cell(row=3 + sorted(ERROR_ROWS).index(11), column=7)
    assert id_cell.value == CHEN and id_cell.data_type == "s" and id_cell.number_format == "@"
    assert rows[11][4] == "陈老汉"
    outcomes = {r[0]: r for r in book["逐行结果"].iter_rows(min_row=2, values_only=True)}
    assert outcomes[13][1] == "已存在" and outcomes[13][3] == "已存在，补录2027年度参保状态"
    assert outcomes[4][1] == "新增"


def test_importing_the_same_file_twice_changes_nothing(prepared, tmp_path):
    ws, admin = prepared
    roster = real_roster(tmp_path / "roster.xlsx")
    import_roster(ws, admin, roster, village_code=VILLAGE_A, year=2027, backups=tmp_path / "b")
    before = counts(ws)
    people = residents_by_id(ws)
    again = import_roster(ws, admin, roster, village_code=VILLAGE_A, year=2027, backups=tmp_path / "b")
    assert again.added == 0 and again.households_added == 0 and again.enrollments_added == 0
    assert again.existing == 7 and again.errors == 6  # the file's own duplicate stays an error
    assert counts(ws) == before
    assert {k: (p.name, p.household_id, p.updated_hlc) for k, p in residents_by_id(ws).items()} == {
        k: (p.name, p.household_id, p.updated_hlc) for k, p in people.items()}
    assert all(r.message == "已存在，未更改" for r in again.plan.rows if r.status == "exists")


def test_a_registered_person_gets_only_the_missing_year_status(prepared, tmp_path):
    ws, admin = prepared
    roster = write_xlsx(tmp_path / "r.xlsx", [["姓名", "身份证号", "缴费状态"], ["刘德华", LIU, "已缴费"]])
    result = import_roster(ws, admin, roster, village_code=VILLAGE_A, year=2027, backups=tmp_path / "b")
    assert (result.added, result.existing, result.enrollments_added) == (0, 1, 1)
    assert result.plan.rows[0].message == "已存在，补录2027年度参保状态"
    again = import_roster(ws, admin, roster, village_code=VILLAGE_A, year=2027, backups=tmp_path / "b")
    assert again.enrollments_added == 0 and again.plan.rows[0].message == "已存在，未更改"


def test_cancel_during_writing_leaves_the_database_unchanged(prepared, tmp_path):
    ws, admin = prepared
    before = counts(ws)
    seen: list[str] = []

    def progress(_done, _total, message=""):
        seen.append(message)

    with pytest.raises(ImportCancelled):
        import_roster(ws, admin, real_roster(tmp_path / "r.xlsx"), village_code=VILLAGE_A, year=2027,
                      backups=tmp_path / "b", progress=progress, cancel=lambda: "写入居民" in seen)
    assert "写入居民" in seen  # residents were inserted in the transaction, then rolled back
    assert counts(ws) == before


def test_dry_run_writes_nothing(prepared, tmp_path):
    ws, admin = prepared
    before = counts(ws)
    result = import_roster(ws, admin, real_roster(tmp_path / "r.xlsx"), village_code=VILLAGE_A, year=2027,
                           dry_run=True, backups=tmp_path / "b", report_path=tmp_path / "rep.xlsx")
    assert result.dry_run and result.added == 6 and "试运行" in result.summary
    assert counts(ws) == before
    assert result.backup_path is None and not (tmp_path / "b").exists()
    assert result.report_path.exists()


def test_a_backup_is_taken_before_the_import(prepared, tmp_path):
    ws, admin = prepared
    result = import_roster(ws, admin, real_roster(tmp_path / "r.xlsx"), village_code=VILLAGE_A, year=2027,
                           backups=tmp_path / "b")
    assert result.backup_path and result.backup_path.parent == tmp_path / "b"
    assert "before-import" in result.backup_path.name


def test_gbk_csv_from_excel(township_ws, tmp_path):
    ws, admin = township_ws
    path = tmp_path / "roster.csv"
    rows = [["堰坪村花名册"], [], ["户主姓名", "姓名", "身份证号码", "与户主关系", "组", "联系电话"],
            ["马六", "马六", person_id(20), "户主", "一组", "13700137000"],
            ["马六", "马小七", person_id(21), "女", "一组", ""],
            ["牛八", "牛八", "6.10921195603020E+17", "户主", "一组", ""]]
    with path.open("w", encoding="gbk", newline="") as handle:
        csv.writer(handle).writerows(rows)
    table = read_roster(path)
    assert table.labels[:3] == ["户主姓名", "姓名", "身份证号码"] and table.header_rows == (3, 3)
    result = import_roster(ws, admin, path, village_code=VILLAGE_B, report_path=tmp_path / "e.xlsx",
                           backups=tmp_path / "b")
    assert (result.added, result.errors, result.households_added) == (2, 1, 1)
    people = residents_by_id(ws)
    assert people[person_id(21)].relation == "daughter" and people[person_id(21)].group_code == GROUP_B1
    assert result.plan.errors[0].row_no == 6 and result.plan.errors[0].message == SCIENTIFIC_ID_REASON


def test_utf8_csv_with_bom_and_semicolons(township_ws, tmp_path):
    ws, admin = township_ws
    path = tmp_path / "r.csv"
    path.write_text(f"姓名;身份证号\n杨九;{person_id(30)}\n", encoding="utf-8-sig")
    result = import_roster(ws, admin, path, village_code=VILLAGE_A, backups=tmp_path / "b")
    assert result.added == 1 and residents_by_id(ws)[person_id(30)].relation == "head"


def test_township_roster_with_a_village_column(township_ws, tmp_path):
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "t.xlsx", [
        ["村", "组", "户主姓名", "姓名", "身份证号", "与户主关系"],
        ["群英村", "一组", "甲", "甲", person_id(40), "户主"],
        ["堰坪", "1组", "乙", "乙", person_id(41), "户主"],
        ["不存在村", "一组", "丙", "丙", person_id(42), "户主"],
    ])
    result = import_roster(ws, admin, roster, backups=tmp_path / "b", report_path=tmp_path / "e.xlsx")
    people = residents_by_id(ws)
    assert people[person_id(40)].village_code == VILLAGE_A and people[person_id(41)].village_code == VILLAGE_B
    assert people[person_id(41)].group_code == GROUP_B1
    assert result.plan.errors[0].message == "村“不存在村”不在本站管辖范围内"


def test_a_village_doctor_imports_only_into_their_village(township_ws, doctor, tmp_path):
    ws, _admin = township_ws
    roster = write_xlsx(tmp_path / "t.xlsx", [
        ["村", "姓名", "身份证号"], ["群英村", "甲", person_id(50)], ["堰坪村", "乙", person_id(51)]])
    result = import_roster(ws, doctor, roster, backups=tmp_path / "b", report_path=tmp_path / "e.xlsx")
    assert result.added == 1 and result.plan.errors[0].message == "村“堰坪村”不在本站管辖范围内"
    with pytest.raises(PermissionDenied):
        import_roster(ws, doctor, roster, village_code=VILLAGE_B, backups=tmp_path / "b")


def test_members_join_the_household_of_their_registered_relatives(prepared, tmp_path):
    ws, admin = prepared
    roster = write_xlsx(tmp_path / "r.xlsx", [
        ["户主姓名", "姓名", "身份证号", "与户主关系"],
        ["刘德华", "刘德华", LIU, "户主"], ["刘德华", "刘小华", person_id(60), "子"]])
    result = import_roster(ws, admin, roster, village_code=VILLAGE_A, backups=tmp_path / "b")
    assert (result.added, result.existing, result.households_added) == (1, 1, 0)
    people = residents_by_id(ws)
    assert people[person_id(60)].household_id == people[LIU].household_id


def test_households_by_number_and_same_named_heads(township_ws, tmp_path):
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "r.xlsx", [
        ["户编号", "户主姓名", "姓名", "身份证号", "与户主关系"],
        ["H1", "王强", "王强", person_id(70), "户主"],
        ["H2", "王强", "王强", person_id(71), "户主"],   # another 王强, another household
        ["H1", "王强", "王一", person_id(72), "子"],
        ["H2", "王强", "王二", person_id(73), "女"],
        ["H2", "王强", "王三", person_id(74), "户主"],   # a second head in H2
    ])
    result = import_roster(ws, admin, roster, village_code=VILLAGE_A, backups=tmp_path / "b",
                           report_path=tmp_path / "e.xlsx")
    people = residents_by_id(ws)
    assert people[person_id(70)].household_id == people[person_id(72)].household_id
    assert people[person_id(71)].household_id == people[person_id(73)].household_id
    assert people[person_id(70)].household_id != people[person_id(71)].household_id
    assert "已有户主（第 3 行）" in result.plan.errors[0].message
    with ws.read() as session:
        assert sorted(session.scalars(select(Household.household_no))) == ["H1", "H2"]


def test_same_id_with_different_names_in_the_file(township_ws, tmp_path):
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "r.xlsx", [["姓名", "身份证号"], ["甲", person_id(80)], ["乙", person_id(80)]])
    result = import_roster(ws, admin, roster, village_code=VILLAGE_A, backups=tmp_path / "b",
                           report_path=tmp_path / "e.xlsx")
    assert result.added == 0 and result.errors == 2
    assert all("出现多次且姓名不同（第 2、3 行）" in r.message for r in result.plan.errors)


def test_corrected_mapping_and_unknown_columns(township_ws, tmp_path):
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "r.xlsx", [["名字", "证件", "手机"], ["甲", person_id(90), "13800138000"]])
    with pytest.raises(ValidationError, match="没有找到表头"):
        read_roster(roster)
    # With a header the detector knows partly, the user fixes the rest in the mapping dialog.
    roster = write_xlsx(tmp_path / "r2.xlsx", [["姓名", "身份证号", "手机号码备用"], ["甲", person_id(90), "13800138000"]])
    table = read_roster(roster)
    assert table.detected == {0: "name", 1: "id_number", 2: "phone"}
    plan = plan_import(ws, admin, table, mapping={0: "name", 1: "id_number", 2: ""}, village_code=VILLAGE_A)
    assert plan.rows[0].phone == ""
    with pytest.raises(ValidationError, match="被指定给了多列"):
        plan_import(ws, admin, table, mapping={0: "name", 1: "id_number", 2: "name"}, village_code=VILLAGE_A)
    with pytest.raises(ValidationError, match="身份证号"):
        plan_import(ws, admin, table, mapping={0: "name"}, village_code=VILLAGE_A)


def test_village_required_when_the_station_has_several(township_ws, tmp_path):
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "r.xlsx", [["姓名", "身份证号"], ["甲", person_id(91)]])
    with pytest.raises(ValidationError, match="请选择要导入到哪个村"):
        import_roster(ws, admin, roster)


def test_old_xls_and_other_files_are_refused_clearly(township_ws, tmp_path):
    ws, admin = township_ws
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ValidationError, match="另存为” .xlsx"):
        import_roster(ws, admin, tmp_path / "old.xls", village_code=VILLAGE_A)
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="无法打开 Excel 文件"):
        import_roster(ws, admin, tmp_path / "broken.xlsx", village_code=VILLAGE_A)


def test_header_on_a_later_sheet(township_ws, tmp_path):
    from openpyxl import Workbook

    ws, admin = township_ws
    book = Workbook()
    book.active.title = "说明"
    book.active.append(["本表由村委会填写"])
    data = book.create_sheet("花名册")
    data.append(["姓名", "身份证号码"])
    data.append(["甲", person_id(92)])
    book.save(tmp_path / "two.xlsx")
    result = import_roster(ws, admin, tmp_path / "two.xlsx", village_code=VILLAGE_A, backups=tmp_path / "b")
    assert result.added == 1 and result.plan.table.sheet == "花名册"


def test_the_audit_holds_a_summary_and_the_log_never_a_full_id(prepared, tmp_path, caplog):
    ws, admin = prepared
    caplog.set_level(logging.DEBUG)
    import_roster(ws, admin, real_roster(tmp_path / "r.xlsx"), village_code=VILLAGE_A, year=2027,
                  backups=tmp_path / "b", report_path=tmp_path / "e.xlsx")
    with ws.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "import_roster")).all()
    summaries = [e.summary for e in entries]
    assert any(s.startswith("导入花名册“r.xlsx”：新增 6 人、3 户") for s in summaries)
    assert any("新增居民（6 条）" in s for s in summaries)
    text = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(summaries)
    for number in (ZHANG, LI, WEI, WANG_NEW, ZHAO, CHEN, LIU):
        assert number not in text


def test_a_person_registered_in_another_village_is_left_alone(township_ws, doctor, tmp_path):
    ws, admin = township_ws
    register_household(ws, admin, village_code=VILLAGE_B, head=ResidentInput("马六", person_id(95), group_code=GROUP_B1))
    roster = write_xlsx(tmp_path / "r.xlsx", [
        ["户主姓名", "姓名", "身份证号", "与户主关系", "缴费状态"],
        ["马六", "马六", person_id(95), "户主", "已缴费"],
        ["马六", "马小六", person_id(96), "子", "已缴费"]])
    before = counts(ws)
    result = import_roster(ws, doctor, roster, year=2027, backups=tmp_path / "b")
    first, second = result.plan.rows
    assert first.status == "exists" and first.message == "已存在，未更改；已在堰坪村登记，不在本站管辖范围"
    assert second.status == "new"  # goes into the doctor's own village, in a new household
    people = residents_by_id(ws)
    assert people[person_id(96)].village_code == VILLAGE_A
    assert people[person_id(96)].household_id != people[person_id(95)].household_id
    after = counts(ws)
    assert after["enrollment"] == before["enrollment"] + 1  # only the new person's
