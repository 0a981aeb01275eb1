"""services.enrollment: the year's list (filters, sort, rows), the unpaid list and 参保率."""

from __future__ import annotations

from datetime import date

import pytest

from station_app.services import enrollment as en
from station_app.services.enrollment import EnrollmentFilters as F
from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B

from .conftest import settle_year
from .town import TODAY, YEAR

PAY = dict(paid_on=date(2026, 10, 20), channel="wechat", today=TODAY)


@pytest.fixture
def year_town(town):
    return settle_year(town)


def names(town, ids) -> list[str]:
    by_id = {v: k for k, v in town.ids.items()}
    return [by_id[i] for i in ids]


def test_the_years_roll_and_its_order(shared_year_town):
    t = shared_year_town
    ids = en.enrollment_ids(t.ws, t.admin, YEAR)
    # Village, group, household, then the head first: 周老汉 died but has a record, so he is listed.
    assert names(t, ids) == ["张大山", "刘桂兰", "张小龙", "张朵朵", "李特困", "王低保", "王小妹", "周老汉", "周二",
                             "赵六", "钱七", "孙八"]


@pytest.mark.parametrize("filters, expected", [
    (F(status="unpaid"), {"张小龙", "王低保", "王小妹", "周二", "孙八"}),
    (F(status="subsidised"), {"李特困"}),
    (F(status="not_required"), {"周老汉"}),
    (F(village_code=VILLAGE_B), {"钱七", "孙八"}),
    (F(village_code=VILLAGE_A, group_code=GROUP_A2), {"赵六"}),
    (F(special_group="hardship"), {"李特困", "王低保", "王小妹", "孙八"}),
    (F(special_group="dibao"), {"王低保", "王小妹"}),
    (F(special_group="none", village_code=VILLAGE_B), {"钱七"}),
    (F(text="zxl"), {"张小龙"}),
    (F(text="zhang"), {"张大山", "张小龙", "张朵朵"}),
    (F(text="13900000002"), {"张小龙"}),
    (F(text="王"), {"王低保", "王小妹"}),
    (F(status="unpaid", special_group="hardship", village_code=VILLAGE_A), {"王低保", "王小妹"}),
])
def test_filters(shared_year_town, filters, expected):
    t = shared_year_town
    assert set(names(t, en.enrollment_ids(t.ws, t.admin, YEAR, filters))) == expected


def test_no_record_filter_and_the_unstarted_year(town):
    ws, admin = town.ws, town.admin
    en.set_paid(ws, admin, town["赵六"], YEAR, **PAY)
    missing = names(town, en.enrollment_ids(ws, admin, YEAR, F(status=en.NO_RECORD)))
    assert len(missing) == 10 and "赵六" not in missing and "周老汉" not in missing
    # Before the year is started everyone 在册 is listed, as 未登记.
    assert len(en.enrollment_ids(ws, admin, YEAR)) == 11


def test_sort_by_enrollment_column_and_name(shared_year_town):
    t = shared_year_town
    by_status = names(t, en.enrollment_ids(t.ws, t.admin, YEAR, F(village_code=VILLAGE_A), "status"))
    # By status code, then the default order within a status.
    assert by_status[:5] == ["周老汉", "张大山", "刘桂兰", "张朵朵", "赵六"]
    assert by_status[5] == "李特困"
    by_date = names(t, en.enrollment_ids(t.ws, t.admin, YEAR, F(status="paid"), "paid_date", False))
    assert set(by_date) == {"张大山", "刘桂兰", "张朵朵", "赵六"}
    youngest = names(t, en.enrollment_ids(t.ws, t.admin, YEAR, None, "age", True))[0]
    assert youngest == "张朵朵"
    with pytest.raises(ValueError):
        en.enrollment_ids(t.ws, t.admin, YEAR, None, "no_such_key")


def test_scope_of_a_village_doctor(shared_year_town):
    t = shared_year_town
    assert set(names(t, en.enrollment_ids(t.ws, t.doctor(VILLAGE_B), YEAR))) == {"钱七", "孙八"}


def test_rows_show_status_due_and_subsidy(shared_year_town):
    t = shared_year_town
    ids = [t[n] for n in ("王低保", "李特困", "张大山", "周老汉", "钱七")]
    rows = en.enrollment_rows(t.ws, ids, YEAR, today=TODAY)
    wang, li, zhang, zhou, qian = (rows[i] for i in ids)
    assert (wang["status"], wang["due_yuan"], wang["subsidy_yuan"], wang["subsidy_category"]) == \
        ("未缴费", "250.00", "150.00", "二类（低保）定额资助")
    assert (li["status"], li["due_yuan"], li["subsidy_yuan"]) == ("资助参保", "", "400.00")
    assert (zhang["status"], zhang["paid_yuan"], zhang["channel"], zhang["paid_date"]) == \
        ("已缴费", "400.00", "微信", date(2026, 10, 20))
    assert (zhang["village"], zhang["group"], zhang["relation"], zhang["age"]) == ("群英村", "一组", "户主", 71)
    assert (zhou["resident_status"], zhou["status"], zhou["note"]) == ("死亡", "无需参保", "死亡")
    assert qian["note"] == "职工医保"
    assert en.enrollment_rows(t.ws, [], YEAR) == {}


# -- the unpaid list -----------------------------------------------------------------------------


