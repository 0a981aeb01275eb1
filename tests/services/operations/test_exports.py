"""Excel exports: title block, frozen header, IDs as text, the rows expected — and they import back unchanged."""

from __future__ import annotations

from datetime import date

import pytest
from openpyxl import load_workbook

from station_app.cli.main import main
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import exports
from station_app.services.roster_import import import_roster
from station_app.store.models import AssistanceCase, ChronicCard, Resident, ServiceEntry
from sqlalchemy import select

from tests.conftest import VILLAGE_A, VILLAGE_B
from .rosters import person_id, write_xlsx

A1, A2, A3, B1 = person_id(201), person_id(202), person_id(203), person_id(204)


@pytest.fixture
def filled(township_ws, tmp_path):
    """Two households in 群英村, one in 堰坪村, statuses for 2027, a card, a case, two services."""
    ws, admin = township_ws
    roster = write_xlsx(tmp_path / "in.xlsx", [
        ["村", "组", "户主姓名", "与户主关系", "姓名", "身份证号", "联系电话", "人员类别", "缴费状态"],
        ["群英村", "一组", "张大山", "户主", "张大山", A1, "13800138000", "低保", "资助参保"],
        ["群英村", "一组", "张大山", "配偶", "李小河", A2, "", "", "未缴费"],
        ["群英村", "二组", "赵一", "户主", "赵一", A3, "13900139000", "", "已缴费"],
        ["堰坪村", "一组", "钱二", "户主", "钱二", B1, "", "", ""],
    ])
    assert import_roster(ws, admin, roster, year=2027, backups=tmp_path / "b").added == 4
    with ws.read() as session:
        ids = {r.id_number: r.id for r in session.scalars(select(Resident))}
    with ws.unit_of_work(admin, "test_data") as session:
        session.add(ChronicCard(resident_id=ids[A1], village_code=VILLAGE_A, disease_code="MB001", status="issued",
                                applied_date=date(2026, 3, 1), issued_date=date(2026, 4, 2), card_no="MB-0001",
                                diagnosis_note="秘密诊断"))
        session.add(AssistanceCase(resident_id=ids[A2], village_code=VILLAGE_A, type_code="ZY", status="paid",
                                   applied_date=date(2026, 5, 6), total_fen=1234567, assistance_fen=300000,
                                   hospital="汉阴县人民医院", hospital_level="county"))
        session.add(ServiceEntry(resident_id=ids[A1], village_code=VILLAGE_A, kind="home_visit",
                                 service_date=date(2026, 10, 9), doctor_username="admin", note="测血压"))
        session.add(ServiceEntry(resident_id=ids[A3], village_code=VILLAGE_A, kind="medicine",
                                 service_date=date(2026, 11, 1), doctor_username="admin"))
    return ws, admin


def table(path, sheet=None):
    book = load_workbook(path)
    ws = book[sheet] if sheet else book.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    return ws, rows[0][0], rows[1][0], list(rows[2]), [list(r) for r in rows[3:]]


def test_residents_export_layout(filled, tmp_path):
    ws, admin = filled
    result = exports.export(ws, admin, "residents", tmp_path / "r.xlsx", village_code=VILLAGE_A)
    assert result.rows == 3
    sheet, title, meta, header, rows = table(result.path)
    assert title == "漩涡镇群英村居民花名册"
    assert "乡镇：漩涡镇" in meta and "村：群英村" in meta and f"导出日期：{date.today():%Y-%m-%d}" in meta
    assert "导出人：管理员" in meta
    assert header == [c.title for c in exports.RESIDENT_COLUMNS]
    assert sheet.freeze_panes == "A4" and "A1:P1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.column_dimensions["J"].width >= 20
    id_col = header.index("身份证号")
    assert [r[id_col] for r in rows] == [A1, A2, A3]
    for row in range(4, 7):  # text cells, so Excel never shows 6.10921E+17
        cell = sheet.cell(row=row, column=id_col + 1)
        assert cell.data_type == "s" and cell.number_format == "@"
    first = dict(zip(header, rows[0]))
    assert (first["序号"], first["村民小组"], first["户主姓名"], first["与户主关系"], first["人员类别"]) == (
        1, "一组", "张大山", "户主", "低保对象")
    assert first["联系电话"] == "13800138000" and first["状态"] == "在册"


def test_residents_export_imports_back_as_already_registered(filled, tmp_path):
    ws, admin = filled
    path = exports.export(ws, admin, "residents", tmp_path / "all.xlsx").path
    again = import_roster(ws, admin, path, backups=tmp_path / "b")
    assert (again.added, again.existing, again.errors) == (0, 4, 0)


def test_enrollment_export_with_group_summary(filled, tmp_path):
    ws, admin = filled
    result = exports.export(ws, admin, "enrollment", tmp_path / "e.xlsx", year=2027)
    _sheet, title, meta, header, rows = table(result.path)
    assert title == "漩涡镇2027年度居民参保情况台账" and "年度：2027" in meta and "全部（2 个村）" in meta
    by_id = {r[header.index("身份证号")]: dict(zip(header, r)) for r in rows}
    assert by_id[A1]["缴费状态"] == "资助参保" and by_id[A1]["资助金额（元）"] == 150
    assert by_id[A2]["缴费状态"] == "未缴费" and by_id[B1]["缴费状态"] == exports.NOT_RECORDED
    assert by_id[A3]["实缴金额（元）"] == 400
    _s, _t, _m, sum_header, summary = table(result.path, "按组汇总")
    first = dict(zip(sum_header, summary[0]))
    assert (first["村"], first["村民小组"], first["在册人数"], first["参保率"]) == ("群英村", "一组", 2, "50.0%")


