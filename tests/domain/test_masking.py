"""Masking for public notices: examples and the property that nothing leaks in clear."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from station_app.domain.idnumber import PROVINCE_CODES, make_id
from station_app.domain.masking import COMPOUND_SURNAMES, MaskingPolicy, mask_id, mask_name, mask_phone

# Common CJK ideographs only; "*" never occurs in them, so the invariant applies.
cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
names = st.text(alphabet=cjk, min_size=2, max_size=6)
compound_names = st.builds(lambda s, given_name: s + given_name,
                           st.sampled_from(sorted(COMPOUND_SURNAMES)),
                           st.text(alphabet=cjk, min_size=1, max_size=4))


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("张三", "张*"),
        ("张三丰", "张*丰"),
        ("欧阳娜娜", "欧阳**"),
        ("司马相如", "司马**"),
        ("诸葛孔明", "诸葛**"),
        ("阿卜杜拉", "阿**拉"),
        ("爱新觉罗溥仪", "爱****仪"),
        ("欧阳修", "欧*修"),  # three characters: the three-character rule, surname or not
        ("李", "*"),
        (" 张三 ", "张*"),
        ("张 三", "张*"),
        ("\u3000王小明\t", "王*明"),
        ("", ""),
        ("   ", ""),
        (None, ""),
    ],
)
def test_mask_name_examples(raw, masked):
    assert mask_name(raw) == masked


def test_compound_surname_list_is_complete():
    for surname in ("欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 澹台 轩辕 端木 "
                    "独孤 南宫 西门 百里 呼延 万俟 闻人 申屠 太史 钟离 宗政 濮阳 公冶 拓跋").split():
        assert surname in COMPOUND_SURNAMES


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(names, compound_names))
def test_masked_name_never_reveals_the_name(name):
    masked = mask_name(name)
    assert masked != name
    assert name not in masked
    assert len(masked) == len(name)
    assert "*" in masked
    # At most two characters are shown, and they are in their original places.
    shown = [(i, c) for i, c in enumerate(masked) if c != "*"]
    assert len(shown) <= 2
    assert all(name[i] == c for i, c in shown)


@settings(max_examples=200, deadline=None)
@given(name=names)
def test_given_name_is_hidden_for_two_and_three_characters(name):
    masked = mask_name(name)
    if len(name) <= 3:
        assert masked[0] == name[0]
        assert masked[1] == "*"


# -- ID numbers --------------------------------------------------------------------------------

def test_mask_id_partial_and_hidden():
    assert mask_id("612525199001011234") == "612525********1234"
    assert mask_id("11010519491231002X", "partial") == "110105********002X"
    assert mask_id("11010519491231002X", "hidden") == "*" * 18
    assert mask_id(" 110105 19491231 002X ") == "110105********002X"
    assert mask_id("") == ""
    assert mask_id(None) == ""
    assert mask_id("", "hidden") == ""


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("441900890101221", "44190******1221"),  # old 15-digit: 5 + 6 stars + 4
        ("12345678", "12****78"),
        ("123", "1*3"),
        ("12", "**"),
        ("1", "*"),
        ("1101051949123100", "11010*******3100"),  # 16 chars: 5 + 7 stars + 4
    ],
)
def test_mask_id_tolerates_bad_input(raw, masked):
    assert mask_id(raw) == masked
    assert len(mask_id(raw)) == len(raw)


@settings(max_examples=200, deadline=None)
@given(raw=st.text(alphabet="0123456789Xx-", min_size=8, max_size=30))
def test_mask_id_never_returns_long_input_unchanged(raw):
    masked = mask_id(raw)
    assert masked != raw
    stars = masked.count("*")
    assert stars >= len(raw) // 3


def test_mask_id_rejects_unknown_mode():
    with pytest.raises(ValueError):
        mask_id("612525199001011234", "full")


@settings(max_examples=200, deadline=None)
@given(
    region=st.builds(lambda p, rest: p + rest, st.sampled_from(sorted(PROVINCE_CODES)),
                     st.text(alphabet="0123456789", min_size=4, max_size=4)),
    birth=st.dates(min_value=date(1850, 1, 1), max_value=date(2025, 1, 1)),
    sequence=st.integers(0, 999),
)
def test_valid_ids_never_appear_in_masked_output(region, birth, sequence):
    number = make_id(region, birth, sequence)
    for mode in ("partial", "hidden"):
        masked = mask_id(number, mode)
        assert len(masked) == 18
        assert number not in masked
        assert f"{birth:%Y%m%d}" not in masked  # the birth date is what identifies most
    partial = mask_id(number)
    assert partial[:6] == region and partial[6:14] == "*" * 8 and partial[14:] == number[14:]


# -- phones ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, masked",
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("09151234567", "091******67"),  # 11 digits but a landline: the general rule
        ("0915-1234567", "091*******67"),
        ("12345", "1***5"),
        ("12", "**"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


@settings(max_examples=200, deadline=None)
@given(raw=st.text(alphabet="0123456789-+", min_size=1, max_size=20))
def test_mask_phone_never_returns_input_unchanged(raw):
    masked = mask_phone(raw)
    assert masked != raw
    assert len(masked) == len(raw)
    assert len(masked) - masked.count("*") <= 7  # at most 3 + 4 characters shown


# -- policy ------------------------------------------------------------------------------------

def test_policy_masks_when_enabled():
    policy = MaskingPolicy()
    assert policy.name("张三丰") == "张*丰"
    assert policy.id_number("612525199001011234") == "612525********1234"
    assert policy.phone("13812345678") == "138****5678"


def test_policy_hidden_ids():
    assert MaskingPolicy(id_mode="hidden").id_number("612525199001011234") == "*" * 18


def test_policy_disabled_passes_values_through():
    policy = MaskingPolicy(enabled=False)
    assert policy.name("张三丰") == "张三丰"
    assert policy.id_number("612525199001011234") == "612525199001011234"
    assert policy.phone("13812345678") == "13812345678"


def test_policy_validates_mode_and_is_frozen():
    with pytest.raises(ValueError):
        MaskingPolicy(id_mode="everything")
    with pytest.raises(dataclasses.FrozenInstanceError):
        MaskingPolicy().enabled = False  # type: ignore[misc]
