"""Medical assistance (医疗救助) rules: the cost split in fen, the case flow, 1+N referrals, 落实率."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from .entitlement import ILLNESS_CLASS, SUBJECT_LABELS, class_of_label, subject_choices_for
from .enums import AssistanceStatus, SpecialGroup
from .errors import ValidationError
from .kpi import Ratio, assistance_fulfilment_rate
from .money import yuan

A = AssistanceStatus

#: 申请 → 审核 → 已发放, or 未通过 at 审核 (or after it, before payment). Paid and refused are final.
TRANSITIONS: dict[AssistanceStatus, frozenset[AssistanceStatus]] = {
    A.APPLIED: frozenset({A.REVIEWED, A.REFUSED}),
    A.REVIEWED: frozenset({A.PAID, A.REFUSED}),
    A.PAID: frozenset(),
    A.REFUSED: frozenset(),
}
STEP_NAMES = {A.REVIEWED: "审核", A.PAID: "发放", A.REFUSED: "不予通过"}


#: Largest amount a field accepts: 1 亿元 — far above any hospital bill, so a slipped finger
#: (an extra zero run) is caught instead of stored.
MAX_FEN = 100_000_000 * 100

_YUAN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")
#: A Chinese IME often types full-width digits and dots.
_FULLWIDTH = {ord(c): ord(c) - 0xFEE0 for c in "０１２３４５６７８９．－"}


def fen_text(fen: int) -> str:
    """12300000 → "123,000.00" (yuan with thousands separators and two decimals)."""
    return yuan(fen, thousands=True)


def parse_yuan(text: str, what: str = "金额") -> int:
    """"12,300.5" → 1230050 fen; empty → 0; a Chinese message for anything else."""
    raw = (text or "").translate(_FULLWIDTH).strip().replace(",", "").replace("，", "").replace("元", "").strip()
    if not raw:
        return 0
    if raw.startswith("-"):
        raise ValidationError(f"{what}不能为负数。", field=what)
    if not _YUAN.match(raw):
        raise ValidationError(f"{what}格式不对：请填写元，最多两位小数，例如 1234.50。", field=what)
    try:
        fen = int(Decimal(raw) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern above already rules it out
        raise ValidationError(f"{what}格式不对。", field=what) from None
    return fen


@dataclass(frozen=True)
class CostSplit:
    """Total cost of a visit and who pays it, all in fen."""

    total: int
    basic_insurance: int
    serious_illness: int
    assistance: int
    self_pay: int

    PARTS = (("basic_insurance", "基本医保"), ("serious_illness", "大病保险"),
             ("assistance", "救助"), ("self_pay", "自付"))

    @property
    def parts_sum(self) -> int:
        return self.basic_insurance + self.serious_illness + self.assistance + self.self_pay

    @property
    def difference(self) -> int:
        """Total minus the parts: positive when the parts fall short."""
        return self.total - self.parts_sum

    @property
    def balanced(self) -> bool:
        return self.difference == 0

    def remainder_as_self_pay(self) -> "CostSplit":
        """The split with self-pay set to whatever the other parts leave (never below 0)."""
        rest = self.total - self.basic_insurance - self.serious_illness - self.assistance
        return CostSplit(self.total, self.basic_insurance, self.serious_illness, self.assistance, max(0, rest))


def split_message(split: CostSplit) -> str:
    """The sentence shown under the fields while they do not add up ("" once they do)."""
    if split.balanced:
        return ""
    return (f"费用分担不平：基本医保+大病保险+救助+自付={fen_text(split.parts_sum)} 元，"
            f"与总费用 {fen_text(split.total)} 元相差 {fen_text(abs(split.difference))} 元")


def validate_split(split: CostSplit) -> CostSplit:
    """Every amount ≥ 0 and within range, a total above 0, and the parts adding up to it exactly."""
    labelled = (("total", "总费用"),) + CostSplit.PARTS
    for field, label in labelled:
        value = getattr(split, field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{label}必须是整数分。", field=field)
        if value < 0:
            raise ValidationError(f"{label}不能为负数（{fen_text(value)} 元）。", field=field)
        if value > MAX_FEN:
            raise ValidationError(f"{label} {fen_text(value)} 元超出合理范围，请核对。", field=field)
    if split.total == 0:
        raise ValidationError("请填写总费用。", field="total")
    if not split.balanced:
        raise ValidationError(split_message(split), field="split", code="unbalanced")
    return split


def validate_stay(admitted: date | None, discharged: date | None, *, today: date) -> None:
    """入院/出院 (or visit) dates: both known, not in the future, discharge not before admission."""
    if admitted is None:
        raise ValidationError("请填写入院（就诊）日期。", field="admitted_on")
    if discharged is None:
        raise ValidationError("请填写出院日期（门诊填就诊当天）。", field="discharged_on")
    if admitted > today or discharged > today:
        raise ValidationError("就诊日期不能晚于今天。", field="discharged_on")
    if discharged < admitted:
        raise ValidationError(f"出院日期（{discharged.isoformat()}）不能早于入院日期（{admitted.isoformat()}）。",
                              field="discharged_on")


def check_transition(current: str, target: str) -> None:
    now, goal = AssistanceStatus(current), AssistanceStatus(target)
    if goal not in TRANSITIONS[now]:
        step = STEP_NAMES.get(goal, goal.label)
        raise ValidationError(f"救助申请当前状态为“{now.label}”，不能{step}。", field="status", code="transition")


def allowed_steps(current: str) -> frozenset[AssistanceStatus]:
    return TRANSITIONS[AssistanceStatus(current)]


def subject_choices(special_groups: str) -> list[str]:
    """救助对象类别 a case may name: only the 一至四类 classification (DOMAIN_FACTS_zh.md §3) —
    the person's own class by special group (一至三类), then 四类 因病致贫重病患者 (issue 17.7)."""
    labels = [label for code in (special_groups or "").split(",") if code
              for label in [_group_label(code)]]
    return subject_choices_for(labels)


