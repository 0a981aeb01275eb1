"""The import dialog and the settings page, driven through qtbot with tasks run inline."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox
from sqlalchemy import select

from station_app.services import backup
from station_app.services.auth import login
from station_app.store.models import Resident, User
from station_app.ui.dialogs.roster_import_dialog import PreviewModel, RosterImportDialog
from station_app.ui.sections.settings_page import AuditTableModel, DailyBackupTimer, SettingsPage
from station_app.ui.tasks import TaskManager

from tests.conftest import VILLAGE_A
from .rosters import person_id, write_xlsx


@pytest.fixture
def tasks(qapp):
    return TaskManager.synchronous()


@pytest.fixture
def roster(tmp_path):
    return write_xlsx(tmp_path / "花名册.xlsx", [
        ["群英村花名册"],
        ["组", "户主姓名", "姓名", "身份证号", "电话（备用）", "缴费状态"],
        ["一组", "张三", "张三", person_id(1), "13800138000", "已缴费"],
        ["一组", "张三", "李四", person_id(2), "", "未缴费"],
        ["九组", "王五", "王五", person_id(3), "", "已缴费"],
    ], merges=["A1:F1"])


def make_dialog(qtbot, ws, actor, tasks, path=None):
    dialog = RosterImportDialog(ws, actor, tasks, path=path)
    qtbot.addWidget(dialog)
    return dialog


def test_dialog_detects_maps_previews_and_imports(qtbot, township_ws, tasks, roster, tmp_path):
    ws, admin = township_ws
    dialog = make_dialog(qtbot, ws, admin, tasks)
    dialog.village_combo.setCurrentIndex(dialog.village_combo.findData(VILLAGE_A))
    dialog.year_spin.setValue(2027)
    dialog.load_file(roster)
    assert dialog.table is not None and dialog.mapping_table.rowCount() == 6
    assert dialog.mapping() == {0: "group", 1: "head_name", 2: "name", 3: "id_number", 4: "phone",
                                5: "enrollment_status"}
    combo = dialog.mapping_table.cellWidget(3, 3)
    assert isinstance(combo, QComboBox) and combo.currentText() == "身份证号"
    assert "13800138000" in dialog.mapping_table.item(4, 2).text()
    model = dialog.preview_model
    assert model.rowCount() == 3
    assert [model.data(model.index(r, PreviewModel.COL_STATUS)) for r in range(3)] == ["新增", "新增", "错误"]
    assert "九组" in model.data(model.index(2, PreviewModel.COL_MESSAGE))
    assert "新增 2" in dialog.preview_label.text() and dialog.import_button.isEnabled()

    dialog.set_mapping(4, "")  # the clerk says: that phone column is not the phone
    assert 4 not in dialog.mapping()

    with qtbot.waitSignal(dialog.imported, timeout=30_000) as blocker:
        dialog.start_import()
    result = blocker.args[0]
    assert (result.added, result.errors) == (2, 1)
    assert "新增 2 人（1 户）" in dialog.status_label.text()
    assert dialog.report_button.isEnabled() and result.report_path.exists()
    assert dialog.progress_bar.value() == 100 and dialog.cancel_button.text() == "关闭"
    with ws.read() as session:
        phones = {r.name: r.phone for r in session.scalars(select(Resident))}
    assert phones == {"张三": "", "李四": ""}  # the unmapped column stayed out


def test_cancel_from_the_dialog_leaves_nothing(qtbot, township_ws, tasks, roster):
    ws, admin = township_ws
    dialog = make_dialog(qtbot, ws, admin, tasks)
    dialog.village_combo.setCurrentIndex(dialog.village_combo.findData(VILLAGE_A))
    dialog.load_file(roster)
    # The user presses 取消导入 as soon as the first progress arrives.
    dialog._bridge.progress.connect(lambda *_: dialog.cancel_button.click())
    with qtbot.assertNotEmitted(dialog.imported):
        dialog.start_import()
    assert "导入已取消" in dialog.status_label.text()
    assert dialog.cancel_button.text() == "关闭" and dialog.cancel_button.isEnabled()
    with ws.read() as session:
        assert session.scalars(select(Resident)).all() == []


def test_dialog_shows_a_bad_file_in_chinese(qtbot, township_ws, tasks, tmp_path):
    ws, admin = township_ws
    bad = tmp_path / "old.xls"
    bad.write_bytes(b"x")
    dialog = make_dialog(qtbot, ws, admin, tasks, path=bad)
    assert "另存为" in dialog.status_label.text() and not dialog.import_button.isEnabled()


def test_settings_page_users_backups_and_audit(qtbot, township_ws, tasks, tmp_path):
    ws, admin = township_ws
    page = SettingsPage(ws, admin, tasks=tasks, backups_dir=tmp_path / "b")
    qtbot.addWidget(page)
    assert page.users_model.rowCount() == 1 and page.add_user_button.isVisibleTo(page)
    page.run_add_user(dict(username="cy01", display_name="李医生", role="village_doctor", place_code=VILLAGE_A,
                           phone="", password="doctor-pass-1"))
    assert page.users_model.rowCount() == 2 and "已添加用户 cy01" in page.state_label.text()
    page.run_reset_password("cy01", "new-pass-22")
    login(ws, "cy01", "new-pass-22")

    assert page.backups_model.rowCount() == 0
    page.backup_now()
    assert page.backups_model.rowCount() == 1 and "完整性检查通过" in page.state_label.text()
    assert page.backups_model.item(0).kind == backup.MANUAL

    page.search_audit()
    model = page.audit_model
    assert model.rowCount() >= 3 and "共" in page.page_label.text()
    actions = {model.data(model.index(r, AuditTableModel.COL_ACTION)) for r in range(model.rowCount())}
    assert {"添加用户", "重置密码"} <= actions
    page._load_audit_choices()
    page.action_filter.setCurrentIndex(page.action_filter.findData("reset_password"))
    page.search_audit()
    assert model.rowCount() == 1 and "重置了用户 cy01 的密码" in model.data(model.index(0, AuditTableModel.COL_DETAIL))


def test_settings_restore_reopens_and_emits(qtbot, township_ws, tasks, tmp_path):
    ws, admin = township_ws
    page = SettingsPage(ws, admin, tasks=tasks, backups_dir=tmp_path / "b")
    qtbot.addWidget(page)
    page.backup_now()
    saved = page.backups_model.item(0).path
    page.run_add_user(dict(username="cy01", display_name="李医生", role="village_doctor", place_code=VILLAGE_A,
                           phone="", password="doctor-pass-1"))
    with qtbot.waitSignal(page.restored, timeout=30_000) as blocker:
        page.run_restore(saved)
    new_ws = blocker.args[0]
    try:
        assert page.ws is new_ws and "请重新登录" in page.state_label.text()
        with new_ws.read() as session:
            assert [u.username for u in session.scalars(select(User))] == ["admin"]
    finally:
        new_ws.close()


def test_a_village_doctor_sees_no_user_management(qtbot, township_ws, doctor, tasks, tmp_path):
    ws, _admin = township_ws
    page = SettingsPage(ws, doctor, tasks=tasks, backups_dir=tmp_path / "b")
    qtbot.addWidget(page)
    assert not page.add_user_button.isVisibleTo(page) and not page.restore_button.isVisibleTo(page)
    assert page.own_password_button.isVisibleTo(page)
    assert page.users_model.rowCount() == 1


def test_daily_backup_timer(qtbot, township_ws, tasks, tmp_path):
    ws, _admin = township_ws
    timer = DailyBackupTimer(ws, tasks, backups_dir=tmp_path / "b")
    results = []
    timer.done.connect(results.append)
    timer.start()
    timer.check()
    timer.stop()
    assert results[0] is not None and results[1] is None  # once a day
