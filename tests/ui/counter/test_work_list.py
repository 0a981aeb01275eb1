"""Issue 10.7: the 未缴清单 as a work list — outcomes per person, shown next time, mark paid, compact print, SMS file."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest
from PySide6.QtWidgets import QDialog
from sqlalchemy import select

from station_app.domain.errors import ValidationError
from station_app.services import outreach
from station_app.store.models import AuditEntry, Enrollment, OutboxOp, Outreach


def _open_list(qtbot, window, tmp_path=None):
    tab = window.show_section("enrollment").show_enrollment()
    dialog = tab.show_unpaid_list()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.data is not None, timeout=30_000)
    if tmp_path is not None:
        dialog._ask_save_path = lambda _title, name: str(tmp_path / name)
    return tab, dialog


def _first_person(dialog):
    top = dialog.tree.topLevelItem(0)
    household = top.child(0)
    return household.child(0)


def test_an_outcome_is_recorded_synced_and_shown_the_next_time(qtbot, demo, window_for):
    window = window_for(demo.doctor)
    _tab, dialog = _open_list(qtbot, window)
    person = _first_person(dialog)
    dialog.tree.setCurrentItem(person)
    rid = dialog.current_member()[0]
    outcome = dialog.record_outcome()
    qtbot.addWidget(outcome)
    outcome.result_combo.setCurrentIndex(outcome.result_combo.findData("promised"))
    promised = date.today() + timedelta(days=5)
    outcome.promised.set_value(promised)
    outcome.save()
    assert outcome.result() == QDialog.DialogCode.Accepted, outcome.message.text()
    with demo.ws.read() as session:
        row = session.scalar(select(Outreach).where(Outreach.resident_id == rid))
        assert row.result == "promised" and row.done_by == demo.doctor.username and row.promised_date == promised
        assert session.scalar(select(OutboxOp.seq).where(OutboxOp.table_name == "outreach"))  # it travels
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "outreach_record"))
    dialog.close()
    # Next time the list is opened (by anyone in scope), the outcome is on the person's row.
    _tab, again = _open_list(qtbot, window_for(demo.clerk))
    texts = [again.tree.topLevelItem(g).child(h).child(m).text(1)
             for g in range(again.tree.topLevelItemCount())
             for h in range(again.tree.topLevelItem(g).childCount())
             for m in range(again.tree.topLevelItem(g).child(h).childCount())
             if again.tree.topLevelItem(g).child(h).child(m).data(0, 256) == rid]
    assert texts and texts[0].startswith(f"已承诺 {promised:%m-%d}缴") and "已联系 1 人" in again.summary.text()


def test_refusing_needs_a_reason(demo):
    with demo.ws.read() as session:
        rid = session.scalar(select(Enrollment.resident_id).where(Enrollment.village_code == demo.doctor.place_code))
    with pytest.raises(ValidationError) as caught:
        outreach.record_outcome(demo.ws, demo.doctor, rid, list_kind="unpaid", year=2026, result="refused")
    assert "原因" in caught.value.message


def test_mark_paid_from_the_list(qtbot, demo, window_for):
    window = window_for(demo.doctor)
    _tab, dialog = _open_list(qtbot, window)
    dialog.tree.setCurrentItem(_first_person(dialog))
    rid = dialog.current_member()[0]
    assert dialog.paid_button.isEnabled()
    pay = dialog.mark_paid()
    qtbot.addWidget(pay)
    pay.try_submit()
    assert pay.result() == QDialog.DialogCode.Accepted
    with demo.ws.read() as session:
        status = session.scalar(select(Enrollment.status).where(Enrollment.resident_id == rid,
                                                                Enrollment.year == dialog.year))
    assert status == "paid"
    qtbot.waitUntil(lambda: dialog.data is not None and rid not in
                    {m.resident_id for g in dialog.data.groups for h in g.households for m in h.unpaid}, timeout=30_000)


def test_the_printout_is_compact(qtbot, demo, window_for):
    from PySide6.QtPrintSupport import QPrinter

    from station_app.ui.dialogs.unpaid_print import print_layout

    from PySide6.QtGui import QTextDocument

    from station_app.ui.dialogs.unpaid_print import unpaid_html

    _tab, dialog = _open_list(qtbot, window_for(demo.clerk))
    groups = dialog.data.groups * 8  # a township-sized list: several pages
    people = sum(len(h.unpaid) for g in groups for h in g.households)
    assert people >= 200
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    doc = QTextDocument()
    doc.setDefaultFont(dialog.font())
    print_layout(doc, printer)
    from dataclasses import replace

    doc.setHtml(unpaid_html(replace(dialog.data, groups=groups), dialog.title()))
    assert doc.pageCount() > 1
    assert people / doc.pageCount() >= 40  # was ~12 a page, phone numbers over 3 lines
    phones = {h.phone for g in groups for h in g.households if h.phone}
    block, checked = doc.begin(), 0
    while block.isValid():
        if block.text() in phones:
            assert block.layout().lineCount() == 1, block.text()  # a phone number on one line
            checked += 1
        block = block.next()
    assert checked


def test_sms_export_for_the_county_platform(qtbot, demo, window_for, tmp_path):
    _tab, dialog = _open_list(qtbot, window_for(demo.doctor), tmp_path)
    dialog.export_sms()
    assert dialog.last_export is not None
    with open(dialog.last_export, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["姓名", "手机号", "短信内容"]
    assert len(rows) > 1
    name, phone, message = rows[1]
    assert len(phone) == 11 and phone.startswith("1") and name in message and f"{dialog.year}年度" in message


def test_printing_runs_off_the_ui_thread_and_writes_a_pdf(qtbot, demo, window_for, threaded_tasks_window):
    window = threaded_tasks_window(demo.clerk)
    tab = window.show_section("enrollment").show_enrollment()
    dialog = tab.show_unpaid_list()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.data is not None, timeout=30_000)
    opened = []
    dialog.open_file = opened.append
    with qtbot.waitSignal(window.tasks.busy_changed, timeout=30_000):
        dialog.print_preview()
    assert dialog.progress.isVisible()  # the window keeps painting; progress is shown meanwhile
    qtbot.waitUntil(lambda: bool(opened), timeout=60_000)
    assert opened[0].suffix == ".pdf" and opened[0].read_bytes().startswith(b"%PDF")
    assert "页" in dialog.message.text()
