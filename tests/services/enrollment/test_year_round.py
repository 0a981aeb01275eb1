"""Issue 17.1–17.3: enrollment through the whole year, special groups as policy names them, the
new year keeping what carries over. Every date rule comes from the county's reference data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text

from station_app.domain.errors import ValidationError
from station_app.domain.idnumber import make_id
from station_app.domain.roster import special_groups_from_text
from station_app.services import enrollment as en
from station_app.services.reference import demo_reference_path, load_reference
from station_app.services.households import ResidentInput, add_member, register_household
from station_app.store.models import Enrollment
from tests.conftest import COUNTY, GROUP_A1, VILLAGE_A

from .conftest import settle_year
from .town import TODAY, YEAR

#: The demo county's rules (resources/reference/demo_county.json), the file stations receive.
DEMO = json.loads(Path(demo_reference_path()).read_text(encoding="utf-8"))
RULES = DEMO["rules"]
EXTRA = {
    "county": {"code": COUNTY, "name": "汉阴县"},
    "year_settings": [{"year": 2025, "premium_yuan": 400, "collection_start": "2024-09-01",
                       "deadline": "2024-12-31"}],
    "subsidy_rules": [
        {"year": 2026, "special_group": "dibao", "category_name": "二类（低保）定额资助", "level": 2, "amount_yuan": 150},
        {"year": 2027, "special_group": "fanpin", "category_name": "二类（返贫致贫人口）定额资助", "level": 2,
         "amount_yuan": 150},
        {"year": 2027, "special_group": "monitor", "category_name": "三类（监测对象）定额资助", "level": 3,
         "amount_yuan": 100},
    ],
}


def _with_rules(ws, **overrides):
    rules = dict(RULES, **overrides)
    load_reference(ws, dict(EXTRA, rules=rules))


def _person(town, name: str, born: date, groups=()) -> str:
    return add_member(town.ws, town.admin, town.households["张"],
                      ResidentInput(name, make_id("610921", born, 771 + len(town.ids)), relation="grandson",
                                    special_groups=tuple(groups)))


def _record(ws, rid: str, year: int) -> Enrollment:
    with ws.read() as session:
        return session.scalar(select(Enrollment).where(Enrollment.resident_id == rid, Enrollment.year == year))


# -- 17.1 enrollment through the year --------------------------------------------------------------


def test_newborn_after_the_deadline_is_enrolled_with_benefits_from_birth(town):
    """Finding 1: born 2026-08-16, enrolled for 2026 in October — was 「已过缴费截止日期」."""
    _with_rules(town.ws)
    baby = _person(town, "张新生", date(2026, 8, 16))
    assert en.set_paid(town.ws, town.admin, baby, 2026, paid_on=date(2026, 10, 9), channel="wechat",
                       today=TODAY) == "paid"
    record = _record(town.ws, baby, 2026)
    assert record.benefit_start == date(2026, 8, 16)
    row = en.enrollment_rows(town.ws, [baby], 2026, today=TODAY)[baby]
    assert row["benefit_start"] == date(2026, 8, 16)


def test_newborn_outside_the_countys_window_waits_like_anyone(town):
    _with_rules(town.ws, newborn_enroll_days={"value": 30})
    baby = _person(town, "张晚报", date(2026, 5, 1))
    en.set_paid(town.ws, town.admin, baby, 2026, paid_on=date(2026, 7, 1), channel="wechat", today=TODAY)
    assert _record(town.ws, baby, 2026).benefit_start == date(2026, 10, 1)  # 3 months' wait


def test_late_adult_enrollment_is_accepted_with_the_countys_waiting_period(town):
    """Finding 1: an adult paying in June — refused before; now 3 months + 1 per year of interruption."""
    _with_rules(town.ws)
    son = town["张小龙"]
    en.set_unpaid(town.ws, town.admin, son, 2025)  # not covered in 2025: one year of interruption
    en.set_paid(town.ws, town.admin, son, 2026, paid_on=date(2026, 6, 10), channel="tax_app", today=TODAY)
    record = _record(town.ws, son, 2026)
    assert (record.status, record.benefit_start) == ("paid", date(2026, 10, 10))
    assert "等待期" in en.year_info(town.ws, 2026, today=TODAY).banner_text


def test_waiting_period_is_the_countys_number_not_the_codes(town):
    _with_rules(town.ws, late_enrollment={"value": {"fixed_waiting_months": 1, "extra_months_per_gap_year": 0}})
    en.set_paid(town.ws, town.admin, town["赵六"], 2026, paid_on=date(2026, 6, 10), channel="tax_app", today=TODAY)
    assert _record(town.ws, town["赵六"], 2026).benefit_start == date(2026, 7, 10)


def test_a_waiting_period_reaching_past_the_year_is_refused_with_the_reason(town):
    _with_rules(town.ws)
    with pytest.raises(ValidationError, match="2027 年度") as caught:
        en.set_paid(town.ws, town.admin, town["赵六"], 2026, paid_on=date(2026, 11, 1), channel="wechat",
                    today=TODAY)
    assert caught.value.code == "waiting_past_year"


def test_special_groups_the_county_exempts_start_the_day_they_enroll(town):
    """Finding 1: a 低保 (and 特困) person identified mid-year is covered at once (动态参保)."""
    _with_rules(town.ws)
    en.set_subsidised(town.ws, town.admin, town["王低保"], 2026, paid_on=date(2026, 6, 3), channel="wechat",
                      today=TODAY)
    record = _record(town.ws, town["王低保"], 2026)
    assert (record.status, record.subsidy_fen, record.benefit_start) == ("subsidised", 15_000, date(2026, 6, 3))


def test_tuopin_late_payment_is_accepted(town):
    _with_rules(town.ws)
    person = _person(town, "张脱贫", date(1980, 3, 3), ("tuopin",))
    en.set_paid(town.ws, town.admin, person, 2026, paid_on=date(2026, 4, 1), channel="wechat", today=TODAY)
    assert _record(town.ws, person, 2026).benefit_start == date(2026, 7, 1)


def test_payment_for_a_year_already_over_is_refused(town):
    """Finding 1, reverse: a 低保 person marked paid for 2025 on 2026-11-20 (cover for a year over)."""
    _with_rules(town.ws)
    with pytest.raises(ValidationError, match="已经结束") as caught:
        en.set_subsidised(town.ws, town.admin, town["王低保"], 2025, category="二类", subsidy_fen=15_000,
                          paid_on=date(2026, 11, 20), channel="wechat", today=TODAY)
    assert caught.value.code == "year_over"
    _with_rules(town.ws, past_year_payment={"value": True})
    en.set_subsidised(town.ws, town.admin, town["王低保"], 2025, category="二类", subsidy_fen=15_000,
                      paid_on=date(2026, 11, 20), channel="wechat", today=TODAY)


def test_without_the_countys_rules_the_deadline_stays_closed(town):
    """No late-enrollment rule sent: the code invents no waiting period (汉阴 时限制)."""
    with pytest.raises(ValidationError, match="已过缴费截止日期") as caught:
        en.set_paid(town.ws, town.admin, town["赵六"], 2026, paid_on=date(2026, 6, 10), channel="wechat",
                    today=TODAY)
    assert caught.value.code == "after_deadline"


def test_no_payment_before_birth(town):
    _with_rules(town.ws)
    baby = _person(town, "张未生", date(2026, 10, 1))
    with pytest.raises(ValidationError, match="出生日期"):
        en.set_paid(town.ws, town.admin, baby, 2027, paid_on=date(2026, 9, 20), channel="wechat", today=TODAY)


def test_in_window_payment_starts_on_the_first_of_january(town):
    _with_rules(town.ws)
    en.set_paid(town.ws, town.admin, town["赵六"], YEAR, paid_on=date(2026, 10, 1), channel="wechat", today=TODAY)
    assert _record(town.ws, town["赵六"], YEAR).benefit_start == date(YEAR, 1, 1)


# -- 17.2 special groups as policy names them ----------------------------------------------------------


@pytest.mark.parametrize("word, code", [
    ("脱贫不稳定户", "unstable"), ("边缘易致贫户", "edge_poor"), ("突发严重困难户", "sudden"),
    ("返贫致贫人口", "fanpin"), ("返贫户", "fanpin"), ("三类户", "monitor"), ("监测户", "monitor"),
    ("特困供养人员", "tekun"), ("事实无人抚养儿童", "orphan"), ("低保边缘家庭", "dibao_edge"),
    ("建档立卡户", "tuopin"), ("重度残疾人", "disabled"), ("低保对象", "dibao"),
])
def test_roster_maps_every_common_spelling(word, code):
    """Finding 2: 脱贫不稳定户 was mapped to 脱贫人口; 突发严重困难户 and 返贫致贫人口 unknown."""
    assert special_groups_from_text(word) == ([code], [])


def test_the_three_kinds_of_monitored_household_in_one_cell():
    codes, unknown = special_groups_from_text("脱贫不稳定户/边缘易致贫户/突发严重困难户")
    assert (sorted(codes), unknown) == (["edge_poor", "sudden", "unstable"], [])


def test_hardship_rate_counts_the_groups_the_county_names(town):
    """Finding 2: 脱贫人口 left out of 困难群众 — the rate showed 100 % with 脱贫人口 unpaid."""
    settle_year(town)
    _person(town, "张脱贫", date(1980, 3, 3), ("tuopin",))
    en.mark_paid(town.ws, town.admin, [town["王低保"], town["王小妹"], town["孙八"]], YEAR,
                 paid_on=date(2026, 10, 20), channel="wechat", today=TODAY)
    _with_rules(town.ws)
    kpis = en.enrollment_kpis(town.ws, town.admin, YEAR)
    # 李特困 (资助), 王低保, 王小妹, 孙八 covered; 张脱贫 not.
    assert (kpis.hardship.numerator, kpis.hardship.denominator) == (4, 5)
    _with_rules(town.ws, hardship_groups={"value": ["tekun", "dibao", "monitor"]})
    kpis = en.enrollment_kpis(town.ws, town.admin, YEAR)
    assert (kpis.hardship.numerator, kpis.hardship.denominator) == (4, 4)


def test_returned_to_poverty_draws_its_own_subsidy(town):
    """Finding 2: 返贫致贫人口 could only be recorded as 监测对象 (100 元); the county gives 150 元."""
    _with_rules(town.ws)
    person = _person(town, "张返贫", date(1979, 1, 1), ("fanpin",))
    suggestion = en.suggest_for(town.ws, person, YEAR)
    assert (suggestion.category, suggestion.subsidy_fen) == ("二类（返贫致贫人口）定额资助", 15_000)


def test_migration_moves_existing_records_to_the_groups_policy_names(tmp_path):
    from station_app.store import migrate
    from station_app.store.db import make_engine

    engine = make_engine(tmp_path / "old.db")
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        for rid, groups, note in (("r1", "tuopin", "人员类别：脱贫不稳定户"), ("r2", "monitor", "返贫致贫人口"),
                                  ("r3", "dibao,monitor", "突发严重困难户，低保"), ("r4", "tuopin", "")):
            conn.execute(text(
                "INSERT INTO resident (id, village_code, updated_hlc, row_version, deleted, name, name_pinyin, "
                "name_initials, sex, id_number, birth_date, phone, relation, status, special_groups, note) VALUES "
                "(:id, :v, '', 0, 0, '某', '', '', 'M', '610921198001010011', '1980-01-01', '', 'head', "
                "'registered', :g, :n)"), {"id": rid, "v": VILLAGE_A, "g": groups, "n": note})
        conn.execute(text(
            "INSERT INTO enrollment (id, village_code, updated_hlc, row_version, deleted, resident_id, year, status, "
            "subsidy_category, subsidy_fen, paid_fen, paid_date, channel, other_channel_note, note) VALUES "
            "('e1', :v, '', 0, 0, 'r4', 2026, 'paid', '', 0, 40000, '2025-10-01', 'wechat', '', '')"),
            {"v": VILLAGE_A})
    migrate.upgrade(engine)
    with engine.connect() as conn:
        groups = dict(conn.execute(text("SELECT id, special_groups FROM resident")).all())
        start = conn.execute(text("SELECT benefit_start FROM enrollment WHERE id = 'e1'")).scalar()
    assert groups == {"r1": "unstable", "r2": "fanpin", "r3": "dibao,sudden", "r4": "tuopin"}
    assert start == "2026-01-01"
    engine.dispose()


# -- 17.3 a new year keeps what carries over ---------------------------------------------------------


def test_new_year_carries_other_channel_forward_as_to_verify(town):
    """Finding 3: starting a year put everyone covered elsewhere back on the unpaid list."""
    ws, admin = town.ws, town.admin
    settle_year(town)  # 钱七 其他渠道（职工医保）for 2027
    before = en.unpaid_list(ws, admin, YEAR + 1 - 1, today=TODAY).people
    load_reference(ws, {"county": {"code": COUNTY, "name": "汉阴县"}, "year_settings": [
        {"year": 2028, "premium_yuan": 400, "collection_start": "2027-09-01", "deadline": "2027-12-31"}]})
    result = en.start_new_year(ws, admin, 2028)
    assert result.to_verify == 1 and "待核实" in result.text
    record = _record(ws, town["钱七"], 2028)
    assert (record.status, record.other_channel_note) == ("to_verify", "职工医保")
    unpaid = en.unpaid_list(ws, admin, 2028, today=date(2027, 10, 1))
    assert town["钱七"] not in {m.resident_id for g in unpaid.groups for h in g.households for m in h.unpaid}
    kpis = en.enrollment_kpis(ws, admin, 2028)
    assert kpis.counts.get("to_verify") == 1
    assert kpis.overall.denominator == sum(kpis.counts.values()) - 1  # 待核实 out of the rate
    assert before >= 0
    done = en.confirm_other_channel(ws, admin, None, 2028)
    assert done.changed == 1
    record = _record(ws, town["钱七"], 2028)
    assert (record.status, record.other_channel_note) == ("other_channel", "职工医保")
    assert en.enrollment_kpis(ws, admin, 2028).overall.numerator == 1
