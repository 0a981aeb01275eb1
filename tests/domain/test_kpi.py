"""4134 KPIs on counts: ratios, their display, targets, deadlines."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings, strategies as st

from station_app.domain.enums import EnrollmentStatus
from station_app.domain.kpi import (
    Ratio,
    assistance_fulfilment_rate,
    card_monthly_usage_rate,
    days_until,
    deadline_text,
    enrollment_rate,
    enrollment_rate_of,
)

RATE_FUNCTIONS = [enrollment_rate, card_monthly_usage_rate, assistance_fulfilment_rate]


@pytest.mark.parametrize(
    "num, den, text",
    [
        (973, 1000, "97.3%"),
        (1, 3, "33.3%"),
        (2, 3, "66.7%"),
        (1, 8, "12.5%"),
        (1, 16, "6.3%"),  # 6.25 rounds half up, not to even
        (51, 100, "51.0%"),
        (0, 5, "0.0%"),
        (5, 5, "100.0%"),
        (0, 0, "—"),
        (9999, 10000, "99.9%"),  # never "100.0%" while someone is still missing
        (1999, 2000, "99.9%"),
        (1, 10000, "0.1%"),  # never "0.0%" when someone is counted
    ],
)
def test_percent_text(num, den, text):
    assert Ratio(num, den).percent_text == text


def test_value():
    assert Ratio(1, 4).value == 0.25
    assert Ratio(0, 7).value == 0.0
    assert Ratio(0, 0).value is None


def test_meets_is_exact_for_decimal_targets():
    assert Ratio(51, 100).meets(0.51)  # float 0.51 is a hair above 51/100
    assert not Ratio(50, 100).meets(0.51)
    assert Ratio(80, 100).meets(0.8)
    assert not Ratio(799, 1000).meets(0.8)
    assert Ratio(7, 7).meets(1)
    assert not Ratio(6, 7).meets(1.0)
    assert Ratio(0, 3).meets(0)


def test_meets_undefined_is_false():
    assert not Ratio(0, 0).meets(0.8)


@pytest.mark.parametrize("target", [80, 1.01, -0.1])
def test_meets_rejects_percent_style_targets(target):
    with pytest.raises(ValueError):
        Ratio(1, 2).meets(target)


@pytest.mark.parametrize("fn", RATE_FUNCTIONS)
@pytest.mark.parametrize("num, den", [(-1, 5), (0, -1), (6, 5), (1, 0)])
def test_rates_reject_impossible_counts(fn, num, den):
    with pytest.raises(ValueError):
        fn(num, den)


@pytest.mark.parametrize("fn", RATE_FUNCTIONS)
def test_rates_return_ratio(fn):
    assert fn(3, 4) == Ratio(3, 4)
    assert fn(0, 0).percent_text == "—"


def test_ratio_rejects_non_integers():
    with pytest.raises(TypeError):
        Ratio(1.0, 2)  # type: ignore[arg-type]


def test_enrollment_rate_of_statuses_excludes_not_required():
    statuses = [
        EnrollmentStatus.PAID, EnrollmentStatus.SUBSIDISED, EnrollmentStatus.OTHER_CHANNEL,
        EnrollmentStatus.UNPAID, EnrollmentStatus.NOT_REQUIRED, "not_required",
    ]
    assert enrollment_rate_of(statuses) == Ratio(3, 4)
    assert enrollment_rate_of([]) == Ratio(0, 0)
    with pytest.raises(ValueError):
        enrollment_rate_of(["maybe"])


@settings(max_examples=200, deadline=None)
@given(den=st.integers(1, 10**9), data=st.data())
def test_percent_text_close_to_value(den, data):
    num = data.draw(st.integers(0, den))
    ratio = Ratio(num, den)
    shown = float(ratio.percent_text.rstrip("%"))
    assert abs(shown - 100 * ratio.value) <= 0.05 + 1e-9 or shown in (0.1, 99.9)
    assert (shown == 100.0) == (num == den)
    assert (shown == 0.0) == (num == 0)


# -- deadlines ---------------------------------------------------------------------------------

def test_days_until():
    assert days_until(date(2024, 12, 31), date(2024, 12, 19)) == 12
    assert days_until(date(2024, 12, 31), date(2024, 12, 31)) == 0
    assert days_until(date(2024, 12, 31), date(2025, 1, 3)) == -3
    assert days_until(date(2025, 3, 1), date(2024, 2, 28)) == 367


@pytest.mark.parametrize(
    "today, text",
    [
        (date(2024, 12, 19), "距缴费截止还有 12 天"),
        (date(2024, 12, 30), "距缴费截止还有 1 天"),
        (date(2024, 12, 31), "今天截止"),
        (date(2025, 1, 3), "已过截止日期 3 天"),
        (datetime(2024, 12, 31, 23, 59), "今天截止"),  # a datetime counts by calendar day
    ],
)
def test_deadline_text(today, text):
    assert deadline_text(date(2024, 12, 31), today) == text
