"""Main window: title, every section reachable, status bar, remembered geometry, the 工作台 figures."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from station_app.services.overview import pending_changes
from station_app.services.households import ResidentInput, register_household
from station_app.ui.app import build_main_window
from station_app.ui.sections import SECTIONS
from station_app.ui.sections.dashboard import LOADING_TEXT, DashboardPage
from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B

EXPECTED_TITLES = ["工作台", "居民参保", "慢病档案", "医疗救助", "服务记录", "公示", "政策", "同步", "设置"]


def _add_residents(ws, actor) -> None:
    for village, group, name, id_number in [
        (VILLAGE_A, GROUP_A1, "张三", "11010519491231002X"),
        (VILLAGE_A, GROUP_A2, "李四", "440524188001010014"),
        (VILLAGE_B, GROUP_B1, "王五", "34052419800101001X"),
    ]:
        register_household(ws, actor, village_code=village,
                           head=ResidentInput(name, id_number, group_code=group))


def test_title_names_station_and_user(main_window):
    title = main_window.windowTitle()
    assert title == "村级医保服务站 — 漩涡镇医保服务中心 — 管理员（管理员）"


def test_navigation_lists_sections_in_order(main_window):
    nav = main_window.nav
    assert [nav.item(i).text() for i in range(nav.count())] == EXPECTED_TITLES
    assert all(not nav.item(i).icon().isNull() for i in range(nav.count()))
    assert main_window.current_section() == "dashboard"


@pytest.mark.parametrize("index", range(len(SECTIONS)))
def test_every_section_by_nav_click(qtbot, main_window, index):
    nav = main_window.nav
    item = nav.item(index)
    qtbot.mouseClick(nav.viewport(), Qt.MouseButton.LeftButton, pos=nav.visualItemRect(item).center())
    section = SECTIONS[index]
    assert main_window.current_section() == section.key
    page = main_window.page(section.key)
    assert page is not None and page.isVisible()
    # Nothing else is on screen at the same time.
    others = [main_window.page(s.key) for s in SECTIONS if s.key != section.key]
    assert not any(p is not None and p.isVisible() for p in others)


@pytest.mark.parametrize("section", SECTIONS, ids=[s.key for s in SECTIONS])
def test_every_section_by_show_section(main_window, section):
    page = main_window.show_section(section.title)
    assert main_window.current_section() == section.key
    assert page.isVisible()
    assert main_window.nav.currentRow() == SECTIONS.index(section)
    assert main_window.show_section(section.key) is page  # built once, reused


def test_ctrl_number_switches_section(qtbot, main_window):
    main_window.activateWindow()
    qtbot.waitUntil(main_window.isActiveWindow)
    qtbot.keyClick(main_window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert main_window.current_section() == "chronic"
    qtbot.keyClick(main_window, Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)
    assert main_window.current_section() == "settings"
    qtbot.keyClick(main_window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert main_window.current_section() == "dashboard"


def test_status_bar_shows_user_station_and_pending_changes(main_window, township_ws):
    ws, _admin = township_ws
    assert main_window.user_label.text() == "当前用户：管理员（管理员） · 漩涡镇医保服务中心"
    assert main_window.sync_label.text() == f"同步：未配置县服务器 · 待上传 {pending_changes(ws):,} 条"


def test_status_bar_refresh_follows_new_changes(main_window, township_ws):
    ws, admin = township_ws
    _add_residents(ws, admin)
    main_window.refresh_sync_status()
    assert main_window.sync_label.text() == f"同步：未配置县服务器 · 待上传 {pending_changes(ws):,} 条"


def test_geometry_is_remembered(qtbot, township_ws, tasks, ui_settings):
    ws, admin = township_ws
    first = build_main_window(ws, admin, tasks, ui_settings)
    qtbot.addWidget(first)
    first.show()
    # The offscreen screen is 800 px wide and restoring clamps the width to it: check the height.
    first.resize(first.width(), 520)
    qtbot.waitUntil(lambda: first.height() == 520)
    first.close()
    assert ui_settings.value("main_window/geometry") is not None
    second = build_main_window(ws, admin, tasks, ui_settings)
    qtbot.addWidget(second)
    assert second.height() == 520


def test_dashboard_shows_figures_after_background_load(qtbot, township_ws, threaded_tasks, ui_settings):
    ws, admin = township_ws
    _add_residents(ws, admin)
    window = build_main_window(ws, admin, threaded_tasks, ui_settings)
    qtbot.addWidget(window)
    page = window.page("工作台")
    assert isinstance(page, DashboardPage)
    # The query runs on a worker; until its answer is delivered the page says so.
    assert page.state_label.text() == LOADING_TEXT
    window.show()
    # Two tasks feed the page (counts, then KPIs); on a busy machine either may finish first,
    # so wait for both answers rather than the first one. A generous timeout costs nothing.
    qtbot.waitUntil(lambda: page.overview is not None and page.dashboard is not None, timeout=60_000)
    assert not page.is_loading
    assert page.residents_card.value.text() == "3"
    assert page.households_card.value.text() == "3"
    assert page.villages_card.value.text() == "2"
    assert "漩涡镇" in page.subtitle.text()
    assert page.pending_card.value.text() == f"{pending_changes(ws):,}"


def test_dashboard_refresh_picks_up_new_residents(main_window, township_ws):
    ws, admin = township_ws
    page = main_window.page("dashboard")
    assert page.residents_card.value.text() == "0"
    _add_residents(ws, admin)
    page.refresh_button.click()
    assert page.residents_card.value.text() == "3"


def test_dashboard_shows_a_task_failure(qtbot, township_ws, tasks, ui_settings, monkeypatch):
    from station_app.domain.errors import DomainError
    from station_app.ui.sections import dashboard

    ws, admin = township_ws

    def broken(_ws, _actor):
        raise DomainError("数据库正忙")

    monkeypatch.setattr(dashboard, "load_dashboard", broken)
    window = build_main_window(ws, admin, tasks, ui_settings)
    qtbot.addWidget(window)
    page = window.page("dashboard")
    assert page.state_label.text() == "加载失败：数据库正忙"
    assert page.refresh_button.isEnabled()


def test_sync_status_text():
    from station_app.ui.main_window import sync_status_text

    assert sync_status_text(3) == "同步：未配置县服务器 · 待上传 3 条"
    assert sync_status_text(12345) == "同步：未配置县服务器 · 待上传 12,345 条"
    assert sync_status_text(None) == "同步：未配置县服务器 · 待上传 … 条"
