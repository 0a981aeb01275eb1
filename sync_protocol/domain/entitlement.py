"""应享尽享: the 医疗救助 a person is entitled to, computed step by step from the county's rules.

Pure functions, amounts in fen. The rules are county reference data (``assistance_rule``),
per benefit year and per 救助对象类别 (the 一至四类 classification of
docs/design/DOMAIN_FACTS_zh.md §3, S16):

* 一类 特困人员、孤儿（事实无人抚养儿童）; 二类 低保对象、返贫致贫人口;
  三类 低保边缘家庭成员、纳入监测范围的易返贫致贫人口; 四类 因病致贫重病患者 (身份有效期 12 个月).

For one visit (a 结算 or a case), following 国办发〔2021〕42号 (救助 after 基本医保 and
大病保险, on the 政策范围内个人自付, with a yearly 起付 and 限额, and 倾斜救助 for a burden still
heavy after the three layers — DOMAIN_FACTS_zh.md §3, S15/S22):

1. base = 政策范围内个人自付;
2. minus what remains of the year's 起付标准 (carried across the year's earlier visits);
3. × 救助比例 for the kind (住院 / 门诊慢特病) and the route (县域内或规范转诊 / 自行异地就医);
4. capped by what remains of the 年度救助限额 after the year's earlier assistance;
5. 倾斜救助: the year's burden left after the three layers, above the county's threshold,
   × the tilt ratio, within the tilt limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Callable, Iterable, Sequence

from .money import yuan


def _yuan(fen: int) -> str:
    return yuan(fen, thousands=True)


# -- 救助对象类别 ---------------------------------------------------------------------------------

#: The four classes as stored in ``assistance_case.subject_category`` and shown on notices.
SUBJECT_LABELS = {
    1: "一类（特困人员、孤儿）",
    2: "二类（低保对象、返贫致贫人口）",
    3: "三类（低保边缘家庭成员、监测对象）",
    4: "四类（因病致贫重病患者）",
}
SHORT_LABELS = {1: "一类", 2: "二类", 3: "三类", 4: "四类"}
#: The class whose identity is recognised case by case, with a validity (12 months, S16).
ILLNESS_CLASS = 4

#: Special-group names (as ``SpecialGroup`` labels them) → class. Matched by name, not code,
#: so a renamed or split group (e.g. 返贫致贫人口 beside 监测对象) maps without a code change.
#: Order matters: 低保边缘 before 低保. 脱贫人口 and 重度残疾 are not 救助对象 as such.
_GROUP_CLASS_WORDS: tuple[tuple[str, int], ...] = (
    ("特困", 1), ("孤儿", 1), ("事实无人抚养", 1),
    ("低保边缘", 3), ("低保", 2), ("返贫致贫人口", 2),
    ("监测", 3), ("脱贫不稳定", 3), ("边缘易致贫", 3), ("突发严重困难", 3), ("低收入", 3),
)


def class_of_group_label(label: str) -> int | None:
    """一至三类 for a special group's Chinese name; None for groups that are no 救助对象 class."""
    for word, klass in _GROUP_CLASS_WORDS:
        if word in label:
            return klass
    return None


def class_of_groups(labels: Iterable[str]) -> int | None:
    """The most generous (lowest) class among a person's special groups; None if none applies."""
    classes = [c for c in (class_of_group_label(x) for x in labels) if c is not None]
    return min(classes) if classes else None


def class_of_label(subject: str) -> int | None:
    """The class a stored ``subject_category`` names (一类…四类 labels, or an old group name)."""
    subject = (subject or "").strip()
    for klass, label in SUBJECT_LABELS.items():
        if subject == label or subject.startswith(SHORT_LABELS[klass]):
            return klass
    if "因病致贫" in subject:
        return ILLNESS_CLASS
    return class_of_group_label(subject)


def subject_choices_for(group_labels: Iterable[str]) -> list[str]:
    """The classes a case may name: the person's own (by special group), then 四类.

    四类 (因病致贫重病患者) is open to anyone: it is recognised for the case, with a date.
    """
    own = class_of_groups(group_labels)
    out = [SUBJECT_LABELS[own]] if own is not None else []
    out.append(SUBJECT_LABELS[ILLNESS_CLASS])
    return out


# -- kinds and routes -----------------------------------------------------------------------------


