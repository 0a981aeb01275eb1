"""救助申请: resident, type, hospital, dates and the cost split with a live check that it adds up."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from station_app.domain import entitlement as ent
from station_app.domain.assistance import CostSplit, fen_text, split_message, subject_choices
from station_app.domain.enums import HospitalLevel
from station_app.domain.errors import DomainError, ValidationError
from station_app.services import assistance as svc
from station_app.services import entitlement as ent_svc
from station_app.services.service_log import ResidentHit, resident_hit

from .service_widgets import DateField, FormDialog, MoneyEdit, ResidentPicker

OK_STYLE = "color:#1b7f3b;"
BAD_STYLE = "color:#b3261e;"
HINT_STYLE = "color:#5a6b7b;"
UNTOUCHED_HINT = "填写总费用和各项金额后，这里核对四项相加是否与总费用一致。"


class CaseDialog(FormDialog):
    """New case (``case`` None) or an edit while it is still 申请."""

    def __init__(self, ctx, case: svc.CaseDetail | None = None, parent: QWidget | None = None):
        title = "修改救助申请" if case else "新建救助申请"
        subtitle = "总费用 = 基本医保 + 大病保险 + 救助金额 + 个人自付，四项相加必须与总费用一致（单位：元）。"
        super().__init__(ctx, title, subtitle, parent)
        self.case = case
        self.setMinimumWidth(700)

        self.picker = ResidentPicker(ctx, registered_only=False)
        self.picker.picked.connect(self._person_changed)
        self.type = QComboBox()
        for code, name in svc.type_choices(ctx.ws):
            self.type.addItem(name, code)
        self.subject = QComboBox()
        self.subject.setMinimumWidth(220)

        self.hospital = QLineEdit()
        self.hospital.setPlaceholderText("如：汉阴县人民医院")
        self.level = QComboBox()
        for value, label in HospitalLevel.choices():
            self.level.addItem(label, value)
        self.level.setCurrentIndex(self.level.findData(HospitalLevel.COUNTY.value))
        hospital_row = QWidget()
        row = QHBoxLayout(hospital_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.hospital, 1)
        row.addWidget(QLabel("等级"))
        row.addWidget(self.level)

        self.admitted = DateField()
        self.discharged = DateField()
        self.applied = DateField()
        dates = QWidget()
        row = QHBoxLayout(dates)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.admitted)
        row.addWidget(QLabel("出院"))
        row.addWidget(self.discharged)
        row.addWidget(QLabel("申请"))
        row.addWidget(self.applied)
        row.addStretch(1)

        self.total = MoneyEdit("总费用")
        self.basic = MoneyEdit("基本医保")
        self.serious = MoneyEdit("大病保险")
        self.assistance = MoneyEdit("救助金额")
        self.self_pay = MoneyEdit("个人自付")
        self.remainder_button = QPushButton("自付按差额")
        self.remainder_button.setToolTip("个人自付 = 总费用 − 基本医保 − 大病保险 − 救助金额")
        self.remainder_button.clicked.connect(self.fill_self_pay)
        money = QGroupBox("费用分担（元）")
        grid = QGridLayout(money)
        grid.setHorizontalSpacing(12)
        grid.addWidget(QLabel("总费用"), 0, 0)
        grid.addWidget(self.total, 0, 1)
        grid.addWidget(QLabel("基本医保"), 1, 0)
        grid.addWidget(self.basic, 1, 1)
        grid.addWidget(QLabel("大病保险"), 1, 2)
        grid.addWidget(self.serious, 1, 3)
        grid.addWidget(QLabel("救助金额"), 2, 0)
        grid.addWidget(self.assistance, 2, 1)
        grid.addWidget(QLabel("个人自付"), 2, 2)
        grid.addWidget(self.self_pay, 2, 3)
        grid.addWidget(self.remainder_button, 2, 4)
        self.sum_label = QLabel("")
        self.sum_label.setWordWrap(True)
        grid.addWidget(self.sum_label, 3, 0, 1, 5)
        for edit in (self.total, self.basic, self.serious, self.assistance, self.self_pay):
            edit.textChanged.connect(self.check_sum)
        self._build_entitlement(grid)

        self.diagnosis = QPlainTextEdit()
        self.diagnosis.setPlaceholderText("诊断（敏感信息：只在本站保存，公示时不显示）")
        self.diagnosis.setFixedHeight(48)
        self.note = QLineEdit()

        self.add_row("居民", self.picker)
        self.add_row("救助类型", self.type)
        self.add_row("救助对象类别", self.subject)
        self.add_row("就诊医院", hospital_row)
        self.add_row("入院（就诊）", dates)
        self.form.addRow(money)
        self.add_row("诊断", self.diagnosis)
        self.add_row("备注", self.note)

        if case is not None:
            self._fill(case)
        self.check_sum()
        self.recompute()

    # -- filling ----------------------------------------------------------------------------

    def _fill(self, case: svc.CaseDetail) -> None:
        self.fill_input(case.data)

    def fill_input(self, data: svc.CaseInput) -> None:
        """Every field from ``data`` (an edit, or a new case opened from a 待落实 settlement)."""
        self.picker.set_fixed(resident_hit(self.ctx.ws, self.ctx.actor, data.resident_id))
        self._person_changed(self.picker.hit)
        self._select(self.type, data.type_code)
        if self.subject.findText(data.subject_category) < 0 and data.subject_category:
            self.subject.addItem(data.subject_category)
        self.subject.setCurrentText(data.subject_category)
        self.hospital.setText(data.hospital)
        self._select(self.level, data.hospital_level)
        if data.admitted_on:
            self.admitted.set_value(data.admitted_on)
        if data.discharged_on:
            self.discharged.set_value(data.discharged_on)
        self.total.set_fen(data.total_fen)
        self.basic.set_fen(data.basic_insurance_fen)
        self.serious.set_fen(data.serious_illness_fen)
        self.assistance.set_fen(data.assistance_fen)
        self.self_pay.set_fen(data.self_pay_fen)
        if data.applied_date:
            self.applied.set_value(data.applied_date)
        self.diagnosis.setPlainText(data.diagnosis_note)
        self.note.setText(data.note)
        self.policy_self_pay.set_fen(data.policy_self_pay_fen)
        self._select(self.route, data.route)
        if data.subject_since:
            self.since.set_value(data.subject_since)
        self.reason.setText(data.deviation_reason)
        self.settlement_id = data.settlement_id

    @staticmethod
    def _select(box: QComboBox, value: str) -> None:
        index = box.findData(value)
        if index >= 0:
            box.setCurrentIndex(index)

    def _person_changed(self, hit: ResidentHit | None) -> None:
        current = self.subject.currentText()
        self.subject.clear()
        if hit is not None:
            self.subject.addItems(subject_choices(hit.special_groups))
            if current and self.subject.findText(current) >= 0:
                self.subject.setCurrentText(current)
        self.recompute()

    # -- the rules' suggestion, step by step (应享尽享) ------------------------------------------

    def _build_entitlement(self, grid: QGridLayout) -> None:
        self.settlement_id: str | None = None
        self.policy_self_pay = MoneyEdit("政策范围内个人自付")
        self.policy_self_pay.setToolTip("结算单上的“政策范围内个人自付”：基本医保、大病保险报销后，政策范围内由个人负担的部分")
        self.route = QComboBox()
        self.route.addItem("按医院等级", "")
        for route in ent.Route:
            self.route.addItem(route.label, route.value)
        self.since = DateField()
        self.since_label = QLabel("身份认定")
        self.suggest_button = QPushButton("按建议金额填写")
        self.suggest_button.clicked.connect(self.use_suggestion)
        self.working = QLabel("")
        self.working.setWordWrap(True)
        self.working.setTextInteractionFlags(self.working.textInteractionFlags() | Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("救助金额与建议金额不同时必填（如：部分费用属于政策范围外）")
        grid.addWidget(QLabel("政策范围内自付"), 4, 0)
        grid.addWidget(self.policy_self_pay, 4, 1)
        grid.addWidget(QLabel("就医路径"), 4, 2)
        grid.addWidget(self.route, 4, 3)
        grid.addWidget(self.since_label, 5, 0)
        grid.addWidget(self.since, 5, 1)
        grid.addWidget(self.suggest_button, 5, 3, 1, 2)
        grid.addWidget(self.working, 6, 0, 1, 5)
        grid.addWidget(QLabel("调整原因"), 7, 0)
        grid.addWidget(self.reason, 7, 1, 1, 4)
        self.suggested_fen: int | None = None
        for edit in (self.policy_self_pay, self.assistance):
            edit.textChanged.connect(self.recompute)
        for box in (self.type, self.subject, self.level, self.route):
            box.currentIndexChanged.connect(self.recompute)
        for field in (self.discharged, self.since):
            field.dateChanged.connect(self.recompute)

    def question(self) -> ent_svc.CaseQuestion | None:
        hit = self.picker.hit
        if hit is None:
            return None
        subject = self.subject.currentText()
        route = self.route.currentData() or ent.default_route(self.level.currentData() or "").value
        since = self.since.value() if ent.class_of_label(subject) == ent.ILLNESS_CLASS else None
        kind = dict(svc.type_kinds(self.ctx.ws)).get(self.type.currentData() or "", "inpatient")
        return ent_svc.CaseQuestion(hit.id, subject, kind, route, self.policy_self_pay.fen(), self.discharged.value(),
                                    since, self.case.id if self.case else None)

    def recompute(self, *_args) -> None:
        """The suggestion from the county's rules, each step in words and 元, under the amounts."""
        illness = ent.class_of_label(self.subject.currentText()) == ent.ILLNESS_CLASS
        self.since.setVisible(illness)
        self.since_label.setVisible(illness)
        self.suggested_fen = None
        try:
            question = self.question()
            result = ent_svc.case_entitlement(self.ctx.ws, self.ctx.actor, question) if question else None
        except DomainError as error:
            self.working.setText(error.message)
            self.working.setStyleSheet(BAD_STYLE)
            self.suggest_button.setEnabled(False)
            return
        if question is None:
            self.working.setText("选中居民、填写政策范围内个人自付后，按县救助规则计算建议救助金额。")
        elif result is None:
            self.working.setText("本县未规定该类别、该年度的救助规则：请按县医保局要求填写救助金额。")
        else:
            self.suggested_fen = result.suggested_fen
            lines = [f"{n}. {step.text}" for n, step in enumerate(result.steps, 1)]
            try:
                amount = self.assistance.fen()
            except DomainError:
                amount = None
            if amount is not None and amount != result.suggested_fen:
                lines.append(f"填写的救助金额 {fen_text(amount)} 元与建议金额不同，请填写调整原因。")
            self.working.setText("\n".join(lines))
        self.working.setStyleSheet("")
        self.suggest_button.setEnabled(self.suggested_fen is not None)

    def use_suggestion(self) -> None:
        if self.suggested_fen is None:
            return
        self.assistance.set_fen(self.suggested_fen)
        self.fill_self_pay()

    # -- the live sum -----------------------------------------------------------------------

    def split(self) -> CostSplit:
        """The five amounts in fen; a badly typed one raises the domain's ValidationError."""
        return CostSplit(self.total.fen(), self.basic.fen(), self.serious.fen(), self.assistance.fen(),
                         self.self_pay.fen())

    def check_sum(self) -> None:
        if not any(edit.text().strip() for edit in (self.total, self.basic, self.serious, self.assistance,
                                                    self.self_pay)):
            self._sum(UNTOUCHED_HINT, ok=None)  # nothing typed yet: a hint, not an error in red
            return
        try:
            split = self.split()
        except DomainError as error:
            self._sum(error.message, ok=False)
            return
        if split.total == 0:
            self._sum("请填写总费用。", ok=False)
        elif split.balanced:
            self._sum(f"四项合计 {fen_text(split.parts_sum)} 元，与总费用一致。", ok=True)
        else:
            self._sum(split_message(split), ok=False)

    def _sum(self, text: str, *, ok: bool | None) -> None:
        self.sum_label.setText(text)
        self.sum_label.setStyleSheet(HINT_STYLE if ok is None else OK_STYLE if ok else BAD_STYLE)

    def fill_self_pay(self) -> None:
        try:
            split = self.split()
        except DomainError as error:
            self._sum(error.message, ok=False)
            return
        self.self_pay.set_fen(split.remainder_as_self_pay().self_pay)

    # -- saving -----------------------------------------------------------------------------

    def case_input(self) -> svc.CaseInput:
        hit = self.picker.hit
        if hit is None:
            raise ValidationError("请先在“居民”一栏搜索并选中救助对象。", field="resident_id")
        split = self.split()
        return svc.CaseInput(
            resident_id=hit.id, type_code=self.type.currentData() or "", subject_category=self.subject.currentText(),
            hospital=self.hospital.text(), hospital_level=self.level.currentData() or "",
            admitted_on=self.admitted.value(), discharged_on=self.discharged.value(), total_fen=split.total,
            basic_insurance_fen=split.basic_insurance, serious_illness_fen=split.serious_illness,
            assistance_fen=split.assistance, self_pay_fen=split.self_pay, applied_date=self.applied.value(),
            diagnosis_note=self.diagnosis.toPlainText(), note=self.note.text(),
            policy_self_pay_fen=self.policy_self_pay.fen(), route=self.route.currentData() or "",
            subject_since=self.since.value() if ent.class_of_label(self.subject.currentText()) == ent.ILLNESS_CLASS
            else None, settlement_id=self.settlement_id, deviation_reason=self.reason.text())

    def submit(self) -> Callable[[], Any]:
        ws, actor, data = self.ctx.ws, self.ctx.actor, self.case_input()
        if self.case is None:
            return lambda: svc.create_case(ws, actor, data)
        case_id = self.case.id
        return lambda: svc.update_case(ws, actor, case_id, data)
