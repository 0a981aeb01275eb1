""""The year" of a notice, one rule for every kind, against a town whose people die, move and cancel.

Findings (issue 11.2/11.3): enrollment 2026 left out people enrolled for 2026 who had since died or
moved; chronic 2025 left out cards in force in 2025 and cancelled later; assistance included a
since-deceased resident (the kinds disagreed); an empty year or an unpublished policy year printed
a misleading notice and exited 0.
"""

from __future__ import annotations

from datetime import date

import pytest

from station_app.domain.masking import mask_name
from station_app.services import notices
from station_app.services.households import set_status
from tests.conftest import GROUP_A1, GROUP_A2, VILLAGE_A

from .conftest import POLICY_REFERENCE, add_people

TODAY = date(2027, 4, 1)
TOWN = [
    ("陈光明", "head", GROUP_A1, ()),   # 0: stays, enrolled every year; card cancelled in Oct 2025
    ("林月华", "spouse", GROUP_A1, ()),  # 1: enrolled for 2026, died in June 2026; card from 2025
    ("周向东", "head", GROUP_A2, ()),   # 2: enrolled for 2026, moved out in Aug 2026; helped in 2025
    ("吴春生", "son", GROUP_A2, ()),    # 3: new in 2026 (no 2025 record)
]


@pytest.fixture
def town(township_ws):
    from station_app.services.reference import load_reference
    from station_app.store.models import AssistanceCase, ChronicCard, Enrollment

    ws, admin = township_ws
    load_reference(ws, POLICY_REFERENCE)
    names, ids, rids = add_people(ws, admin, TOWN, start=700)
    with ws.unit_of_work(admin, "test") as session:
        for rid in rids[:3]:
            session.add(Enrollment(resident_id=rid, year=2025, status="paid", paid_fen=38000, village_code=VILLAGE_A))
        for rid in rids:
            session.add(Enrollment(resident_id=rid, year=2026, status="paid", paid_fen=40000, village_code=VILLAGE_A))
        session.add(Enrollment(resident_id=rids[0], year=2027, status="paid", paid_fen=40000, village_code=VILLAGE_A))
        session.add(Enrollment(resident_id=rids[3], year=2027, status="unpaid", village_code=VILLAGE_A))
        session.add(ChronicCard(resident_id=rids[0], village_code=VILLAGE_A, disease_code="MB001", status="cancelled",
                                applied_date=date(2024, 3, 1), issued_date=date(2024, 4, 1),
                                benefit_start=date(2024, 4, 1), cancelled_date=date(2025, 10, 9)))
        session.add(ChronicCard(resident_id=rids[1], village_code=VILLAGE_A, disease_code="MB001", status="issued",
                                applied_date=date(2025, 2, 1), issued_date=date(2025, 3, 1),
                                benefit_start=date(2025, 3, 1)))
        session.add(AssistanceCase(resident_id=rids[2], village_code=VILLAGE_A, type_code="ZY", status="paid",
                                   subject_category="因病致贫重病患者", assistance_fen=120000,
                                   applied_date=date(2025, 5, 1), paid_date=date(2025, 6, 1)))
    set_status(ws, admin, rids[1], "died", date(2026, 6, 3))
    set_status(ws, admin, rids[2], "moved_out", date(2026, 8, 20))
    return ws, admin, names, ids


def prepare(town, kind, year, **kw):
    ws, admin, *_ = town
    return notices.prepare_notice(ws, admin, kind, VILLAGE_A, year, today=TODAY, **kw)


def test_enrollment_of_a_past_year_keeps_people_who_have_since_died_or_moved(town):
    _ws, _admin, names, _ids = town
    doc = prepare(town, "enrollment", 2026, layout="detail")
    listed = {row[3]: row[-1] for row in doc.rows}
    assert set(listed) == {mask_name(n) for n in names}
    assert listed[mask_name("林月华")] == "已缴费（已故）"
    assert listed[mask_name("周向东")] == "已缴费（迁出）"
    assert "已缴费 4 人" in doc.summary and "参保率 100.0%" in doc.summary
    assert any("按该年度记录公示" in n for n in doc.notes)
    roster = prepare(town, "enrollment", 2026)
    assert {row[3] for row in roster.rows} == {"已缴费", "已缴费※", "已缴费△"}
    assert any("※ 的已故" in n for n in roster.notes)


def test_enrollment_of_the_collection_year_lists_only_its_records_and_unregistered_people(town):
    doc = prepare(town, "enrollment", 2027, layout="detail")
    statuses = sorted(row[-1] for row in doc.rows)
    # 林月华 died and 周向东 moved before 2027 (no record): not on the 2027 notice.
    assert statuses == ["已缴费", "未缴费"]


def test_chronic_lists_cards_in_force_at_any_time_in_the_year(town):
    y2025 = prepare(town, "chronic", 2025)
    assert [row[2] for row in y2025.rows] == [mask_name("陈光明"), mask_name("林月华")]
    assert y2025.rows[0][-1] == "10月注销" and y2025.rows[1][-1] == "新办卡（已故）"
    assert "年内注销 1 人" in y2025.summary
    y2026 = prepare(town, "chronic", 2026)
    assert [row[2] for row in y2026.rows] == [mask_name("林月华")]
    assert y2026.rows[0][-1] == "已办卡（已故）"


def test_assistance_lists_cases_decided_in_the_year_marked_like_the_others(town):
    doc = prepare(town, "assistance", 2025)
    assert [row[2] for row in doc.rows] == [mask_name("周向东") + "（迁出）"]
    with pytest.raises(notices.NoticeEmpty, match="2026年度没有已发放的医疗救助"):
        prepare(town, "assistance", 2026)


@pytest.mark.parametrize("kind, year, message", [
    ("enrollment", 2019, "2019年度没有参保记录"),
    ("chronic", 2019, "没有在有效期内的门诊慢特病卡"),
    ("assistance", 2030, "没有已发放的医疗救助"),
    ("policy", 2019, "汉阴县尚未发布2019年度医保政策"),
])
def test_a_year_with_nothing_to_publish_is_refused_unless_asked(town, kind, year, message):
    with pytest.raises(notices.NoticeEmpty, match=message):
        prepare(town, kind, year)
    doc = prepare(town, kind, year, allow_empty=True)
    assert doc.empty and doc.rows == [] and doc.sections == [] and "本年度无" in doc.summary


def test_the_published_policy_year_is_accepted(town):
    doc = prepare(town, "policy", 2027)
    assert [s.title for s in doc.sections][:1] == ["城乡居民医保缴费标准和缴费时间"]
