"""Dialogs of the 年度参保 tab: 标记已缴费, 设置资助参保, 其他渠道参保 / 无需参保 — each saves through a service call."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import PaymentChannel
from station_app.domain.errors import DomainError
from station_app.services.enrollment import YearInfo, yuan

from ..tasks import TaskManager

logger = logging.getLogger(__name__)


def to_qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def from_qdate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def fen_of(spin: QDoubleSpinBox) -> int:
    return int(round(spin.value() * 100))


def money_spin(fen: int | None = None) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(2)
    spin.setRange(0, 100_000)
    spin.setSuffix(" 元")
    spin.setAlignment(Qt.AlignmentFlag.AlignRight)
    spin.setMinimumWidth(140)
    if fen is not None:
        spin.setValue(fen / 100)
    return spin


def date_edit(day: date) -> QDateEdit:
    edit = QDateEdit(to_qdate(day))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumWidth(140)
    return edit


def channel_combo() -> QComboBox:
    combo = QComboBox()
    for code, label in PaymentChannel.choices():
        combo.addItem(label, code)
    return combo


class SubmitDialog(QDialog):
    """A form whose 确定 runs ``submit(values)`` on the write pool; a refusal stays in the dialog.

    The service's Chinese message shows under the form and nothing is saved; on success the
    dialog closes and ``result_value`` holds what the service returned.
    """

    def __init__(self, title: str, heading: str, tasks: TaskManager, submit: Callable[[dict[str, Any]], Any],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.tasks = tasks
        self._submit = submit
        self.result_value: Any = None
        self.heading = QLabel(heading)
        self.heading.setObjectName("dialogTitle")
        self.heading.setWordWrap(True)
        self.info = QLabel("")
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        self.form = QFormLayout()
        self.form.setSpacing(10)
        self.error_label = QLabel("")
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("确定")
        self.ok_button.setDefault(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        self.buttons.accepted.connect(self.try_submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(12)
        layout.addWidget(self.heading)
        layout.addWidget(self.info)
        layout.addLayout(self.form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def values(self) -> dict[str, Any]:
        return {}

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(True)

    def try_submit(self) -> None:
        values = self.values()
        self.ok_button.setEnabled(False)
        self.error_label.setVisible(False)
        submit = self._submit
        self.tasks.run_write(lambda: submit(values), self._done, self._failed, name="enrollment_dialog", owner=self)

    def _done(self, value: Any) -> None:
        self.result_value = value
        self.ok_button.setEnabled(True)
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.ok_button.setEnabled(True)
        if isinstance(error, DomainError):
            self.show_error(error.message)
        else:
            self.show_error("保存失败，未做任何修改；问题已记录在日志中。")


class PaymentDialog(SubmitDialog):
    """标记已缴费: date, channel and — for one person — the amount (their due by default)."""

    def __init__(self, tasks: TaskManager, submit, *, count: int, info: YearInfo, today: date,
                 due_fen: int | None = None, name: str = "", parent: QWidget | None = None):
        who = (name or "1 人") if count == 1 else f"{count:,} 人"
        super().__init__("标记已缴费", f"登记 {info.year} 年度已缴费：{who}", tasks, submit, parent)
        default_day = today
        if info.deadline and today > info.deadline and not info.late_enrollment:
            default_day = info.deadline
        self.date_edit = date_edit(default_day)
        self.channel_combo = channel_combo()
        self.form.addRow("缴费日期", self.date_edit)
        self.form.addRow("缴费渠道", self.channel_combo)
        self.amount_spin: QDoubleSpinBox | None = None
        if count == 1:
            self.amount_spin = money_spin(due_fen if due_fen is not None else info.premium_fen)
            self.form.addRow("缴费金额", self.amount_spin)
        lines = []
        if info.has_setting and info.collection_start and info.deadline:
            after = ("截止后参保的设待遇等待期（新生儿、特殊群体除外），待遇起始日期按县医保局规定计算。"
                     if info.late_enrollment else "截止后除特殊群体外不能补缴。")
            lines.append(f"征缴期 {info.collection_start:%Y-%m-%d} 至 {info.deadline:%Y-%m-%d}；"
                         f"个人缴费 {yuan(info.premium_fen)} 元。{after}")
        if count > 1:
            lines.append("金额按各人应缴计（已享定额资助的只缴个人部分，登记为资助参保）；"
                         "已参保、无需参保或已死亡/迁出的人员会跳过。")
        self.info.setText("\n".join(lines))

    def values(self) -> dict[str, Any]:
        return dict(paid_on=from_qdate(self.date_edit.date()), channel=self.channel_combo.currentData(),
                    amount_fen=fen_of(self.amount_spin) if self.amount_spin is not None else None)


class SubsidyDialog(SubmitDialog):
    """设置资助参保 for one person: category and amount (suggested by the rules), the personal share."""

    def __init__(self, tasks: TaskManager, submit, *, name: str, info: YearInfo, today: date,
                 category: str = "", subsidy_fen: int | None = None, categories: list[str] | None = None,
                 parent: QWidget | None = None):
        super().__init__("设置资助参保", f"{name} — {info.year} 年度资助参保", tasks, submit, parent)
        self.premium_fen = info.premium_fen
        self.category_combo = QComboBox()
        self.category_combo.setEditable(True)
        for c in categories or []:
            self.category_combo.addItem(c)
        self.category_combo.setCurrentText(category)
        self.subsidy_spin = money_spin(subsidy_fen if subsidy_fen is not None else info.premium_fen)
        self.date_edit = date_edit(min(today, info.deadline) if info.deadline and not info.late_enrollment else today)
        self.channel_combo = channel_combo()
        self.share_label = QLabel("")
        self.form.addRow("资助类别", self.category_combo)
        self.form.addRow("资助金额", self.subsidy_spin)
        self.form.addRow("个人部分", self.share_label)
        self.form.addRow("个人缴费日期", self.date_edit)
        self.form.addRow("个人缴费渠道", self.channel_combo)
        self.subsidy_spin.valueChanged.connect(self._update_share)
        suggestion = "按县医保局资助规则建议填写。" if category else "该居民的人员类别没有适用的资助规则，请手工填写。"
        self.info.setText(f"个人缴费标准 {yuan(info.premium_fen)} 元；全额资助无需个人缴费，"
                          f"定额资助须个人部分缴清才算资助参保。{suggestion}")
        self._update_share()

    def _share(self) -> int:
        return max(self.premium_fen - fen_of(self.subsidy_spin), 0)

    def _update_share(self) -> None:
        share = self._share()
        self.share_label.setText("无需缴费（全额资助）" if share == 0 else f"应缴 {yuan(share)} 元")
        self.date_edit.setEnabled(share > 0)
        self.channel_combo.setEnabled(share > 0)

    def values(self) -> dict[str, Any]:
        share = self._share()
        return dict(category=self.category_combo.currentText().strip(), subsidy_fen=fen_of(self.subsidy_spin),
                    paid_on=from_qdate(self.date_edit.date()) if share > 0 else None,
                    channel=self.channel_combo.currentData() if share > 0 else "")


class NoteDialog(SubmitDialog):
    """其他渠道参保 (which channel) or 无需参保 (why): a choice or free text."""

    def __init__(self, tasks: TaskManager, submit, *, title: str, heading: str, label: str, choices: tuple[str, ...],
                 hint: str = "", parent: QWidget | None = None):
        super().__init__(title, heading, tasks, submit, parent)
        self.note_combo = QComboBox()
        self.note_combo.setEditable(True)
        self.note_combo.addItems(list(choices))
        self.note_combo.setCurrentIndex(0)
        self.detail_edit = QLineEdit()
        self.detail_edit.setPlaceholderText("补充说明（可不填）")
        self.form.addRow(label, self.note_combo)
        self.form.addRow("说明", self.detail_edit)
        self.info.setText(hint)

    def values(self) -> dict[str, Any]:
        note = self.note_combo.currentText().strip()
        detail = self.detail_edit.text().strip()
        return dict(note=f"{note}：{detail}" if note and detail else note or detail)
