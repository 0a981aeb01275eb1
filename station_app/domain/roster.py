"""Township rosters as clerks keep them: header variants, column detection and cell clean-up (pure)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from .enums import EnrollmentStatus, Relation, SpecialGroup

# -- fields and their header variants ---------------------------------------------------------

#: Fields a roster column can map to, with the label the mapping dialog shows.
FIELD_LABELS: dict[str, str] = {
    "name": "姓名",
    "id_number": "身份证号",
    "head_name": "户主姓名",
    "household_no": "户编号",
    "relation": "与户主关系",
    "village": "村",
    "group": "村民小组",
    "phone": "联系电话",
    "special_groups": "人员类别",
    "enrollment_status": "缴费状态",
    "year": "待遇年度",
    "paid_amount": "实缴金额",
    "address": "家庭住址",
    "note": "备注",
    # Read so the column is recognised, never imported: the ID number is the source of truth.
    "sex": "性别（以身份证号为准，不导入）",
    "birth_date": "出生日期（以身份证号为准，不导入）",
    "seq": "序号（不导入）",
}
IGNORE = ""  # mapping value of a column the user chose not to import
REQUIRED_FIELDS = ("name", "id_number")

#: Header texts seen on real rosters (after ``normalize_header``), per field.
HEADER_VARIANTS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "居民姓名", "参保人姓名", "参保人", "成员姓名", "人员姓名", "家庭成员姓名", "参保人员姓名"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "公民身份证号码", "居民身份证号码", "身份证",
                  "证件号码", "证件号", "身份证件号码", "社会保障号码", "公民身份证号"),
    "head_name": ("户主姓名", "户主"),
    "household_no": ("户编号", "户号", "家庭编号", "户主编号", "户籍编号", "家庭户号"),
    "relation": ("与户主关系", "与户主的关系", "家庭关系", "关系", "与户主关系名称"),
    "village": ("村", "行政村", "村名", "村（社区）", "村社区", "所在村", "村居", "村委会"),
    "group": ("组", "村民小组", "小组", "组别", "所在组", "组名", "村组", "社", "村民组"),
    "phone": ("联系电话", "电话", "手机号", "手机号码", "联系方式", "电话号码", "手机"),
    "special_groups": ("人员类别", "人员身份", "特殊人群类别", "身份类别", "困难类别", "人员属性",
                       "特殊身份", "资助对象类别", "困难群众类别"),
    "enrollment_status": ("缴费状态", "参保状态", "是否缴费", "缴费情况", "参保缴费状态", "参保情况"),
    "year": ("待遇年度", "参保年度", "年度", "缴费年度"),
    "paid_amount": ("实缴金额", "缴费金额", "个人缴费", "个人缴费金额", "实缴"),
    "address": ("家庭住址", "住址", "地址", "居住地址", "户籍地址"),
    "note": ("备注", "说明"),
    "sex": ("性别",),
    "birth_date": ("出生日期", "出生年月", "出生年月日"),
    "seq": ("序号", "编号", "No", "NO"),
}

#: Columns about the head that must not be taken for the member's own (户主身份证号 ≠ 身份证号).
_HEAD_ATTRIBUTE = re.compile(r"^户主(身份|证件|电话|联系|手机|性别|出生)")

# One table: full-width ASCII and the ideographic space folded, zero-width characters dropped.
_FOLD: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = 0x20
_FOLD[0xA0] = 0x20
_FOLD.update(dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None))
_BRACKETED = re.compile(r"[（(【\[].*?[）)】\]]")


def to_halfwidth(text: str) -> str:
    """Full-width ASCII (０１２, ＡＢＣ) and the ideographic space to their ASCII forms."""
    return text.translate(_FOLD)


def normalize_header(value: Any) -> str:
    """身份证号码（18位）* → 身份证号码: no spaces, brackets, stars or trailing colon."""
    if value is None:
        return ""
    text = to_halfwidth(str(value))
    text = _BRACKETED.sub("", text)
    text = re.sub(r"[\s*:：]", "", text)
    return text


_VARIANT_LOOKUP: dict[str, str] = {v: f for f, vs in HEADER_VARIANTS.items() for v in vs}
# Longest first, so 户主姓名 is found in "户主姓名（必填）" before 姓名 is.
_CONTAINED = sorted(((v, f) for v, f in _VARIANT_LOOKUP.items() if len(v) >= 2),
                    key=lambda item: -len(item[0]))


def match_header(value: Any) -> tuple[str | None, int]:
    """(field, score) for one header cell: 3 exact variant, 2 variant inside the text, 0 none."""
    text = normalize_header(value)
    if not text or len(text) > 12:  # a title sentence, not a column header
        return None, 0
    if _HEAD_ATTRIBUTE.match(text):
        return None, 0
    if text in _VARIANT_LOOKUP:
        return _VARIANT_LOOKUP[text], 3
    for variant, name in _CONTAINED:
        if variant in text:
            return name, 2
    return None, 0


@dataclass
class HeaderGuess:
    """Where the header is (0-based rows in the scanned block) and what each column holds."""

    first_row: int
    last_row: int
    labels: list[str]
    mapping: dict[int, str]
    score: int

    @property
    def data_start(self) -> int:
        return self.last_row + 1


def _score_labels(labels: Sequence[Any]) -> tuple[dict[int, str], int]:
    best: dict[str, tuple[int, int]] = {}  # field → (score, column)
    for column, label in enumerate(labels):
        name, score = match_header(label)
        if name is None:
            continue
        held = best.get(name)
        # A field is taken by its best column; on a tie, the leftmost keeps it.
        if held is None or score > held[0]:
            best[name] = (score, column)
    mapping = {column: name for name, (_score, column) in best.items()}
    return mapping, sum(score for score, _column in best.values())


def _label(cell: Any) -> str:
    return "" if cell is None else re.sub(r"\s+", "", to_halfwidth(str(cell)))


_ID_SHAPE = re.compile(r"^\d{15}$|^\d{17}[\dXx]$")


def _looks_like_data(cell: Any) -> bool:
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return abs(cell) >= 1e14
    return bool(_ID_SHAPE.match(_label(cell)))


def detect_header(rows: Sequence[Sequence[Any]], *, scan: int = 30) -> HeaderGuess | None:
    """Find the header among the first ``scan`` rows; title rows above it are skipped.

    Also tries two-row headers (a merged group caption over sub-headers): per column the
    lower cell is used when it names a field, else the upper one. Needs 姓名 and 身份证号.
    """
    best: HeaderGuess | None = None
    limit = min(scan, len(rows))
    for i in range(limit):
        candidates = [(i, i, list(rows[i]))]
        if i + 1 < len(rows):
            upper, lower = list(rows[i]), list(rows[i + 1])
            width = max(len(upper), len(lower))
            upper += [None] * (width - len(upper))
            lower += [None] * (width - len(lower))
            if any(_looks_like_data(cell) for cell in lower):
                lower = [None] * width  # the row under a header is data: no two-row header here
            from_lower = [match_header(lo)[0] is not None for lo in lower]
            from_upper = [not low and match_header(up)[0] is not None for up, low in zip(upper, from_lower)]
            # Only a real two-row header: each row must name a field the other does not, else
            # a title row or the first data row would be swallowed into the header.
            if any(from_lower) and any(from_upper):
                combined = [lo if low else up for up, lo, low in zip(upper, lower, from_lower)]
                candidates.append((i, i + 1, combined))
        for first, last, labels in candidates:
            mapping, score = _score_labels(labels)
            fields = set(mapping.values())
            if not all(f in fields for f in REQUIRED_FIELDS):
                continue
            if best is None or score > best.score:
                best = HeaderGuess(first, last, [_label(x) for x in labels], mapping, score)
    return best


# -- cells ----------------------------------------------------------------------------------

SCIENTIFIC_ID_REASON = "身份证号被Excel存成了科学计数法，后几位已丢失，请把该列设为文本后重新录入"
_SCIENTIFIC = re.compile(r"^[+-]?(\d+)(?:\.(\d*))?[eE][+]?(\d+)$")
#: Doubles are exact integers only up to 2**53 (16 digits); an 18-digit ID can never survive.
_EXACT_FLOAT_LIMIT = 2 ** 53


def cell_text(value: Any) -> str:
    """A cell as trimmed text: numbers without a spurious ".0", full-width ASCII folded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        if value.is_integer() and abs(value) <= _EXACT_FLOAT_LIMIT:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10]
    return to_halfwidth(value if isinstance(value, str) else str(value)).strip()