def _group_label(code: str) -> str:
    try:
        return SpecialGroup(code).label
    except ValueError:  # a group code this build does not know: its name is the code
        return code


def check_subject(subject: str, special_groups: str, *, since: date | None = None,
                  today: date | None = None) -> str:
    subject = (subject or "").strip()
    if not subject:
        raise ValidationError("请选择救助对象类别。", field="subject_category")
    choices = subject_choices(special_groups)
    klass = class_of_label(subject)
    if subject not in choices and klass is not None and SUBJECT_LABELS[klass] in choices:
        subject = SUBJECT_LABELS[klass]  # an old name (低保对象 …) for the class it belongs to
    if subject not in choices:
        raise ValidationError(f"救助对象类别“{subject}”与该居民登记的人员类别不符。", field="subject_category")
    if class_of_label(subject) == ILLNESS_CLASS:
        if since is None:
            raise ValidationError("四类（因病致贫重病患者）须填写身份认定日期（有效期 12 个月）。",
                                  field="subject_since")
        if today is not None and since > today:
            raise ValidationError("身份认定日期不能晚于今天。", field="subject_since")
    return subject


def check_deviation(assistance_fen: int, suggested_fen: int | None, reason: str) -> str:
    """An amount departing from the rules' suggestion needs a reason (kept and audited)."""
    reason = (reason or "").strip()
    if suggested_fen is None or assistance_fen == suggested_fen:
        return reason
    if not reason:
        raise ValidationError(
            f"救助金额 {fen_text(assistance_fen)} 元与按县救助规则计算的建议金额 {fen_text(suggested_fen)} 元不一致，"
            f"请填写调整原因。", field="deviation_reason", code="deviation")
    if len(reason) > 200:
        raise ValidationError("调整原因不能超过 200 个字。", field="deviation_reason")
    return reason


def validate_referral_outcome(*, referred: date, outcome: str, outcome_date: date | None, amount_fen: int,
                              today: date) -> None:
    if not (outcome or "").strip():
        raise ValidationError("请填写转介结果（如 已发放临时救助金 2000 元）。", field="outcome")
    if len(outcome.strip()) > 120:
        raise ValidationError("转介结果不能超过 120 个字。", field="outcome")
    if outcome_date is None:
        raise ValidationError("请填写结果日期。", field="outcome_date")
    if outcome_date > today:
        raise ValidationError("结果日期不能晚于今天。", field="outcome_date")
    if outcome_date < referred:
        raise ValidationError(f"结果日期不能早于转介日期（{referred.isoformat()}）。", field="outcome_date")
    if amount_fen < 0 or amount_fen > MAX_FEN:
        raise ValidationError("转介救助金额不能为负数，也不能超出合理范围。", field="amount_fen")


def payout_rate(reviewed: int, paid: int) -> Ratio:
    """已审核救助发放率 = paid / approved, where approved = cases passed at 审核 (审核 + 已发放).

    Its honest name: "of the help we granted, how much has reached the person". It says
    nothing about those who never applied; 医疗救助落实率 is ``services.entitlement``'s.
    """
    return assistance_fulfilment_rate(paid, reviewed + paid)
