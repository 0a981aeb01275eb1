"""Issue 10.3, 10.5, 10.6, 10.9, 10.10 with real widgets: columns, the 工作台 per scope, the status bar,
the glitches, and roles."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QDialog
from sqlalchemy import func, select

from station_app.domain.errors import PermissionDenied
from station_app.store.models import ChronicCard, Resident
from station_app.ui.sections import PageContext


def _registered(demo, village_code: str) -> int:
    with demo.ws.read() as session:
        return session.scalar(select(func.count()).select_from(Resident).where(
            Resident.village_code == village_code, Resident.status == "registered", Resident.deleted.is_(False)))


def _dashboard(qtbot, window):
    page = window.show_section("dashboard")
    qtbot.waitUntil(lambda: page.dashboard is not None and not page.is_loading, timeout=30_000)
    return page


def _column_fully_visible(view, column: int) -> bool:
    x = view.columnViewportPosition(column)
    return not view.isColumnHidden(column) and x >= 0 and x + view.columnWidth(column) <= view.viewport().width()


# -- 10.5 工作台 -------------------------------------------------------------------------------


def test_a_village_doctor_sees_village_figures_under_the_village_name(qtbot, demo, window_for):
    page = _dashboard(qtbot, window_for(demo.doctor))
    assert demo.village_name in page.subtitle.text()
    # Was the township's 在册 58,200 beside the village's 参保率.
    assert page.residents_card.value.text() == f"{_registered(demo, demo.doctor.place_code):,}"
    assert not page.villages_card.isVisible() and not page.village_combo.isVisible()
    assert {p.code for p in page.dashboard.kpis.by_village} == {demo.doctor.place_code}


def test_a_clerk_drills_down_by_village(qtbot, demo, window_for):
    page = _dashboard(qtbot, window_for(demo.clerk))
    assert page.village_combo.isVisible() and page.villages_card.isVisible()
    whole = page.residents_card.value.text()
    page.drill_into(demo.doctor.place_code)
    qtbot.waitUntil(lambda: not page.is_loading, timeout=30_000)
    assert page.residents_card.value.text() == f"{_registered(demo, demo.doctor.place_code):,}" != whole
    assert {p.code for p in page.dashboard.kpis.by_village} == {demo.doctor.place_code}


def test_clicking_the_unpaid_card_opens_the_unpaid_list(qtbot, demo, window_for):
    from station_app.ui.dialogs.unpaid_list import UnpaidListDialog

    window = window_for(demo.doctor)
    page = _dashboard(qtbot, window)
    qtbot.mouseClick(page.unpaid_card, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    tab = window.page("enrollment").enrollment
    assert window.current_section() == "enrollment" and isinstance(tab.active_dialog, UnpaidListDialog)
    qtbot.waitUntil(lambda: tab.active_dialog.isVisible(), timeout=30_000)
    tab.active_dialog.close()
    # Every figure card opens something.
    for attr, _caption, key, _what in page.CARDS:
        assert getattr(page, attr).link, attr
        assert window.open_list(key) is not None, key


def test_the_card_rate_on_the_first_of_a_month_shows_the_last_complete_month(qtbot, demo, window_for):
    from station_app.services.dashboard import load_dashboard

    page = _dashboard(qtbot, window_for(demo.clerk))
    board = load_dashboard(demo.ws, demo.clerk, today=date(2026, 11, 1))
    page._show(board)
    complete = board.last_complete_month
    assert complete is not None and complete.month == "2026-10" and complete.rate.value
    assert page.usage_card.value.text() == complete.rate.percent_text != "0.0%"
    assert "10月" in page.usage_card.caption.text() and "本月至今" in page.usage_card.detail.text()


# -- 10.6 status bar --------------------------------------------------------------------------


def test_the_status_bar_follows_a_write_and_the_server_settings_at_once(qtbot, demo, window_for):
    from station_app.services import chronic
    from station_app.sync.settings import sync_status

    window = window_for(demo.clerk)
    before = sync_status(demo.ws)
    assert "未配置县服务器" in window.sync_label.text() and f"待上传 {before.pending:,} 条" in window.sync_label.text()
    card_id = None
    with demo.ws.read() as session:
        card_id = session.scalar(select(ChronicCard.id).where(ChronicCard.status == "issued"))
    window.tasks.run_write(lambda: chronic.record_refill(demo.ws, demo.clerk, card_id, on=date.today()))
    qtbot.waitUntil(lambda: window.sync_label.text() != "" and not window._sync_timer.isActive(), timeout=30_000)
    after = sync_status(demo.ws).pending
    assert after > before.pending
    assert f"待上传 {after:,} 条" in window.sync_label.text()  # no 60 s wait
    sync = window.show_section("sync")
    assert sync.pending_label.text() == str(after)  # the 同步 page says the same
    sync.url_edit.setText("https://yb.example.gov.cn")
    sync.token_edit.setText("t" * 32)
    sync.save_settings()
    qtbot.waitUntil(lambda: "已配置县服务器" in window.sync_label.text(), timeout=30_000)


# -- 10.3 columns and the detail panel --------------------------------------------------------


def test_key_columns_are_on_screen_for_a_village_doctor(qtbot, demo, window_for):
    from station_app.ui.sections.enrollment_tab import STATUS_COLUMN, VILLAGE_COLUMN
    from station_app.ui.sections.residents_page import ENROLLMENT_COLUMN

    window = window_for(demo.doctor, (1366, 698))
    residents = window.show_section("enrollment")
    QApplication.processEvents()
    assert _column_fully_visible(residents.registry.table, ENROLLMENT_COLUMN)  # the year's 参保
    tab = residents.show_enrollment()
    QApplication.processEvents()
    assert _column_fully_visible(tab.table, STATUS_COLUMN)  # 参保状态 was cut at the right edge
    assert tab.table.isColumnHidden(VILLAGE_COLUMN)  # one village: no 村 column


def test_the_detail_panel_shows_enrollment_card_and_assistance(qtbot, demo, window_for):
    with demo.ws.read() as session:
        resident_id = session.scalar(select(ChronicCard.resident_id).where(ChronicCard.status == "issued"))
    window = window_for(demo.clerk)
    registry = window.show_section("enrollment").registry
    registry.show_resident(resident_id)
    qtbot.waitUntil(lambda: registry.panel.resident is not None and registry.panel.resident.id == resident_id,
                    timeout=30_000)
    fields = registry.panel.fields
    assert "年度" in fields["enrollment"].text()
    assert "已发卡" in fields["cards"].text()
    assert fields["cases"].text()


# -- 10.9 glitches ----------------------------------------------------------------------------


def test_after_adding_a_member_the_new_member_stays_selected(qtbot, demo, window_for):
    from station_app.domain.idnumber import make_id

    window = window_for(demo.clerk)
    registry = window.show_section("enrollment").registry
    registry._select_row(0)
    qtbot.waitUntil(lambda: registry.new_member_button.isEnabled(), timeout=30_000)
    head = registry.panel.resident
    registry.set_search(head.name)  # the clerk found the household by searching the head's name
    registry._select_row(registry.model.row_of(head.id))
    dialog = registry.new_member()
    assert dialog.relation_combo.currentText() == "请选择" and dialog.relation_combo.currentData() is None
    dialog.name_edit.setText("新成员")
    dialog.id_edit.setText(make_id("610921", date(2015, 5, 5), 321))
    dialog.submit()  # no relation chosen: refused, with the reason under the field
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "请选择与户主的关系" in dialog.rows["relation"].error.text()
    dialog.relation_combo.setCurrentIndex(dialog.relation_combo.findText("孙子"))
    dialog.submit()
    assert dialog.result() == QDialog.DialogCode.Accepted
    new_id = dialog.result_value
    qtbot.waitUntil(lambda: registry.panel.resident is not None and registry.panel.resident.id == new_id,
                    timeout=30_000)
    assert registry.current_id() == new_id
    assert registry.edit_button.isEnabled() and registry.new_member_button.isEnabled()


def test_an_untouched_assistance_form_shows_no_red_error(qtbot, demo, sync_tasks):
    from station_app.ui.dialogs.assistance_case import BAD_STYLE, CaseDialog

    dialog = CaseDialog(PageContext(demo.ws, demo.doctor, sync_tasks))
    qtbot.addWidget(dialog)
    dialog.show()
    assert "请填写总费用" not in dialog.sum_label.text()
    assert dialog.sum_label.styleSheet() != BAD_STYLE
    dialog.basic.setText("100")  # once something is typed, the check speaks up
    assert dialog.sum_label.styleSheet() == BAD_STYLE


# -- 10.10 roles ------------------------------------------------------------------------------


def test_a_village_doctor_sees_no_township_controls_and_the_services_refuse(qtbot, demo, window_for):
    from station_app.services import enrollment
    from station_app.sync.settings import set_server

    window = window_for(demo.doctor)
    tab = window.show_section("enrollment").show_enrollment()
    assert not tab.apply_button.isVisibleTo(tab) and not tab.new_year_button.isVisibleTo(tab)
    sync = window.show_section("sync")
    assert not sync.save_button.isVisibleTo(sync) and sync.url_edit.isReadOnly()
    settings = window.show_section("settings")
    assert not any(b.isVisibleTo(settings) and b.text() in ("添加用户", "重置密码") for b in
                   settings.findChildren(type(tab.apply_button)))
    with pytest.raises(PermissionDenied) as caught:
        set_server(demo.ws, demo.doctor, "https://evil.example", "x" * 32)
    assert "乡镇医保专干或管理员" in caught.value.message
    with pytest.raises(PermissionDenied):
        enrollment.start_new_year(demo.ws, demo.doctor, 2027)
    with pytest.raises(PermissionDenied):
        enrollment.apply_suggested_subsidies(demo.ws, demo.doctor, 2027)

    clerk = window_for(demo.clerk)
    tab = clerk.show_section("enrollment").show_enrollment()
    assert tab.apply_button.isVisibleTo(tab) and tab.new_year_button.isVisibleTo(tab)
    assert clerk.show_section("sync").save_button.isVisibleTo(clerk.page("sync"))