def display_value(value: Any) -> str:
    """A raw cell as the clerk saw it in Excel (for the error report): 1.10105194912310E+17."""
    if isinstance(value, float) and not (value.is_integer() and abs(value) <= _EXACT_FLOAT_LIMIT):
        return f"{value:.14E}"
    return cell_text(value) if not isinstance(value, str) else value


def id_from_cell(value: Any) -> tuple[str, str | None]:
    """(ID text to validate, reason it is unusable or None).

    A number is fine when every digit survived: ints, and floats up to 2**53 (old 15-digit
    numbers). A larger float, or text like "1.10105E+17" from a CSV Excel saved, lost digits.
    """
    if value is None:
        return "", None
    if isinstance(value, bool):
        return "", "身份证号不能是是/否值"
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= _EXACT_FLOAT_LIMIT:
            return str(int(value)), None
        return display_value(value), SCIENTIFIC_ID_REASON
    text = "".join(to_halfwidth(str(value)).split())
    # ="110105…" and '110105… are the usual tricks to keep Excel from converting the number.
    if text.startswith("=") and len(text) > 3 and text[1] == '"' and text.endswith('"'):
        text = text[2:-1]
    text = text.lstrip("'`")
    match = _SCIENTIFIC.fullmatch(text)
    if match:
        written = (match.group(1) + (match.group(2) or "")).lstrip("0")
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text, SCIENTIFIC_ID_REASON
        digits = str(int(number)) if number == number.to_integral_value() else ""
        # Recoverable only if the mantissa spells out every digit of the number.
        if digits and len(written) >= len(digits):
            return digits, None
        return text, SCIENTIFIC_ID_REASON
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text, None