class VisitKind(StrEnum):
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"

    @property
    def label(self) -> str:
        return {"inpatient": "住院", "outpatient": "门诊慢特病"}[self.value]


class Route(StrEnum):
    """Where the care was given: the ratio drops for care sought outside the county unreferred."""

    IN_COUNTY = "in_county"
    REFERRED = "referred"
    SELF_REFERRED = "self_referred"

    @property
    def label(self) -> str:
        return {"in_county": "县域内", "referred": "规范转诊", "self_referred": "自行异地就医"}[self.value]


def default_route(hospital_level: str) -> Route:
    """县域内 for township and county hospitals, 规范转诊 above (the clerk changes it if not)."""
    return Route.IN_COUNTY if hospital_level in ("township", "county", "") else Route.REFERRED


# -- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssistanceRule:
    """One class's rule for one kind in one year (a ``assistance_rule`` reference row)."""

    subject_class: int
    kind: str
    #: 年度起付标准; 0: none.
    deductible_fen: int
    #: 救助比例 (%) in the county or on a 规范转诊.
    ratio_pct: int
    #: 救助比例 (%) for 自行异地就医.
    self_referred_ratio_pct: int
    #: 年度救助限额 (shared by every kind of the class's assistance in the year).
    annual_limit_fen: int
    #: 倾斜救助: burden after the three layers above this (0: no tilt) …
    tilt_threshold_fen: int = 0
    #: … gets this further ratio …
    tilt_ratio_pct: int = 0
    #: … within this yearly limit (0: no limit of its own).
    tilt_limit_fen: int = 0
    #: Identity validity in months (四类: 12); 0: none.
    validity_months: int = 0

    def ratio_for(self, route: str) -> int:
        return self.self_referred_ratio_pct if route == Route.SELF_REFERRED.value else self.ratio_pct


# -- the computation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class YearState:
    """What the person's earlier visits this year already used (carried to the next visit)."""

    deductible_used: int = 0
    assistance_used: int = 0
    #: Burden left after basic insurance, 大病保险 and regular assistance, summed over the year.
    burden: int = 0
    tilt_used: int = 0


@dataclass(frozen=True)
class Visit:
    kind: str
    route: str
    #: 政策范围内个人自付: what is left of the in-policy cost after 基本医保 and 大病保险.
    policy_self_pay_fen: int
    day: date | None = None


@dataclass(frozen=True)
class Step:
    """One line of the working: what it is, the amount after it (fen), the sentence."""

    key: str
    amount_fen: int
    text: str


@dataclass(frozen=True)
class Entitlement:
    """The numbers of one visit's entitlement; ``steps`` writes the working out (on demand:
    the township's year computes thousands of these and reads only the amounts)."""

    subject_class: int
    regular_fen: int
    tilt_fen: int
    rule: AssistanceRule
    visit: Visit
    before: YearState
    after: YearState
    eligible: bool = True
    identity_since: date | None = None
    #: 起付 taken by this visit, and the amount after the ratio (before the cap).
    deductible_taken: int = 0
    raw_fen: int = 0

    @property
    def suggested_fen(self) -> int:
        return self.regular_fen + self.tilt_fen

    @property
    def steps(self) -> tuple[Step, ...]:
        return _explain(self)

    @property
    def text(self) -> str:
        return "\n".join(step.text for step in self.steps)


def _pct(amount: int, pct: int) -> int:
    """amount × pct %, rounded half up to the fen."""
    return (amount * pct + 50) // 100


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    days = (date(year + (month == 12), month % 12 + 1, 1) - date(year, month, 1)).days
    return date(year, month, min(day.day, days))


def identity_valid(rule: AssistanceRule, since: date | None, day: date | None) -> bool:
    """四类's identity lasts ``validity_months`` from recognition; other classes have none."""
    if rule.validity_months <= 0:
        return True
    if since is None or day is None:
        return False
    return since <= day < add_months(since, rule.validity_months)


