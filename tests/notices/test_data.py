"""Notice content: the right rows, masked by default, no free-text diagnosis — and properties over random people."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from station_app.domain.enums import CardStatus, EnrollmentStatus, NoticeKind, Relation, SpecialGroup
from station_app.domain.masking import MaskingPolicy, mask_id, mask_name
from station_app.notices.data import (
    AssistanceRecord,
    ChronicRecord,
    EnrollmentRecord,
    NoticeDocument,
    assistance_rows,
    chronic_rows,
    enrollment_rows,
)
from station_app.services import notices
from tests.conftest import GROUP_A1, VILLAGE_A

from .conftest import CASE_DIAGNOSIS, DIAGNOSIS_TEXT, add_people

TODAY = date(2027, 4, 1)


def prepare(village, kind, **kw):
    return notices.prepare_notice(village.ws, village.admin, kind, VILLAGE_A, 2027, today=TODAY, **kw)


def test_enrollment_lists_each_resident_masked_with_status(village):
    doc = prepare(village, "enrollment", layout="detail")
    assert doc.title == "群英村2027年度城乡居民医保参保情况公示"
    assert [row[3] for row in doc.rows] == ["张*丰", "李*", "欧阳**", "王*英", "赵*华"]
    assert doc.rows[0][5] == mask_id(village.ids[0]) == village.ids[0][:6] + "********" + village.ids[0][-4:]
    assert [row[-1] for row in doc.rows] == ["已缴费", "已缴费", "资助参保", "资助参保", "未缴费"]
    assert doc.rows[2][6] == "低保对象" and doc.rows[2][7] == "二类（低保）定额资助"
    assert "参保率 80.0%" in doc.summary
    assert doc.period_start == TODAY and doc.period_end == date(2027, 4, 7) and doc.period_days == 7


def test_group_notice_lists_only_that_group(village):
    doc = prepare(village, "enrollment", group_code=GROUP_A1)
    assert doc.title.startswith("群英村一组")
    assert len(doc.rows) == 3


def test_chronic_notice_shows_category_never_the_diagnosis(village):
    doc = prepare(village, "chronic", settings=notices.NoticeSettings(disclosure="category"))
    text = doc.all_text()
    assert "心脑血管类" in text
    assert DIAGNOSIS_TEXT not in text and "高血压" not in text
    assert doc.rows[0][2] == "张*丰" and doc.rows[0][-2] == "新办卡" and doc.rows[0][-1] == "3"
    assert doc.rows[1][-2] == "申请待认定"


def test_chronic_disease_column_follows_the_setting(village):
    by_name = prepare(village, "chronic", settings=notices.NoticeSettings(disclosure="disease"))
    assert "高血压（Ⅱ级及以上）" in by_name.all_text()
    hidden = prepare(village, "chronic", settings=notices.NoticeSettings(disclosure="none"))
    assert "心脑血管类" not in hidden.all_text() and "病种" not in [c.title for c in hidden.columns]


def test_assistance_notice_shows_paid_cases_without_hospital_or_diagnosis(village):
    doc = prepare(village, "assistance", settings=notices.NoticeSettings(disclosure="category"))
    assert len(doc.rows) == 1
    assert doc.rows[0][2:] == ["王*英", mask_id(village.ids[3]), "特困人员", "住院救助", "3,456.00", "2027-03-20"]
    text = doc.all_text()
    assert CASE_DIAGNOSIS not in text and "人民医院" not in text and "12,345" not in text
    assert "合计 3,456.00 元" in doc.summary


def test_policy_notice_has_the_county_texts_and_key_figures(village):
    doc = prepare(village, "policy")
    assert [s.title for s in doc.sections] == ["城乡居民医保缴费标准和缴费时间", "门诊慢特病待遇"]
    labels = dict(doc.highlights)
    assert labels["个人缴费标准"] == "400 元/人·年"
    assert "县级 75%" in labels["住院报销比例"]
    assert "特困人员全额资助" in labels["资助参保"]


def test_hidden_id_mode_prints_no_digit_of_the_number(village):
    doc = prepare(village, "enrollment", settings=notices.NoticeSettings(id_mode="hidden"))
    assert {row[2] for row in doc.rows} == {"*" * 18}
    assert "身份证号已隐藏" in doc.notes[0]


def test_document_round_trips_through_json(village):
    doc = prepare(village, "chronic")
    again = NoticeDocument.from_dict(json.loads(doc.to_json()))
    assert again == doc


def test_unmasked_only_when_masking_is_off(village):
    doc = prepare(village, "enrollment", settings=notices.NoticeSettings(masking_enabled=False), layout="detail")
    assert village.ids[0] in doc.all_text() and "张三丰" in doc.all_text()
    assert doc.notes == []


# --------------------------------------------------------------------------- properties

# Given-name characters that occur in no label, title or place name of a notice, so that a name
# found in the output can only have come from a person.
SURNAMES = list("张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗") + ["欧阳", "司马", "诸葛", "上官"]
GIVEN = "秀英桂芳玉兰德伟强磊洋勇艳娜静敏丽涛明超霞刚鹏飞琳婷雪梅松柏"
names = st.builds(lambda s, g: s + g, st.sampled_from(SURNAMES), st.text(GIVEN, min_size=1, max_size=3))
cjk_names = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=6)
DIGITS = "0123456789"
id_numbers = st.builds(lambda a, b, c: a + b + c, st.sampled_from("123456"),
                       st.text(DIGITS, min_size=16, max_size=16), st.sampled_from(DIGITS + "X"))
ids15 = st.builds(lambda a, b: a + b, st.sampled_from("123456"), st.text(DIGITS, min_size=14, max_size=14))

FIXED_TEXT = "".join(
    [m.label for m in SpecialGroup] + [m.label for m in CardStatus] + [m.label for m in EnrollmentStatus] + [m.label for m in Relation] + [m.label for m in NoticeKind]
    + ["普通居民", "未登记", "一组", "二组", "新办发卡", "已发卡", "已认定待发卡", "申请待认定",
       "门诊慢特病", "资助类别", "低保", "特困人员", "住院救助", "心脑血管类"])


def _people(draw_names, draw_ids):
    return st.lists(st.tuples(draw_names, draw_ids), min_size=1, max_size=8)


def _all_cells(rows):
    return "\n".join(cell for row in rows for cell in row)


@given(_people(cjk_names, st.one_of(id_numbers, ids15)), st.sampled_from(["partial", "hidden"]))
@settings(max_examples=150, deadline=None)
def test_masked_rows_never_hold_a_clear_name_or_id(people, id_mode):
    for name, _ in people:
        assume(name not in FIXED_TEXT)
    policy = MaskingPolicy(True, id_mode)
    enrollment = [EnrollmentRecord("一组", "001", people[0][0], n, "head", i, "dibao", "paid", "", 40000, 0)
                  for n, i in people]
    chronic = [ChronicRecord("一组", n, i, "高血压", "心脑血管类", "issued", None, date(2027, 1, 1), None, 2)
               for n, i in people]
    assistance = [AssistanceRecord("一组", n, i, "特困人员", "住院救助", 1000, date(2027, 3, 1)) for n, i in people]
    tables = [(enrollment_rows(enrollment, policy), 5), (chronic_rows(chronic, policy, "category", 2027), 3),
              (assistance_rows(assistance, policy), 3)]
    for rows, id_column in tables:
        text = _all_cells(rows)
        for name, number in people:
            assert name not in text
            assert number not in text
        if id_mode == "hidden":
            assert all(row[id_column] == "*" * 18 for row in rows)


@pytest.fixture
def property_village(township_ws):
    return township_ws


@given(st.lists(names, min_size=1, max_size=6, unique=True))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_whole_notices_from_the_database_never_hold_a_clear_name_or_id(property_village, people):
    """Through the real database and builder: every string a notice prints, for all four kinds."""
    ws, admin = property_village
    start = test_whole_notices_from_the_database_never_hold_a_clear_name_or_id.counter = getattr(
        test_whole_notices_from_the_database_never_hold_a_clear_name_or_id, "counter", 0) + 1
    rows = [(n, "head" if i == 0 else "son", GROUP_A1, ()) for i, n in enumerate(people)]
    clear_names, clear_ids, rids = add_people(ws, admin, rows, start=start * 10 + 1000, village=VILLAGE_A)
    from station_app.store.models import AssistanceCase, ChronicCard, Enrollment

    with ws.unit_of_work(admin, "test") as session:
        for rid in rids:
            session.add(Enrollment(resident_id=rid, year=2027, status="paid", paid_fen=40000, village_code=VILLAGE_A))
            session.add(ChronicCard(resident_id=rid, village_code=VILLAGE_A, disease_code="MB001", status="issued",
                                    applied_date=date(2027, 1, 2), issued_date=date(2027, 2, 1),
                                    diagnosis_note="甲状腺癸" + rid))
            session.add(AssistanceCase(resident_id=rid, village_code=VILLAGE_A, type_code="ZY", status="paid",
                                       assistance_fen=5000, applied_date=date(2027, 1, 2),
                                       paid_date=date(2027, 2, 2), diagnosis_note="胰腺壬" + rid))
    for kind in notices.KINDS:
        doc = notices.prepare_notice(ws, admin, kind, VILLAGE_A, 2027, today=TODAY)
        text = doc.all_text() + doc.to_json()
        for name in clear_names:
            assert name not in text, (kind, name)
        for number in clear_ids:
            assert number not in text, kind
        assert "甲状腺癸" not in text and "胰腺壬" not in text
        if kind != "policy":
            for name in clear_names:
                assert mask_name(name) in text


# --------------------------------------------------------------------------- issue 11.8: minimum disclosure


def test_default_disclosure_shows_cards_and_dates_only(village):
    """Finding: the chronic notice printed 「Ⅰ类（按住院待遇）」 and the assistance notice 「因病致贫重病患者」."""
    chronic = prepare(village, "chronic")
    assert [c.title for c in chronic.columns] == ["序号", "村民小组", "姓名", "身份证号", "办卡日期",
                                                 "待遇起始\n日期", "办理状态"]
    assert chronic.rows[0][4:] == ["2027-02-01", "2027-02-01", "新办卡"]
    assert "心脑血管类" not in chronic.all_text() and "高血压" not in chronic.all_text()
    assert "不公示病种" in chronic.notes[-1]
    assistance = prepare(village, "assistance")
    assert [c.title for c in assistance.columns][-2:] == ["救助金额\n(元)", "发放日期"]
    assert "特困人员" not in assistance.all_text() and "住院救助" not in assistance.all_text()
    assert assistance.masking["disclosure"] == "none"
