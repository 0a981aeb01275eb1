"""De-identification of names, ID numbers and phones for public notices (PIPL, 去标识化)."""

from __future__ import annotations

from dataclasses import dataclass

MASK = "*"

#: Two-character surnames: for these the surname is the first two characters, so keeping
#: only one would reveal a given-name character instead of the whole family name.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 澹台 轩辕 端木 "
    "独孤 南宫 西门 百里 呼延 万俟 闻人 申屠 太史 钟离 宗政 濮阳 公冶 拓跋".split()
)

ID_MODES = ("partial", "hidden")
#: Fixed width in "hidden" mode so the notice does not even leak the length of the number.
HIDDEN_ID = MASK * 18


def _squeeze(text: str | None) -> str:
    """Drop all whitespace: stray spaces inside a name or number would shift what is kept."""
    return "".join((text or "").split())


def _keep_ends(text: str, head: int, tail: int) -> str:
    return text[:head] + MASK * (len(text) - head - tail) + (text[len(text) - tail:] if tail else "")


def mask_name(name: str | None) -> str:
    """张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧阳**, 阿卜杜拉 → 阿**拉; length kept.

    For any name of two or more characters (without "*" in it) the result differs from the
    name, so the full name never appears on a notice.
    """
    text = _squeeze(name)
    n = len(text)
    if n == 0:
        return ""
    if n == 1:
        return MASK
    if n == 2:
        return text[0] + MASK
    if n == 3:
        return _keep_ends(text, 1, 1)
    if text[:2] in COMPOUND_SURNAMES:
        return _keep_ends(text, 2, 0)
    return _keep_ends(text, 1, 1)


def mask_id(number: str | None, mode: str = "partial") -> str:
    """ "partial": first 6 + 8 stars + last 4 (region and sequence stay, birth date goes);
    "hidden": 18 stars. Tolerant of malformed input, which is masked more, never less.
    """
    if mode not in ID_MODES:
        raise ValueError(f"unknown id mask mode {mode!r}")
    text = _squeeze(number)
    if not text:
        return ""
    if mode == "hidden":
        return HIDDEN_ID
    n = len(text)
    if n == 18:
        return _keep_ends(text, 6, 4)
    # Anything else (old 15-digit numbers, typos): at most a third at each end, so at least
    # a third is always starred and nothing of two or more characters comes back unchanged.
    third = n // 3
    return _keep_ends(text, min(6, third), min(4, third))


def mask_phone(phone: str | None) -> str:
    """11-digit mobile → 138****5678; other forms keep at most 3 leading and 2 trailing chars."""
    text = _squeeze(phone)
    n = len(text)
    if n == 0:
        return ""
    if n == 11 and text.isascii() and text.isdigit() and text[0] == "1":
        return _keep_ends(text, 3, 4)
    third = n // 3
    return _keep_ends(text, min(3, third), min(2, third))


@dataclass(frozen=True)
class MaskingPolicy:
    """How a notice shows personal data; only ``enabled=False`` lets values through as is."""

    enabled: bool = True
    id_mode: str = "partial"

    def __post_init__(self) -> None:
        if self.id_mode not in ID_MODES:
            raise ValueError(f"unknown id mask mode {self.id_mode!r}")

    def name(self, s: str | None) -> str:
        return mask_name(s) if self.enabled else (s or "")

    def id_number(self, s: str | None) -> str:
        return mask_id(s, self.id_mode) if self.enabled else (s or "")

    def phone(self, s: str | None) -> str:
        return mask_phone(s) if self.enabled else (s or "")
