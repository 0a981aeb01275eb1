"""Assistance domain rules: the cost split in fen, money text, the case flow, referral outcomes, 落实率."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given, strategies as st

from station_app.domain import assistance as rules
from station_app.domain.assistance import CostSplit, fen_text, parse_yuan, split_message, validate_split
from station_app.domain.enums import AssistanceStatus as A
from station_app.domain.errors import ValidationError

amounts = st.integers(min_value=0, max_value=rules.MAX_FEN // 4)


def test_the_example_message_from_the_brief():
    split = CostSplit(total=1_250_000, basic_insurance=800_000, serious_illness=130_000, assistance=200_000,
                      self_pay=100_000)
    with pytest.raises(ValidationError) as error:
        validate_split(split)
    assert error.value.message == ("费用分担不平：基本医保+大病保险+救助+自付=12,300.00 元，"
                                   "与总费用 12,500.00 元相差 200.00 元")
    assert error.value.code == "unbalanced"


@given(amounts, amounts, amounts, amounts)
def test_parts_that_add_up_pass(basic, serious, assistance, self_pay):
    total = basic + serious + assistance + self_pay
    split = CostSplit(total, basic, serious, assistance, self_pay)
    if total == 0:
        with pytest.raises(ValidationError, match="总费用"):
            validate_split(split)
    else:
        assert validate_split(split) is split
        assert split_message(split) == ""


@given(amounts, amounts, amounts, amounts, st.integers(min_value=-10**8, max_value=10**8).filter(lambda d: d != 0))
def test_any_difference_is_refused_and_named(basic, serious, assistance, self_pay, difference):
    total = basic + serious + assistance + self_pay + difference
    assume(0 < total <= rules.MAX_FEN)  # beyond that the range check speaks first
    split = CostSplit(total, basic, serious, assistance, self_pay)
    with pytest.raises(ValidationError) as error:
        validate_split(split)
    assert f"相差 {fen_text(abs(difference))} 元" in error.value.message
    assert f"总费用 {fen_text(total)} 元" in error.value.message


@pytest.mark.parametrize("field,label", [("basic_insurance", "基本医保"), ("serious_illness", "大病保险"),
                                         ("assistance", "救助"), ("self_pay", "自付"), ("total", "总费用")])
def test_negative_amounts_are_refused_by_name(field, label):
    values = dict(total=10_000, basic_insurance=5_000, serious_illness=0, assistance=3_000, self_pay=2_000)
    values[field] = -100
    with pytest.raises(ValidationError) as error:
        validate_split(CostSplit(**values))
    assert error.value.message.startswith(f"{label}不能为负数")


def test_an_absurd_amount_is_refused():
    with pytest.raises(ValidationError, match="超出合理范围"):
        validate_split(CostSplit(rules.MAX_FEN + 1, rules.MAX_FEN + 1, 0, 0, 0))


def test_self_pay_can_take_the_remainder():
    split = CostSplit(10_000, 6_000, 1_000, 2_000, 0).remainder_as_self_pay()
    assert split.self_pay == 1_000 and split.balanced
    assert CostSplit(10_000, 9_000, 2_000, 0, 5).remainder_as_self_pay().self_pay == 0


@given(st.integers(min_value=0, max_value=rules.MAX_FEN))
def test_money_text_round_trips(fen):
    assert parse_yuan(fen_text(fen)) == fen


@pytest.mark.parametrize("text,fen", [("", 0), ("0", 0), ("12", 1200), ("12.5", 1250), ("12.05", 1205),
                                      ("1,234.56", 123456), ("  88 元", 8800), ("1，000", 100000), ("１２．５", 1250)])
def test_parse_yuan_accepts(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["abc", "1.234", "-5", "1e3", "12.", "一百", "1 000"])
def test_parse_yuan_refuses(text):
    with pytest.raises(ValidationError):
        parse_yuan(text, "救助金额")


def test_fen_text():
    assert fen_text(0) == "0.00"
    assert fen_text(5) == "0.05"
    assert fen_text(123456789) == "1,234,567.89"
    assert fen_text(-250) == "-2.50"


ALL = list(A)
ALLOWED = {(A.APPLIED, A.REVIEWED), (A.APPLIED, A.REFUSED), (A.REVIEWED, A.PAID), (A.REVIEWED, A.REFUSED)}


@pytest.mark.parametrize("current", ALL, ids=lambda s: s.value)
@pytest.mark.parametrize("target", ALL, ids=lambda s: s.value)
def test_flow(current, target):
    if (current, target) in ALLOWED:
        rules.check_transition(current.value, target.value)
    else:
        with pytest.raises(ValidationError) as error:
            rules.check_transition(current.value, target.value)
        assert f"当前状态为“{current.label}”" in error.value.message


def test_stay_dates():
    today = date(2026, 11, 23)
    rules.validate_stay(date(2026, 5, 1), date(2026, 5, 1), today=today)
    with pytest.raises(ValidationError, match="出院日期.*不能早于入院日期"):
        rules.validate_stay(date(2026, 5, 3), date(2026, 5, 1), today=today)
    with pytest.raises(ValidationError, match="不能晚于今天"):
        rules.validate_stay(date(2026, 11, 20), date(2026, 11, 24), today=today)
    with pytest.raises(ValidationError, match="入院"):
        rules.validate_stay(None, date(2026, 5, 1), today=today)


def test_subjects_are_the_four_classes_only():
    # Issue 17.7: only 一至四类; 脱贫人口 and 重度残疾 are no class; 其他困难群众 is gone;
    # 因病致贫重病患者 is 四类 (with its recognition date), not a type of assistance.
    one, two, four = "一类（特困人员、孤儿）", "二类（低保对象、返贫致贫人口）", "四类（因病致贫重病患者）"
    assert rules.subject_choices("dibao,tekun") == [one, four]
    assert rules.subject_choices("disabled,tuopin") == [four]
    assert rules.check_subject(two, "dibao") == two
    assert rules.check_subject("低保对象", "dibao") == two  # an old name is read as its class
    with pytest.raises(ValidationError, match="不符"):
        rules.check_subject("特困人员", "dibao")
    with pytest.raises(ValidationError, match="不符"):
        rules.check_subject("其他困难群众", "")
    with pytest.raises(ValidationError, match="身份认定日期"):
        rules.check_subject(four, "")
    assert rules.check_subject(four, "", since=date(2026, 1, 5)) == four
    with pytest.raises(ValidationError, match="请选择"):
        rules.check_subject("", "dibao")


def test_deviation_from_the_suggestion_needs_a_reason():
    assert rules.check_deviation(640_000, 640_000, "") == ""
    assert rules.check_deviation(100, None, "") == ""  # no rule: nothing to depart from
    with pytest.raises(ValidationError, match="建议金额 6,400.00 元不一致"):
        rules.check_deviation(500_000, 640_000, " ")
    assert rules.check_deviation(500_000, 640_000, "部分费用属于政策范围外") == "部分费用属于政策范围外"


def test_referral_outcome_rules():
    today = date(2026, 11, 23)
    ok = dict(referred=date(2026, 10, 1), outcome="已发放临时救助金2000元", outcome_date=date(2026, 10, 20),
              amount_fen=200_000, today=today)
    rules.validate_referral_outcome(**ok)
    for change, message in [(dict(outcome=" "), "转介结果"), (dict(outcome_date=date(2026, 9, 30)), "不能早于转介日期"),
                            (dict(outcome_date=date(2026, 11, 24)), "不能晚于今天"), (dict(amount_fen=-1), "不能为负数")]:
        with pytest.raises(ValidationError, match=message):
            rules.validate_referral_outcome(**{**ok, **change})


@given(st.integers(0, 500), st.integers(0, 500))
def test_payout_rate_is_paid_over_reviewed_plus_paid(reviewed, paid):
    ratio = rules.payout_rate(reviewed, paid)
    assert (ratio.numerator, ratio.denominator) == (paid, reviewed + paid)
    assert ratio.value is None if reviewed + paid == 0 else 0 <= ratio.value <= 1
