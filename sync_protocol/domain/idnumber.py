"""Resident ID numbers (居民身份号码, GB 11643-1999): normalise, validate, parse, build."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sync_protocol.domain.enums import Sex
from sync_protocol.domain.errors import ValidationError

#: ISO 7064 MOD 11-2 weights for positions 1..17 (W_i = 2^(18-i) mod 11).
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character indexed by (sum mod 11).
CHECK_MAP = "10X98765432"

#: Province-level prefixes. Only the prefix is checked: counties are merged and renamed, but
#: the numbers already issued keep their old six-digit address code for life.
PROVINCE_CODES = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)

#: Sanity bound only: the standard's own appendix example was born in 1880.
MIN_BIRTH_YEAR = 1850

_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # ！..～ → !..~
_FULLWIDTH[0x3000] = 0x20  # ideographic space, removed with the other whitespace below
# Invisible characters that survive copy-paste from spreadsheets and web pages.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)

# ASCII only: str.isdigit() would also accept "²" or Arabic-Indic digits.
_DIGITS17 = re.compile(r"[0-9]{17}", re.ASCII)
_DIGITS15 = re.compile(r"[0-9]{15}", re.ASCII)
_ID18 = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)


class IdNumberError(ValidationError):
    """An ID number that cannot be accepted; ``code`` names the fault for tests and the UI."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message, field="id_number", code=code)


def check_digit(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if not _DIGITS17.fullmatch(first17):
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_MAP[total % 11]


def normalize_id(raw: str) -> str:
    """Canonical form: no whitespace, ASCII, upper-case X, old 15-digit numbers upgraded to 18.

    Validates nothing beyond what the 15 → 18 conversion needs; ``parse_id`` does the rest.
    """
    if not raw:
        return ""
    text = raw.translate(_FULLWIDTH).translate(_INVISIBLE)
    text = "".join(text.split()).replace("x", "X")
    if _DIGITS15.fullmatch(text):
        # GB 11643-1989 numbers carry a two-digit year, all of them in the 1900s.
        body = text[:6] + "19" + text[6:]
        text = body + check_digit(body)
    return text


@dataclass(frozen=True)
class IdInfo:
    """What an accepted ID number says about its holder."""

    # Kept out of repr so a logged or printed IdInfo never shows the number in clear.
    number: str = field(repr=False)
    birth_date: date
    sex: str  # Sex.MALE ("M", odd sequence) or Sex.FEMALE ("F", even)
    region_code: str

    def age_on(self, on: date) -> int:
        """Completed years (周岁) on ``on``; a 29 February birthday counts from 1 March."""
        if on < self.birth_date:
            raise ValueError("date is before the birth date")
        before_birthday = (on.month, on.day) < (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - int(before_birthday)


def parse_id(raw: str | None, *, today: date | None = None) -> IdInfo:
    """Validate and parse; raises ``IdNumberError`` with one ``code`` per fault.

    Messages never echo the whole number: they end up in dialogs, screenshots and logs.
    """
    number = normalize_id(raw or "")
    if not number:
        raise IdNumberError("请输入身份证号", code="empty")
    if len(number) not in (15, 18):
        raise IdNumberError(f"身份证号位数不对：应为18位（或旧版15位），现为{len(number)}位", code="length")
    # 15 characters left after normalize_id means an old-style number with a non-digit in it.
    if len(number) == 15 or not _ID18.fullmatch(number):
        raise IdNumberError("身份证号含有非法字符：只能是数字，最后一位可以是X", code="chars")
    if number[:2] not in PROVINCE_CODES:
        raise IdNumberError("身份证号前两位（省份代码）无效", code="region")

    birth = _birth_date(number[6:14], today or date.today())

    expected = check_digit(number[:17])
    if number[17] != expected:
        # Naming the expected character helps, but the usual cause is a mistyped digit in
        # the first 17, so "fixing" only the last one would make a wrong number pass.
        raise IdNumberError(
            f"身份证号校验码错误：最后一位应为{expected}。请先逐位核对前17位是否抄错",
            code="check_digit",
        )

    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    return IdInfo(number=number, birth_date=birth, sex=sex, region_code=number[:6])


def _birth_date(yyyymmdd: str, today: date) -> date:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8])
    try:
        birth = date(year, month, day)
    except ValueError:
        raise IdNumberError(
            f"身份证号中的出生日期无效：第7–14位“{yyyymmdd}”不是真实存在的日期", code="birth_date"
        ) from None
    if birth > today:
        raise IdNumberError(
            f"身份证号中的出生日期无效：{birth.year}年{birth.month}月{birth.day}日晚于今天", code="birth_date"
        )
    if year < MIN_BIRTH_YEAR:
        raise IdNumberError(
            f"身份证号中的出生日期无效：出生年份{year}早于{MIN_BIRTH_YEAR}年", code="birth_date"
        )
    return birth


def is_valid_id(raw: str | None, *, today: date | None = None) -> bool:
    try:
        parse_id(raw, today=today)
    except IdNumberError:
        return False
    return True


def make_id(region_code: str, birth: date, sequence: int) -> str:
    """Build a valid 18-digit number (demo data and tests; never invent one for a real person)."""
    if not re.fullmatch(r"[0-9]{6}", region_code, re.ASCII):
        raise ValueError("region_code must be 6 ASCII digits")
    if region_code[:2] not in PROVINCE_CODES:
        raise ValueError("region_code has no valid province prefix")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be 0..999")
    if birth.year < MIN_BIRTH_YEAR:
        raise ValueError(f"birth year must be {MIN_BIRTH_YEAR} or later")
    body = f"{region_code}{birth:%Y%m%d}{sequence:03d}"
    return body + check_digit(body)