def test_unpaid_list_by_group_and_household_with_phones(shared_year_town):
    t = shared_year_town
    data = en.unpaid_list(t.ws, t.admin, YEAR, today=TODAY)
    assert [(g.title, len(g.households), g.people) for g in data.groups] == [
        ("群英村 一组", 3, 4), ("堰坪村 一组", 1, 1)]
    assert (data.people, data.households, data.flagged) == (5, 4, 1)
    assert data.deadline == date(2026, 12, 31) and data.deadline_text == "距缴费截止还有 41 天"
    zhang = next(h for h in data.groups[0].households if h.head_name == "张大山")
    assert [m.name for m in zhang.unpaid] == ["张小龙"]
    assert (zhang.members, zhang.covered, zhang.only_old_young_paid) == (4, 3, True)
    assert zhang.phones == ["13800000001", "13900000002"]  # household phone first, then the member's
    wang = next(h for h in data.groups[0].households if h.head_name == "王低保")
    assert [(m.name, m.due_fen) for m in wang.unpaid] == [("王低保", 25_000), ("王小妹", 25_000)]
    assert not wang.only_old_young_paid and wang.phone == "13700000003"
    zhou = next(h for h in data.groups[0].households if h.head_name == "周老汉")
    assert [m.name for m in zhou.unpaid] == ["周二"] and zhou.members == 1  # the dead father is not counted
    qian = data.groups[1].households[0]
    assert [m.name for m in qian.unpaid] == ["孙八"] and not qian.only_old_young_paid  # a working-age adult paid


def test_unpaid_list_of_a_group_and_after_payment(year_town):
    t = year_town
    assert en.unpaid_list(t.ws, t.admin, YEAR, village_code=VILLAGE_A, group_code=GROUP_A2).groups == []
    en.mark_paid(t.ws, t.admin, [t["张小龙"]], YEAR, **PAY)
    data = en.unpaid_list(t.ws, t.admin, YEAR, village_code=VILLAGE_A, group_code=GROUP_A1, today=TODAY)
    assert data.people == 3 and data.flagged == 0
    assert "张大山" not in [h.head_name for g in data.groups for h in g.households]


def test_unpaid_list_counts_residents_without_a_record(town):
    data = en.unpaid_list(town.ws, town.admin, YEAR, village_code=VILLAGE_B, today=TODAY)
    assert data.people == 2
    assert {m.status for g in data.groups for h in g.households for m in h.unpaid} == {"未登记"}


# -- 参保率 -----------------------------------------------------------------------------------------


def test_kpis_overall_by_place_and_by_special_group(shared_year_town):
    t = shared_year_town
    k = en.enrollment_kpis(t.ws, t.admin, YEAR)
    # 11 在册 (周老汉 died): covered 张大山 刘桂兰 张朵朵 赵六 (paid) + 李特困 (subsidised) + 钱七 (other) = 6.
    assert (k.overall.numerator, k.overall.denominator) == (6, 11)
    assert k.overall.percent_text == "54.5%"
    assert k.counts == {"paid": 4, "subsidised": 1, "other_channel": 1, "unpaid": 5}
    assert [(v.name, v.ratio.numerator, v.ratio.denominator) for v in k.by_village] == [
        ("群英村", 5, 9), ("堰坪村", 1, 2)]
    assert [(g.code, g.ratio.numerator, g.ratio.denominator) for g in k.by_group] == [
        (GROUP_A1, 4, 8), (GROUP_A2, 1, 1), (GROUP_B1, 1, 2)]
    assert (k.hardship.numerator, k.hardship.denominator) == (1, 4)  # 李特困 of 李, 王×2, 孙八
    assert (k.by_special_group["dibao"].numerator, k.by_special_group["dibao"].denominator) == (0, 2)
    assert k.by_special_group["tuopin"].percent_text == "—"


def test_residents_without_a_record_are_required(town):
    en.set_paid(town.ws, town.admin, town["赵六"], YEAR, **PAY)
    k = en.enrollment_kpis(town.ws, town.admin, YEAR)
    assert (k.overall.numerator, k.overall.denominator) == (1, 11)
    assert k.counts[en.NO_RECORD] == 10


def test_filter_summary_agrees_both_ways(shared_year_town):
    """The township-wide path (records first) and the narrow one (residents first) count alike."""
    t = shared_year_town
    wide = en.filter_summary(t.ws, t.admin, YEAR)
    assert (wide.ratio.numerator, wide.ratio.denominator, wide.unpaid) == (6, 11, 5)
    narrow_a = en.filter_summary(t.ws, t.admin, YEAR, F(village_code=VILLAGE_A, status="paid"))  # status ignored
    narrow_b = en.filter_summary(t.ws, t.admin, YEAR, F(village_code=VILLAGE_B))
    assert narrow_a.counts["unpaid"] + narrow_b.counts["unpaid"] == wide.counts["unpaid"]
    assert (narrow_a.ratio.numerator, narrow_a.ratio.denominator) == (5, 9)
    assert en.filter_summary(t.ws, t.doctor(VILLAGE_B), YEAR).counts == narrow_b.counts
    assert wide.text == "参保率 54.5%（已参保 6 / 应参保 11，未缴 5 人）"
    hardship = en.filter_summary(t.ws, t.admin, YEAR, F(special_group="hardship"))
    assert (hardship.ratio.numerator, hardship.ratio.denominator) == (1, 4)
