"""The archive pages driven through their real widgets: split refused, one-click 代购药, usage marks, entry, roles."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from sqlalchemy import func, select

from station_app.domain.chronic import month_key
from station_app.services import assistance, chronic, service_log
from station_app.store.models import AssistanceCase, ServiceEntry
from tests.ui.archives.conftest import issued_card


def _count(ws, model) -> int:
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def _pick(qtbot, picker, text: str) -> None:
    """Type in a resident picker and press Enter: the first hit is chosen."""
    picker.edit.setFocus()
    qtbot.keyClicks(picker.edit, text)
    qtbot.keyClick(picker.edit, Qt.Key.Key_Return)
    assert picker.hit is not None


def _type_money(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


# -- 医疗救助 -----------------------------------------------------------------------------------


def test_a_split_that_does_not_add_up_is_refused_and_nothing_saved(qtbot, town, context):
    from station_app.ui.dialogs.assistance_case import CaseDialog

    dialog = CaseDialog(context(town.doctor_a))
    qtbot.addWidget(dialog)
    dialog.show()
    _pick(qtbot, dialog.picker, "wxy")               # 王秀英, 低保对象: 二类 (issue 17.7)
    assert dialog.subject.currentText() == "二类（低保对象、返贫致贫人口）"
    dialog.hospital.insert("汉阴县人民医院")  # QTest types ASCII only; insert() is what an IME commits
    _type_money(qtbot, dialog.total, "12500")
    _type_money(qtbot, dialog.basic, "7800")
    _type_money(qtbot, dialog.serious, "1500")
    _type_money(qtbot, dialog.assistance, "2000")
    _type_money(qtbot, dialog.self_pay, "1000")
    message = ("费用分担不平：基本医保+大病保险+救助+自付=12,300.00 元，"
               "与总费用 12,500.00 元相差 200.00 元")
    assert dialog.sum_label.text() == message        # the live check, before saving
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text() == message          # refused by the service with the same words
    assert dialog.isVisible() and dialog.result_value is None
    assert _count(town.ws, AssistanceCase) == 0

    # Fixing the split (自付按差额) lets it through.
    qtbot.mouseClick(dialog.remainder_button, Qt.MouseButton.LeftButton)
    assert dialog.self_pay.text() == "1,200.00"
    assert "与总费用一致" in dialog.sum_label.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    assert _count(town.ws, AssistanceCase) == 1


def test_the_dialog_shows_the_rules_working_and_a_departure_needs_a_reason(qtbot, town, context):
    from station_app.services.reference import load_reference
    from station_app.ui.dialogs.assistance_case import CaseDialog
    from tests.conftest import COUNTY

    year = date.today().year
    load_reference(town.ws, {"county": {"code": COUNTY, "name": "汉阴县"}, "assistance_rules": [
        {"year": year, "subject_class": 2, "kind": "inpatient", "ratio_pct": 70, "self_referred_ratio_pct": 50,
         "annual_limit_yuan": 20000}]})
    dialog = CaseDialog(context(town.doctor_a))
    qtbot.addWidget(dialog)
    dialog.show()
    _pick(qtbot, dialog.picker, "wxy")               # 王秀英, 二类
    dialog.hospital.insert("汉阴县人民医院")
    _type_money(qtbot, dialog.total, "12000")
    _type_money(qtbot, dialog.basic, "4000")
    _type_money(qtbot, dialog.serious, "0")
    _type_money(qtbot, dialog.policy_self_pay, "8000")
    working = dialog.working.text()
    assert "政策范围内个人自付 8,000.00 元" in working
    assert "二类住院救助比例（县域内）70% → 5,600.00 元" in working
    assert "建议救助金额 5,600.00 元" in working
    # A different amount: the dialog says so, and saving without a reason is refused.
    _type_money(qtbot, dialog.assistance, "3000")
    qtbot.mouseClick(dialog.remainder_button, Qt.MouseButton.LeftButton)
    assert "请填写调整原因" in dialog.working.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "建议金额 5,600.00 元不一致" in dialog.message.text()
    assert _count(town.ws, AssistanceCase) == 0
    # 按建议金额填写 fills the amount and the self-pay; then it saves, the suggestion kept.
    qtbot.mouseClick(dialog.suggest_button, Qt.MouseButton.LeftButton)
    assert dialog.assistance.text() == "5,600.00" and "与总费用一致" in dialog.sum_label.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    with town.ws.read() as session:
        case = session.scalars(select(AssistanceCase)).one()
        assert (case.suggested_fen, case.assistance_fen, case.policy_self_pay_fen) == (560_000, 560_000, 800_000)


def test_a_badly_typed_amount_is_named(qtbot, town, context):
    from station_app.ui.dialogs.assistance_case import CaseDialog

    dialog = CaseDialog(context(town.doctor_a))
    qtbot.addWidget(dialog)
    _type_money(qtbot, dialog.total, "12.345")
    assert "总费用格式不对" in dialog.sum_label.text()


def test_assistance_page_flow_buttons_follow_role_and_the_kpi_moves(qtbot, town, context):
    from station_app.ui.sections.assistance_page import AssistancePage

    data = assistance.CaseInput(
        resident_id=town.people["a1"], type_code="ZY", subject_category="低保对象", hospital="汉阴县人民医院",
        hospital_level="county", admitted_on=date.today(), discharged_on=date.today(), total_fen=100_000,
        basic_insurance_fen=60_000, serious_illness_fen=0, assistance_fen=30_000, self_pay_fen=10_000)
    case = assistance.create_case(town.ws, town.doctor_a, data)
    doctor_page = AssistancePage(context(town.doctor_a))
    qtbot.addWidget(doctor_page)
    assert doctor_page.select(case)
    assert doctor_page.edit_button.isEnabled() and not doctor_page.review_button.isEnabled()

    page = AssistancePage(context(town.clerk))
    qtbot.addWidget(page)
    assert page.kpis.approved == 0 and page.kpi_label.text() == "已审核救助发放率 —"
    assert page.select(case) and page.review_button.isEnabled() and not page.pay_button.isEnabled()
    assistance.review_case(town.ws, town.clerk, case)
    page.reload_all()
    assert page.kpi_label.text() == "已审核救助发放率 0.0%"
    assert page.select(case) and page.pay_button.isEnabled()
    assert "（审核 + 已发放）" in page.kpi_detail.text()


# -- 慢病档案 -----------------------------------------------------------------------------------


def test_buy_medicine_click_removes_the_row_and_moves_the_service_count(qtbot, town, context):
    from station_app.ui.sections.chronic_page import COL_ACTIONS, ChronicPage
    from station_app.ui.sections.service_log_page import ServiceLogPage

    due = issued_card(town, "a1", refill_days_ago=27)       # runs out in 3 days
    later = issued_card(town, "a2", refill_days_ago=5)       # not due
    overdue = issued_card(town, "a3", refill_days_ago=35)    # ran out 5 days ago
    ctx = context(town.doctor_a)
    log_page = ServiceLogPage(ctx)
    qtbot.addWidget(log_page)
    log_page.show_tab("performance")
    before = log_page.performance.count_of("cy01", "medicine")
    assert before == 0

    page = ChronicPage(ctx)
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    qtbot.waitExposed(page)
    page.show_tab("refills")
    tab = page.refills
    assert [r.card_id for r in tab.model.rows] == [overdue, due]
    assert later not in {r.card_id for r in tab.model.rows}
    assert "1 人已断药" in tab.summary.text()

    row = next(i for i, r in enumerate(tab.model.rows) if r.card_id == due)
    cell = tab.table.visualRect(tab.model.index(row, COL_ACTIONS))
    medicine_button = tab.delegate.button_rects(cell)[0]
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=medicine_button.center())

    assert [r.card_id for r in tab.model.rows] == [overdue]
    assert "已从续药提醒中移除" in tab.message.text()
    assert chronic.card_detail(town.ws, town.doctor_a, due).last_refill_date == date.today()
    log_page.refresh()
    assert log_page.performance.count_of("cy01", "medicine") == before + 1


def test_reminder_click_keeps_the_row_with_the_date(qtbot, town, context):
    from station_app.ui.sections.chronic_page import COL_ACTIONS, ChronicPage

    card = issued_card(town, "a1", refill_days_ago=27)
    page = ChronicPage(context(town.doctor_a))
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    qtbot.waitExposed(page)
    page.show_tab("refills")
    tab = page.refills
    cell = tab.table.visualRect(tab.model.index(0, COL_ACTIONS))
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=tab.delegate.button_rects(cell)[1].center())
    [row] = tab.model.rows
    assert row.card_id == card and row.reminded_on == date.today()
    # Who called and when, on the row (上次联系), the next time too.
    assert tab.model.index(0, 8).data() == f"已提醒 · {town.doctor_a.display_name} {date.today():%m-%d}"
    with town.ws.read() as session:
        assert session.scalar(select(ServiceEntry.kind)) == "reminder"


def test_marking_a_month_used_moves_the_monthly_rate(qtbot, town, context):
    from station_app.ui.sections.chronic_page import FIXED, RATE_ROW, ChronicPage

    issued_card(town, "a1", days_ago=90)
    issued_card(town, "a2", days_ago=90)
    page = ChronicPage(context(town.doctor_a))
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    qtbot.waitExposed(page)
    page.show_tab("usage")
    tab = page.usage
    model = tab.model
    this_month = month_key(date.today())
    column = len(FIXED) + model.months.index(this_month)
    assert model.index(RATE_ROW, column).data() == "0.0%"

    index = model.index(1, column)
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=tab.table.visualRect(index).center())
    assert model.index(1, column).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.index(RATE_ROW, column).data() == "50.0%"
    assert "50.0%（1/2 人）" in tab.summary.text()
    # Stored: a fresh service read agrees, and so would the 工作台.
    rates = chronic.card_usage_rates(town.ws, town.doctor_a, [this_month])
    assert (rates[0].used, rates[0].holders) == (1, 2)
    # Clicking again takes it back.
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=tab.table.visualRect(index).center())
    assert model.index(RATE_ROW, column).data() == "0.0%"


def test_card_list_buttons_follow_status_and_role(qtbot, town, context):
    from station_app.ui.dialogs.chronic_apply import CardApplyDialog
    from station_app.ui.sections.chronic_page import ChronicPage

    ctx = context(town.doctor_a)
    dialog = CardApplyDialog(ctx)
    qtbot.addWidget(dialog)
    _pick(qtbot, dialog.picker, "zjg")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text() == "请勾选或填写申请材料。"
    dialog.material_boxes[0].setChecked(True)
    dialog.material_boxes[3].setChecked(True)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    card = dialog.result_value
    assert chronic.card_detail(town.ws, town.doctor_a, card).materials == "身份证或户口簿、诊断证明"

    page = ChronicPage(ctx)
    qtbot.addWidget(page)
    assert page.cards.count.text() == "共 1 张"
    assert page.cards.select(card)
    assert page.cards.edit_button.isEnabled()
    assert not page.cards.assess_button.isEnabled()      # a village doctor does not 认定
    clerk_page = ChronicPage(context(town.clerk))
    qtbot.addWidget(clerk_page)
    assert clerk_page.cards.select(card)
    assert clerk_page.cards.assess_button.isEnabled() and not clerk_page.cards.issue_button.isEnabled()
    assert not clerk_page.cards.cancel_button.isEnabled()


# -- 服务记录 -----------------------------------------------------------------------------------


def test_quick_entry_records_for_the_signed_in_doctor(qtbot, town, context):
    from station_app.ui.sections.service_log_page import ServiceLogPage

    page = ServiceLogPage(context(town.doctor_a))
    qtbot.addWidget(page)
    page.show()
    qtbot.mouseClick(page.entry.save_button, Qt.MouseButton.LeftButton)
    assert "请先在“居民”一栏" in page.entry.message.text()
    _pick(qtbot, page.entry.picker, "lgl")                 # 李桂兰
    qtbot.mouseClick(page.entry.kind_buttons["question"], Qt.MouseButton.LeftButton)
    page.entry.note.insert("解答门诊慢特病报销")
    qtbot.keyClick(page.entry.note, Qt.Key.Key_Return)     # Enter in the note saves
    assert page.entry.message.text().startswith("已登记：李桂兰 · 答疑")
    assert page.entry.picker.hit is None and page.entry.note.text() == ""
    assert page.list.count.text() == "共 1 条"
    assert page.list.model.row_values(0)["doctor"] == "张村医"
    assert page.list.model.row_values(0)["note"] == "解答门诊慢特病报销"
    page.show_tab("performance")
    assert page.performance.count_of("cy01", "question") == 1
    assert service_log.service_counts(town.ws, town.clerk).of("cy01").total == 1


def test_export_buttons_write_xlsx(qtbot, town, context, tmp_path, monkeypatch):
    from openpyxl import load_workbook
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from station_app.ui.sections.chronic_page import ChronicPage

    issued_card(town, "a1")
    issued_card(town, "b1")
    target = tmp_path / "cards.xlsx"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, title, text: shown.append(text))
    from station_app.ui.dialogs import export_confirm

    asked = []  # personal data: the user is told and offered a password first (answered: no password)
    monkeypatch.setattr(export_confirm, "confirm_personal_export",
                        lambda _parent, **_k: (asked.append(True), (True, None))[1])
    page = ChronicPage(context(town.doctor_a))
    qtbot.addWidget(page)
    qtbot.mouseClick(page.cards.export_button, Qt.MouseButton.LeftButton)
    assert asked
    assert shown and "已导出 1 行" in shown[0]          # the village doctor's own village only
    sheet = load_workbook(target).active
    assert any("王秀英" in str(cell.value) for row in sheet.iter_rows() for cell in row)
    assert not any("赵德华" in str(cell.value) for row in sheet.iter_rows() for cell in row)


def test_entitlement_dialog_lists_pending_and_marks_not_applicable(qtbot, town, context, monkeypatch):
    from station_app.services import entitlement
    from station_app.ui.dialogs.entitlement_dialog import EntitlementDialog
    from tests.services.archives.test_entitlement_service import RULES, add_settlement
    from station_app.services.reference import load_reference

    load_reference(town.ws, RULES)
    add_settlement(town, "a1", "JS1", date(2026, 5, 1), 8_000)
    add_settlement(town, "b1", "JS2", date(2026, 6, 1), 25_000)  # no class: only a high-burden flag
    dialog = EntitlementDialog(context(town.clerk), 2026)
    qtbot.addWidget(dialog)
    assert "医疗救助落实率 0.0%（应享 1 人，已落实 0 人）" in dialog.summary.text()
    assert dialog.pending_table.rowCount() == 1
    assert dialog.pending_table.item(0, 0).text() == "王秀英"
    assert dialog.pending_table.item(0, 7).text() == "5,600.00"
    assert "*" in dialog.pending_table.item(0, 1).text()
    assert dialog.flag_table.rowCount() == 1 and dialog.flag_table.item(0, 7).text() == "待研判"
    dialog.pending_table.selectRow(0)
    monkeypatch.setattr("station_app.ui.dialogs.entitlement_dialog.QInputDialog.getText",
                        lambda *a, **k: ("外伤由第三方承担", True))
    qtbot.mouseClick(dialog.na_button, Qt.MouseButton.LeftButton)
    assert dialog.pending_table.rowCount() == 0
    assert entitlement.pending_list(town.ws, town.clerk, 2026) == []
    dialog.flag_table.selectRow(0)
    qtbot.mouseClick(dialog.monitor_button, Qt.MouseButton.LeftButton)
    assert dialog.flag_table.item(0, 7).text() == "纳入监测"
