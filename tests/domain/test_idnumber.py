"""GB 11643 ID numbers: normalisation, each fault code, 15 → 18, make_id round trip."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from station_app.domain.enums import Sex
from station_app.domain.errors import ValidationError
from station_app.domain.idnumber import (
    PROVINCE_CODES,
    IdInfo,
    IdNumberError,
    check_digit,
    is_valid_id,
    make_id,
    normalize_id,
    parse_id,
)

TODAY = date(2025, 6, 1)


def with_check(first17: str) -> str:
    return first17 + check_digit(first17)


# -- published test vectors ------------------------------------------------------------------

@pytest.mark.parametrize(
    "number, sex, birth, region",
    [
        ("11010519491231002X", "F", date(1949, 12, 31), "110105"),
        ("440524188001010014", "M", date(1880, 1, 1), "440524"),
        ("34052419800101001X", "M", date(1980, 1, 1), "340524"),
    ],
)
def test_published_vectors_parse(number, sex, birth, region):
    info = parse_id(number, today=TODAY)
    assert info == IdInfo(number=number, birth_date=birth, sex=sex, region_code=region)
    assert info.sex == Sex(sex)
    assert is_valid_id(number, today=TODAY)


def test_check_digit_known_values():
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    assert check_digit("34052419800101001") == "X"
    assert check_digit("44190019890101221") == "9"


@settings(max_examples=200, deadline=None)
@given(first17=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_matches_the_iso_7064_definition(first17):
    # Independent of the lookup string: weights 2^(17-i) mod 11 and check = (12 - S mod 11) mod 11,
    # so that sum(a_i * W_i) + check * 1 ≡ 1 (mod 11).
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    expected = "X" if value == 10 else str(value)
    assert check_digit(first17) == expected
    assert (total + (10 if expected == "X" else int(expected))) % 11 == 1


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100２", "11010519491231002X", ""])
def test_check_digit_rejects_non_17_digits(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


def test_fifteen_digit_number_converts():
    assert normalize_id("441900890101221") == "441900198901012219"
    info = parse_id("441900890101221", today=TODAY)
    assert info.number == "441900198901012219"
    assert info.birth_date == date(1989, 1, 1)
    assert info.sex == "M"


# -- normalisation -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        "１１０１０５１９４９１２３１００２ｘ",  # full-width digits and x from a Chinese IME
        "１１０１０５１９４９１２３１００２Ｘ",
        "11010519491231002x",
        " 110105 19491231 002X ",
        "\u3000110105\t19491231\n002X\u3000",
        "110105\u200b19491231002X\ufeff",  # zero-width junk from copy-paste
    ],
)
def test_messy_input_normalises_and_validates(raw):
    assert normalize_id(raw) == "11010519491231002X"
    assert parse_id(raw, today=TODAY).number == "11010519491231002X"


def test_normalize_leaves_other_lengths_alone():
    assert normalize_id("12345") == "12345"
    assert normalize_id("") == ""
    # 15 characters that are not all digits are not "converted" into something plausible.
    assert normalize_id("44190089010122X") == "44190089010122X"


# -- each fault has its own code -------------------------------------------------------------

def fault(raw, today=TODAY) -> IdNumberError:
    with pytest.raises(IdNumberError) as caught:
        parse_id(raw, today=today)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert error.field == "id_number"
    assert error.message and str(error) == error.message
    return error


@pytest.mark.parametrize("raw", ["", "   ", "\u3000", None])
def test_empty(raw):
    error = fault(raw)
    assert error.code == "empty"
    assert error.message == "请输入身份证号"


@pytest.mark.parametrize("raw, n", [("123", 3), ("11010519491231002", 17), ("11010519491231002X1", 19), ("4419008901012", 13)])
def test_length(raw, n):
    error = fault(raw)
    assert error.code == "length"
    assert error.message == f"身份证号位数不对：应为18位（或旧版15位），现为{n}位"


@pytest.mark.parametrize(
    "raw",
    [
        "1101051949123100XX",  # X only allowed last
        "X10105194912310021",
        "11010519491231002A",
        "11010519491231002Y",
        "11010519491231002²",  # str.isdigit() says yes; the standard says no
        "11010519491231002٣",  # Arabic-Indic digit
        "44190089010122X",  # 15 chars but not an old number
        "1101051949-231002X",
    ],
)
def test_chars(raw):
    error = fault(raw)
    assert error.code == "chars"
    assert error.message == "身份证号含有非法字符：只能是数字，最后一位可以是X"


@pytest.mark.parametrize("prefix", ["00", "10", "16", "20", "24", "30", "38", "40", "47", "49", "55", "60", "66", "70", "72", "80", "83", "91", "99"])
def test_region(prefix):
    error = fault(with_check(prefix + "0105" + "19491231" + "002"))
    assert error.code == "region"
    assert error.message == "身份证号前两位（省份代码）无效"


def test_every_listed_province_prefix_is_accepted():
    expected = {*map(str, range(11, 16)), "21", "22", "23", *map(str, range(31, 38)),
                *map(str, range(41, 47)), *map(str, range(50, 55)), *map(str, range(61, 66)),
                "71", "81", "82"}
    assert PROVINCE_CODES == expected
    for prefix in expected:
        assert is_valid_id(with_check(prefix + "0000" + "19800101" + "001"), today=TODAY)


@pytest.mark.parametrize(
    "birth",
    ["19900230", "19901301", "19900001", "19900100", "19000229", "20230229", "18491231", "00000101"],
)
def test_impossible_birth_date(birth):
    error = fault(with_check("610921" + birth + "001"))
    assert error.code == "birth_date"
    assert error.message.startswith("身份证号中的出生日期无效：")


def test_leap_day_birth_is_fine():
    assert parse_id(with_check("610921" + "20000229" + "001"), today=TODAY).birth_date == date(2000, 2, 29)
    assert parse_id(with_check("610921" + "18500101" + "001"), today=TODAY).birth_date.year == 1850


def test_future_birth_date():
    error = fault(with_check("610921" + "20250602" + "001"), today=TODAY)
    assert error.code == "birth_date"
    assert "晚于今天" in error.message
    # Born today is possible (a newborn enrolled the same day).
    assert parse_id(with_check("610921" + "20250601" + "001"), today=TODAY).birth_date == TODAY


def test_future_birth_date_with_real_today():
    error = fault(with_check("610921" + "29990101" + "001"), today=None)
    assert error.code == "birth_date"


def test_fifteen_digit_numbers_get_the_same_checks():
    assert fault("441900890230221").code == "birth_date"  # 1989-02-30
    assert fault("991900890101221").code == "region"


def test_wrong_check_digit_names_expected_but_not_the_number():
    error = fault("110105194912310021")
    assert error.code == "check_digit"
    assert "最后一位应为X" in error.message
    assert "110105194912310021" not in error.message
    assert "11010519491231002" not in error.message


def test_no_message_echoes_the_number():
    samples = ["110105194912310021", "11010519490231002X", with_check("99" + "0105" + "19491231" + "002"),
               "1101051949123100XX", "11010519491231002X1"]
    for raw in samples:
        error = fault(raw)
        assert raw[:17] not in error.message
        assert raw[:17] not in repr(error.args)


def test_info_repr_hides_number():
    info = parse_id("11010519491231002X", today=TODAY)
    assert "11010519491231002X" not in repr(info)


# -- age ---------------------------------------------------------------------------------------

def test_age_on():
    info = parse_id("11010519491231002X", today=TODAY)
    assert info.age_on(date(2024, 12, 30)) == 74
    assert info.age_on(date(2024, 12, 31)) == 75
    assert info.age_on(date(1949, 12, 31)) == 0
    with pytest.raises(ValueError):
        info.age_on(date(1949, 12, 30))


def test_age_of_leap_day_birth():
    info = parse_id(with_check("610921" + "20000229" + "001"), today=TODAY)
    assert info.age_on(date(2001, 2, 28)) == 0
    assert info.age_on(date(2001, 3, 1)) == 1
    assert info.age_on(date(2004, 2, 29)) == 4


# -- make_id -----------------------------------------------------------------------------------

regions = st.one_of(
    st.just("610921"),
    st.builds(lambda p, rest: p + rest, st.sampled_from(sorted(PROVINCE_CODES)),
              st.text(alphabet="0123456789", min_size=4, max_size=4)),
)
births = st.dates(min_value=date(1850, 1, 1), max_value=TODAY)


@settings(max_examples=200, deadline=None)
@given(region=regions, birth=births, sequence=st.integers(0, 999))
def test_make_id_round_trip(region, birth, sequence):
    number = make_id(region, birth, sequence)
    assert len(number) == 18
    info = parse_id(number, today=TODAY)
    assert info.number == number
    assert info.region_code == region
    assert info.birth_date == birth
    assert info.sex == ("M" if sequence % 2 else "F")
    assert int(number[14:17]) == sequence


@settings(max_examples=200, deadline=None)
@given(birth=births, sequence=st.integers(0, 999), data=st.data())
def test_any_single_digit_typo_is_caught(birth, sequence, data):
    # MOD 11-2 detects every single substitution and adjacent transposition; a typo must
    # never yield a different "valid" number.
    number = make_id("610921", birth, sequence)
    pos = data.draw(st.integers(0, 17))
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[pos]]))
    typo = number[:pos] + replacement + number[pos + 1:]
    assert not is_valid_id(typo, today=TODAY)

    i = data.draw(st.integers(0, 15))
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
    if swapped != number:
        assert not is_valid_id(swapped, today=TODAY)


@pytest.mark.parametrize(
    "region, birth, sequence",
    [
        ("61092", date(1990, 1, 1), 1),
        ("6109211", date(1990, 1, 1), 1),
        ("99abcd", date(1990, 1, 1), 1),
        ("990921", date(1990, 1, 1), 1),
        ("610921", date(1990, 1, 1), 1000),
        ("610921", date(1990, 1, 1), -1),
        ("610921", date(1849, 12, 31), 1),
    ],
)
def test_make_id_rejects_bad_arguments(region, birth, sequence):
    with pytest.raises(ValueError):
        make_id(region, birth, sequence)


def test_make_id_example():
    assert make_id("110105", date(1949, 12, 31), 2) == "11010519491231002X"
    assert make_id("440524", date(1880, 1, 1), 1) == "440524188001010014"
