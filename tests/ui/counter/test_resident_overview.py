"""Issue 10 居民一站式: one person, everything, with the next actions — driven through real widgets.

(Fit at 1366×768 / 1280×720 and the Chinese-only check cover this dialog through catalogue.py.)
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import event, func, select

from station_app.services import households
from station_app.services.resident_overview import resident_overview, resident_slip
from station_app.store.models import AssistanceCase, ChronicCard, Enrollment, Resident, ServiceEntry
from station_app.ui.dialogs.resident_overview import ResidentOverviewDialog


def _scalar(demo, query):
    with demo.ws.read() as session:
        return session.scalar(query)


def _card_holder(demo, village_code: str | None = None):
    query = select(ChronicCard.resident_id).where(ChronicCard.status == "issued", ChronicCard.deleted.is_(False))
    if village_code:
        query = query.where(ChronicCard.village_code == village_code)
    return _scalar(demo, query.order_by(ChronicCard.id))


def _owing(demo, year: int, village_code: str) -> str:
    """A registered resident of the village, without an issued card, whose year is 未缴费."""
    return _scalar(demo, select(Enrollment.resident_id).join(Resident, Resident.id == Enrollment.resident_id).where(
        Enrollment.year == year, Enrollment.status == "unpaid", Enrollment.village_code == village_code,
        Resident.status == "registered").order_by(Enrollment.resident_id))


def _open(qtbot, ctx_or_tab, resident_id: str) -> ResidentOverviewDialog:
    dialog = ctx_or_tab.open_overview(resident_id)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.overview is not None, timeout=30_000)
    return dialog


def _registry(window):
    return window.show_section("enrollment").registry


# -- the read ---------------------------------------------------------------------------------


def test_one_read_gathers_everything_in_a_fixed_number_of_statements(demo):
    holder = _card_holder(demo)
    case_person = _scalar(demo, select(AssistanceCase.resident_id).order_by(AssistanceCase.id))
    counts = {}
    statements = [0]
    listener = lambda *args: statements.__setitem__(0, statements[0] + 1)  # noqa: E731
    event.listen(demo.ws.engine, "before_cursor_execute", listener)
    try:
        for rid in (holder, case_person):
            statements[0] = 0
            overview = resident_overview(demo.ws, demo.clerk, rid)
            counts[rid] = (statements[0], overview)
    finally:
        event.remove(demo.ws.engine, "before_cursor_execute", listener)
    holder_view = counts[holder][1]
    assert holder_view.household is not None and holder_view.detail.id == holder
    assert holder_view.enrollment and holder_view.enrollment[0].year == max(r.year for r in holder_view.enrollment)
    card = holder_view.issued_cards[0]
    assert card.benefit_start is not None and card.months_held >= card.months_used >= 0
    assert set(holder_view.member_enrollment) == {m.id for m in holder_view.household.members}
    assert counts[case_person][1].cases
    # No query per member, card, case or service: the same handful of statements for anyone.
    assert all(n <= 25 for n, _o in counts.values()), {k: n for k, (n, _o) in counts.items()}


def test_a_village_doctor_cannot_read_another_village(qtbot, demo, window_for):
    other = _scalar(demo, select(Resident.id).where(Resident.village_code != demo.doctor.place_code))
    window = window_for(demo.doctor)
    dialog = _registry(window).open_overview(other)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.message.text() != "", timeout=30_000)
    assert dialog.overview is None and "无权" in dialog.message.text()
    assert not any(b.isVisible() for b in (dialog.collect_button, dialog.medicine_button, dialog.card_button,
                                           dialog.print_button))


# -- opening it from the search -----------------------------------------------------------------


def test_enter_double_click_and_the_button_open_it_from_a_search(qtbot, demo, window_for):
    window = window_for(demo.clerk)
    tab = _registry(window)
    name = _scalar(demo, select(Resident.name).where(Resident.id == _card_holder(demo)))
    tab.set_search(name)
    qtbot.keyClick(tab.search_edit, Qt.Key.Key_Return)  # picks the first match; never opens or saves
    assert tab.current_id() is not None and not isinstance(tab.active_dialog, ResidentOverviewDialog)
    chosen = tab.current_id()
    qtbot.keyClick(tab.table, Qt.Key.Key_Return)
    dialog = tab.active_dialog
    assert isinstance(dialog, ResidentOverviewDialog) and dialog.resident_id == chosen
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.overview is not None, timeout=30_000)
    assert dialog.name.text() == name and dialog.isVisible()
    dialog.reject()

    index = tab.model.index(0, 0)
    tab.table.doubleClicked.emit(index)
    assert isinstance(tab.active_dialog, ResidentOverviewDialog) and tab.active_dialog is not dialog
    qtbot.addWidget(tab.active_dialog)
    tab.active_dialog.reject()

    assert tab.overview_button.text() == "一站式" and tab.overview_button.isEnabled()
    qtbot.mouseClick(tab.overview_button, Qt.MouseButton.LeftButton)
    assert isinstance(tab.active_dialog, ResidentOverviewDialog)
    qtbot.addWidget(tab.active_dialog)


def test_the_view_shows_household_years_cards_cases_and_services_masked(qtbot, demo, window_for):
    holder = _card_holder(demo)
    window = window_for(demo.clerk)
    dialog = _open(qtbot, _registry(window), holder)
    o = dialog.overview
    members = dialog.members.texts()
    assert [row[0] for row in members] == [m.name for m in o.household.members]
    assert [row[0] for row in dialog.enrollment.texts()] == [str(r.year) for r in o.enrollment]
    cards = dialog.cards.texts()
    assert cards[0][0] == o.cards[0].disease and "个月" in cards[0][3]
    services = _scalar(demo, select(func.count()).select_from(ServiceEntry).where(ServiceEntry.resident_id == holder))
    assert len(dialog.services.texts()) == min(services, 8)
    full_id = o.detail.id_number
    assert full_id not in dialog.basic.text() and full_id[:6] in dialog.basic.text()  # masked as in the list
    assert dialog.print_button.isVisible() and dialog.medicine_button.isVisible()


# -- the actions ------------------------------------------------------------------------------


def test_collect_marks_the_year_paid_and_the_list_follows(qtbot, demo, window_for):
    window = window_for(demo.doctor)
    tab = _registry(window)
    year = tab.year
    rid = _owing(demo, year, demo.doctor.place_code)
    dialog = _open(qtbot, tab, rid)
    assert dialog.collect_button.isVisible() and str(year) in dialog.collect_button.text()
    payment = dialog.collect()
    qtbot.addWidget(payment)
    assert payment.amount_spin is not None and round(payment.amount_spin.value() * 100) == dialog.overview.due_fen
    payment.date_edit.setDate(payment.date_edit.date())  # the dialog's default day (within the window)
    with qtbot.waitSignal(tab.changed, timeout=30_000):
        payment.try_submit()
    qtbot.waitUntil(lambda: dialog.overview.year_row().status == "paid", timeout=30_000)
    assert "已登记" in dialog.message.text()
    assert not dialog.collect_button.isVisible()  # nothing left to collect
    assert dialog.enrollment.texts()[0][1] == "已缴费"
    assert _scalar(demo, select(Enrollment.status).where(Enrollment.resident_id == rid,
                                                         Enrollment.year == year)) == "paid"


def test_buy_medicine_records_a_service_and_apply_card_fixes_the_person(qtbot, demo, window_for):
    window = window_for(demo.doctor)
    tab = _registry(window)
    holder = _card_holder(demo, demo.doctor.place_code)
    dialog = _open(qtbot, tab, holder)
    before = len(dialog.overview.services)
    assert dialog.medicine_button.isVisible()
    with qtbot.waitSignal(dialog.changed, timeout=30_000):
        qtbot.mouseClick(dialog.medicine_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.overview.services and dialog.overview.services[0].kind == "代购药"
                    and dialog.overview.services[0].service_date == date.today(), timeout=30_000)
    assert len(dialog.overview.services) >= min(before + 1, 8)
    assert dialog.overview.issued_cards[0].last_refill == date.today()
    assert "代购药" in dialog.message.text()

    apply = dialog.apply_card()
    qtbot.addWidget(apply)
    assert apply.picker.hit is not None and apply.picker.hit.id == holder and apply.picker.edit.isReadOnly()
    apply.reject()


def test_only_what_applies_is_shown(qtbot, demo, window_for):
    """No 代购药 without an issued card; nothing but the slip for someone who died."""
    window = window_for(demo.doctor)
    tab = _registry(window)
    with demo.ws.read() as session:
        holders = set(session.scalars(select(ChronicCard.resident_id).where(ChronicCard.status == "issued")))
        rid = next(r for r in session.scalars(select(Resident.id).where(
            Resident.village_code == demo.doctor.place_code, Resident.status == "registered")
            .order_by(Resident.id)) if r not in holders)
    dialog = _open(qtbot, tab, rid)
    assert not dialog.medicine_button.isVisible() and dialog.card_button.isVisible()
    dialog.reject()
    households.set_status(demo.ws, demo.doctor, rid, "died", date.today())
    dialog = _open(qtbot, tab, rid)
    visible = [b.text() for b in (dialog.collect_button, dialog.medicine_button, dialog.card_button,
                                  dialog.print_button, dialog.close_button) if b.isVisible()]
    assert visible == ["打印参保凭证", "关闭"]


# -- the slip -----------------------------------------------------------------------------------


def _pdftotext(path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read the slip")
    return subprocess.run([tool, str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_the_slip_is_one_masked_page_made_off_the_ui_thread(qtbot, demo, threaded_tasks_window, monkeypatch):
    import threading

    import station_app.notices.render as render

    opened = []
    monkeypatch.setattr(ResidentOverviewDialog, "open_file", staticmethod(opened.append))
    threads = []
    real = render.render_pdf
    monkeypatch.setattr(render, "render_pdf", lambda *a, **k: threads.append(threading.current_thread())
                        or real(*a, **k))
    holder = _card_holder(demo)
    window = threaded_tasks_window(demo.clerk)
    dialog = _open(qtbot, _registry(window), holder)
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.last_slip is not None, timeout=60_000)
    assert threads and threads[0] is not threading.main_thread()  # laid out and written by a worker
    assert opened == [dialog.last_slip] and "1 页" in dialog.message.text()
    text = _pdftotext(dialog.last_slip).replace(" ", "")
    o = dialog.overview
    assert "参保缴费凭证及待遇查询单" in text
    assert o.detail.name not in text and o.detail.id_number not in text  # masked as a notice is
    assert o.detail.id_number[:6] + "********" + o.detail.id_number[-4:] in text
    if o.detail.phone:
        assert o.detail.phone not in text
    assert str(o.enrollment[0].year) in text and "门诊慢特病" in text and "医疗救助" in text
    assert o.cards[0].disease not in text  # no 病种 by default (the notices' minimum-necessary setting)


def test_the_slip_follows_the_notice_settings(demo):
    from dataclasses import replace

    from station_app.services import notices

    holder = _card_holder(demo)
    doc = resident_slip(demo.ws, demo.clerk, holder)
    assert doc.masking["enabled"] and not doc.is_notice
    notices.save_settings(demo.ws, demo.admin, replace(notices.get_settings(demo.ws), disclosure="disease"))
    doc = resident_slip(demo.ws, demo.clerk, holder)
    disease = resident_overview(demo.ws, demo.clerk, holder).cards[0].disease
    assert disease in doc.all_text()
