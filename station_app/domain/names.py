"""Resident names and phones: validation and the pinyin keys that search-as-you-type uses."""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import ValidationError

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


@lru_cache(maxsize=65536)
def pinyin_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials) in lower case: 张三 → ("zhangsan", "zs")."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables if s).lower()
    return full, initials
