"""Numbers, dates and amounts as a village announcer reads them."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.domain import spoken


@pytest.mark.parametrize("number, words", [
    (0, "零"), (7, "七"), (10, "十"), (15, "十五"), (20, "二十"), (110, "一百一十"), (570, "五百七十"),
    (1005, "一千零五"), (1010, "一千零一十"), (10000, "一万"), (10005, "一万零五"), (10200, "一万零二百"),
    (12345, "一万二千三百四十五"), (58200, "五万八千二百"), (100000005, "一亿零五"),
    (100001000, "一亿零一千"), (10010000, "一千零一万"), (-3, "负三"),
])
def test_integers(number, words):
    assert spoken.integer(number) == words


def test_years_dates_amounts_percentages():
    assert spoken.year(2027) == "二〇二七年"
    assert spoken.year(2010) == "二〇一〇年"
    assert spoken.month_day(date(2026, 12, 6)) == "十二月六日"
    assert spoken.full_date(date(2026, 12, 31)) == "二〇二六年十二月三十一日"
    assert spoken.amount_fen(40_000) == "四百元"
    assert spoken.amount_fen(15_050) == "一百五十元五角"
    assert spoken.amount_fen(15_005) == "一百五十元零五分"
    assert spoken.percent(96.94) == "百分之九十六点九"
    assert spoken.percent(85, 0) == "百分之八十五"


def test_free_text_is_read_the_chinese_way():
    text = "截至12月6日，本村还有570人未缴2027年医保费，截止2026年12月31日，每人400元，报销85%，共12,345人，3.5个月"
    assert spoken.speakable(text) == (
        "截至十二月六日，本村还有五百七十人未缴二〇二七年医保费，截止二〇二六年十二月三十一日，每人四百元，"
        "报销百分之八十五，共一万二千三百四十五人，三点五个月")
    assert not any(ch.isdigit() for ch in spoken.speakable("2025年起设置3个月等待期"))
