"""政策问答: built from the county's reference data, searched by text or pinyin, answers logged by topic."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.domain.errors import NotFound, ValidationError
from station_app.services import policy_qa
from tests.conftest import VILLAGE_A
from tests.services.enrollment.town import TODAY, build_town


@pytest.fixture
def town(township_ws):
    ws, admin = township_ws
    return build_town(ws, admin)


def test_entries_come_from_the_countys_figures(town):
    items = policy_qa.qa_items(town.ws, today=TODAY)
    premium = next(i for i in items if i.key == "county:premium:2027")
    assert "每人每年400.00元" in premium.answer
    assert "2026年9月1日至2026年12月31日" in premium.answer
    subsidy = next(i for i in items if i.topic == "资助参保")
    assert "特困人员：全额资助个人缴费" in subsidy.answer
    assert "低保对象：每人资助150" in subsidy.answer
    chronic = next(i for i in items if i.topic == "门诊慢特病")
    assert "高血压" in chronic.answer
    assert all(i.source == "县医保局" for i in items)


@pytest.mark.parametrize("query, topic", [
    ("缴费", "参保缴费"), ("jf", "参保缴费"), ("jiaofei", "参保缴费"), ("mxb", "门诊慢特病"),
    ("慢特病 申请", "门诊慢特病"), ("资助", "资助参保"),
])
def test_search_by_chinese_or_pinyin_initials(town, query, topic):
    hits = policy_qa.search(policy_qa.qa_items(town.ws, today=TODAY), query)
    assert hits and hits[0].topic == topic


def test_search_finds_nothing_for_nonsense(town):
    assert policy_qa.search(policy_qa.qa_items(town.ws, today=TODAY), "qqqzzz") == []


def test_station_entries_join_the_list_and_can_be_edited(town):
    rid = policy_qa.add_entry(town.ws, town.admin, topic="参保缴费", question="村里哪天可以代缴医保费？",
                              answer="每周一、三上午在村卫生室。")
    items = policy_qa.qa_items(town.ws, today=TODAY)
    own = [i for i in items if i.own]
    assert [i.question for i in own] == ["村里哪天可以代缴医保费？"]
    assert policy_qa.search(items, "daijiao")[0].key == rid
    policy_qa.edit_entry(town.ws, town.admin, rid, topic="其他", question="卫生室几点开门？", answer="早八点。")
    assert [i.question for i in policy_qa.qa_items(town.ws, today=TODAY) if i.own] == ["卫生室几点开门？"]
    policy_qa.remove_entry(town.ws, town.admin, rid)
    assert not [i for i in policy_qa.qa_items(town.ws, today=TODAY) if i.own]
    with pytest.raises(NotFound):
        policy_qa.remove_entry(town.ws, town.admin, rid)
    with pytest.raises(ValidationError, match="主题"):
        policy_qa.add_entry(town.ws, town.admin, topic="乱写", question="问", answer="答")
    with pytest.raises(ValidationError, match="回答"):
        policy_qa.add_entry(town.ws, town.admin, topic="其他", question="问", answer="  ")


def test_an_answer_given_is_a_question_service_counted_by_topic(town):
    items = policy_qa.qa_items(town.ws, today=TODAY)
    premium = next(i for i in items if i.key == "county:premium:2027")
    chronic = next(i for i in items if i.topic == "门诊慢特病")
    doctor = town.doctor(VILLAGE_A)
    for who in ("张大山", "刘桂兰", "赵六"):
        policy_qa.log_answer(town.ws, doctor, premium, resident_id=town[who], on=TODAY, today=TODAY)
    policy_qa.log_answer(town.ws, doctor, chronic, resident_id=town["李特困"], on=TODAY, today=TODAY)
    counts = policy_qa.questions_by_topic(town.ws, town.admin, since=date(2026, 11, 1), until=TODAY)
    assert counts == [("参保缴费", 3), ("门诊慢特病", 1)]
    from station_app.services.service_log import service_counts

    assert service_counts(town.ws, town.admin, "2026-11").totals["question"] == 4
