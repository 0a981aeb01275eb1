"""County rules that are not one year's figure, and the date arithmetic they drive (pure).

The county sends them in its reference file (section ``rules``, one key each, stored in
``county_rule``). A key the county has not sent is ``None`` here, and the code that needs it
keeps the strict behaviour it had before the rule existed (no late payment, no newborn
window …) rather than inventing a number. The demo county's values and their sources are in
``resources/reference/demo_county.json``.

Keys:

``newborn_enroll_days`` (int)
    A newborn enrolled within this many days of birth is covered from birth, whatever the
    date (国办发〔2024〕38号: 新生儿等特殊群体 are outside the waiting period).
``late_enrollment`` ({"fixed_waiting_months": 3, "extra_months_per_gap_year": 1})
    Enrolling after the 集中缴费期 is accepted; benefits start after the 待遇等待期: a fixed
    number of months, plus some for each year of interruption just before (国办发〔2024〕38号,
    DOMAIN_FACTS_zh.md §5). Absent: the system is closed after the deadline (汉阴 "时限制").
``waiting_exempt_groups`` ([SpecialGroup codes])
    Special groups enrolled any time in the year (动态参保) with benefits from the day they are
    enrolled, no waiting period.
``past_year_payment`` (bool)
    Whether a payment for a benefit year already over may be recorded. Absent or false: refused.
``hardship_groups`` ([SpecialGroup codes])
    Who counts as 困难群众 for 困难群众参保率 (seed 003, target 100%).
``card_on_death`` / ``card_on_move_out`` / ``card_without_enrollment`` ("cancel" | "suspend" | "keep")
    What happens to an issued 慢特病 card when the holder dies, moves out, or is not enrolled
    for the year (DOMAIN_FACTS_zh.md §2: 参保状态断了待遇就暂停).
``card_review_months`` (int)
    Months between 复审 of an issued card; 0 or absent: no 复审.
``card_benefit_start`` ("month_after_approval" | "month_after_issue")
    The day 门诊慢特病 benefits start: the first of the month after 审批通过 (认定) — the wording
    of the policy texts (DOMAIN_FACTS_zh.md §2, 湖南) — or after 发卡.
``targets`` ({"enrollment_rate": 0.97, "hardship_enrollment_rate": 1.0, "card_usage_rate": 0.8})
    Targets the county set; a figure without one shows no target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from .chronic import first_of_next_month
from .enums import HARDSHIP_GROUPS, SpecialGroup

CARD_ACTIONS = ("cancel", "suspend", "keep")
CARD_BENEFIT_STARTS = ("month_after_approval", "month_after_issue")
TARGET_KEYS = ("enrollment_rate", "hardship_enrollment_rate", "card_usage_rate", "assistance_fulfilment_rate")


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later (the last day of a shorter month)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


@dataclass(frozen=True)
class CountyRules:
    """The rules of one county; every field None / empty when the county sent nothing."""

    newborn_enroll_days: int | None = None
    fixed_waiting_months: int | None = None
    extra_months_per_gap_year: int = 0
    waiting_exempt_groups: frozenset[str] = frozenset()
    past_year_payment: bool = False
    #: None: the county has not said; the default ``enums.HARDSHIP_GROUPS`` applies.
    hardship_groups: frozenset[str] | None = None
    card_on_death: str = "keep"
    card_on_move_out: str = "keep"
    card_without_enrollment: str = "keep"
    card_review_months: int = 0
    card_benefit_start: str = "month_after_issue"
    targets: Mapping[str, float] = field(default_factory=dict)

    @property
    def late_enrollment(self) -> bool:
        return self.fixed_waiting_months is not None

    @property
    def hardship_codes(self) -> frozenset[str]:
        if self.hardship_groups is not None:
            return self.hardship_groups
        return frozenset(g.value for g in HARDSHIP_GROUPS)

    def is_hardship(self, special_groups: str | Iterable[str]) -> bool:
        codes = special_groups.split(",") if isinstance(special_groups, str) else special_groups
        return bool(set(codes) & self.hardship_codes)

    def is_waiting_exempt(self, special_groups: str) -> bool:
        return bool(set((special_groups or "").split(",")) & self.waiting_exempt_groups)

    def target(self, key: str) -> float | None:
        return self.targets.get(key)

    def card_benefit_start_of(self, approved: date | None, issued: date) -> date:
        """待遇起始 of a card approved (认定) on ``approved`` and issued on ``issued``."""
        if self.card_benefit_start == "month_after_approval" and approved is not None:
            return first_of_next_month(approved)
        return first_of_next_month(issued)

    def review_due(self, start: date) -> date | None:
        return add_months(start, self.card_review_months) if self.card_review_months > 0 else None


def _codes(value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list):
        raise ValueError(f"{key} 应为人员类别代码列表")
    return frozenset(SpecialGroup(code).value for code in value)


def _action(value: Any, key: str) -> str:
    if value not in CARD_ACTIONS:
        raise ValueError(f"{key} 应为 cancel、suspend 或 keep")
    return value


def _int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} 应为非负整数")
    return value


def parse_rules(raw: Mapping[str, Any]) -> CountyRules:
    """CountyRules from key → decoded JSON value; ValueError (Chinese) on a malformed rule."""
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key == "newborn_enroll_days":
            kwargs[key] = _int(value, key)
        elif key == "late_enrollment":
            if not isinstance(value, Mapping):
                raise ValueError("late_enrollment 应为对象")
            kwargs["fixed_waiting_months"] = _int(value.get("fixed_waiting_months", 0), key)
            kwargs["extra_months_per_gap_year"] = _int(value.get("extra_months_per_gap_year", 0), key)
        elif key in ("waiting_exempt_groups", "hardship_groups"):
            kwargs[key] = _codes(value, key)
        elif key == "past_year_payment":
            kwargs[key] = bool(value)
        elif key in ("card_on_death", "card_on_move_out", "card_without_enrollment"):
            kwargs[key] = _action(value, key)
        elif key == "card_review_months":
            kwargs[key] = _int(value, key)
        elif key == "card_benefit_start":
            if value not in CARD_BENEFIT_STARTS:
                raise ValueError("card_benefit_start 应为 month_after_approval 或 month_after_issue")
            kwargs[key] = value
        elif key == "targets":
            if not isinstance(value, Mapping):
                raise ValueError("targets 应为对象")
            targets = {}
            for name, goal in value.items():
                if name not in TARGET_KEYS or not isinstance(goal, (int, float)) or not 0 <= goal <= 1:
                    raise ValueError(f"目标 {name} 应为 0–1 之间的比例")
                targets[name] = float(goal)
            kwargs[key] = targets
        # Unknown keys are a newer county's rules: ignored by this version.
    return CountyRules(**kwargs)


# -- enrollment dates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BenefitDecision:
    """A payment accepted for a benefit year: when benefits start, and why (shown to the clerk)."""

    benefit_start: date
    basis: str  # "window" | "newborn" | "special" | "late"
    waiting_months: int = 0

    @property
    def text(self) -> str:
        if self.basis == "window":
            return f"集中缴费期内参保，{self.benefit_start:%Y-%m-%d} 起享受待遇"
        if self.basis == "newborn":
            return f"新生儿参保，自出生之日（{self.benefit_start:%Y-%m-%d}）起享受待遇"
        if self.basis == "special":
            return f"特殊群体动态参保，{self.benefit_start:%Y-%m-%d} 起享受待遇"
        return f"集中缴费期外参保，待遇等待期 {self.waiting_months} 个月，{self.benefit_start:%Y-%m-%d} 起享受待遇"


class PaymentRefused(ValueError):
    """Why a payment date is not accepted for the year (a Chinese message for the clerk)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def decide_benefit_start(*, year: int, paid_on: date, collection_start: date, deadline: date,
                         birth_date: date | None, special_groups: str, gap_years: int,
                         rules: CountyRules, legacy_exempt: bool = False) -> BenefitDecision:
    """When a payment made on ``paid_on`` for benefit year ``year`` starts benefits, or PaymentRefused.

    ``gap_years``: benefit years just before ``year`` the person was not covered (for the
    变动等待期). ``legacy_exempt``: the old rule's 困难群众 exemption, used only while the county
    has sent no late-enrollment rule (seed 000: the system closes "除特殊群体外").
    """
    year_start, year_end = date(year, 1, 1), date(year, 12, 31)
    if rules.newborn_enroll_days is not None and birth_date is not None and birth_date <= paid_on \
            and birth_date.year >= year - 1 and (paid_on - birth_date).days <= rules.newborn_enroll_days \
            and birth_date <= year_end:
        # A newborn inside the county's window is covered from birth (or 1 January for one born
        # the year before and enrolled for this year too).
        return BenefitDecision(max(birth_date, year_start), "newborn")
    if paid_on < collection_start:
        raise PaymentRefused(f"缴费日期早于 {year} 年度征缴开始日期（{collection_start:%Y-%m-%d}）。", "before_window")
    if paid_on <= deadline:
        return BenefitDecision(year_start, "window")
    if paid_on > year_end and not rules.past_year_payment:
        raise PaymentRefused(f"{year} 年度已经结束（{year_end:%Y-%m-%d}），不能再登记该年度的缴费。", "year_over")
    if rules.is_waiting_exempt(special_groups) or (legacy_exempt and not rules.late_enrollment):
        return BenefitDecision(max(paid_on, year_start), "special")
    if not rules.late_enrollment:
        # 汉阴 "时限制" (seed 000): after the deadline the system is closed.
        raise PaymentRefused(f"已过缴费截止日期（{deadline:%Y-%m-%d}），不能补缴。", "after_deadline")
    months = rules.fixed_waiting_months + rules.extra_months_per_gap_year * max(gap_years, 0)
    start = add_months(max(paid_on, year_start), months)
    if start > year_end:
        raise PaymentRefused(
            f"集中缴费期外参保有 {months} 个月待遇等待期，{start:%Y-%m-%d} 才能享受待遇，已超出 {year} 年度；"
            f"请缴纳 {year + 1} 年度。", "waiting_past_year")
    return BenefitDecision(start, "late", months)


def gap_years(covered_by_year: Mapping[int, bool], year: int) -> int:
    """Benefit years just before ``year`` without cover, counting back to the first covered one
    (years without any record stop the count: nothing known about them)."""
    count = 0
    y = year - 1
    while y in covered_by_year and not covered_by_year[y]:
        count += 1
        y -= 1
    return count
