"""First-run set-up: faults shown inline in Chinese, nothing saved until everything is right."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from station_app.services.auth import login
from station_app.services.workspace import Workspace
from station_app.ui.setup_dialog import SetupDialog
from tests.conftest import TOWNSHIP

GOOD = dict(code="QY-01", name="群英村医保服务工作站", place="610921103201", username="admin",
            password="secret-1", again="secret-1")


def _fill(dialog: SetupDialog, **overrides) -> None:
    values = {**GOOD, **overrides}
    dialog.code_edit.setText(values["code"])
    dialog.name_edit.setText(values["name"])
    dialog.place_edit.setText(values["place"])
    dialog.username_edit.setText(values["username"])
    dialog.password_edit.setText(values["password"])
    dialog.password_again_edit.setText(values["again"])


@pytest.fixture
def dialog(qtbot, workspace, tasks):
    dialog = SetupDialog(workspace, tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _nothing_saved(ws: Workspace) -> bool:
    with Workspace.open(ws.db_path) as fresh:
        return not fresh.is_set_up


def test_mismatched_passwords_are_refused_and_nothing_saved(dialog, workspace):
    _fill(dialog, again="secret-2")
    dialog.save_button.click()
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == "两次输入的密码不一致，请重新输入。"
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert not workspace.is_set_up
    assert _nothing_saved(workspace)


@pytest.mark.parametrize("overrides, message", [
    (dict(code=""), "请输入站点编码。"),
    (dict(code="QY 01"), "站点编码不能含空格，最多 32 个字符。"),
    (dict(name=""), "请输入站点名称。"),
    (dict(place="61092"), "所属地区编码应为 6–12 位数字（行政区划代码）。"),
    (dict(place="群英村"), "所属地区编码应为 6–12 位数字（行政区划代码）。"),
    (dict(username=""), "请输入管理员用户名。"),
    (dict(password="", again=""), "请输入密码。"),
    # These two come from the service, shown as it words them.
    (dict(password="abc", again="abc"), "密码至少需要 6 位。"),
    (dict(username="管理员"), "用户名只能包含字母、数字、下划线、点和横线，2–40 位。"),
])
def test_invalid_input_is_refused_inline(dialog, workspace, overrides, message):
    _fill(dialog, **overrides)
    dialog.submit()
    assert dialog.error_label.text() == message
    assert dialog.isVisible()
    assert dialog.save_button.isEnabled()
    assert _nothing_saved(workspace)


def test_valid_form_sets_up_the_station(dialog, workspace):
    _fill(dialog, place=TOWNSHIP, name="漩涡镇医保服务中心")
    dialog.scope_combo.setCurrentIndex(dialog.scope_combo.findData("township"))
    dialog.submit()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert workspace.is_set_up
    assert workspace.station.name == "漩涡镇医保服务中心"
    assert workspace.station.scope == "township"
    assert login(workspace, "admin", "secret-1").display_name == "管理员"
