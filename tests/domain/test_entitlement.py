"""应享尽享: the entitlement worked out by hand for each class, the cap, the carried 起付, the 倾斜 tier."""

from __future__ import annotations

from datetime import date

from station_app.domain.entitlement import (
    SUBJECT_LABELS,
    AssistanceRule,
    Visit,
    YearState,
    advance,
    class_of_groups,
    class_of_label,
    entitle,
    entitle_year,
    subject_choices_for,
)

Y = 100  # fen per 元

# Figures of the kind in DOMAIN_FACTS_zh.md §3 (80% 特困 / 70% 低保, a yearly limit of 2 万).
CLASS1 = AssistanceRule(1, "inpatient", 0, 80, 60, 30_000 * Y, 10_000 * Y, 50, 20_000 * Y)
CLASS2 = AssistanceRule(2, "inpatient", 0, 70, 50, 20_000 * Y, 10_000 * Y, 50, 20_000 * Y)
CLASS3 = AssistanceRule(3, "inpatient", 1_000 * Y, 60, 40, 10_000 * Y)
CLASS4 = AssistanceRule(4, "inpatient", 3_000 * Y, 50, 30, 10_000 * Y, validity_months=12)


def visit(yuan: int, route: str = "in_county", day: date | None = date(2026, 5, 1)) -> Visit:
    return Visit("inpatient", route, yuan * Y, day)


def test_class1_tekun_8000_yuan_gets_80_percent():
    # 8,000 × 80% = 6,400 (no 起付 for 一类).
    result = entitle(CLASS1, visit(8_000))
    assert result.suggested_fen == 6_400 * Y
    assert [s.key for s in result.steps] == ["base", "deductible", "ratio", "cap", "tilt", "total"]
    assert "6,400.00 元" in result.steps[-1].text and "80%" in result.text


def test_class2_dibao_70_percent():
    assert entitle(CLASS2, visit(7_000)).suggested_fen == 4_900 * Y


def test_self_referred_gets_the_lower_ratio():
    # 自行异地就医: 10,000 × 50% = 5,000 instead of 7,000.
    result = entitle(CLASS2, visit(10_000, "self_referred"))
    assert result.suggested_fen == 5_000 * Y
    assert "自行异地就医" in result.text


def test_class3_deductible_is_carried_across_cases():
    # 起付 1,000: the first visit (600) is swallowed by it; the second (3,000) pays the 400 left,
    # then 2,600 × 60% = 1,560.
    first = entitle(CLASS3, visit(600))
    assert first.suggested_fen == 0 and first.after.deductible_used == 600 * Y
    second = entitle(CLASS3, visit(3_000), first.after)
    assert second.suggested_fen == 1_560 * Y
    assert "本次扣除 400.00 元" in second.text
    third = entitle(CLASS3, visit(1_000), second.after)
    assert third.suggested_fen == 600 * Y  # 起付 used up: 1,000 × 60%


def test_annual_limit_caps_what_remains():
    # 18,000 already paid this year of a 20,000 limit: 10,000 × 70% = 7,000 → 2,000.
    result = entitle(CLASS2, visit(10_000), YearState(assistance_used=18_000 * Y))
    assert result.regular_fen == 2_000 * Y
    assert "尚余 2,000.00 元" in result.text
    # Nothing left: nothing suggested.
    assert entitle(CLASS2, visit(10_000), YearState(assistance_used=20_000 * Y)).regular_fen == 0


def test_tilt_tier_after_three_layers():
    # 60,000 × 80% = 48,000, capped at the 30,000 limit; the burden left is 30,000, of which
    # 20,000 is above the 10,000 threshold: × 50% = 10,000 倾斜救助. Total 40,000.
    result = entitle(CLASS1, visit(60_000))
    assert result.regular_fen == 30_000 * Y
    assert result.tilt_fen == 10_000 * Y
    assert result.suggested_fen == 40_000 * Y
    assert "倾斜救助" in result.text and "20,000.00 元 × 50%" in result.text
    # A later visit: the threshold is already passed, every new yuan of burden counts.
    later = entitle(CLASS1, visit(4_000), result.after)
    assert later.regular_fen == 0  # the limit is used up
    assert later.tilt_fen == 2_000 * Y  # 4,000 × 50%