def phone_from_cell(value: Any) -> str:
    """The first number of "138…，0915-…" (rosters often list two); numbers kept whole."""
    text = cell_text(value)
    if not text:
        return ""
    first = re.split(r"[,，、;；/]|\s{1,}(?=1\d{10})", text)[0]
    return first.strip()


# -- vocabularies ---------------------------------------------------------------------------

_RELATION_SYNONYMS = {
    "本人": "head", "户主": "head", "户主本人": "head",
    "配偶": "spouse", "妻": "spouse", "妻子": "spouse", "夫": "spouse", "丈夫": "spouse", "之妻": "spouse",
    "之夫": "spouse", "老伴": "spouse",
    "子": "son", "儿子": "son", "之子": "son", "长子": "son", "次子": "son", "三子": "son", "四子": "son",
    "独子": "son", "养子": "son", "继子": "son",
    "女": "daughter", "女儿": "daughter", "之女": "daughter", "长女": "daughter", "次女": "daughter",
    "三女": "daughter", "四女": "daughter", "独女": "daughter", "养女": "daughter", "继女": "daughter",
    "儿媳": "daughter_in_law", "媳妇": "daughter_in_law", "儿媳妇": "daughter_in_law", "之媳": "daughter_in_law",
    "女婿": "son_in_law", "之婿": "son_in_law",
    "孙子": "grandson", "孙": "grandson", "外孙": "grandson", "外孙子": "grandson", "之孙": "grandson",
    "孙女": "granddaughter", "外孙女": "granddaughter", "之孙女": "granddaughter",
    "父亲": "father", "父": "father", "之父": "father", "公公": "father", "岳父": "father",
    "母亲": "mother", "母": "mother", "之母": "mother", "婆婆": "mother", "岳母": "mother",
    "兄弟姐妹": "sibling", "兄": "sibling", "弟": "sibling", "姐": "sibling", "妹": "sibling",
    "哥哥": "sibling", "弟弟": "sibling", "姐姐": "sibling", "妹妹": "sibling", "兄弟": "sibling", "姐妹": "sibling",
    "其他": "other", "其它": "other",
}


_RELATIONS = {**_RELATION_SYNONYMS, **{m.label: m.value for m in Relation}, **{m.value: m.value for m in Relation}}


@lru_cache(maxsize=1024)  # a roster repeats a handful of words thousands of times
def relation_from_text(text: str) -> tuple[str, bool]:
    """(Relation code, recognised). Unknown wording falls back to 其他 and is kept in the note."""
    label = re.sub(r"\s+", "", to_halfwidth(text or ""))
    if not label:
        return Relation.OTHER.value, True
    code = _RELATIONS.get(label) or _RELATIONS.get(label.lower())
    if code is not None:
        return code, True
    return Relation.OTHER.value, False


