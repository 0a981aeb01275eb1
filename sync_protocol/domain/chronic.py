"""Chronic (门诊慢特病) card rules: lifecycle steps, benefit start, refill due dates, monthly usage."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Collection, Iterable, Mapping, Sequence

from .enums import CardStatus, Role
from .errors import PermissionDenied, ValidationError
from .kpi import Ratio, card_monthly_usage_rate

S = CardStatus

#: The lifecycle: 申请 → 认定 → 已发卡 → 注销; 未通过 ends an application at 认定 (or after
#: it, when the 公示 brings up a reason). Refused and cancelled cards are final: a new
#: application is a new card, so the history of the old one stays as it was. An issued card
#: is 暂停 while its holder is not enrolled (参保中断, DOMAIN_FACTS_zh.md §2) and resumes
#: (back to 已发卡) once they are.
TRANSITIONS: dict[CardStatus, frozenset[CardStatus]] = {
    S.APPLIED: frozenset({S.ASSESSED, S.REFUSED}),
    S.ASSESSED: frozenset({S.ISSUED, S.REFUSED}),
    S.ISSUED: frozenset({S.CANCELLED, S.SUSPENDED}),
    S.SUSPENDED: frozenset({S.ISSUED, S.CANCELLED}),
    S.REFUSED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: Cards that block a second application for the same disease by the same person.
OPEN_STATUSES = frozenset({S.APPLIED, S.ASSESSED, S.ISSUED, S.SUSPENDED})

#: The step's verb, as the buttons and messages say it.
STEP_NAMES = {S.ASSESSED: "认定", S.ISSUED: "发卡", S.REFUSED: "不予通过", S.CANCELLED: "注销",
              S.SUSPENDED: "暂停"}

#: 认定 and 发卡 (and refusing at 认定) are the township's decisions (seed 003: 乡镇医保服务中心).
CLERK_STEPS = frozenset({S.ASSESSED, S.ISSUED, S.REFUSED})
CLERK_ROLES = frozenset({Role.TOWNSHIP_CLERK.value, Role.ADMIN.value})

#: 参保中断 and 复审未通过 as the county's records (and the demo) use them.
CANCEL_REASONS = ("死亡", "治愈", "迁出", "参保中断", "复审未通过", "其他")
SUSPEND_REASONS = ("参保中断", "死亡", "迁出", "其他")
#: Reasons a card follows its holder for (the county rule decides cancel or suspend).
REASON_DIED, REASON_MOVED, REASON_NOT_ENROLLED, REASON_REVIEW_FAILED = "死亡", "迁出", "参保中断", "复审未通过"
#: Materials a 慢特病 application usually carries; the dialog offers them as check boxes.
MATERIALS = ("身份证或户口簿", "医保卡（社保卡）", "门诊慢特病申请表", "诊断证明", "病历资料", "检查化验报告")
DEFAULT_SUPPLY_DAYS = 30
MAX_SUPPLY_DAYS = 90  # long prescriptions for chronic disease are capped at 12 weeks; 90 leaves room
REFILL_WINDOW_DAYS = 7


def people_count(cards: Iterable, holder: str = "resident_id") -> int:
    """How many people hold the given cards: a notice or figure that says 人 counts people, not
    cards (two cards of one person are one 持卡人; docs/FIGURES.md)."""
    return len({getattr(card, holder) if not isinstance(card, Mapping) else card[holder] for card in cards})


def require_clerk(role: str, what: str) -> None:
    """认定/发卡/审核/发放 are for the 乡镇医保专干 (or an admin)."""
    if role not in CLERK_ROLES:
        raise PermissionDenied(f"只有乡镇医保专干或管理员可以{what}。")


def check_transition(current: str, target: str) -> None:
    """Raise a Chinese ValidationError unless ``current`` → ``target`` is a lifecycle step."""
    now, goal = CardStatus(current), CardStatus(target)
    if goal not in TRANSITIONS[now]:
        step = STEP_NAMES.get(goal, goal.label)
        raise ValidationError(f"慢病卡当前状态为“{now.label}”，不能{step}。", field="status", code="transition")


def allowed_steps(current: str) -> frozenset[CardStatus]:
    return TRANSITIONS[CardStatus(current)]


def first_of_next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def benefit_start(issued: date) -> date:
    """Benefits start the month after the card is issued (the common county rule)."""
    return first_of_next_month(issued)


def _text(value: str | None) -> str:
    return (value or "").strip()


def validate_application(*, disease_code: str, materials: str, applied_date: date | None,
                         today: date) -> None:
    if not _text(disease_code):
        raise ValidationError("请选择病种（县慢特病目录）。", field="disease_code")
    if not _text(materials):
        raise ValidationError("请勾选或填写申请材料。", field="materials")
    if applied_date is None:
        raise ValidationError("请填写申请日期。", field="applied_date")
    if applied_date > today:
        raise ValidationError("申请日期不能晚于今天。", field="applied_date")


def validate_supply_days(days: int) -> int:
    if not isinstance(days, int) or not 1 <= days <= MAX_SUPPLY_DAYS:
        raise ValidationError(f"供药天数应为 1–{MAX_SUPPLY_DAYS} 天。", field="supply_days")
    return days


def _not_before(day: date | None, earlier: date | None, what: str, earlier_what: str, field: str,
                today: date) -> date:
    if day is None:
        raise ValidationError(f"请填写{what}。", field=field)
    if day > today:
        raise ValidationError(f"{what}不能晚于今天。", field=field)
    if earlier is not None and day < earlier:
        raise ValidationError(f"{what}（{day.isoformat()}）不能早于{earlier_what}（{earlier.isoformat()}）。",
                              field=field)
    return day


def validate_assessment(*, applied_date: date, assessed_date: date | None, assessed_by: str,
                        today: date) -> None:
    _not_before(assessed_date, applied_date, "认定日期", "申请日期", "assessed_date", today)
    if not _text(assessed_by):
        raise ValidationError("请填写认定机构（如 县医保局专家组、定点医院）。", field="assessed_by")


def validate_issue(*, assessed_date: date | None, issued_date: date | None, card_no: str, today: date) -> None:
    if not _text(card_no):
        raise ValidationError("请填写卡号。", field="card_no")
    if len(_text(card_no)) > 30:
        raise ValidationError("卡号不能超过 30 个字符。", field="card_no")
    _not_before(issued_date, assessed_date, "发卡日期", "认定日期", "issued_date", today)


def validate_refusal(*, applied_date: date, on: date | None, reason: str, today: date) -> None:
    if not _text(reason):
        raise ValidationError("请填写未通过的原因。", field="refused_reason")
    _not_before(on, applied_date, "认定日期", "申请日期", "assessed_date", today)


def cancel_reason_text(reason: str, detail: str = "") -> str:
    """The stored reason: one of CANCEL_REASONS, "其他" needs a few words (其他：本人申请注销)."""
    reason, detail = _text(reason), _text(detail)
    if reason not in CANCEL_REASONS:
        raise ValidationError("请选择注销原因：" + "、".join(CANCEL_REASONS[:-1]) + "或其他。",
                              field="cancel_reason")
    if reason == "其他":
        if not detail:
            raise ValidationError("注销原因选“其他”时，请写明具体原因。", field="cancel_reason")
        text = f"其他：{detail}"
    else:
        text = f"{reason}：{detail}" if detail else reason
    if len(text) > 60:
        raise ValidationError("注销原因不能超过 60 个字。", field="cancel_reason")
    return text


def validate_cancel(*, issued_date: date | None, on: date | None, today: date) -> None:
    _not_before(on, issued_date, "注销日期", "发卡日期", "cancelled_date", today)


# -- refills ----------------------------------------------------------------------------------


def refill_due(last_refill: date, supply_days: int) -> date:
    """The day the medicine runs out: last refill + days of supply."""
    return last_refill + timedelta(days=supply_days)


def refill_is_due(due: date, today: date, window_days: int = REFILL_WINDOW_DAYS) -> bool:
    """On the reminder list: runs out within the next ``window_days`` days, or already has."""
    return (due - today).days <= window_days


def refill_text(due: date, today: date) -> str:
    days = (due - today).days
    if days > 0:
        return f"还剩 {days} 天"
    if days == 0:
        return "今天断药"
    return f"已断药 {-days} 天"


# -- months and usage -------------------------------------------------------------------------


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(text: str) -> date:
    """"2026-03" → date(2026, 3, 1); a Chinese message for anything else."""
    try:
        year, month = str(text).split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValidationError(f"月份格式应为 YYYY-MM（例如 2026-03），收到“{text}”。", field="month") from None


def month_last_day(month: str) -> date:
    return first_of_next_month(parse_month(month)) - timedelta(days=1)


def add_months(month: str, count: int) -> str:
    first = parse_month(month)
    index = first.year * 12 + first.month - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_ending(end_month: str, count: int = 12) -> list[str]:
    """``count`` months in calendar order, the last one ``end_month``."""
    if count < 1:
        raise ValueError("count must be at least 1")
    return [add_months(end_month, offset) for offset in range(1 - count, 1)]


def held_in_month(month: str, start: date | None, cancelled: date | None) -> bool:
    """Whether a card counts as held in ``month``: its benefit has started by the month's end
    and it was not cancelled before the month began (the month of cancellation still counts).

    Compared as "YYYY-MM" keys: start ≤ month's last day ⟺ key(start) ≤ month, and
    cancelled ≥ month's first day ⟺ key(cancelled) ≥ month. The SQL fast path uses the same keys.
    """
    if start is None:
        return False
    if month_key(start) > month:
        return False
    return cancelled is None or month_key(cancelled) >= month


@dataclass(frozen=True)
class HeldCard:
    """What the usage rate needs of a card: its holder and the period it was in force.

    ``ended``: the day the card stopped following its holder without being cancelled (暂停, or
    the holder died / moved out): months after it do not count. ``covered_years``: benefit years
    the holder was enrolled (None: not checked) — a month of a year without cover is not held.
    """

    card_id: str
    holder_id: str
    benefit_start: date | None
    cancelled_date: date | None = None
    ended: date | None = None
    covered_years: frozenset[int] | None = None


@dataclass(frozen=True)
class MonthlyUsage:
    """卡月使用率 of one month: holders who used a card / holders of a card in force."""

    month: str
    used: int
    holders: int

    @property
    def rate(self) -> Ratio:
        return card_monthly_usage_rate(self.used, self.holders)


def monthly_usage(cards: Iterable[HeldCard], used: Iterable[tuple[str, str]] | Mapping[str, Collection[str]],
                  months: Sequence[str]) -> list[MonthlyUsage]:
    """卡月使用率 per month, counting people, not cards.

    A holder is a resident with at least one card in force in the month (``held_in_month``);
    they used it when any of those cards is marked used for that month. A usage mark on a card
    that was not in force that month (before its benefit start, after cancellation) does not
    count: the rate must stay between 0 and 1 whatever the data says.

    ``used`` is (card id, month) pairs, or card id → months used; ``months`` "YYYY-MM" keys.
    """
    if isinstance(used, Mapping):
        used_by_card: Mapping[str, Collection[str]] = used
    else:
        collected: dict[str, set[str]] = defaultdict(set)
        for card_id, month in used:
            collected[card_id].add(month)
        used_by_card = collected
    ordered = sorted(set(months))
    holders: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[str]] = defaultdict(set)
    for card in cards:
        if card.benefit_start is None:
            continue
        # The months in force are a contiguous run of the sorted keys (see held_in_month).
        lo = bisect_left(ordered, month_key(card.benefit_start))
        hi = (bisect_right(ordered, month_key(card.cancelled_date)) if card.cancelled_date is not None
              else len(ordered))
        if lo >= hi:
            continue
        card_used = used_by_card.get(card.card_id, ())
        ended = month_key(card.ended) if card.ended is not None else None
        for month in ordered[lo:hi]:
            if ended is not None and month > ended:
                break
            if card.covered_years is not None and int(month[:4]) not in card.covered_years:
                continue
            holders[month].add(card.holder_id)
            if month in card_used:
                users[month].add(card.holder_id)
    return [MonthlyUsage(m, len(users[m]), len(holders[m])) for m in months]
