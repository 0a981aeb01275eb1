"""Widgets the archive pages share: a resident picker, money and date fields, a form dialog that saves off-thread, xlsx export."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QDate, QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCompleter,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QVBoxLayout,
    QWidget,
)

from station_app import paths
from station_app.domain.assistance import fen_text, parse_yuan
from station_app.domain.errors import DomainError
from station_app.services.export_protection import export_password
from station_app.services.service_log import ResidentHit, find_residents

from ..fit import FormScroll, fit_dialog
from ..common import ProgressRelay, SEARCH_DELAY_MS, error_text

logger = logging.getLogger(__name__)

HIT_ROLE = Qt.ItemDataRole.UserRole + 10


def qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)



def pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def money_text(fen: int | None) -> str:
    return "" if fen is None else fen_text(fen)


class DateField(QDateEdit):
    """yyyy-MM-dd with a calendar; never later than today unless told otherwise."""

    def __init__(self, value: date | None = None, *, allow_future: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setMinimumWidth(140)
        if not allow_future:
            self.setMaximumDate(qdate(date.today()))
        self.setMinimumDate(QDate(1990, 1, 1))
        self.setDate(qdate(value or date.today()))

    def value(self) -> date:
        return pydate(self.date())

    def set_value(self, day: date) -> None:
        self.setDate(qdate(day))


class MoneyEdit(QLineEdit):
    """An amount in 元 typed by hand; ``fen()`` parses it with the domain's rules."""

    def __init__(self, label: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = label
        self.setPlaceholderText("0.00")
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setMinimumWidth(150)
        self.editingFinished.connect(self._tidy)

    def _tidy(self) -> None:
        """12500 → 12,500.00 once typed, so the amounts line up and read as money."""
        fen = self.fen_or_none()
        if fen is not None and self.text().strip():
            self.setText(fen_text(fen))

    def fen(self) -> int:
        return parse_yuan(self.text(), self.label)

    def fen_or_none(self) -> int | None:
        try:
            return self.fen()
        except DomainError:
            return None

    def set_fen(self, fen: int) -> None:
        self.setText(fen_text(fen) if fen else "")


def chosen_text(hit: ResidentHit) -> str:
    """Who a record will be filed against: 姓名, 村组, masked ID, age — read before saving."""
    where = hit.village_name + (hit.group_name or "")
    return f"已选：{hit.name}　{where}　{hit.id_masked}　{hit.age} 岁"


class EnterFilter(QObject):
    """Eats Return/Enter in a search field so it never reaches the dialog's default button.

    QLineEdit ignores Enter after emitting returnPressed, and QDialog then clicks its default
    button: typing "zs" + Enter in a picker used to save the whole form for the first match.
    ``on_enter`` decides what Enter means in that field (pick, open the match list).
    """

    def __init__(self, edit: QLineEdit, on_enter: Callable[[], None]):
        super().__init__(edit)
        self._on_enter = on_enter
        edit.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._on_enter()
            return True
        return False


class ResidentPicker(QWidget):
    """Type a name, pinyin initials or part of an ID number; pick from the popup.

    Enter picks only when the search found exactly one person; with several it opens the
    match list, and it never submits the dialog around it (EnterFilter). The person chosen is
    shown under the field (姓名, 村组, masked ID, age) so the user sees who a record is for.

    The lookup runs on the read pool, debounced; a stale answer (the text changed meanwhile)
    is dropped. ``search`` is injectable: the registry's search can replace the simple
    lookup of the service log without touching this widget.
    """

    picked = Signal(object)  # ResidentHit, or None when cleared

    def __init__(self, ctx, *, registered_only: bool = True,
                 search: Callable[[str], list[ResidentHit]] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        ws, actor = ctx.ws, ctx.actor
        self._search = search or (lambda text: find_residents(ws, actor, text, limit=30,
                                                              registered_only=registered_only))
        self.hit: ResidentHit | None = None
        self.hits: list[ResidentHit] = []
        self._seq = 0
        self._open_on_arrival = False
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("姓名 / 拼音首字母（如 zs）/ 身份证号或电话的一部分")
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(300)
        self.model = QStandardItemModel(self)
        self.completer = QCompleter(self.model, self)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setMaxVisibleItems(12)
        self.completer.setWidget(self.edit)
        self.completer.activated[QModelIndex].connect(self._activated)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_DELAY_MS)
        self.timer.timeout.connect(self.search_now)
        self.edit.textEdited.connect(self._edited)
        self.enter_filter = EnterFilter(self.edit, self._enter)
        self.chosen = QLabel("")
        self.chosen.setObjectName("hint")
        self.chosen.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.chosen)

    def _edited(self, _text: str) -> None:
        if self.hit is not None:
            self.hit = None
            self._show_chosen()
            self.picked.emit(None)
        self.timer.start()

    def search_now(self) -> None:
        self.timer.stop()
        text = self.edit.text().strip()
        self._seq += 1
        seq = self._seq
        if not text:
            self._show([])
            return
        self.ctx.tasks.run_read(lambda: self._search(text), lambda hits: self._arrived(seq, hits),
                                lambda error: self._arrived(seq, []), name="resident_lookup", owner=self)

    def _arrived(self, seq: int, hits: list[ResidentHit]) -> None:
        if seq == self._seq:
            self._show(hits)
            if self._open_on_arrival:
                self._open_on_arrival = False
                self._enter_with_hits()

    def _show(self, hits: list[ResidentHit]) -> None:
        self.hits = list(hits)
        self.model.clear()
        for hit in self.hits:
            item = QStandardItem(hit.label)
            item.setData(hit, HIT_ROLE)
            self.model.appendRow(item)
        if self.hits and self.edit.hasFocus():
            self.completer.complete()
        elif not self.hits:
            self.completer.popup().hide()

    def _activated(self, index: QModelIndex) -> None:
        hit = index.data(HIT_ROLE)
        if hit is not None:
            self.choose(hit)

    def _enter(self) -> None:
        """Enter in the field: pick the only match, or open the list of several; never submit."""
        if self.hit is not None or self.edit.isReadOnly():
            return
        if self.timer.isActive() or not self.hits:
            self._open_on_arrival = True
            self.search_now()  # synchronous tasks answer at once; threaded ones call back
            return
        self._enter_with_hits()

    def _enter_with_hits(self) -> None:
        if len(self.hits) == 1:
            self.choose(self.hits[0])
        elif self.hits:
            self.completer.complete()  # several people: the user picks one from the list

    def choose(self, hit: ResidentHit) -> None:
        self.hit = hit
        self.completer.popup().hide()
        self.edit.setText(f"{hit.name}（{hit.village_name}{hit.group_name}，{hit.id_masked}）")
        self._show_chosen()
        self.picked.emit(hit)

    def _show_chosen(self) -> None:
        self.chosen.setText(chosen_text(self.hit) if self.hit is not None else "")
        self.chosen.setVisible(self.hit is not None)

    def clear(self) -> None:
        self.hit = None
        self.hits = []
        self.edit.clear()
        self._show_chosen()
        self.picked.emit(None)

    def set_fixed(self, hit: ResidentHit) -> None:
        """Editing a record: the person is known and cannot change."""
        self.choose(hit)
        self.edit.setReadOnly(True)
        self.edit.setClearButtonEnabled(False)