#: Every common spelling of the special groups on rosters (民政, 乡村振兴 and 残联 lists), to
#: the codes of enums.SpecialGroup: the 三类户 of 防返贫监测 each keep their own code.
_GROUP_SYNONYMS: dict[str, str] = {
    "特困": "tekun", "特困人员": "tekun", "特困供养": "tekun", "特困供养人员": "tekun", "五保": "tekun",
    "五保户": "tekun", "分散供养特困人员": "tekun", "集中供养特困人员": "tekun", "特困户": "tekun",
    "农村特困": "tekun", "城市特困": "tekun", "特困对象": "tekun",
    "孤儿": "orphan", "事实无人抚养儿童": "orphan", "孤儿/事实无人抚养儿童": "orphan", "事实孤儿": "orphan",
    "孤儿及事实无人抚养儿童": "orphan", "孤儿和事实无人抚养儿童": "orphan",
    "低保": "dibao", "低保户": "dibao", "低保对象": "dibao", "城乡低保": "dibao", "农村低保": "dibao",
    "城市低保": "dibao", "低保人员": "dibao", "最低生活保障对象": "dibao", "低保家庭成员": "dibao",
    "返贫致贫人口": "fanpin", "返贫人口": "fanpin", "致贫人口": "fanpin", "返贫户": "fanpin",
    "致贫户": "fanpin", "返贫致贫户": "fanpin", "返贫致贫": "fanpin",
    "低保边缘": "dibao_edge", "低保边缘户": "dibao_edge", "低保边缘家庭成员": "dibao_edge",
    "低保边缘家庭": "dibao_edge", "低边": "dibao_edge", "低边户": "dibao_edge",
    "脱贫不稳定户": "unstable", "脱贫不稳定": "unstable", "脱贫不稳定人口": "unstable",
    "边缘易致贫户": "edge_poor", "边缘易致贫": "edge_poor", "边缘易致贫人口": "edge_poor",
    "边缘户": "edge_poor",
    "突发严重困难户": "sudden", "突发严重困难": "sudden", "突发严重困难人口": "sudden",
    "监测": "monitor", "监测户": "monitor", "监测对象": "monitor", "防返贫监测对象": "monitor",
    "返贫致贫风险监测对象": "monitor", "防止返贫监测对象": "monitor", "三类户": "monitor",
    "三类人员": "monitor", "防返贫监测户": "monitor", "易返贫致贫人口": "monitor",
    "纳入监测范围的易返贫致贫人口": "monitor",
    "脱贫户": "tuopin", "脱贫": "tuopin", "脱贫人口": "tuopin", "建档立卡": "tuopin",
    "建档立卡贫困户": "tuopin", "建档立卡户": "tuopin", "脱贫户（建档立卡）": "tuopin",
    "已脱贫人口": "tuopin", "建档立卡脱贫户": "tuopin", "脱贫享受政策户": "tuopin",
    "重度残疾": "disabled", "重度残疾人": "disabled", "重残": "disabled", "一二级残疾": "disabled",
    "一级残疾": "disabled", "二级残疾": "disabled", "重度残疾人员": "disabled",
}
_NO_GROUP = {"", "无", "一般", "普通", "一般人员", "普通居民", "一般户", "/", "-", "—", "否"}


_GROUP_LABELS = {m.label: m.value for m in SpecialGroup}


def special_groups_from_text(text: str) -> tuple[list[str], list[str]]:
    """(SpecialGroup codes, words not recognised) from "低保、脱贫户" and the like."""
    codes, unknown = _special_groups(text or "")
    return list(codes), list(unknown)


