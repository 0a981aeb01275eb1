"""The 4134 key figures as pure functions on counts, plus deadline arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Iterable

from sync_protocol.domain.enums import EnrollmentStatus

UNDEFINED_TEXT = "—"


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator, kept as counts so reports can show both and add them up."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        # Counts come from queries; a bad one is a bug upstream, not user input, so the
        # message is for developers.
        for name in ("numerator", "denominator"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if self.numerator > self.denominator:
            raise ValueError(f"numerator {self.numerator} exceeds denominator {self.denominator}")

    @property
    def value(self) -> float | None:
        """Fraction 0..1, or None when nobody is counted (no rate, rather than 0% or 100%)."""
        if self.denominator == 0:
            return None
        return self.numerator / self.denominator

    @property
    def percent_text(self) -> str:
        """One decimal, half-up: "97.3%"; "—" when undefined.

        A rate short of complete never shows as "100.0%" and a non-zero one never as "0.0%":
        for a 100% target (困难群众参保率) a rounded-up 99.96% would hide the one person
        still missing.
        """
        if self.denominator == 0:
            return UNDEFINED_TEXT
        # Tenths of a percent, rounded half up in exact integer arithmetic (no float ties).
        tenths = (2000 * self.numerator + self.denominator) // (2 * self.denominator)
        if tenths == 1000 and self.numerator < self.denominator:
            tenths = 999
        elif tenths == 0 and self.numerator > 0:
            tenths = 1
        return f"{tenths // 10}.{tenths % 10}%"

    def meets(self, target: float) -> bool:
        """Whether the rate reaches ``target``, a fraction (0.8 for 80%); False when undefined.

        Compared exactly: 51/100 meets 0.51 even though the float 0.51 is a hair above it.
        """
        goal = Fraction(str(target))  # the decimal the caller wrote, not its binary approximation
        if not 0 <= goal <= 1:
            raise ValueError(f"target must be a fraction between 0 and 1 (0.8 for 80%), got {target}")
        if self.denominator == 0:
            return False
        return Fraction(self.numerator, self.denominator) >= goal


def enrollment_rate(covered: int, required: int) -> Ratio:
    """参保率: covered (paid + subsidised + other channel) / residents who must enroll.

    ``required`` counts 在册 residents except 无需参保 (died, moved, …).
    """
    return Ratio(covered, required)


def enrollment_rate_of(statuses: Iterable[EnrollmentStatus | str]) -> Ratio:
    """参保率 from one enrollment status per resident of the year (docs/FIGURES.md): 无需参保 and
    待核实 are in neither count."""
    covered = required = 0
    for status in statuses:
        status = EnrollmentStatus(status)
        if not status.is_required:
            continue
        required += 1
        covered += status.is_covered
    return Ratio(covered, required)


def card_monthly_usage_rate(holders_used: int, holders: int) -> Ratio:
    """卡月使用率: holders of an issued card who used it this month / holders."""
    return Ratio(holders_used, holders)


def assistance_fulfilment_rate(paid_cases: int, entitled_cases: int) -> Ratio:
    """医疗救助落实率: entitled cases paid / entitled cases."""
    return Ratio(paid_cases, entitled_cases)


def _as_date(value: date) -> date:
    # datetime is a date subclass, but datetime - date raises; compare calendar days only.
    return value.date() if isinstance(value, datetime) else value


def days_until(deadline: date, today: date) -> int:
    """Calendar days from today to the deadline; negative once it has passed."""
    return (_as_date(deadline) - _as_date(today)).days


def deadline_text(deadline: date, today: date) -> str:
    """Chinese countdown: 距缴费截止还有 12 天 / 今天截止 / 已过截止日期 3 天."""
    days = days_until(deadline, today)
    if days > 0:
        return f"距缴费截止还有 {days} 天"
    if days == 0:
        return "今天截止"
    return f"已过截止日期 {-days} 天"