class FormDialog(QDialog):
    """A dialog whose 保存 runs the service call on the write pool; a refusal stays in the dialog.

    Subclasses add rows and implement ``submit()``, which reads the fields (a bad amount
    raises the domain's ValidationError, shown the same way) and returns the call to run.
    """

    def __init__(self, ctx, title: str, subtitle: str = "", parent: QWidget | None = None, *, ok_text: str = "保存"):
        super().__init__(parent)
        self.ctx = ctx
        self.result_value: Any = None
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        heading = QLabel(title)
        heading.setObjectName("dialogTitle")
        self.subtitle = QLabel(subtitle)
        self.subtitle.setObjectName("hint")
        self.subtitle.setWordWrap(True)
        self.subtitle.setVisible(bool(subtitle))
        self.form = QFormLayout()
        self.form.setVerticalSpacing(10)
        self.form.setHorizontalSpacing(14)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(24, 20, 24, 18)
        self.layout_.setSpacing(12)
        self.layout_.addWidget(heading)
        self.layout_.addWidget(self.subtitle)
        self.scroll = FormScroll(self.form)  # a long form scrolls; 保存/取消 stay on screen
        self.layout_.addWidget(self.scroll, 1)
        self.layout_.addWidget(self.message)
        self.layout_.addWidget(self.buttons)
        # Enter in a field never files the record by itself: 保存 is clicked or reached by Tab.
        self.ok_button.setAutoDefault(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        fit_dialog(self)
        super().showEvent(event)

    def add_row(self, label: str, widget) -> None:
        self.form.addRow(label, widget)

    def show_error(self, text: str) -> None:
        self.message.setText(text)

    def submit(self) -> Callable[[], Any]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _save(self) -> None:
        self.message.setText("")
        try:
            call = self.submit()
        except DomainError as error:
            self.show_error(error.message)
            return
        self.ok_button.setEnabled(False)
        self.ctx.tasks.run_write(call, self._done, self._failed, name=type(self).__name__, owner=self)

    def _done(self, value: Any) -> None:
        self.ok_button.setEnabled(True)
        self.result_value = value
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self.show_error(error_text(error))


def export_dir() -> Path:
    folder = paths.data_dir() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_export(parent: QWidget, ctx, default_name: str, export: Callable[[Path, Callable], Any],
               *, ask_path: Callable[[Path], Path | None] | None = None,
               on_finished: Callable[[Any], None] | None = None) -> None:
    """Ask where to save, then run ``export(path, progress)`` on the read pool with a progress dialog.

    ``export`` is a services.exports function bound to its filters; it returns an ExportResult.
    """
    suggested = export_dir() / default_name
    password: str | None = None
    if ask_path is not None:
        path = ask_path(suggested)
    else:
        from .export_confirm import confirm_personal_export

        go_on, password = confirm_personal_export(parent)  # personal data: say so, offer a password
        if not go_on:
            return
        chosen, _ = QFileDialog.getSaveFileName(parent, "导出为 Excel", str(suggested), "Excel 工作簿 (*.xlsx)")
        path = Path(chosen) if chosen else None
    if path is None:
        return
    if path.suffix.lower() != ".xlsx":
        path = path.with_suffix(".xlsx")
    dialog = QProgressDialog("正在导出…", "", 0, 0, parent)
    dialog.setWindowTitle("导出")
    dialog.setCancelButton(None)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)
    relay = ProgressRelay(parent)

    def show_progress(done: int, total: int, text: str) -> None:
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, max(total, 1)))
        if text:
            dialog.setLabelText(text)

    relay.progress.connect(show_progress)

    def finished(result: Any) -> None:
        dialog.close()
        relay.deleteLater()
        if on_finished is not None:
            on_finished(result)
        else:
            rows = getattr(result, "rows", 0)
            QMessageBox.information(parent, "导出完成", f"已导出 {rows:,} 行到：\n{getattr(result, 'path', path)}")

    def failed(error: BaseException) -> None:
        dialog.close()
        relay.deleteLater()
        QMessageBox.warning(parent, "导出失败", error_text(error))

    def work() -> Any:
        token = export_password.set(password)  # read by the export on this worker thread
        try:
            return export(path, lambda d, t, m="": relay.progress.emit(d, t, m))
        finally:
            export_password.reset(token)

    ctx.tasks.run_read(work, finished, failed, name="export", owner=parent)
