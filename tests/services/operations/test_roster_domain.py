"""Pure roster rules: header variants and detection, ID cells (numbers, scientific notation), vocabularies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station_app.domain import roster as R
from station_app.domain.idnumber import make_id, normalize_id

ID = "11010519491231002X"
OLD_ID = "441900890101221"


@pytest.mark.parametrize("header, field", [
    ("身份证号", "id_number"), ("身份证号码", "id_number"), ("公民身份号码", "id_number"),
    ("身份证号码（18位）", "id_number"), (" 身份证号 ", "id_number"), ("*身份证号码", "id_number"),
    ("户主姓名", "head_name"), ("户主姓名（必填）", "head_name"), ("与户主关系", "relation"),
    ("组", "group"), ("村民小组", "group"), ("联系电话", "phone"), ("联系电话(手机)", "phone"),
    ("人员类别", "special_groups"), ("缴费状态", "enrollment_status"), ("姓 名", "name"),
    ("姓\n名", "name"), ("参保人姓名", "name"), ("户编号", "household_no"), ("村", "village"),
])
def test_header_variants(header, field):
    assert R.match_header(header)[0] == field


@pytest.mark.parametrize("header", ["户主身份证号", "户主身份证号码", "户主联系电话", "组织", "合计", "",
                                    "漩涡镇群英村2027年度城乡居民医保参保花名册"])
def test_not_a_member_column(header):
    assert R.match_header(header)[0] is None


def test_header_found_below_title_rows_and_columns_in_any_order():
    rows = [
        ["群英村2027年度参保花名册", "群英村2027年度参保花名册", "群英村2027年度参保花名册"],
        ["填报单位：群英村", None, None],
        [],
        ["联系电话", "公民身份号码", "姓名", "与户主关系", "组"],
        ["13800138000", ID, "张三", "户主", "一组"],
    ]
    guess = R.detect_header(rows)
    assert (guess.first_row, guess.last_row, guess.data_start) == (3, 3, 4)
    assert guess.mapping == {0: "phone", 1: "id_number", 2: "name", 3: "relation", 4: "group"}


def test_two_row_header_without_merges():
    rows = [
        ["户主姓名", "家庭成员信息", None, None],
        [None, "姓名", "身份证号", "与户主关系"],
        ["张三", "张三", ID, "户主"],
    ]
    guess = R.detect_header(rows)
    assert (guess.first_row, guess.last_row) == (0, 1)
    assert guess.mapping == {0: "head_name", 1: "name", 2: "id_number", 3: "relation"}


def test_first_data_row_is_never_taken_for_a_second_header_row():
    rows = [["姓名", "身份证号", "户主姓名"], ["户主", ID, "户主"]]
    guess = R.detect_header(rows)
    assert guess.last_row == 0


def test_no_header_without_name_and_id():
    assert R.detect_header([["姓名", "电话"], ["张三", "138"]]) is None


@pytest.mark.parametrize("cell, expected", [
    (ID, ID), ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"), (f" {ID} ", f"{ID}"),
    (f"'{ID}", ID), (f'="{ID}"', ID), (441900890101221, OLD_ID), (441900890101221.0, OLD_ID),
    (110105194912310021, "110105194912310021"), ("4.41900890101221E+14", OLD_ID), (None, ""),
])
def test_id_cells_that_kept_every_digit(cell, expected):
    assert R.id_from_cell(cell) == (expected, None)


@pytest.mark.parametrize("cell", [1.10105194912310e17, 1.1010519491231002e17, "1.10105E+17",
                                  "1.10105194912310E+17", "6.10921195603020e+17"])
def test_scientific_notation_ids_are_reported_as_lost(cell):
    _text, reason = R.id_from_cell(cell)
    assert reason == R.SCIENTIFIC_ID_REASON


def test_display_value_shows_the_float_as_excel_did():
    assert R.display_value(1.1010519491231e17) == "1.10105194912310E+17"
    assert R.display_value(13800138000.0) == "13800138000"


@pytest.mark.parametrize("text, key", [("一组", "#1"), ("1组", "#1"), ("１组", "#1"), ("第一组", "#1"),
                                       ("01", "#1"), ("十二组", "#12"), ("二十组", "#20"), ("三社", "#3"),
                                       ("第2村民小组", "#2"), ("东坡组", "东坡组")])
def test_group_keys(text, key):
    assert R.group_key(text) == key


@pytest.mark.parametrize("text, code, known", [("户主", "head", True), ("本人", "head", True),
                                               ("妻", "spouse", True), ("长子", "son", True),
                                               ("孙女", "granddaughter", True), ("外孙女", "granddaughter", True),
                                               ("侄子", "other", False)])
def test_relations(text, code, known):
    assert R.relation_from_text(text) == (code, known)


def test_special_groups():
    assert R.special_groups_from_text("低保、脱贫户") == (["dibao", "tuopin"], [])
    assert R.special_groups_from_text("一般") == ([], [])
    assert R.special_groups_from_text("特困人员,五保户") == (["tekun"], [])
    assert R.special_groups_from_text("贫困户x") == ([], ["贫困户x"])


@pytest.mark.parametrize("text, status, note", [("已缴费", "paid", ""), ("未缴", "unpaid", ""),
                                                ("资助代缴", "subsidised", ""),
                                                ("参加职工医保", "other_channel", "参加职工医保"),
                                                ("死亡", "not_required", "死亡"), ("不知道", None, "")])
def test_enrollment_statuses(text, status, note):
    assert R.enrollment_status_from_text(text) == (status, note)


def test_filler_rows():
    assert R.is_filler_row(R.RowValues({"name": "合计", "id_number": None}))
    assert R.is_filler_row(R.RowValues({"name": None, "id_number": ""}))
    assert R.is_filler_row(R.RowValues({"name": "姓名", "id_number": "身份证号"}))
    assert not R.is_filler_row(R.RowValues({"name": "张三", "id_number": None}))


def test_phone_cells():
    assert R.phone_from_cell(13800138000.0) == "13800138000"
    assert R.phone_from_cell("13800138000，0915-5212345") == "13800138000"
    assert R.phone_from_cell("１３８００１３８０００ ") == "13800138000"


ids = st.builds(lambda days, seq: make_id("610921", date(1900, 1, 1) + timedelta(days=days), seq),
                st.integers(0, 45000), st.integers(0, 999))


@given(ids)
def test_any_id_as_a_float_is_reported_never_guessed(number):
    if number.endswith("X"):
        return
    assert R.id_from_cell(float(number))[1] == R.SCIENTIFIC_ID_REASON
    assert R.id_from_cell(f"{float(number):.14E}")[1] == R.SCIENTIFIC_ID_REASON


@given(ids, st.sampled_from(["", " ", "\u3000", "\t", "\u200b"]), st.booleans())
def test_any_id_as_int_or_messy_text_comes_back_exactly(number, pad, wide):
    if not number.endswith("X"):
        assert R.id_from_cell(int(number)) == (number, None)
    text = pad + (fullwidth_digits(number) if wide else number.lower()) + pad
    cell, problem = R.id_from_cell(text)
    assert problem is None and normalize_id(cell) == number


def fullwidth_digits(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)
