"""Resident names and phones: validation and the pinyin keys that search-as-you-type uses."""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import ValidationError
from .pinyin_data import ensure_loaded

_NAME_PATTERN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·•A-Za-z]{1,20}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_FULLWIDTH = {ord(c): ord(c) - 0xFEE0 for c in "０１２３４５６７８９－"}


def normalize_name(raw: str) -> str:
    return re.sub(r"\s+", "", raw or "").replace("•", "·")


def validate_name(raw: str) -> str:
    name = normalize_name(raw)
    if not name:
        raise ValidationError("请输入姓名。", field="name", code="empty")
    if not _NAME_PATTERN.match(name):
        raise ValidationError("姓名只能包含汉字（少数民族姓名可用“·”分隔），不超过 20 个字。",
                              field="name", code="chars")
    return name


def normalize_phone(raw: str) -> str:
    return re.sub(r"[\s()（）]", "", (raw or "").translate(_FULLWIDTH))


def validate_phone(raw: str) -> str:
    """Empty is allowed (many elderly residents have none); otherwise mobile or landline."""
    phone = normalize_phone(raw)
    if phone and not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        raise ValidationError("联系电话格式不对：手机号为 11 位数字，座机如 0915-1234567。",
                              field="phone", code="format")
    return phone


def segmented_pinyin_keys(name: str) -> tuple[str, str]:
    """The reference: pypinyin's phrase segmentation of the whole name (~60 µs a name)."""
    ensure_loaded()
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables if s).lower()
    return full, initials


@lru_cache(maxsize=1)
def _phrases():
    ensure_loaded()
    from pypinyin.constants import PHRASES_DICT

    return PHRASES_DICT


@lru_cache(maxsize=20000)
def _char_keys(char: str) -> tuple[str, str]:
    return segmented_pinyin_keys(char)


@lru_cache(maxsize=65536)
def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials) in lower case: 张三 → ("zhangsan", "zs").

    Same result as ``segmented_pinyin_keys``, but fast where it matters (initial sync, demo,
    roster import of 60,000 names): a name holding no multi-character phrase of the pinyin
    dictionary (nearly all) segments into single characters, so its keys are the per-character
    keys joined, and those are cached; the rest take the full segmentation.
    """
    if not name:
        return "", ""
    phrases = _phrases()
    n = len(name)
    if any(name[i:j] in phrases for i in range(n) for j in range(i + 2, n + 1)):
        return segmented_pinyin_keys(name)
    keys = [_char_keys(char) for char in name]
    return "".join(f for f, _ in keys), "".join(i for _, i in keys)
