"""Issue 10: the 续药提醒 as a work list that closes the loop — an outcome per person through the
outreach service (已提醒 / 未接通 / 已取药), who and when shown next time, counted on the 工作台,
an SMS file for the county platform and a compact printout."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from sqlalchemy import select

from station_app.domain.errors import ValidationError
from station_app.services import chronic, outreach
from station_app.services.dashboard import load_dashboard
from station_app.store.models import AuditEntry, OutboxOp, Outreach, ServiceEntry
from tests.ui.archives.conftest import issued_card


def _refill_tab(qtbot, ctx, tmp_path=None):
    from station_app.ui.sections.chronic_page import ChronicPage

    page = ChronicPage(ctx)
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    qtbot.waitExposed(page)
    page.show_tab("refills")
    tab = page.refills
    if tmp_path is not None:
        tab._ask_save_path = lambda _title, name, _filter: str(tmp_path / name)
    return page, tab


def _row_of(tab, card_id: str) -> int:
    return next(i for i, r in enumerate(tab.model.rows) if r.card_id == card_id)


def test_an_outcome_is_recorded_synced_and_shown_next_time(qtbot, town, context):
    from station_app.ui.sections.chronic_page import COL_CONTACT

    card = issued_card(town, "a1", refill_days_ago=28)
    _page, tab = _refill_tab(qtbot, context(town.doctor_a))
    row = _row_of(tab, card)
    assert tab.model.index(row, COL_CONTACT).data() == ""
    assert "已联系 0 人" in tab.summary.text()
    tab.table.selectRow(row)
    assert tab.outcome_button.isEnabled()
    dialog = tab.record_outcome()
    qtbot.addWidget(dialog)
    assert [dialog.result_combo.itemText(i) for i in range(dialog.result_combo.count())] == ["已提醒", "未接通", "已取药"]
    dialog.choose("no_answer")
    dialog.reason.setText("下午再打")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.message.text()
    with town.ws.read() as session:
        saved = session.scalar(select(Outreach))
        assert (saved.list_kind, saved.result, saved.reason, saved.done_by) == ("refill", "no_answer", "下午再打", "cy01")
        assert session.scalar(select(OutboxOp.seq).where(OutboxOp.table_name == "outreach"))  # it travels
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "outreach_record"))
        assert session.scalar(select(ServiceEntry.id)) is None  # an unanswered call is no 提醒 service
    expected = f"未接通（下午再打） · 张村医 {date.today():%m-%d}"
    assert tab.model.index(_row_of(tab, card), COL_CONTACT).data() == expected
    assert "已联系 1 人" in tab.summary.text()
    # Next time the list opens (the clerk, at the township), the call is on the row.
    _page, again = _refill_tab(qtbot, context(town.clerk))
    assert again.model.index(_row_of(again, card), COL_CONTACT).data() == expected


def test_refilled_takes_the_person_off_the_list(qtbot, town, context):
    card = issued_card(town, "a1", refill_days_ago=28)
    other = issued_card(town, "a2", refill_days_ago=29)
    _page, tab = _refill_tab(qtbot, context(town.doctor_a))
    tab.table.selectRow(_row_of(tab, card))
    dialog = tab.record_outcome()
    qtbot.addWidget(dialog)
    dialog.choose("refilled")
    dialog.save()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.message.text()
    assert [r.card_id for r in tab.model.rows] == [other]
    assert chronic.card_detail(town.ws, town.doctor_a, card).last_refill_date == date.today()


def test_a_reminder_is_a_service_and_outcomes_before_the_last_refill_are_not_shown(qtbot, town, context):
    card = issued_card(town, "a1", refill_days_ago=28)
    outreach.record_refill_outcome(town.ws, town.doctor_a, card, result="reminded")
    with town.ws.read() as session:
        assert session.scalar(select(ServiceEntry.kind)) == "reminder"  # the doctor's 绩效 counts it
    rows = chronic.refill_reminders(town.ws, town.doctor_a)
    assert set(outreach.refill_outcomes(town.ws, town.doctor_a, rows)) == {card}
    # The medicine is bought, then runs out again: last month's call is not this round's.
    chronic.record_refill(town.ws, town.doctor_a, card, on=date.today())
    later = [r.__class__(**{**r.__dict__, "last_refill_date": date.today().replace(year=date.today().year + 1)})
             for r in rows]
    assert outreach.refill_outcomes(town.ws, town.doctor_a, later) == {}


def test_results_belong_to_their_list(town):
    card = issued_card(town, "a1", refill_days_ago=28)
    with pytest.raises(ValidationError):
        outreach.record_refill_outcome(town.ws, town.doctor_a, card, result="promised")
    with pytest.raises(ValidationError):
        outreach.record_outcome(town.ws, town.doctor_a, town.people["a1"], list_kind="unpaid", year=2026,
                                result="refilled")
    with pytest.raises(Exception):  # another village's card: out of the doctor's scope
        outreach.record_refill_outcome(town.ws, town.doctor_b, card, result="reminded")


def test_the_dashboard_counts_contacted_people(qtbot, town, context):
    from station_app.ui.sections.dashboard import DashboardPage

    card = issued_card(town, "a1", refill_days_ago=28)
    issued_card(town, "a2", refill_days_ago=29)
    assert load_dashboard(town.ws, town.doctor_a).refill_contacted == 0
    outreach.record_refill_outcome(town.ws, town.doctor_a, card, result="no_answer")
    board = load_dashboard(town.ws, town.doctor_a)
    assert (board.reminders_due, board.refill_contacted) == (2, 1)
    page = DashboardPage(context(town.doctor_a))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.dashboard is not None, timeout=30_000)
    assert page.reminder_card.value.text() == "2 人"
    assert "已联系 1 人" in page.reminder_card.detail.text()


def test_sms_file_and_compact_printout(qtbot, town, context, tmp_path):
    issued_card(town, "a1", refill_days_ago=28)
    issued_card(town, "a1", refill_days_ago=27, disease="MB002")  # two cards, one message
    issued_card(town, "a2", refill_days_ago=29)
    _page, tab = _refill_tab(qtbot, context(town.doctor_a), tmp_path)
    assert len(tab.model.rows) == 3
    tab.export_sms()
    with open(tab.last_export, encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["姓名", "手机号", "短信内容"]
    assert sorted(r[0] for r in rows[1:]) == ["张建国", "王秀英"]
    wang = next(r for r in rows[1:] if r[0] == "王秀英")
    assert wang[1] == "13912345670" and "高血压" in wang[2] and "糖尿病" in wang[2]
    tab.print_list()
    assert tab.last_export.suffix == ".pdf" and tab.last_export.read_bytes().startswith(b"%PDF")
    assert "3 行、1 页" in tab.message.text()
