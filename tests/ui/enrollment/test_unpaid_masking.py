"""Issue 10 / PIPL: the 年度参保 list and the 未缴清单 show ID numbers and phones masked; one phone is
revealed at a time for calling (audited, masked again after a minute); printing says first that the
work sheet carries full numbers; a long list fills in slices and prints in a child process."""

from __future__ import annotations

from PySide6.QtCore import Qt
from sqlalchemy import select

from station_app.store.models import AuditEntry
from station_app.ui.dialogs import unpaid_list
from station_app.ui.dialogs.unpaid_list import PHONE_COLUMN, UnpaidListDialog
from station_app.ui.sections import PageContext
from station_app.ui.sections.enrollment_tab import COLUMNS
from tests.conftest import VILLAGE_A
from tests.services.enrollment.town import TODAY, YEAR
from tests.ui.enrollment.test_enrollment_tab import click_row, make_tab


def _open_list(qtbot, tab) -> UnpaidListDialog:
    tab.village_combo.setCurrentIndex(tab.village_combo.findData(VILLAGE_A))
    qtbot.mouseClick(tab.unpaid_list_button, Qt.MouseButton.LeftButton)
    dialog = tab.active_dialog
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.data is not None, timeout=30_000)
    return dialog


def _person(dialog, name: str):
    for g in range(dialog.tree.topLevelItemCount()):
        top = dialog.tree.topLevelItem(g)
        for h in range(top.childCount()):
            for m in range(top.child(h).childCount()):
                item = top.child(h).child(m)
                if item.text(0) == name:
                    return item
    raise AssertionError(name)


def test_the_year_list_masks_id_numbers_and_phones(qtbot, started_town, tasks):
    tab = make_tab(qtbot, started_town, tasks)
    qtbot.waitUntil(lambda: tab.model.rowCount() > 0, timeout=30_000)
    keys = [c.key for c in COLUMNS]
    row = tab.model.row_of(started_town["张大山"])
    id_text = tab.model.data(tab.model.index(row, keys.index("id_number")))
    phone_text = tab.model.data(tab.model.index(row, keys.index("phone")))
    assert "*" in id_text and len(id_text) == 18
    assert phone_text == "138****0001"
    # 「显示」: the selected resident's full ID number and phone, for a minute, audited.
    assert not tab.reveal_button.isEnabled()
    click_row(qtbot, tab, started_town["张大山"])
    qtbot.mouseClick(tab.reveal_button, Qt.MouseButton.LeftButton)
    id_cell = tab.model.index(row, keys.index("id_number"))
    qtbot.waitUntil(lambda: "*" not in tab.model.data(id_cell), timeout=30_000)
    assert len(tab.model.data(id_cell)) == 18
    with started_town.ws.read() as session:
        assert session.scalar(select(AuditEntry.row_id).where(AuditEntry.action == "reveal")) == started_town["张大山"]
    tab.reveal.remask()  # what the 60-second timer does
    assert tab.model.data(id_cell) == id_text


def test_a_phone_is_revealed_for_calling_audited_and_masked_again(qtbot, started_town, tasks):
    town = started_town
    tab = make_tab(qtbot, town, tasks)
    dialog = _open_list(qtbot, tab)
    person = _person(dialog, "张小龙")
    assert person.text(PHONE_COLUMN) == "139****0002"
    assert not dialog.reveal_button.isEnabled()  # nobody chosen yet
    dialog.tree.setCurrentItem(person)
    qtbot.mouseClick(dialog.reveal_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: person.text(PHONE_COLUMN) == "13900000002", timeout=30_000)
    with town.ws.read() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "reveal")).all()
    assert [a.row_id for a in audit] == [town["张小龙"]] and audit[0].username == town.admin.username
    assert "13900000002" not in audit[0].summary  # the log says who looked, not the number
    dialog.reveal.remask()  # what the 60-second timer does
    assert person.text(PHONE_COLUMN) == "139****0002" and dialog.reveal.revealed is None


def test_printing_says_first_that_the_work_sheet_carries_full_phones(qtbot, started_town, tasks, monkeypatch):
    tab = make_tab(qtbot, started_town, tasks)
    dialog = _open_list(qtbot, tab)
    asked: list[str] = []
    started: list[bool] = []
    dialog.confirm_print = lambda text: asked.append(text) or False
    monkeypatch.setattr(dialog, "print_preview", lambda: started.append(True))
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    assert asked and "电话号码完整打印" in asked[0] and "工作单" in asked[0] and not started
    dialog.confirm_print = lambda text: True
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    assert started == [True]
    # The printout itself keeps full numbers (one line each, see tests/ui/counter/test_work_list.py).
    assert "13900000002" in dialog.print_document().toPlainText()


def test_a_long_list_fills_in_slices_and_is_complete(qtbot, started_town, tasks, monkeypatch):
    monkeypatch.setattr(unpaid_list, "FILL_AT_ONCE", 0)
    monkeypatch.setattr(unpaid_list, "FILL_SLICE_SECONDS", 0.0)  # one household per turn of the event loop
    town = started_town
    dialog = UnpaidListDialog(PageContext(town.ws, town.admin, tasks), YEAR, today=TODAY)
    qtbot.addWidget(dialog)
    assert dialog.data is None  # not complete yet: the rest comes in later turns
    with qtbot.waitSignal(dialog.loaded, timeout=30_000) as blocker:
        pass
    data = blocker.args[0]
    assert dialog.data is data
    households = sum(dialog.tree.topLevelItem(g).childCount() for g in range(dialog.tree.topLevelItemCount()))
    assert households == data.households and dialog.print_button.isEnabled()
    dialog.show()
    dialog.close()  # a closed list lets its rows go (they would weigh on every later full collection)
    assert dialog.data is None and dialog.tree.topLevelItemCount() == 0


def test_the_pdf_is_written_by_a_child_process(tmp_path):
    from station_app.ui import pdf_process

    pages = pdf_process.write_html_pdf("<p>张三 13900000002</p>" * 200, tmp_path / "x.pdf", point_size=8)
    assert pages >= 1 and (tmp_path / "x.pdf").read_bytes().startswith(b"%PDF")


def test_a_township_list_makes_member_rows_when_a_household_is_opened(qtbot, started_town, tasks, monkeypatch):
    monkeypatch.setattr(unpaid_list, "OPEN_HOUSEHOLDS_UP_TO", 0)
    town = started_town
    dialog = UnpaidListDialog(PageContext(town.ws, town.admin, tasks), YEAR, today=TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.data is not None, timeout=30_000)
    top = dialog.tree.topLevelItem(0)
    zhang = next(top.child(i) for i in range(top.childCount()) if "张大山" in top.child(i).text(0))
    assert zhang.childCount() == 0 and not zhang.isExpanded()  # nothing made yet, but it can be opened
    zhang.setExpanded(True)
    members = {zhang.child(i).text(0): zhang.child(i) for i in range(zhang.childCount())}
    assert "张小龙" in members
    dialog.tree.setCurrentItem(members["张小龙"])
    dialog.reveal_phone()
    qtbot.waitUntil(lambda: members["张小龙"].text(PHONE_COLUMN) == "13900000002", timeout=30_000)
