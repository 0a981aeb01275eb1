"""services.enrollment: bulk marking, subsidy suggestions in bulk, and starting a new year."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import enrollment as en
from station_app.store.models import AuditEntry, Enrollment, OutboxOp
from tests.conftest import VILLAGE_A, VILLAGE_B

from .test_status import counts, record
from .town import DIBAO_SUBSIDY, PREMIUM, TODAY, YEAR

PAY = dict(paid_on=date(2026, 10, 20), channel="proxy", today=TODAY)


def statuses(ws, year: int = YEAR) -> dict[str, str]:
    with ws.read() as session:
        return dict(session.execute(select(Enrollment.resident_id, Enrollment.status).where(Enrollment.year == year)).all())


def test_mark_paid_many_with_skips_in_one_unit_of_work(town):
    ws, admin = town.ws, town.admin
    en.set_paid(ws, admin, town["张大山"], YEAR, **PAY)  # already covered: left alone
    en.set_unpaid(ws, admin, town["张小龙"], YEAR)  # an unpaid record to update
    en.apply_suggested_subsidies(ws, admin, YEAR, [town["王低保"]])  # carries 150 元
    ids = [town[n] for n in ("张大山", "张小龙", "王低保", "赵六", "周老汉", "钱七")]
    before = counts(ws)
    result = en.mark_paid(ws, admin, ids, YEAR, **PAY)
    assert result.by_status == {"paid": 3, "subsidised": 1}
    assert (result.changed, result.created) == (2, 2)  # 张小龙, 王低保 updated; 赵六, 钱七 new
    assert result.skipped == {"covered": 1, "not_registered": 1}
    assert result.skipped_text() == "已参保 1 人、已死亡或迁出 1 人"
    after = counts(ws)
    assert after[0] - before[0] == 2 and after[1] - before[1] == 4
    wang = record(ws, town["王低保"])
    assert (wang.status, wang.paid_fen, wang.subsidy_fen) == ("subsidised", PREMIUM - DIBAO_SUBSIDY, DIBAO_SUBSIDY)
    assert record(ws, town["周老汉"]) is None
    zhang = record(ws, town["张小龙"])
    assert (zhang.status, zhang.paid_fen, zhang.paid_date, zhang.channel) == ("paid", PREMIUM, date(2026, 10, 20), "proxy")
    with ws.read() as session:
        op = session.scalar(select(OutboxOp).where(OutboxOp.row_id == zhang.id, OutboxOp.op == "update"))
        audit = session.scalar(select(AuditEntry).where(AuditEntry.row_id == zhang.id,
                                                        AuditEntry.action == "enrollment_bulk_paid"))
    # Only the changed fields travel, like the ORM path; the audit keeps before → after.
    assert json.loads(op.fields_json) == {"status": "paid", "paid_fen": PREMIUM, "paid_date": "2026-10-20",
                                          "channel": "proxy", "benefit_start": "2027-01-01"}
    assert json.loads(audit.before_json)["status"] == "unpaid"
    assert zhang.updated_hlc == op.hlc


def test_bulk_after_the_deadline_refuses_the_whole_batch(town):
    ws = town.ws
    ids = [town["李特困"], town["赵六"]]  # one may pay late (特困), the other not: nothing is saved
    before = counts(ws)
    with pytest.raises(ValidationError) as caught:
        en.mark_paid(ws, town.admin, ids, YEAR, paid_on=date(2027, 1, 2), channel="proxy", today=date(2027, 1, 5))
    assert caught.value.message == "已过缴费截止日期（2026-12-31），不能补缴。"
    assert counts(ws) == before


def test_bulk_outside_the_scope_is_refused(town):
    ids = [town["赵六"], town["钱七"]]
    with pytest.raises(PermissionDenied):
        en.mark_paid(town.ws, town.doctor(VILLAGE_A), ids, YEAR, **PAY)
    assert statuses(town.ws) == {}


def test_bulk_other_channel_and_not_required(town):
    result = en.set_enrollment_many(town.ws, town.admin, [town["赵六"], town["钱七"]], YEAR,
                                    en.StatusChange("other_channel", note="外地参保"), today=TODAY)
    assert result.by_status == {"other_channel": 2}
    with pytest.raises(ValidationError, match="请填写无需参保的原因"):
        en.set_enrollment_many(town.ws, town.admin, [town["赵六"]], YEAR, en.StatusChange("not_required"))


def test_apply_suggested_subsidies(town):
    ws, admin = town.ws, town.admin
    en.set_paid(ws, admin, town["王小妹"], YEAR, **PAY)  # paid already: untouched
    result = en.apply_suggested_subsidies(ws, admin, YEAR)  # everyone in scope with a special group
    assert result.by_status == {"subsidised": 1, "unpaid": 1}  # 李特困 full, 王低保 partial
    assert result.skipped == {"no_rule": 1}  # 孙八 监测 has no 2027 rule; 王小妹 paid is not asked
    li, wang = record(ws, town["李特困"]), record(ws, town["王低保"])
    assert (li.status, li.subsidy_fen) == ("subsidised", PREMIUM)
    assert (wang.status, wang.subsidy_category, wang.subsidy_fen) == ("unpaid", "二类（低保）定额资助", DIBAO_SUBSIDY)
    assert record(ws, town["王小妹"]).subsidy_fen == 0
    again = en.apply_suggested_subsidies(ws, admin, YEAR)
    assert again.total_written == 0 and again.skipped.get("unchanged") == 1


# -- a new year ------------------------------------------------------------------------------------


def test_start_new_year_gives_every_registered_resident_a_record(town):
    ws, admin = town.ws, town.admin
    en.set_paid(ws, admin, town["赵六"], 2026, paid_on=date(2025, 10, 1), channel="wechat", today=date(2025, 11, 1))
    old = record(ws, town["赵六"], 2026)
    seen: list[tuple[int, int, str]] = []
    assert en.new_year_plan(ws, admin, YEAR) == (11, 0)
    result = en.start_new_year(ws, admin, YEAR, progress=lambda d, t, m: seen.append((d, t, m)))
    assert (result.created, result.subsidised, result.partial, result.existing) == (11, 1, 2, 0)
    now = statuses(ws)
    assert town["周老汉"] not in now  # died: not on the year's roll
    assert now[town["李特困"]] == "subsidised"
    assert now[town["王低保"]] == now[town["王小妹"]] == now[town["赵六"]] == "unpaid"
    assert record(ws, town["王小妹"]).subsidy_fen == DIBAO_SUBSIDY
    assert seen[-1][:2] == (11, 11)
    # History kept: the earlier year is untouched.
    kept = record(ws, town["赵六"], 2026)
    assert (kept.status, kept.paid_date, kept.updated_hlc) == ("paid", date(2025, 10, 1), old.updated_hlc)
    with ws.read() as session:
        outbox = session.scalar(select(func.count()).select_from(OutboxOp).where(
            OutboxOp.table_name == "enrollment", OutboxOp.op == "insert"))
    assert outbox == 12  # 11 new + the 2026 one


def test_start_new_year_is_idempotent(town):
    ws, admin = town.ws, town.admin
    en.set_paid(ws, admin, town["赵六"], YEAR, **PAY)
    first = en.start_new_year(ws, admin, YEAR)
    assert (first.created, first.existing) == (10, 1)
    before = counts(ws)
    second = en.start_new_year(ws, admin, YEAR)
    assert (second.created, second.existing) == (0, 11)
    assert "没有新建" in second.text
    assert counts(ws)[:2] == before[:2]
    assert record(ws, town["赵六"]).status == "paid"


def test_start_new_year_is_for_the_clerk_not_a_village_doctor(town):
    """Issue 10.10: 开始新年度 / 套用资助建议 are year-level bulk operations of the township."""
    from station_app.domain.errors import PermissionDenied

    ws = town.ws
    with pytest.raises(PermissionDenied) as caught:
        en.start_new_year(ws, town.doctor(VILLAGE_B), YEAR)
    assert caught.value.message == "只有乡镇医保专干或管理员可以开始新年度。"
    with pytest.raises(PermissionDenied):
        en.apply_suggested_subsidies(ws, town.doctor(VILLAGE_B), YEAR)
    assert statuses(ws) == {}
    assert en.new_year_plan(ws, town.doctor(VILLAGE_A), YEAR) == (9, 0)  # the plan is still scoped


def test_start_new_year_needs_the_county_setting(town):
    with pytest.raises(ValidationError) as caught:
        en.start_new_year(town.ws, town.admin, 2030)
    assert caught.value.message == "县医保局尚未下发 2030 年度缴费标准（个人缴费、征缴期），不能开始新年度。"
    assert statuses(town.ws, 2030) == {}
