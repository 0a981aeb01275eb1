"""Search as you type: each kind of term finds the right residents, and only those."""

from __future__ import annotations

import pytest

from station_app.services import registry, registry_search
from station_app.services.registry import parse_search

from .conftest import search


@pytest.mark.parametrize("text, kind, value, active", [
    ("张", "name", "张", True),
    (" 张 三 ", "name", "张三", True),
    ("ZS", "letters", "zs", True),
    ("zhangs", "letters", "zhangs", True),
    ("ｚｓ", "letters", "zs", True),           # full-width input method
    ("lü", "letters", "lv", True),             # pypinyin writes ü as v
    ("1234", "digits", "1234", True),
    ("０３１５", "digits", "0315", True),
    ("002x", "digits", "002x", True),
    ("12", "digits", "12", False),             # too short: a hint, no filtering
    ("a1b2", "text", "a1b2", True),
])
def test_terms_are_classified(text, kind, value, active):
    term = parse_search(text)
    assert (term.kind, term.value, term.active) == (kind, value, active)


def test_empty_search_is_no_search():
    assert parse_search("") is None and parse_search("  ") is None


def test_one_chinese_character_finds_every_name_containing_it(town):
    ws, admin, _people = town
    assert sorted(search(ws, admin, "张")) == ["张三", "张建国"]
    assert search(ws, admin, "豪") == ["赵子豪", "刘梓豪"]  # not only surnames


def test_two_and_three_characters(town):
    ws, admin, _people = town
    assert search(ws, admin, "建国") == ["张建国"]
    assert search(ws, admin, "张建国") == ["张建国"]
    assert search(ws, admin, "子豪") == ["赵子豪"]
    assert search(ws, admin, "梓豪") == ["刘梓豪"]
    assert search(ws, admin, "张三丰") == []


@pytest.mark.parametrize("text, expected", [
    ("zs", ["张三"]),
    ("zjg", ["张建国"]),
    ("z", ["张三", "张建国", "赵子豪"]),
    ("zhang", ["张三", "张建国"]),
    ("zhangj", ["张建国"]),
    ("zhangjianguo", ["张建国"]),
    ("ZhangSan", ["张三"]),
    ("lxy", ["李秀英"]),
    ("jianguo", []),  # pinyin matches from the start of the name (as typed by a clerk)
])
def test_initials_and_full_pinyin(town, text, expected):
    ws, admin, _people = town
    assert sorted(search(ws, admin, text)) == sorted(expected)


def test_any_part_of_the_id_number(town):
    ws, admin, _people = town
    assert search(ws, admin, "19900101") == ["张建国"]   # birth date in the middle
    assert search(ws, admin, "0315") == ["张三"]         # 4 digits
    assert search(ws, admin, "610921196") == ["张三", "李秀英"]  # from the start
    assert len(search(ws, admin, "610921")) == 6


def test_id_number_ending_in_x_in_either_case(township_ws):
    ws, admin = township_ws
    registry.register_household(ws, admin, village_code="610921103201", head=registry.ResidentInput(
        "陈明", "11010519491231002X", group_code="61092110320101"))
    assert search(ws, admin, "1002x") == ["陈明"]
    assert search(ws, admin, "1002X") == ["陈明"]


def test_phone_fragments(town):
    ws, admin, _people = town
    assert search(ws, admin, "5597") == ["张建国", "刘梓豪"]
    assert search(ws, admin, "13700001111") == ["王芳"]
    assert search(ws, admin, "1234567") == ["张三"]


def test_short_digits_do_not_filter_and_say_why(town):
    ws, admin, _people = town
    assert len(search(ws, admin, "61")) == 6
    assert "3 位数字" in registry.search_hint("61")
    assert registry.search_hint("610") == ""


def test_search_combines_with_filters_and_scope(town, doctor_a):
    ws, admin, _people = town
    assert search(ws, admin, "豪", village_code="610921103202") == ["刘梓豪"]
    assert search(ws, doctor_a, "豪") == ["赵子豪"]  # the 村医 of 群英村 never sees 堰坪村
    assert search(ws, doctor_a, "5597") == ["张建国"]


def test_without_fts5_the_same_answers(town, monkeypatch):
    """Where SQLite lacks FTS5/trigram the narrow table is scanned: same results."""
    ws, admin, _people = town
    expected = {q: search(ws, admin, q) for q in ("张建国", "19900101", "5597", "刘梓豪", "1002x")}
    monkeypatch.setattr(registry.search_index, "has_fts", lambda _conn: False)
    registry_search._FTS_BY_ENGINE.clear()
    assert {q: search(ws, admin, q) for q in expected} == expected
    registry_search._FTS_BY_ENGINE.clear()


def test_broad_and_selective_plans_agree(town):
    ws, admin, _people = town
    for text in ("张", "z", "610921", "5597"):
        flt = registry.RegistryFilter(search=text)
        with ws.read() as session:
            answers = [registry_search._fetch_ids(session, registry.registry_statement(session, admin, flt, selective=s))
                       for s in (True, False)]
        assert answers[0] == answers[1]
