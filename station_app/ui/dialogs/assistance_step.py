"""审核 / 发放 / 未通过 of an assistance case, and the 1+N referral dialogs (add, record outcome)."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QWidget

from station_app.domain.assistance import fen_text
from station_app.domain.enums import ReferralAgency
from station_app.services import assistance as svc

from .service_widgets import DateField, FormDialog, MoneyEdit

STEPS = {"review": ("审核救助申请", "审核通过"), "pay": ("登记救助金发放", "已发放"), "refuse": ("救助申请未通过", "确认未通过")}


def _who(case: svc.CaseDetail) -> str:
    data = case.data
    return (f"{case.resident_name}（{case.id_number_masked}）· {data.hospital} · 总费用 {fen_text(data.total_fen)} 元 · "
            f"救助 {fen_text(data.assistance_fen)} 元 · 当前状态：{case.status_label}")


class CaseStepDialog(FormDialog):
    def __init__(self, ctx, case: svc.CaseDetail, step: str, parent: QWidget | None = None):
        title, ok = STEPS[step]
        super().__init__(ctx, title, _who(case), parent, ok_text=ok)
        self.case, self.step = case, step
        self.date = DateField()
        self.add_row({"review": "审核日期", "pay": "发放日期", "refuse": "审核日期"}[step], self.date)
        if step == "pay":
            self.add_row("发放金额", QLabel(f"{fen_text(case.data.assistance_fen)} 元"))
        if step == "refuse":
            self.reason = QLineEdit()
            self.reason.setPlaceholderText("如：不符合救助对象条件")
            self.add_row("未通过原因", self.reason)

    def submit(self) -> Callable[[], Any]:
        ws, actor, case_id, on = self.ctx.ws, self.ctx.actor, self.case.id, self.date.value()
        if self.step == "review":
            return lambda: svc.review_case(ws, actor, case_id, on=on)
        if self.step == "pay":
            return lambda: svc.pay_case(ws, actor, case_id, on=on)
        reason = self.reason.text()
        return lambda: svc.refuse_case(ws, actor, case_id, reason=reason, on=on)


class ReferralDialog(FormDialog):
    """1+N: refer the case to one more agency."""

    def __init__(self, ctx, case: svc.CaseDetail, parent: QWidget | None = None):
        super().__init__(ctx, "转介到其他部门（1+N）", _who(case), parent, ok_text="转介")
        self.case = case
        self.agency = QComboBox()
        for value, label in ReferralAgency.choices():
            self.agency.addItem(label, value)
        self.date = DateField()
        self.add_row("转介部门", self.agency)
        self.add_row("转介日期", self.date)

    def submit(self) -> Callable[[], Any]:
        ws, actor, case_id = self.ctx.ws, self.ctx.actor, self.case.id
        agency, on = self.agency.currentData(), self.date.value()
        return lambda: svc.add_referral(ws, actor, case_id, agency=agency, referred_date=on)


class ReferralOutcomeDialog(FormDialog):
    """What came of a referral: outcome text, date, amount received."""

    def __init__(self, ctx, referral: svc.ReferralInfo, parent: QWidget | None = None):
        super().__init__(ctx, f"登记转介结果：{referral.agency_label}",
                         f"转介日期 {referral.referred_date.isoformat()}", parent)
        self.referral = referral
        self.outcome = QLineEdit(referral.outcome)
        self.outcome.setPlaceholderText("如：已发放临时救助金 2000 元")
        self.outcome.setMaxLength(120)
        self.date = DateField(referral.outcome_date)
        self.amount = MoneyEdit("转介救助金额")
        self.amount.set_fen(referral.amount_fen)
        self.add_row("结果", self.outcome)
        self.add_row("结果日期", self.date)
        self.add_row("金额（元）", self.amount)

    def submit(self) -> Callable[[], Any]:
        ws, actor, rid = self.ctx.ws, self.ctx.actor, self.referral.id
        outcome, on, amount = self.outcome.text(), self.date.value(), self.amount.fen()
        return lambda: svc.record_referral_outcome(ws, actor, rid, outcome=outcome, outcome_date=on, amount_fen=amount)
