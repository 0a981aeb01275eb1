"""The 公示 and 政策 pages: widgets through qtbot, tasks inline, dialogs replaced at their seams."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from PySide6.QtCore import QDate
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QDialog

from station_app.services import notices as svc
from station_app.ui.tasks import TaskManager

from .conftest import pdftotext_raw, printed_text


@pytest.fixture
def tasks(qapp):
    return TaskManager.synchronous()


@pytest.fixture
def page(qtbot, village, tasks, monkeypatch):
    from station_app.ui.sections.notices_page import NoticesPage

    widget = NoticesPage(village.ws, village.admin, tasks=tasks)
    qtbot.addWidget(widget)
    widget.confirm = lambda _text: True
    errors = []
    widget.show_error = lambda error: errors.append(error)
    widget.errors = errors
    widget.chooser.year.setValue(2027)
    start = date.today() - timedelta(days=3)  # a 公示期 running now
    widget.chooser.start.setDate(QDate(start.year, start.month, start.day))
    return widget


def test_page_offers_the_villages_and_kinds(page):
    chooser = page.chooser
    assert [chooser.kind.itemText(i) for i in range(chooser.kind.count())] == [
        "参保情况", "慢病卡办享情况", "医疗救助待遇享受情况", "医保惠民政策"]
    assert [chooser.village.itemText(i) for i in range(chooser.village.count())] == ["群英村", "堰坪村"]
    assert [chooser.group.itemText(i) for i in range(chooser.group.count())] == ["全村", "一组", "二组"]
    assert chooser.layout_choice.currentData() == "roster" and chooser.paper.currentData() == "A4"
    chooser.layout_choice.setCurrentIndex(chooser.layout_choice.findData("detail"))
    assert chooser.paper.currentData() == "A4L"  # the wide table is landscape
    chooser.set_kind("policy")
    assert chooser.paper.currentData() == "A4"
    assert chooser.year.value() == svc.default_year("policy")
    assert chooser.layout_choice.isHidden()


def test_export_pdf_off_the_ui_thread(page, tmp_path):
    target = tmp_path / "export.pdf"
    page.ask_save_path = lambda _suggested: str(target)
    page.export_pdf()
    assert page.errors == []
    assert target.is_file() and "已导出" in page.status.text()
    assert "张*丰" in pdftotext_raw(target).replace(" ", "")


def test_issue_fills_the_archive_and_objection_dialog_records(page, village, qtbot):
    page.chooser.set_kind("assistance")
    page.chooser.year.setValue(2027)
    with qtbot.waitSignal(page.issued, timeout=30_000):
        page.issue()
    assert page.errors == []
    assert page.model.rowCount() == 1
    assert page.model.data(page.model.index(0, page.model.COL_KIND)) == "医疗救助待遇享受情况"
    assert page.model.data(page.model.index(0, page.model.COL_OBJECTIONS)) == "无"
    page.table.selectRow(0)

    from station_app.ui.sections.notices_page import ObjectionDialog

    notice = page.selected()
    dialog = ObjectionDialog(village.ws, village.admin, notice, page.tasks)
    qtbot.addWidget(dialog)
    yesterday = date.today() - timedelta(days=1)
    dialog.received.setDate(QDate(yesterday.year, yesterday.month, yesterday.day))
    dialog.raised_by.setText("李四")
    dialog.content.setPlainText("救助金额与实际不符")
    dialog.add_objection()
    assert dialog.message.text() == ""
    assert dialog.model.rowCount() == 1 and dialog.model.item(0, 1).text() == "李*"
    dialog.table.selectRow(0)
    dialog.outcome.setText("经核实无误")
    dialog.save_outcome()
    assert dialog.model.item(0, 3).text() == "经核实无误"
    page.refresh()
    assert page.model.data(page.model.index(0, page.model.COL_OBJECTIONS)) == "1 条"


def test_reprint_prints_the_archived_content_and_refuses_a_tampered_file(page, tmp_path, monkeypatch):
    page.issue()
    page.table.selectRow(0)
    printed = []

    def fake_exec(dialog):
        printer = dialog.printer()
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(tmp_path / "reprint.pdf"))
        printed.append(dialog)
        return QDialog.DialogCode.Accepted

    page.exec_dialog = fake_exec
    page.reprint()
    assert printed and page.errors == []
    assert "张*丰" in printed_text(tmp_path / "reprint.pdf")
    notice = page.selected()
    notice.pdf_path.write_bytes(b"%PDF-1.4 altered")
    page.reprint()
    assert isinstance(page.errors[-1], svc.NoticeArchiveError)


def test_preview_is_drawn_off_the_ui_thread_with_progress(qtbot, village, qapp, monkeypatch):
    """Finding: the enrollment preview froze the window 3.3 s (QPrintPreviewDialog painted on the
    UI thread). Now the pages are drawn to images in a worker, with progress, then shown."""
    import threading

    from station_app.notices import render
    from station_app.ui.sections.notices_page import NoticePreviewDialog, NoticesPage

    threads, progress = [], []
    real = render.render_preview

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "render_preview", spy)
    widget = NoticesPage(village.ws, village.admin, tasks=TaskManager())
    qtbot.addWidget(widget)
    widget.show_error = lambda error: pytest.fail(str(error))
    widget.chooser.year.setValue(2027)
    widget._relay.progress.connect(lambda done, total, _m: progress.append((done, total)))
    shown = []
    widget.exec_dialog = lambda dialog: shown.append(dialog) or QDialog.DialogCode.Accepted
    widget.preview()
    qtbot.waitUntil(lambda: bool(shown), timeout=30_000)
    assert threads == [False]
    assert isinstance(shown[0], NoticePreviewDialog) and len(shown[0].pages) >= 1
    assert shown[0].image.pixmap() is not None and not shown[0].image.pixmap().isNull()
    assert progress and progress[-1][0] == progress[-1][1]


def test_settings_dialog_saves(page, monkeypatch):
    def fake_exec(dialog):
        dialog.id_mode.setCurrentIndex(dialog.id_mode.findData("hidden"))
        dialog.days.setValue(5)
        return QDialog.DialogCode.Accepted

    page.exec_dialog = fake_exec
    page.edit_settings()
    assert svc.get_settings(page.ws).id_mode == "hidden"
    assert page.chooser.days.value() == 5


def test_policy_page_lists_policies_and_prints_the_poster(qtbot, village, tasks, tmp_path):
    from station_app.ui.sections.policy_page import PolicyPage

    widget = PolicyPage(village.ws, village.admin, tasks=tasks)
    qtbot.addWidget(widget)
    widget.chooser.year.setValue(2027)
    assert widget.model.rowCount() == 2
    assert "缴费标准" in widget.text.toPlainText()

    def fake_exec(dialog):
        printer = dialog.printer()
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(tmp_path / "poster.pdf"))
        return QDialog.DialogCode.Accepted

    widget.exec_dialog = fake_exec
    widget.print_poster()
    assert "医保惠民政策公示" in printed_text(tmp_path / "poster.pdf")


def test_layout_and_disclosure_are_chosen_and_shown_in_the_dialog(page, tmp_path):
    chooser = page.chooser
    chooser.set_kind("chronic")
    assert not chooser.disclosure_label.isHidden()
    assert "不公示病种" in chooser.disclosure_label.text() and "县级设置" in chooser.disclosure_label.text()

    def fake_exec(dialog):
        dialog.disclosure.setCurrentIndex(dialog.disclosure.findData("category"))
        dialog.layout_choice.setCurrentIndex(dialog.layout_choice.findData("summary"))
        return QDialog.DialogCode.Accepted

    page.exec_dialog = fake_exec
    page.edit_settings()
    saved = svc.get_settings(page.ws)
    assert (saved.disclosure, saved.layout) == ("category", "summary")
    assert "病种类别" in chooser.disclosure_label.text()
    chooser.set_kind("enrollment")
    assert chooser.layout_choice.currentData() == "summary"
    target = tmp_path / "summary.pdf"
    page.ask_save_path = lambda _s: str(target)
    page.export_pdf()
    assert page.errors == [] and "合计" in pdftotext_raw(target)


def test_empty_year_is_refused_on_the_page_unless_ticked(page, tmp_path):
    page.chooser.set_kind("assistance")
    page.chooser.year.setValue(2030)
    target = tmp_path / "a.pdf"
    page.ask_save_path = lambda _s: str(target)
    page.export_pdf()
    assert isinstance(page.errors[-1], svc.NoticeEmpty) and not target.exists()
    page.chooser.allow_empty.setChecked(True)
    page.export_pdf()
    assert target.is_file() and "本年度无" in pdftotext_raw(target).replace(" ", "")
