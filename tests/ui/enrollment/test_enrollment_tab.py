"""The 年度参保 tab driven through its real widgets: mark paid moves the KPI, a refusal saves nothing."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from station_app.services import enrollment as en
from station_app.store.models import Enrollment
from station_app.ui.sections import PageContext
from station_app.ui.dialogs.unpaid_list import UnpaidListDialog
from station_app.ui.sections.enrollment_tab import COLUMNS, EnrollmentPage, EnrollmentTab
from tests.conftest import VILLAGE_A, VILLAGE_B
from tests.services.enrollment.town import TODAY, YEAR


def make_tab(qtbot, town, tasks, *, actor=None, today=TODAY) -> EnrollmentTab:
    tab = EnrollmentTab(PageContext(town.ws, actor or town.admin, tasks), today=today)
    qtbot.addWidget(tab)
    tab.resize(1300, 700)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def click_row(qtbot, tab: EnrollmentTab, resident_id: str, *, add: bool = False) -> None:
    row = tab.model.row_of(resident_id)
    assert row is not None, "resident not in the list"
    tab.table.scrollTo(tab.model.index(row, 0))
    rect = tab.table.visualRect(tab.model.index(row, [c.key for c in COLUMNS].index("name")))
    modifier = Qt.KeyboardModifier.ControlModifier if add else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def status_of(town, name: str) -> str | None:
    with town.ws.read() as session:
        return session.scalar(select(Enrollment.status).where(Enrollment.resident_id == town[name],
                                                             Enrollment.year == YEAR))


def test_tab_shows_the_year_the_deadline_and_the_rate(qtbot, started_town, tasks):
    tab = make_tab(qtbot, started_town, tasks)
    assert tab.year_combo.currentText() == "2027 年度"
    assert tab.banner.text().startswith("距缴费截止还有 41 天（截止 2026-12-31）")
    assert tab.model.rowCount() == 11
    assert tab.kpi_label.text() == "参保率 9.1%"  # 李特困 subsidised by the full rule, of 11
    assert "未缴 10 人" in tab.kpi_detail.text()
    assert tab.model.row_values(tab.model.row_of(started_town["李特困"]))["status"] == "资助参保"


def test_select_rows_mark_paid_moves_the_kpi(qtbot, started_town, tasks):
    town = started_town
    tab = make_tab(qtbot, town, tasks)
    before = tab.kpi_label.text()
    click_row(qtbot, tab, town["张大山"])
    click_row(qtbot, tab, town["赵六"], add=True)
    click_row(qtbot, tab, town["钱七"], add=True)
    assert tab.selected_ids() == [town["张大山"], town["赵六"], town["钱七"]]
    assert "已选 3 人" in tab.count_label.text()
    qtbot.mouseClick(tab.paid_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    assert dialog is not None and dialog.isVisible() and dialog.amount_spin is None  # many: each pays their due
    dialog.date_edit.setDate(dialog.date_edit.date().addDays(-10))
    dialog.channel_combo.setCurrentIndex(dialog.channel_combo.findData("wechat"))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert tab.kpi_label.text() == "参保率 36.4%" != before  # 4 of 11
    assert "已登记缴费 3 人" in tab.message.text()
    assert [status_of(town, n) for n in ("张大山", "赵六", "钱七")] == ["paid"] * 3
    assert tab.model.row_values(tab.model.row_of(town["赵六"]))["status"] == "已缴费"


def test_paid_after_the_deadline_shows_the_message_and_saves_nothing(qtbot, started_town, tasks):
    town = started_town
    tab = make_tab(qtbot, town, tasks, today=date(2027, 1, 5))
    assert tab.banner.text().startswith("已过截止日期 5 天")
    kpi = tab.kpi_label.text()
    click_row(qtbot, tab, town["赵六"])
    qtbot.mouseClick(tab.paid_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    dialog.date_edit.setDate(dialog.date_edit.date().addDays(3))  # default is the deadline: 3 days past
    assert dialog.amount_spin.value() == 400.0
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == "已过缴费截止日期（2026-12-31），不能补缴。"
    assert status_of(town, "赵六") == "unpaid"
    assert tab.kpi_label.text() == kpi
    dialog.reject()


def test_wrong_amount_is_refused_in_the_dialog(qtbot, started_town, tasks):
    town = started_town
    tab = make_tab(qtbot, town, tasks)
    click_row(qtbot, tab, town["王低保"])  # owes 250 元 after the 低保 subsidy
    qtbot.mouseClick(tab.paid_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    assert dialog.amount_spin.value() == 250.0
    dialog.amount_spin.setValue(400)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "与应缴 250.00 元（已扣除资助 150.00 元）不符" in dialog.error_label.text()
    assert status_of(town, "王低保") == "unpaid"
    dialog.amount_spin.setValue(250)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert status_of(town, "王低保") == "subsidised"


def test_other_channel_and_not_required_dialogs(qtbot, started_town, tasks):
    town = started_town
    tab = make_tab(qtbot, town, tasks)
    click_row(qtbot, tab, town["钱七"])
    tab.other_action.trigger()
    dialog = tab.active_dialog
    dialog.note_combo.setCurrentText("职工医保")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert status_of(town, "钱七") == "other_channel"
    click_row(qtbot, tab, town["孙八"])
    tab.not_required_action.trigger()
    dialog = tab.active_dialog
    dialog.note_combo.setCurrentText("")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.text() == "请填写无需参保的原因（如死亡、迁出）。"
    assert status_of(town, "孙八") == "unpaid"
    dialog.reject()


def test_subsidy_dialog_is_prefilled_from_the_rules(qtbot, started_town, tasks):
    town = started_town
    en.set_unpaid(town.ws, town.admin, town["李特困"], YEAR)
    tab = make_tab(qtbot, town, tasks)
    click_row(qtbot, tab, town["李特困"])
    assert tab.subsidy_button.isEnabled()
    qtbot.mouseClick(tab.subsidy_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    assert dialog.category_combo.currentText() == "一类（特困）全额资助"
    assert dialog.subsidy_spin.value() == 400.0 and not dialog.date_edit.isEnabled()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert status_of(town, "李特困") == "subsidised"


def test_filters_narrow_the_list_and_the_rate(qtbot, started_town, tasks):
    tab = make_tab(qtbot, started_town, tasks)
    tab.village_combo.setCurrentIndex(tab.village_combo.findData(VILLAGE_B))
    assert tab.model.rowCount() == 2
    assert tab.group_combo.isEnabled() and tab.group_combo.count() == 2
    assert tab.kpi_label.text() == "参保率 0.0%"
    tab.village_combo.setCurrentIndex(0)
    tab.status_combo.setCurrentIndex(tab.status_combo.findData("subsidised"))
    assert tab.model.rowCount() == 1
    tab.status_combo.setCurrentIndex(0)
    qtbot.keyClicks(tab.search_edit, "zxl")
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=30_000)
    assert tab.model.row_values(0)["name"] == "张小龙"
    qtbot.mouseClick(tab.reset_button, Qt.MouseButton.LeftButton)
    assert tab.model.rowCount() == 11 and tab.search_edit.text() == ""


def test_start_new_year_with_confirmation(qtbot, town, tasks):
    tab = make_tab(qtbot, town, tasks)
    assert "本年度尚未开始" in tab.banner.text()
    assert tab.model.row_values(0)["status"] == "未登记"
    asked: list[str] = []
    tab.confirm = lambda title, text: asked.append(text) or True
    qtbot.mouseClick(tab.new_year_button, Qt.MouseButton.LeftButton)
    assert "为 11 名尚无 2027 年度记录的在册居民建立参保记录" in asked[0]
    assert "已为 11 名在册居民建立 2027 年度参保记录" in tab.message.text()
    assert "本年度尚未开始" not in tab.banner.text()
    assert tab.kpi_label.text() == "参保率 9.1%"
    qtbot.mouseClick(tab.new_year_button, Qt.MouseButton.LeftButton)  # again: nothing to do, no question
    assert len(asked) == 1 and "已齐全" in tab.message.text()


def test_new_year_without_county_setting_is_refused(qtbot, town, tasks):
    tab = make_tab(qtbot, town, tasks)
    tab.year = 2030  # a year the county has not set
    tab.info = None
    tab.confirm = lambda *_a: pytest.fail("must not ask")
    qtbot.mouseClick(tab.new_year_button, Qt.MouseButton.LeftButton)
    assert "县医保局尚未下发 2030 年度缴费标准" in tab.message.text()
    assert tab.message.objectName() == "error"


def test_unpaid_list_dialog_print_and_export(qtbot, started_town, tasks, tmp_path):
    town = started_town
    en.mark_paid(town.ws, town.admin, [town[n] for n in ("张大山", "刘桂兰", "张朵朵")], YEAR,
                 paid_on=date(2026, 10, 20), channel="wechat", today=TODAY)
    tab = make_tab(qtbot, town, tasks)
    tab.village_combo.setCurrentIndex(tab.village_combo.findData(VILLAGE_A))
    tab.ask_save_path = lambda _title, name: str(tmp_path / name)
    qtbot.mouseClick(tab.unpaid_list_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    assert isinstance(dialog, UnpaidListDialog) and dialog.data is not None
    assert "未缴 4 户 5 人，分布在 2 个组" in dialog.summary.text() and "★ 1 户" in dialog.summary.text()
    group = dialog.tree.topLevelItem(0)
    assert group.text(0).startswith("群英村 一组")
    households = [group.child(i) for i in range(group.childCount())]
    zhang = next(h for h in households if "张大山" in h.text(0))
    # Phones are masked on screen; the printout (the caller's work sheet) carries them in full.
    assert zhang.text(4) == "138****0001、139****0002"
    assert zhang.text(8) == "★ 仅老人/小孩已缴" and zhang.child(0).text(0) == "张小龙"
    text = dialog.print_document().toPlainText()
    assert "群英村2027年度未缴费人员清单" in text and "张小龙" in text and "13900000002" in text
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.last_export is not None and dialog.last_export.exists()
    dialog.reject()


def test_village_doctor_sees_only_their_village(qtbot, started_town, tasks):
    tab = make_tab(qtbot, started_town, tasks, actor=started_town.doctor(VILLAGE_B))
    assert not tab.village_combo.isEnabled() and tab.village_combo.currentData() == VILLAGE_B
    assert tab.model.rowCount() == 2


def test_standalone_page(qtbot, started_town, tasks):
    page = EnrollmentPage(PageContext(started_town.ws, started_town.admin, tasks), today=TODAY)
    qtbot.addWidget(page)
    assert page.tab.model.rowCount() == 11


def test_export_ledger_runs_with_the_filter_village(qtbot, started_town, tasks, tmp_path):
    tab = make_tab(qtbot, started_town, tasks)
    tab.village_combo.setCurrentIndex(tab.village_combo.findData(VILLAGE_B))
    tab.ask_save_path = lambda _title, name: str(tmp_path / name)
    qtbot.mouseClick(tab.export_button, Qt.MouseButton.LeftButton)
    assert tab.last_export is not None and tab.last_export.exists()
    assert "已导出 2 行" in tab.message.text()