def entitle(rule: AssistanceRule, visit: Visit, state: YearState = YearState(), *,
            identity_since: date | None = None) -> Entitlement:
    """The suggested 救助 for one visit and the state after it (``.steps`` for the working)."""
    base = max(0, int(visit.policy_self_pay_fen))
    if not identity_valid(rule, identity_since, visit.day):
        after = YearState(state.deductible_used, state.assistance_used, state.burden + base, state.tilt_used)
        return Entitlement(rule.subject_class, 0, 0, rule, visit, state, after, False, identity_since)
    # 2. 起付标准, carried across the year's visits.
    taken = min(base, max(0, rule.deductible_fen - state.deductible_used))
    above = base - taken
    # 3. 比例 by kind and route.
    raw = _pct(above, rule.ratio_for(visit.route))
    # 4. 年度限额.
    regular = min(raw, max(0, rule.annual_limit_fen - state.assistance_used))
    # 5. 倾斜救助 on the burden the three layers leave.
    burden = state.burden + base - regular
    tilt = 0
    if rule.tilt_threshold_fen > 0 and rule.tilt_ratio_pct > 0:
        new_over = max(0, burden - rule.tilt_threshold_fen) - max(0, state.burden - rule.tilt_threshold_fen)
        tilt = _pct(new_over, rule.tilt_ratio_pct)
        if rule.tilt_limit_fen > 0:
            tilt = min(tilt, max(0, rule.tilt_limit_fen - state.tilt_used))
    after = YearState(state.deductible_used + taken, state.assistance_used + regular, burden - tilt,
                      state.tilt_used + tilt)
    return Entitlement(rule.subject_class, regular, tilt, rule, visit, state, after, True, identity_since,
                       taken, raw)


def _explain(e: Entitlement) -> tuple[Step, ...]:
    rule, visit, state = e.rule, e.visit, e.before
    klass = SHORT_LABELS.get(rule.subject_class, str(rule.subject_class))
    kind = VisitKind(visit.kind).label if visit.kind in VisitKind._value2member_map_ else visit.kind
    route = Route(visit.route) if visit.route in Route._value2member_map_ else Route.IN_COUNTY
    base = max(0, int(visit.policy_self_pay_fen))
    steps = [Step("base", base, f"政策范围内个人自付 {_yuan(base)} 元（基本医保、大病保险报销后）")]
    if not e.eligible:
        when = e.identity_since.isoformat() if e.identity_since else "未填写"
        steps.append(Step("identity", 0, f"{klass}救助对象身份认定日期 {when}，有效期 {rule.validity_months} 个月，"
                                         f"就诊时不在有效期内：不予救助"))
        return tuple(steps)
    above = base - e.deductible_taken
    if rule.deductible_fen <= 0:
        steps.append(Step("deductible", above, f"{klass}救助对象不设起付标准 → {_yuan(above)} 元"))
    else:
        steps.append(Step("deductible", above,
                          f"年度起付标准 {_yuan(rule.deductible_fen)} 元，本年此前已计 {_yuan(state.deductible_used)} 元，"
                          f"本次扣除 {_yuan(e.deductible_taken)} 元 → {_yuan(above)} 元"))
    ratio = rule.ratio_for(route.value)
    steps.append(Step("ratio", e.raw_fen, f"{klass}{kind}救助比例（{route.label}）{ratio}% → {_yuan(e.raw_fen)} 元"))
    room = max(0, rule.annual_limit_fen - state.assistance_used)
    if e.regular_fen < e.raw_fen:
        steps.append(Step("cap", e.regular_fen,
                          f"年度救助限额 {_yuan(rule.annual_limit_fen)} 元，本年已救助 {_yuan(state.assistance_used)} 元，"
                          f"尚余 {_yuan(room)} 元 → 按限额 {_yuan(e.regular_fen)} 元"))
    else:
        steps.append(Step("cap", e.regular_fen,
                          f"年度救助限额 {_yuan(rule.annual_limit_fen)} 元，本年已救助 {_yuan(state.assistance_used)} 元，"
                          f"未超限额 → {_yuan(e.regular_fen)} 元"))
    if rule.tilt_threshold_fen > 0 and rule.tilt_ratio_pct > 0:
        burden = state.burden + base - e.regular_fen
        new_over = max(0, burden - rule.tilt_threshold_fen) - max(0, state.burden - rule.tilt_threshold_fen)
        if new_over > 0:
            left = (f"（倾斜限额尚余 {_yuan(max(0, rule.tilt_limit_fen - state.tilt_used))} 元）"
                    if rule.tilt_limit_fen > 0 else "")
            steps.append(Step("tilt", e.tilt_fen,
                              f"倾斜救助：三重保障后本年个人负担累计 {_yuan(burden)} 元，超过 {_yuan(rule.tilt_threshold_fen)} 元"
                              f"的新增部分 {_yuan(new_over)} 元 × {rule.tilt_ratio_pct}%{left} → {_yuan(e.tilt_fen)} 元"))
        else:
            steps.append(Step("tilt", 0, f"倾斜救助：本年个人负担累计 {_yuan(burden)} 元，未超过 "
                                         f"{_yuan(rule.tilt_threshold_fen)} 元 → 0.00 元"))
    steps.append(Step("total", e.suggested_fen, f"建议救助金额 {_yuan(e.suggested_fen)} 元"))
    return tuple(steps)


