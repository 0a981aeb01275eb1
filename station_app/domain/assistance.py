"""Medical assistance (医疗救助) rules: the cost split in fen, the case flow, 1+N referrals, 落实率."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from .enums import AssistanceStatus, SpecialGroup
from .errors import ValidationError
from .kpi import Ratio, assistance_fulfilment_rate

A = AssistanceStatus

#: 申请 → 审核 → 已发放, or 未通过 at 审核 (or after it, before payment). Paid and refused are final.
TRANSITIONS: dict[AssistanceStatus, frozenset[AssistanceStatus]] = {
    A.APPLIED: frozenset({A.REVIEWED, A.REFUSED}),
    A.REVIEWED: frozenset({A.PAID, A.REFUSED}),
    A.PAID: frozenset(),
    A.REFUSED: frozenset(),
}
STEP_NAMES = {A.REVIEWED: "审核", A.PAID: "发放", A.REFUSED: "不予通过"}

#: 救助对象类别 for people in no special group (demo and seed 004 use these words).
GENERIC_SUBJECTS = ("因病致贫重病患者", "其他困难群众")

#: Largest amount a field accepts: 1 亿元 — far above any hospital bill, so a slipped finger
#: (an extra zero run) is caught instead of stored.
MAX_FEN = 100_000_000 * 100

_YUAN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")
#: A Chinese IME often types full-width digits and dots.
_FULLWIDTH = {ord(c): ord(c) - 0xFEE0 for c in "０１２３４５６７８９．－"}


def fen_text(fen: int) -> str:
    """12300000 → "123,000.00" (yuan with thousands separators and two decimals)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


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
    """救助对象类别 a case may name: the person's own special groups, then the generic ones."""
    return [g.label for g in SpecialGroup.parse_codes(special_groups)] + list(GENERIC_SUBJECTS)


def check_subject(subject: str, special_groups: str) -> str:
    subject = (subject or "").strip()
    if not subject:
        raise ValidationError("请选择救助对象类别。", field="subject_category")
    if subject not in subject_choices(special_groups):
        raise ValidationError(f"救助对象类别“{subject}”与该居民登记的人员类别不符。", field="subject_category")
    return subject


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


def fulfilment(reviewed: int, paid: int) -> Ratio:
    """医疗救助落实率 = paid / entitled, where entitled = cases approved at 审核 (审核 + 已发放).

    Cases still at 申请 are not yet known to be entitled and refused ones are not; both are
    left out, so the rate answers "of the help we granted, how much has reached the person".
    """
    return assistance_fulfilment_rate(paid, reviewed + paid)
