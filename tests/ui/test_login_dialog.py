"""Sign-in dialog: refusals inline and the dialog stays open; the right password gets in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLineEdit

from station_app.ui.login_dialog import LoginDialog
from tests.conftest import ADMIN_PASSWORD


def _dialog(qtbot, ws, tasks, **kwargs) -> LoginDialog:
    dialog = LoginDialog(ws, tasks, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_shows_station_name_and_hides_password(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks)
    assert dialog.station_label.text() == "漩涡镇医保服务中心"
    assert dialog.password_edit.echoMode() == QLineEdit.EchoMode.Password


def test_wrong_password_shows_message_and_stays_open(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks)
    dialog.username_edit.setText("admin")
    dialog.password_edit.setText("wrong-password")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.actor is None
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text().startswith("用户名或密码错误")
    assert dialog.login_button.isEnabled()


def test_unknown_user_is_refused(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks)
    dialog.username_edit.setText("nobody")
    dialog.password_edit.setText("whatever1")
    dialog.submit()
    assert dialog.error_label.text() == "用户名或密码错误。"
    assert dialog.isVisible()


def test_empty_username_asks_for_it(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks)
    dialog.submit()
    assert dialog.error_label.text() == "请输入用户名。"


def test_right_password_is_accepted(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks)
    dialog.username_edit.setText("admin")
    dialog.password_edit.setText(ADMIN_PASSWORD)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.username == "admin"


def test_enter_submits(qtbot, township_ws, tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, tasks, username="admin")
    dialog.password_edit.setText(ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_sign_in_on_a_real_worker_thread(qtbot, township_ws, threaded_tasks):
    ws, _admin = township_ws
    dialog = _dialog(qtbot, ws, threaded_tasks, username="admin")
    dialog.password_edit.setText("wrong-password")
    dialog.submit()
    assert not dialog.login_button.isEnabled()  # busy until the worker answers
    qtbot.waitUntil(lambda: dialog.error_label.isVisible())
    assert "用户名或密码错误" in dialog.error_label.text()
    dialog.password_edit.setText(ADMIN_PASSWORD)
    with qtbot.waitSignal(dialog.accepted):
        dialog.submit()
    assert dialog.actor.username == "admin"


def test_a_locked_database_is_unlocked_by_signing_in(qtbot, township_ws, tasks):
    """Encrypted and nothing unlocked yet: the same dialog opens the database with the password."""
    from station_app.store import keys

    ws, _admin = township_ws
    db = ws.db_path
    ws.close()
    keys.forget_all()
    dialog = _dialog(qtbot, None, tasks, db_path=db)
    assert "加密" in dialog.station_label.text()
    dialog.username_edit.setText("admin")
    dialog.password_edit.setText("wrong-password")
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=30_000)
    assert "无法解锁" in dialog.error_label.text() and dialog.ws is None and dialog.isVisible()
    dialog.password_edit.setText(ADMIN_PASSWORD)
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.actor is not None, timeout=30_000)
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.ws is not None
    assert dialog.ws.station.name == "漩涡镇医保服务中心"
    dialog.ws.close()
