"""One step of a card's lifecycle (认定, 发卡, 未通过, 注销) or a refill, with the fields that step needs."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QSpinBox, QWidget

from station_app.domain import chronic as rules
from station_app.services import chronic as svc

from .service_widgets import DateField, FormDialog

ASSESSORS = ("县医保局专家组", "漩涡镇中心卫生院", "汉阴县人民医院")
STEPS = {
    "assess": ("慢病卡认定", "认定通过"),
    "issue": ("发放慢病卡", "发卡"),
    "refuse": ("认定未通过", "确认未通过"),
    "cancel": ("注销慢病卡", "注销"),
    "refill": ("登记取药", "保存"),
}


class CardStepDialog(FormDialog):
    def __init__(self, ctx, card: svc.CardDetail, step: str, parent: QWidget | None = None):
        title, ok = STEPS[step]
        who = f"{card.resident_name}（{card.id_number_masked}）· {card.disease_name} · 当前状态：{card.status_label}"
        super().__init__(ctx, title, who, parent, ok_text=ok)
        self.card, self.step = card, step
        self.date = DateField()
        if step == "assess":
            self.by = QComboBox()
            self.by.setEditable(True)
            self.by.addItems(ASSESSORS)
            self.add_row("认定日期", self.date)
            self.add_row("认定机构", self.by)
        elif step == "issue":
            self.card_no = QLineEdit(svc.suggest_card_no(ctx.ws))
            self.card_no.setMaxLength(30)
            self.start = QLabel("")
            self.date.dateChanged.connect(self._show_start)
            self.add_row("卡号", self.card_no)
            self.add_row("发卡日期", self.date)
            self.add_row("待遇起始", self.start)
            self._show_start()
        elif step == "refuse":
            self.reason = QLineEdit()
            self.reason.setPlaceholderText("如：病历资料不足，未达到认定标准")
            self.add_row("认定日期", self.date)
            self.add_row("未通过原因", self.reason)
        elif step == "cancel":
            self.reason_box = QComboBox()
            self.reason_box.addItems(rules.CANCEL_REASONS)
            self.detail = QLineEdit()
            self.detail.setPlaceholderText("补充说明；选“其他”时必填")
            self.add_row("注销日期", self.date)
            self.add_row("注销原因", self.reason_box)
            self.add_row("说明", self.detail)
        elif step == "refill":
            self.supply = QSpinBox()
            self.supply.setRange(1, rules.MAX_SUPPLY_DAYS)
            self.supply.setValue(card.supply_days)
            self.supply.setSuffix(" 天")
            self.add_row("取药日期", self.date)
            self.add_row("供药天数", self.supply)
            self.subtitle.setText(who + "\n居民自行取药时登记；村医代购药请在“续药提醒”中点“代购药”。")

    def _show_start(self) -> None:
        if not hasattr(self, "_county"):
            self._county = svc.county_card_rules(self.ctx.ws)  # one small read when the dialog opens
        start = self._county.card_benefit_start_of(self.card.assessed_date, self.date.value())
        basis = "审批通过（认定）" if self._county.card_benefit_start == "month_after_approval" else "发卡"
        self.start.setText(f"{start.isoformat()}（{basis}次月 1 日起享受待遇，县医保局规定）")

    def submit(self) -> Callable[[], Any]:
        ws, actor, card_id, on = self.ctx.ws, self.ctx.actor, self.card.id, self.date.value()
        if self.step == "assess":
            by = self.by.currentText()
            return lambda: svc.assess_card(ws, actor, card_id, assessed_date=on, assessed_by=by)
        if self.step == "issue":
            number = self.card_no.text()
            return lambda: svc.issue_card(ws, actor, card_id, card_no=number, issued_date=on)
        if self.step == "refuse":
            reason = self.reason.text()
            return lambda: svc.refuse_card(ws, actor, card_id, reason=reason, on=on)
        if self.step == "cancel":
            reason, detail = self.reason_box.currentText(), self.detail.text()
            return lambda: svc.cancel_card(ws, actor, card_id, reason=reason, detail=detail, on=on)
        supply = self.supply.value()
        return lambda: svc.record_refill(ws, actor, card_id, on=on, supply_days=supply)
