"""记录联系结果: one call or visit of a work list (未缴清单, 续药提醒), saved through the outreach service."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from PySide6.QtWidgets import QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from station_app.domain.enums import OutreachResult

from ..common import error_text
from ..sections import PageContext


class OutcomeDialog(QDialog):
    """记录联系结果 with the list's own results: 已打通 / 未接通 / 已承诺 (date) / 拒缴 (reason) / 已缴
    on the 未缴清单, 已提醒 / 未接通 / 已取药 on the 续药提醒.

    Saved through ``outreach.record_outcome`` for the resident, or through ``submit(result,
    promised date, reason)`` when the caller records it its own way (a 续药提醒 outcome belongs
    to a card: ``outreach.record_refill_outcome``); either runs on the write pool.
    """

    def __init__(self, ctx: PageContext, resident_id: str | None, who: str, *, list_kind: str, year: int | None,
                 submit: Callable[[str, date | None, str], Any] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        from .service_widgets import DateField

        self.ctx, self.resident_id, self.list_kind, self.year = ctx, resident_id, list_kind, year
        self.submit = submit
        self.result_value: Any = None
        self.setWindowTitle("记录联系结果")
        self.result_combo = QComboBox()
        for code, label in OutreachResult.choices(list_kind):
            self.result_combo.addItem(label, code)
        self.promised = DateField(date.today() + timedelta(days=7), allow_future=True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("拒缴时必填，如：已在外地参保" if list_kind == "unpaid" else
                                       "可不填，如：家属代取、下周到卫生室")
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("居民", QLabel(who))
        form.addRow("结果", self.result_combo)
        if OutreachResult.PROMISED in OutreachResult.of_list(list_kind):
            form.addRow("承诺缴费日期", self.promised)
        else:
            self.promised.hide()
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

    def choose(self, result: str) -> None:
        self.result_combo.setCurrentIndex(max(0, self.result_combo.findData(result)))

    def _result_changed(self) -> None:
        self.promised.setEnabled(self.result_combo.currentData() == OutreachResult.PROMISED.value)

    def save(self) -> None:
        from station_app.services import outreach

        ws, actor, rid = self.ctx.ws, self.ctx.actor, self.resident_id
        result, promised, reason = self.result_combo.currentData(), self.promised.value(), self.reason.text()
        kind, year, submit = self.list_kind, self.year, self.submit
        self.save_button.setEnabled(False)
        if submit is None:
            def call():
                return outreach.record_outcome(ws, actor, rid, list_kind=kind, year=year, result=result,
                                               promised_date=promised, reason=reason)
        else:
            def call():
                return submit(result, promised, reason)
        self.ctx.tasks.run_write(call, self._saved, self._failed, name="outreach_record", owner=self)

    def _saved(self, value: Any) -> None:
        self.result_value = value
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.message.setText(error_text(error))
