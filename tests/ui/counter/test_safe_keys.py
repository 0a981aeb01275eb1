"""Issue 10.2: Enter in a resident picker picks or opens the match list — it never files the record."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from sqlalchemy import func, select

from station_app.store.models import AssistanceCase, ChronicCard, Resident
from station_app.ui.sections import PageContext


def _count(ws, model) -> int:
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def _shared_initials(demo) -> tuple[str, int]:
    """Pinyin initials that several registered residents of the doctor's village share."""
    with demo.ws.read() as session:
        initials, n = session.execute(
            select(Resident.name_initials, func.count()).where(
                Resident.village_code == demo.doctor.place_code, Resident.status == "registered",
                func.length(Resident.name_initials) >= 2)
            .group_by(Resident.name_initials).order_by(func.count().desc())).first()
    assert n >= 2
    return initials, n


def _type_and_enter(qtbot, dialog, text: str) -> None:
    dialog.activateWindow()
    picker = dialog.picker
    picker.edit.setFocus()
    qtbot.waitUntil(picker.edit.hasFocus, timeout=30_000)
    qtbot.keyClicks(picker.edit, text)
    qtbot.keyClick(picker.edit, Qt.Key.Key_Return)


def _open(qtbot, dialog) -> None:
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)


def test_enter_in_the_card_picker_with_several_matches_opens_the_list_and_saves_nothing(qtbot, demo, sync_tasks):
    from station_app.ui.dialogs.chronic_apply import CardApplyDialog

    initials, many = _shared_initials(demo)
    before = _count(demo.ws, ChronicCard)
    dialog = CardApplyDialog(PageContext(demo.ws, demo.doctor, sync_tasks))
    _open(qtbot, dialog)
    _type_and_enter(qtbot, dialog, initials)

    # Old code: the first of the matches was taken and the dialog saved and closed.
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert _count(demo.ws, ChronicCard) == before
    assert dialog.picker.hit is None and len(dialog.picker.hits) == many
    assert dialog.picker.completer.popup().isVisible()  # the user chooses from the list
    assert not dialog.picker.chosen.isVisible()

    # Choosing the second match from the list: Enter there picks, and still saves nothing.
    popup = dialog.picker.completer.popup()
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    hit = dialog.picker.hit
    assert hit is not None and hit == dialog.picker.hits[1]
    assert dialog.isVisible() and _count(demo.ws, ChronicCard) == before
    # Who the record is for, before saving: 姓名, 村组, masked ID, age.
    chosen = dialog.picker.chosen.text()
    assert dialog.picker.chosen.isVisible()
    assert hit.name in chosen and hit.group_name in chosen and hit.id_masked in chosen and f"{hit.age} 岁" in chosen
    assert "*" in hit.id_masked

    # Enter again in the field, or in another field, still does not submit.
    qtbot.keyClick(dialog.picker.edit, Qt.Key.Key_Return)
    qtbot.keyClick(dialog.other_materials, Qt.Key.Key_Return)
    assert dialog.isVisible() and _count(demo.ws, ChronicCard) == before

    # 保存 files the card for exactly the person shown.
    dialog.material_boxes[0].setChecked(True)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.message.text()
    with demo.ws.read() as session:
        card = session.get(ChronicCard, dialog.result_value)
    assert card.resident_id == hit.id


def test_enter_in_the_assistance_picker_never_files_a_case(qtbot, demo, sync_tasks):
    from station_app.ui.dialogs.assistance_case import CaseDialog

    initials, _many = _shared_initials(demo)
    before = _count(demo.ws, AssistanceCase)
    dialog = CaseDialog(PageContext(demo.ws, demo.doctor, sync_tasks))
    _open(qtbot, dialog)
    _type_and_enter(qtbot, dialog, initials)
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.picker.hit is None and dialog.picker.completer.popup().isVisible()
    assert _count(demo.ws, AssistanceCase) == before


def test_enter_picks_a_unique_match_at_once(qtbot, demo, sync_tasks):
    from station_app.ui.dialogs.chronic_apply import CardApplyDialog

    with demo.ws.read() as session:
        rows = session.execute(select(Resident.id, Resident.id_number).where(
            Resident.village_code == demo.doctor.place_code, Resident.status == "registered")).all()
    resident_id, id_number = rows[0]
    dialog = CardApplyDialog(PageContext(demo.ws, demo.doctor, sync_tasks))
    _open(qtbot, dialog)
    _type_and_enter(qtbot, dialog, id_number[-8:])  # the last eight digits find one person
    assert dialog.picker.hit is not None and dialog.picker.hit.id == resident_id
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
