"""services.enrollment: one resident's status for a year, each with its validation; nothing half-saved."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.services import enrollment as en
from station_app.store.models import AuditEntry, Enrollment, OutboxOp
from tests.conftest import VILLAGE_B

from .town import DIBAO_SUBSIDY, PREMIUM, TODAY, YEAR


def record(ws, resident_id: str, year: int = YEAR) -> Enrollment | None:
    with ws.read() as session:
        return session.scalar(select(Enrollment).where(Enrollment.resident_id == resident_id, Enrollment.year == year))


def counts(ws) -> tuple[int, int, int]:
    with ws.read() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Enrollment, OutboxOp, AuditEntry))


def test_years_and_the_current_one(town):
    assert en.enrollment_years(town.ws) == [2027, 2026]
    assert en.default_year(town.ws, date(2026, 3, 1)) == 2026
    assert en.default_year(town.ws, TODAY) == 2027


@pytest.mark.parametrize("today, phase, text", [
    (date(2026, 8, 1), "before", "2027 年度征缴 2026-09-01 开始，2026-12-31 截止 · 个人缴费 400.00 元"),
    (TODAY, "open", "距缴费截止还有 41 天（截止 2026-12-31）· 个人缴费 400.00 元"),
    (date(2026, 12, 31), "open", "今天截止（截止 2026-12-31）· 个人缴费 400.00 元"),
    (date(2027, 1, 3), "closed", "已过截止日期 3 天（2026-12-31）· 除特殊群体外不能补缴"),
])
def test_year_info_banner(town, today, phase, text):
    info = en.year_info(town.ws, YEAR, actor=town.admin, today=today)
    assert (info.phase, info.banner_text, info.premium_fen) == (phase, text, PREMIUM)


def test_year_without_county_setting(town):
    info = en.year_info(town.ws, 2030, today=TODAY)
    assert not info.has_setting
    assert "尚未下发" in info.banner_text


def test_paid_creates_the_record_with_audit_and_outbox(town):
    ws = town.ws
    before = counts(ws)
    status = en.set_paid(ws, town.admin, town["赵六"], YEAR, paid_on=date(2026, 10, 8), channel="wechat", today=TODAY)
    assert status == "paid"
    row = record(ws, town["赵六"])
    assert (row.status, row.paid_fen, row.paid_date, row.channel) == ("paid", PREMIUM, date(2026, 10, 8), "wechat")
    assert row.village_code is not None
    after = counts(ws)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1 and after[2] > before[2]
    with ws.read() as session:
        audit = session.scalar(select(AuditEntry).where(AuditEntry.row_id == row.id))
    assert audit.username == town.admin.username and audit.action == "enrollment_paid"


def test_paid_again_corrects_the_date(town):
    ws, rid = town.ws, town["赵六"]
    en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 8), channel="wechat", today=TODAY)
    en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 9), channel="tax_app", today=TODAY)
    row = record(ws, rid)
    assert (row.paid_date, row.channel) == (date(2026, 10, 9), "tax_app")


@pytest.mark.parametrize("kwargs, today, message", [
    (dict(paid_on=date(2027, 1, 3)), date(2027, 1, 5), "已过缴费截止日期（2026-12-31），不能补缴。"),
    (dict(paid_on=date(2026, 8, 31)), TODAY, "缴费日期早于 2027 年度征缴开始日期（2026-09-01）。"),
    (dict(paid_on=date(2026, 11, 21)), TODAY, "缴费日期不能晚于今天。"),
    (dict(channel="cash"), TODAY, "请选择缴费渠道。"),
    (dict(amount_fen=0), TODAY, "缴费金额必须大于 0。"),
    (dict(amount_fen=-100), TODAY, "缴费金额必须大于 0。"),
    (dict(amount_fen=38_000), TODAY, "缴费金额 380.00 元与应缴 400.00 元不符。"),
    (dict(amount_fen=50_000), TODAY, "缴费金额不能超过个人缴费标准 400.00 元。"),
])
def test_paid_is_refused_and_nothing_is_saved(town, kwargs, today, message):
    ws = town.ws
    before = counts(ws)
    args = dict(paid_on=date(2026, 10, 8), channel="wechat") | kwargs
    with pytest.raises(ValidationError) as caught:
        en.set_paid(ws, town.admin, town["赵六"], YEAR, today=today, **args)
    assert caught.value.message == message
    assert counts(ws) == before


def test_after_the_deadline_special_groups_may_still_pay(town):
    """Seed 000 时限制: the system closes after the deadline "除特殊群体外"."""
    late = dict(paid_on=date(2027, 1, 3), channel="proxy", today=date(2027, 1, 5))
    assert en.set_paid(town.ws, town.admin, town["李特困"], YEAR, **late) == "paid"  # 特困
    assert en.set_paid(town.ws, town.admin, town["孙八"], YEAR, **late) == "paid"  # 防返贫监测
    with pytest.raises(ValidationError, match="不能补缴"):
        en.set_paid(town.ws, town.admin, town["赵六"], YEAR, **late)
    assert record(town.ws, town["赵六"]) is None


def test_dead_resident_cannot_be_marked_paid_but_can_be_not_required(town):
    ws, rid = town.ws, town["周老汉"]
    before = counts(ws)
    with pytest.raises(ValidationError) as caught:
        en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 8), channel="wechat", today=TODAY)
    assert caught.value.message == "周老汉已死亡，不能登记缴费；可登记为“无需参保”。"
    with pytest.raises(ValidationError, match="已死亡"):
        en.set_subsidised(ws, town.admin, rid, YEAR, category="一类", subsidy_fen=PREMIUM, today=TODAY)
    assert counts(ws) == before
    assert en.set_not_required(ws, town.admin, rid, YEAR, "死亡") == "not_required"
    assert record(ws, rid).note == "死亡"


def test_missing_resident_and_other_village(town):
    with pytest.raises(NotFound):
        en.set_unpaid(town.ws, town.admin, "no-such-id", YEAR)
    with pytest.raises(PermissionDenied):
        en.set_paid(town.ws, town.doctor(VILLAGE_B), town["赵六"], YEAR, paid_on=date(2026, 10, 8),
                    channel="wechat", today=TODAY)
    assert record(town.ws, town["赵六"]) is None


def test_no_county_setting_no_payment(town):
    with pytest.raises(ValidationError, match="尚未下发 2030 年度缴费标准"):
        en.set_paid(town.ws, town.admin, town["赵六"], 2030, paid_on=date(2026, 10, 8), channel="wechat",
                    today=TODAY)


# -- 资助参保 -------------------------------------------------------------------------------------


def test_full_subsidy_from_the_rules(town):
    suggestion = en.suggest_for(town.ws, town["李特困"], YEAR)
    assert suggestion.full and suggestion.category == "一类（特困）全额资助"
    en.set_subsidised(town.ws, town.admin, town["李特困"], YEAR, today=TODAY)
    row = record(town.ws, town["李特困"])
    assert (row.status, row.subsidy_category, row.subsidy_fen, row.paid_fen, row.paid_date) == \
        ("subsidised", "一类（特困）全额资助", PREMIUM, 0, None)


def test_partial_subsidy_needs_the_personal_share_paid(town):
    ws, rid = town.ws, town["王低保"]
    suggestion = en.suggest_for(ws, rid, YEAR)
    assert (suggestion.subsidy_fen, suggestion.share_fen, suggestion.full) == (DIBAO_SUBSIDY, 25_000, False)
    with pytest.raises(ValidationError) as caught:
        en.set_subsidised(ws, town.admin, rid, YEAR, today=TODAY)
    assert caught.value.message == "个人还需缴纳 250.00 元：请填写个人部分的缴费日期。"
    assert record(ws, rid) is None
    en.set_subsidised(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 1), channel="wechat", today=TODAY)
    row = record(ws, rid)
    assert (row.status, row.subsidy_fen, row.paid_fen, row.channel) == ("subsidised", DIBAO_SUBSIDY, 25_000, "wechat")


@pytest.mark.parametrize("kwargs, message", [
    (dict(category="一类", subsidy_fen=0), "资助金额必须大于 0。"),
    (dict(category="一类", subsidy_fen=PREMIUM + 1), "资助金额不能超过个人缴费标准 400.00 元。"),
    (dict(category="", subsidy_fen=None), "该居民的人员类别没有适用的资助规则，请填写资助类别和金额。"),
    (dict(category="x" * 41, subsidy_fen=PREMIUM), "资助类别不能超过 40 个字。"),
])
def test_subsidy_refusals(town, kwargs, message):
    with pytest.raises(ValidationError) as caught:
        en.set_subsidised(town.ws, town.admin, town["赵六"], YEAR, today=TODAY, **kwargs)
    assert caught.value.message == message
    assert record(town.ws, town["赵六"]) is None


def test_manual_subsidy_for_someone_without_a_rule(town):
    en.set_subsidised(town.ws, town.admin, town["赵六"], YEAR, category="临时资助", subsidy_fen=PREMIUM, today=TODAY)
    assert record(town.ws, town["赵六"]).status == "subsidised"


# -- other channel, not required, unpaid ----------------------------------------------------------


def test_other_channel_needs_a_note_and_clears_payment(town):
    ws, rid = town.ws, town["赵六"]
    en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 8), channel="wechat", today=TODAY)
    with pytest.raises(ValidationError, match="请填写参保渠道"):
        en.set_other_channel(ws, town.admin, rid, YEAR, "  ")
    en.set_other_channel(ws, town.admin, rid, YEAR, "职工医保")
    row = record(ws, rid)
    assert (row.status, row.other_channel_note, row.paid_fen, row.paid_date, row.channel) == \
        ("other_channel", "职工医保", 0, None, "")


def test_not_required_needs_a_reason(town):
    with pytest.raises(ValidationError, match="请填写无需参保的原因"):
        en.set_not_required(town.ws, town.admin, town["赵六"], YEAR, "")


def test_unpaid_keeps_a_partial_subsidy_and_drops_a_full_one(town):
    ws = town.ws
    en.set_subsidised(ws, town.admin, town["王低保"], YEAR, paid_on=date(2026, 10, 1), channel="wechat", today=TODAY)
    en.set_subsidised(ws, town.admin, town["李特困"], YEAR, today=TODAY)
    en.set_unpaid(ws, town.admin, town["王低保"], YEAR)
    en.set_unpaid(ws, town.admin, town["李特困"], YEAR)
    partial, full = record(ws, town["王低保"]), record(ws, town["李特困"])
    assert (partial.status, partial.subsidy_fen, partial.paid_fen, partial.paid_date) == ("unpaid", DIBAO_SUBSIDY, 0, None)
    assert (full.status, full.subsidy_fen, full.subsidy_category) == ("unpaid", 0, "")


def test_paying_with_a_partial_subsidy_carried_records_subsidised(town):
    ws, rid = town.ws, town["王低保"]
    en.apply_suggested_subsidies(ws, town.admin, YEAR, [rid])
    assert record(ws, rid).status == "unpaid"
    with pytest.raises(ValidationError, match="与应缴 250.00 元（已扣除资助 150.00 元）不符"):
        en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 8), channel="wechat", amount_fen=PREMIUM,
                    today=TODAY)
    assert en.set_paid(ws, town.admin, rid, YEAR, paid_on=date(2026, 10, 8), channel="wechat", today=TODAY) \
        == "subsidised"
    row = record(ws, rid)
    assert (row.paid_fen, row.subsidy_fen, row.subsidy_category) == (25_000, DIBAO_SUBSIDY, "二类（低保）定额资助")