@lru_cache(maxsize=1024)
def _special_groups(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    codes: list[str] = []
    unknown: list[str] = []
    labels = _GROUP_LABELS
    for word in re.split(r"[、,，;；/\s+＋]+", to_halfwidth(text or "")):
        word = word.strip()
        if word in _NO_GROUP:
            continue
        code = labels.get(word) or _GROUP_SYNONYMS.get(word)
        if code is None:
            unknown.append(word)
        elif code not in codes:
            codes.append(code)
    return tuple(codes), tuple(unknown)


SPECIAL_GROUP_HINT = "、".join(m.label for m in SpecialGroup)

_STATUS_SYNONYMS: dict[str, str] = {
    "已缴": "paid", "已缴费": "paid", "已交": "paid", "已交费": "paid", "已参保": "paid", "是": "paid",
    "缴费": "paid", "已缴纳": "paid", "个人缴费": "paid",
    "未缴": "unpaid", "未缴费": "unpaid", "未交": "unpaid", "未交费": "unpaid", "否": "unpaid",
    "未参保": "unpaid", "新生儿待参保": "unpaid", "待缴费": "unpaid", "未缴纳": "unpaid",
    "资助": "subsidised", "资助参保": "subsidised", "资助代缴": "subsidised", "代缴": "subsidised",
    "全额资助": "subsidised", "定额资助": "subsidised",
    "其他渠道参保": "other_channel", "职工医保": "other_channel", "参加职工医保": "other_channel",
    "外地参保": "other_channel", "异地参保": "other_channel", "军人": "other_channel",
    "在外地参保": "other_channel", "学校参保": "other_channel",
    "无需参保": "not_required", "死亡": "not_required", "迁出": "not_required", "已死亡": "not_required",
    "已迁出": "not_required", "服刑": "not_required",
}


_STATUS_LABELS = {m.label: m.value for m in EnrollmentStatus}


@lru_cache(maxsize=1024)
def enrollment_status_from_text(text: str) -> tuple[str | None, str]:
    """(EnrollmentStatus code or None if unrecognised, note to keep e.g. "参加职工医保")."""
    label = re.sub(r"\s+", "", to_halfwidth(text or ""))
    if label in _STATUS_LABELS:
        return _STATUS_LABELS[label], ""
    code = _STATUS_SYNONYMS.get(label)
    if code is None:
        return None, ""
    keep = label if code in ("other_channel", "not_required") and label not in ("其他渠道参保", "无需参保") else ""
    return code, keep


STATUS_HINT = "、".join(m.label for m in EnrollmentStatus)

# -- groups ---------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int | None:
    """一 → 1, 十二 → 12, 二十 → 20, 二十三 → 23 (up to 99); None if not a numeral."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if all(c in _CN_DIGITS for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    if "十" in text and text.count("十") == 1:
        tens, _, ones = text.partition("十")
        if (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
            return None
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return None


_GROUP_SHAPE = re.compile(r"^第?([0-9一二三四五六七八九十两〇零]+)(?:村民小组|村民组|小组|组|社|队)?$")


@lru_cache(maxsize=1024)
def group_key(text: str) -> str:
    """A comparable key for a group name: "一组", "1组", "第01组", "01" and "１" all give "#1"."""
    label = re.sub(r"\s+", "", to_halfwidth(text or ""))
    match = _GROUP_SHAPE.fullmatch(label)
    if match:
        number = chinese_number(match.group(1))
        if number is not None:
            return f"#{number}"
    return label


@dataclass
class RowValues:
    """One data row, by field, as text (the raw cells kept separately for the report)."""

    values: dict[str, Any] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return cell_text(self.values.get(name))

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return name in self.values


def map_row(cells: Sequence[Any], mapping: dict[int, str]) -> RowValues:
    values: dict[str, Any] = {}
    for column, name in mapping.items():
        if name and name in FIELD_LABELS:
            values[name] = cells[column] if column < len(cells) else None
    return RowValues(values)


_FOOTER = re.compile(r"^(合计|小计|总计|共计|填表人|制表人|审核人|负责人|填报人|说明|注[:：])")


def is_filler_row(row: RowValues) -> bool:
    """Rows to skip quietly: blank, totals and signature lines, a header repeated mid-sheet."""
    name, number = row.text("name"), row.text("id_number")
    if not name and not number:
        return True
    if _FOOTER.match(name) or _FOOTER.match(number):
        return True
    return match_header(number)[0] == "id_number" and match_header(name)[0] == "name"


def parse_amount_yuan(value: Any) -> int | None:
    """"380", "380.00元", 380.0 → fen; None when empty or not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(round(float(value) * 100))
    text = re.sub(r"[元¥￥,\s]", "", to_halfwidth(str(value)))
    try:
        return int(round(float(text) * 100))
    except ValueError:
        return None


def parse_year(value: Any) -> int | None:
    text = re.sub(r"(年度|年)$", "", cell_text(value))
    if re.fullmatch(r"20\d\d", text):
        return int(text)
    return None


def unique_labels(labels: Iterable[str]) -> list[str]:
    """Header labels made unique for display ("备注", "备注(2)")."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        label = label or "（空）"
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}({seen[label]})")
    return out