def test_tilt_limit():
    rule = AssistanceRule(1, "inpatient", 0, 80, 60, 30_000 * Y, 10_000 * Y, 50, 5_000 * Y)
    assert entitle(rule, visit(60_000)).tilt_fen == 5_000 * Y


def test_class4_needs_identity_within_12_months():
    since = date(2025, 6, 1)
    ok = entitle(CLASS4, visit(10_000, day=date(2026, 5, 31)), identity_since=since)
    assert ok.suggested_fen == (10_000 - 3_000) * Y // 2  # 起付 3,000, then 50%
    late = entitle(CLASS4, visit(10_000, day=date(2026, 6, 1)), identity_since=since)
    assert late.suggested_fen == 0 and not late.eligible
    assert "有效期 12 个月" in late.text
    assert not entitle(CLASS4, visit(10_000)).eligible  # no recognition date at all


def test_year_run_in_order():
    rules = {(3, "inpatient"): CLASS3}
    run = entitle_year(3, [visit(600), visit(3_000)], lambda c, k: rules.get((c, k)))
    assert [r.suggested_fen for r in run.results] == [0, 1_560 * Y]
    assert run.entitled_fen == 1_560 * Y
    assert entitle_year(1, [visit(1_000)], lambda c, k: None).results == [None]


def test_advance_follows_the_amount_granted():
    # Granted 1,000 instead of the suggested 4,900: the limit used is 1,000, the burden 6,000.
    state = advance(CLASS2, visit(7_000), YearState(), 1_000 * Y)
    assert state.assistance_used == 1_000 * Y and state.burden == 6_000 * Y


def test_subject_classes_one_to_four_only():
    # Issue 17.7: 脱贫人口 and 重度残疾 are not classes; 因病致贫重病患者 is class 4, not a type.
    assert class_of_groups(["特困人员", "重度残疾"]) == 1
    assert class_of_groups(["孤儿/事实无人抚养儿童"]) == 1
    assert class_of_groups(["低保对象"]) == 2
    assert class_of_groups(["返贫致贫人口"]) == 2
    assert class_of_groups(["低保边缘家庭成员"]) == 3
    assert class_of_groups(["返贫致贫风险监测对象"]) == 3
    assert class_of_groups(["脱贫不稳定户"]) == 3
    assert class_of_groups(["脱贫人口", "重度残疾"]) is None
    assert subject_choices_for(["脱贫人口", "重度残疾"]) == [SUBJECT_LABELS[4]]
    assert subject_choices_for(["低保对象"]) == [SUBJECT_LABELS[2], SUBJECT_LABELS[4]]
    for klass, label in SUBJECT_LABELS.items():
        assert class_of_label(label) == klass
    assert class_of_label("因病致贫重病患者") == 4
    assert class_of_label("特困人员") == 1


def test_demo_county_types_leave_out_temporary_relief_and_the_illness_class():
    """Issue 17.7: 临时救助 is 民政's (a 1+N referral), 因病致贫重病患者 a class, not a type; every
    class has a rule per kind for the demo years, 四类 with its 12-month validity."""
    import json

    from station_app.services.reference import demo_reference_path

    data = json.loads(demo_reference_path().read_text(encoding="utf-8"))
    active = {t["name"] for t in data["assistance_types"] if t.get("active", True)}
    assert "临时救助" not in active and not any("因病致贫" in name for name in active)
    assert {t["kind"] for t in data["assistance_types"]} == {"inpatient", "outpatient"}
    rules = {(r["year"], r["subject_class"], r["kind"]): r for r in data["assistance_rules"]}
    for year in (2025, 2026, 2027):
        for klass in (1, 2, 3, 4):
            for kind in ("inpatient", "outpatient"):
                assert (year, klass, kind) in rules
        assert rules[(year, 4, "inpatient")]["validity_months"] == 12
        assert rules[(year, 1, "inpatient")]["ratio_pct"] >= 70 <= rules[(year, 2, "inpatient")]["ratio_pct"]
