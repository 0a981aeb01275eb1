"""Numbers, dates and amounts read the Chinese way, for scripts a loudspeaker or a voice reads.

A text-to-speech voice reads "2027" as "两千零二十七" and "12/31" unpredictably; a village
announcer says 二〇二七年, 十二月三十一日, 四百元, 百分之九十六点九. Everything here is pure.
"""

from __future__ import annotations

import re
from datetime import date

DIGITS = "零一二三四五六七八九"
#: Years are read digit by digit with 〇 (GB/T 15835 出版物上数字用法: 二〇二七年).
YEAR_DIGITS = "〇一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")


def _four_digits(n: int) -> str:
    """0 < n < 10000, with inner zeros read as 零 (1005 → 一千零五)."""
    text, zero = "", False
    for power in range(3, -1, -1):
        digit = n // 10**power % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += DIGITS[digit] + _SMALL_UNITS[power]
    return text


def integer(n: int) -> str:
    """A cardinal number: 570 → 五百七十, 10 → 十, 110 → 一百一十, 10005 → 一万零五."""
    if n < 0:
        return "负" + integer(-n)
    if n == 0:
        return "零"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    text, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        # 一万零五, 一亿零一千: a zero is read where a group is short or a whole group is empty
        if text and (group < 1000 or gap):
            text += "零"
        gap = False
        text += _four_digits(group) + _BIG_UNITS[index]
    # 一十五 is read 十五 at the head of a number
    if text.startswith("一十"):
        text = text[1:]
    return text


def year(y: int) -> str:
    """2027 → 二〇二七年."""
    return "".join(YEAR_DIGITS[int(d)] for d in str(y)) + "年"


def month_day(d: date) -> str:
    """2026-12-06 → 十二月六日."""
    return f"{integer(d.month)}月{integer(d.day)}日"


def full_date(d: date) -> str:
    """2026-12-31 → 二〇二六年十二月三十一日."""
    return year(d.year) + month_day(d)


def decimal(text: str) -> str:
    """'96.9' → 九十六点九 (digits after the point read one by one)."""
    whole, _, frac = text.partition(".")
    spoken = integer(int(whole or "0"))
    if frac:
        spoken += "点" + "".join(DIGITS[int(d)] for d in frac)
    return spoken


def amount_fen(fen: int) -> str:
    """An amount in 分: 40000 → 四百元, 15050 → 一百五十元五角."""
    yuan, rest = divmod(abs(fen), 100)
    jiao, fen_part = divmod(rest, 10)
    text = ("负" if fen < 0 else "") + integer(yuan) + "元"
    if jiao:
        text += DIGITS[jiao] + "角"
    if fen_part:
        text += ("零" if not jiao else "") + DIGITS[fen_part] + "分"
    return text


def percent(value: float, places: int = 1) -> str:
    """96.94 → 百分之九十六点九."""
    return "百分之" + decimal(f"{value:.{places}f}".rstrip("0").rstrip("."))


# ---------------------------------------------------------------------------- free text

_PATTERNS = [
    # 2026年9月1日 / 2026年 — a year is read digit by digit
    (re.compile(r"(\d{4})年"), lambda m: year(int(m.group(1)))),
    (re.compile(r"(\d+(?:\.\d+)?)%"), lambda m: "百分之" + decimal(m.group(1))),
    (re.compile(r"(\d+(?:\.\d+)?)"), lambda m: decimal(m.group(1))),
]


def speakable(text: str) -> str:
    """Free text with Arabic numerals → the same text as an announcer reads it.

    Thousands separators go first (12,345 → 12345); years before 年 digit by digit; percentages;
    every other number as a cardinal (with 点 for decimals).
    """
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    for pattern, spoken in _PATTERNS:
        text = pattern.sub(spoken, text)
    return text
