"""The kiosk window with real widgets: look-up, wrong tries, idle reset, no escape, nobody else's data."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from station_app.services import kiosk
from station_app.store.models import Resident
from station_app.ui.kiosk import AdminExitDialog, KioskWindow
from tests.conftest import ADMIN_PASSWORD
from tests.services.enrollment.town import TODAY, build_town


@pytest.fixture
def town(township_ws):
    ws, admin = township_ws
    return build_town(ws, admin)


def _id(town, name):
    with town.ws.read() as session:
        return session.get(Resident, town[name]).id_number


@pytest.fixture
def window(qtbot, town):
    win = KioskWindow(town.ws, session=kiosk.KioskSession(town.ws, today=lambda: TODAY), idle_ms=300)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win._may_close = True


def _type_last6_on_keypad(qtbot, win, last6):
    for ch in last6:
        qtbot.mouseClick(win.keys[ch], Qt.MouseButton.LeftButton)


def test_lookup_by_name_and_keypad_shows_only_the_household(qtbot, town, window):
    window.name_edit.insert("王低保")  # an IME commits Chinese text whole
    _type_last6_on_keypad(qtbot, window, _id(town, "王低保")[-6:])
    with qtbot.waitSignal(window.looked_up, timeout=30_000):
        qtbot.mouseClick(window.search_button, Qt.MouseButton.LeftButton)
    shown = window.result.text()
    assert window.stack.currentIndex() == 1
    assert "王*保" in shown and "王*妹" in shown
    for other in ("张", "李", "赵", "钱", "孙"):
        assert f"{other}*" not in shown
    for name in ("王低保", "王小妹"):
        assert name not in shown and _id(town, name) not in shown
    assert "2027 年度参保" in shown


def test_an_id_card_reader_typing_18_characters_and_enter_works(qtbot, town, window):
    window.name_edit.insert("赵六")  # an IME commits Chinese text whole
    qtbot.keyClicks(window.last6_edit, _id(town, "赵六"))
    with qtbot.waitSignal(window.looked_up, timeout=30_000):
        qtbot.keyClick(window.last6_edit, Qt.Key.Key_Return)
    assert "赵*" in window.result.text()


def test_five_wrong_tries_lock_the_inputs(qtbot, town, window):
    for attempt in range(kiosk.MAX_MISSES):
        window.name_edit.insert("张小龙")  # an IME commits Chinese text whole
        _type_last6_on_keypad(qtbot, window, "000000")
        with qtbot.waitSignal(window.refused, timeout=30_000):
            qtbot.mouseClick(window.search_button, Qt.MouseButton.LeftButton)
        window.name_edit.clear()
    assert window.is_locked
    assert "秒后再试" in window.message.text()
    assert not window.search_button.isEnabled() and not window.keys["1"].isEnabled()


def test_idle_returns_to_the_start_and_forgets(qtbot, town, window):
    window.name_edit.insert("赵六")  # an IME commits Chinese text whole
    qtbot.keyClicks(window.last6_edit, _id(town, "赵六")[-6:])
    with qtbot.waitSignal(window.looked_up, timeout=30_000):
        qtbot.mouseClick(window.search_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.reset_to_start, timeout=30_000):
        pass  # nobody touches the screen
    assert window.stack.currentIndex() == 0
    assert window.result.text() == "" and window.view is None
    assert window.name_edit.text() == "" and window.last6_edit.text() == ""


def test_no_escape_without_an_admin_password(qtbot, town, window):
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    window.close()
    assert window.isVisible()
    dialog = AdminExitDialog(town.ws, window)
    qtbot.addWidget(dialog)
    dialog.username.setText("admin")
    dialog.password.setText("wrong")
    ok = next(b for b in dialog.findChildren(QPushButton) if b.text() == "退出自助查询")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == 0 and dialog.error.text()
    dialog.password.setText(ADMIN_PASSWORD)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == 1


@pytest.mark.parametrize("width, height", [(1366, 768), (1280, 720)])
def test_buttons_fit_a_village_pc_screen(qtbot, window, width, height):
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.height() == height, timeout=30_000)
    for button in (window.search_button, window.admin_button, *window.keys.values()):
        bottom = button.mapTo(window, button.rect().bottomRight())
        assert 0 <= bottom.x() <= width and 0 <= bottom.y() <= height, button.text()


def test_an_admin_starts_the_kiosk_from_settings_and_a_doctor_cannot(qtbot, town):
    from station_app.ui.sections.settings_page import SettingsPage

    page = SettingsPage(town.ws, town.admin)
    qtbot.addWidget(page)
    titles = [page.tabs.tabText(i) for i in range(page.tabs.count())]
    assert "自助查询" in titles
    window = page.start_kiosk(full_screen=False)
    qtbot.addWidget(window)
    assert window.isVisible()
    window.close()
    assert window.isVisible()  # no way out without the password
    window._may_close = True
    doctor = SettingsPage(town.ws, town.doctor())
    qtbot.addWidget(doctor)
    assert "自助查询" not in [doctor.tabs.tabText(i) for i in range(doctor.tabs.count())]