def test_unpaid_list_by_group_and_household_with_phones(filled, tmp_path):
    ws, admin = filled
    result = exports.export(ws, admin, "unpaid", tmp_path / "u.xlsx", year=2027)
    _sheet, title, _meta, header, rows = table(result.path)
    assert title == "漩涡镇2027年度未缴费人员清单"
    assert [(r[header.index("姓名")], r[header.index("户联系电话")], r[header.index("缴费状态")]) for r in rows] == [
        ("李小河", "13800138000", "未缴费"), ("钱二", None, exports.NOT_RECORDED)]
    _s, _t, _m, sum_header, summary = table(result.path, "按组汇总")
    assert [r[:4] for r in summary] == [["群英村", "一组", 1, 1], ["堰坪村", "一组", 1, 1]]


def test_cards_assistance_and_services(filled, tmp_path):
    ws, admin = filled
    _s, _t, _m, header, rows = table(exports.export(ws, admin, "cards", tmp_path / "c.xlsx").path)
    card = dict(zip(header, rows[0]))
    assert (card["姓名"], card["病种"], card["状态"], card["卡号"]) == ("张大山", "高血压（Ⅱ级及以上）", "已发卡", "MB-0001")
    assert card["身份证号"] == A1 and "秘密诊断" not in str(rows)
    _s, title, _m, header, rows = table(exports.export(ws, admin, "assistance", tmp_path / "a.xlsx", year=2026).path)
    case = dict(zip(header, rows[0]))
    assert title == "漩涡镇2026年医疗救助台账"
    assert (case["救助类型"], case["总费用（元）"], case["救助金额（元）"], case["医院等级"]) == ("住院救助", 12345.67, 3000, "县级")
    assert table(exports.export(ws, admin, "assistance", tmp_path / "a2.xlsx", year=2025).path)[4] == []
    result = exports.export(ws, admin, "services", tmp_path / "s.xlsx", month="2026-10")
    _s, title, meta, header, rows = table(result.path)
    assert title == "漩涡镇2026年10月签约服务记录" and "期间：2026年10月" in meta
    assert [r[header.index("服务类型")] for r in rows] == ["上门"] and "身份证号" not in header
    _s, _t, _m, sum_header, summary = table(result.path, "按服务人汇总")
    assert dict(zip(sum_header, summary[0]))["上门"] == 1


def test_scope_and_arguments(filled, doctor, tmp_path):
    ws, _admin = filled
    result = exports.export(ws, doctor, "residents", tmp_path / "d.xlsx")
    assert result.rows == 3  # the 村医 of 群英村 sees only 群英村
    with pytest.raises(PermissionDenied):
        exports.export(ws, doctor, "residents", tmp_path / "d.xlsx", village_code=VILLAGE_B)
    with pytest.raises(ValidationError, match="年度"):
        exports.export(ws, doctor, "unpaid", tmp_path / "d.xlsx")
    with pytest.raises(ValidationError, match="月份格式"):
        exports.export(ws, doctor, "services", tmp_path / "d.xlsx", month="10/2026")


def test_progress_is_reported(filled, tmp_path):
    ws, admin = filled
    calls = []
    exports.export(ws, admin, "residents", tmp_path / "p.xlsx", progress=lambda d, t, m="": calls.append((d, t)))
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)


def test_cli_export(filled, tmp_path, capsys):
    ws, _admin = filled
    out = tmp_path / "cli.xlsx"
    assert main(["export", "unpaid", "--out", str(out), "--year", "2027", "--db", str(ws.db_path),
                 "--no-password"]) == 0
    assert "未缴费人员清单" in capsys.readouterr().out and out.exists()


def test_cli_export_is_password_protected_by_default(filled, tmp_path, capsys, monkeypatch):
    from station_app.services.export_protection import is_protected

    ws, _admin = filled
    out = tmp_path / "cli.xlsx"
    assert main(["export", "residents", "--out", str(out), "--db", str(ws.db_path)]) == 1
    assert "STATION_APP_EXPORT_PASSWORD" in capsys.readouterr().err and not out.exists()
    monkeypatch.setenv("STATION_APP_EXPORT_PASSWORD", "export-pass")
    assert main(["export", "residents", "--out", str(out), "--db", str(ws.db_path)]) == 0
    assert "已加密" in capsys.readouterr().out and is_protected(out)


def test_text_is_escaped_and_a_failed_export_leaves_no_file(filled, doctor, tmp_path):
    ws, admin = filled
    with ws.unit_of_work(admin, "test_note") as session:
        person = session.scalar(select(Resident).where(Resident.id_number == A1))
        person.note = ' A&B <x>\x01 "引号" '
    path = exports.export(ws, admin, "residents", tmp_path / "n.xlsx", village_code=VILLAGE_A).path
    _s, _t, _m, header, rows = table(path)
    assert rows[0][header.index("备注")] == ' A&B <x> "引号" '  # the control character could not be stored
    with pytest.raises(PermissionDenied):
        exports.export(ws, doctor, "residents", tmp_path / "no.xlsx", village_code=VILLAGE_B)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("no", ".no"))] == []