def advance(rule: AssistanceRule, visit: Visit, state: YearState, granted_fen: int, *,
            identity_since: date | None = None) -> YearState:
    """The state after a visit whose assistance was actually ``granted_fen`` (not the suggestion).

    The 起付 consumed is the rule's; the 限额 used and the burden follow what was granted, so
    an amount set by hand moves what remains for the next visit accordingly.
    """
    result = entitle(rule, visit, state, identity_since=identity_since)
    granted = max(0, min(granted_fen, visit.policy_self_pay_fen))
    regular = min(granted, result.regular_fen)
    tilt = granted - regular
    return YearState(result.after.deductible_used, state.assistance_used + regular,
                     state.burden + visit.policy_self_pay_fen - granted, state.tilt_used + tilt)


RuleLookup = Callable[[int, str], "AssistanceRule | None"]


@dataclass
class YearRun:
    """Entitlements of one person's visits in one year, in date order (None: no rule applies)."""

    results: list[Entitlement | None] = field(default_factory=list)

    @property
    def entitled_fen(self) -> int:
        return sum(r.suggested_fen for r in self.results if r is not None)


def entitle_year(subject_class: int, visits: Sequence[Visit], rule_for: RuleLookup, *,
                 identity_since: date | None = None) -> YearRun:
    """Every visit of one person in one year, in the order given (sort by day first).

    Each visit is computed on the state its predecessors left, as if each got its suggestion.
    """
    run = YearRun()
    state = YearState()
    for visit in visits:
        rule = rule_for(subject_class, visit.kind)
        if rule is None:
            run.results.append(None)
            continue
        result = entitle(rule, visit, state, identity_since=identity_since)
        run.results.append(result)
        state = result.after
    return run


# -- one person's year: what is due on each settlement, and what became of it ---------------------

#: (settlement id, day, kind, route, 政策范围内个人自付) in date order.
SettlementVisit = tuple[str, date, str, str, int]
#: settlement id → (case id, status, assistance_fen) of the case linked to it.
CaseLinks = dict[str, tuple[str, str, int]]


@dataclass(frozen=True)
class Due:
    """A qualifying settlement: entitled above 0 and not marked 不适用."""

    index: int
    entitled_fen: int
    case: tuple[str, str, int] | None

    @property
    def pending(self) -> bool:
        """待落实: no case opened for it."""
        return self.case is None

    @property
    def fulfilled(self) -> bool:
        return self.case is not None and self.case[1] == "paid"

    @property
    def paid_fen(self) -> int:
        return min(self.case[2], self.entitled_fen) if self.fulfilled else 0  # type: ignore[index]


def person_dues(subject_class: int, visits: Sequence[SettlementVisit], rule_for: RuleLookup, cases: CaseLinks,
                reviewed: "set[str] | frozenset[str]") -> tuple[list[Due], int]:
    """The qualifying settlements of one 救助对象's year (docs/FIGURES.md) and how many were 不适用.

    Each visit is computed on the state its predecessors left; where a case granted another
    amount than suggested, the next visit starts from what was granted (``advance``).
    """
    state = YearState()
    dues: list[Due] = []
    not_applicable = 0
    for index, (sid, day, kind, route, policy) in enumerate(visits):
        rule = rule_for(subject_class, kind)
        if rule is None:
            continue
        visit = Visit(kind, route, policy, day)
        outcome = entitle(rule, visit, state)
        case = cases.get(sid)
        if case is not None and case[1] != "refused" and case[2] != outcome.suggested_fen:
            state = advance(rule, visit, state, case[2])
        else:
            state = outcome.after
        if outcome.suggested_fen <= 0:
            continue
        if sid in reviewed:
            not_applicable += 1
            continue
        dues.append(Due(index, outcome.suggested_fen, case))
    return dues, not_applicable
