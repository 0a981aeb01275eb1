"""记录联系结果: one call or visit of a work list (未缴清单, 续药提醒), saved through the outreach service."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtWidgets import QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..common import error_text
from ..sections import PageContext


class OutcomeDialog(QDialog):
    """记录联系结果: 已打通 / 未接通 / 已承诺 (date) / 拒缴 (reason) / 已缴, saved through the service."""

    def __init__(self, ctx: PageContext, resident_id: str, who: str, *, list_kind: str, year: int | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from station_app.domain.enums import OutreachResult

        from .service_widgets import DateField

        self.ctx, self.resident_id, self.list_kind, self.year = ctx, resident_id, list_kind, year
        self.result_value: Any = None
        self.setWindowTitle("记录联系结果")
        self.result_combo = QComboBox()
        for code, label in OutreachResult.choices():
            self.result_combo.addItem(label, code)
        self.promised = DateField(date.today() + timedelta(days=7), allow_future=True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("拒缴时必填，如：已在外地参保")
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("居民", QLabel(who))
        form.addRow("结果", self.result_combo)
        form.addRow("承诺缴费日期", self.promised)
        form.addRow("原因 / 说明", self.reason)
        self.save_button = QPushButton("保存")
        self.save_button.setObjectName("primary")
        self.save_button.setAutoDefault(False)
        cancel = QPushButton("取消")
        cancel.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.result_combo.currentIndexChanged.connect(self._result_changed)
        self._result_changed()

    def _result_changed(self) -> None:
        from station_app.domain.enums import OutreachResult

        self.promised.setEnabled(self.result_combo.currentData() == OutreachResult.PROMISED.value)

    def save(self) -> None:
        from station_app.services import outreach

        ws, actor, rid = self.ctx.ws, self.ctx.actor, self.resident_id
        result, promised, reason = self.result_combo.currentData(), self.promised.value(), self.reason.text()
        kind, year = self.list_kind, self.year
        self.save_button.setEnabled(False)
        self.ctx.tasks.run_write(
            lambda: outreach.record_outcome(ws, actor, rid, list_kind=kind, year=year, result=result,
                                            promised_date=promised, reason=reason),
            self._saved, self._failed, name="outreach_record", owner=self)

    def _saved(self, value: Any) -> None:
        self.result_value = value
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.message.setText(error_text(error))

