"""Issued notices are archived as printed, reprinted only when intact; objections; settings; batches."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from station_app import paths
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import notices
from station_app.services.changes import Actor
from station_app.store.models import AppSetting, AuditEntry, Notice, OutboxOp
from tests.conftest import VILLAGE_A, VILLAGE_B

TODAY = date(2027, 4, 1)


@pytest.fixture(autouse=True)
def _qt(qapp):
    pass


def issue(village, kind="enrollment", **kw):
    return notices.issue_notice(village.ws, village.admin, kind, VILLAGE_A, 2027, today=TODAY, **kw)


def test_issue_list_reprint_round_trip(village):
    issued = issue(village)
    assert issued.pdf_path.is_file() and issued.pdf_path.is_relative_to(paths.notices_dir())
    assert notices.sha256_of(issued.pdf_path.read_bytes()) == issued.sha256
    listed = notices.list_notices(village.ws, village.admin)
    assert [n.id for n in listed] == [issued.id]
    entry = listed[0]
    assert entry.kind_label == "参保情况" and entry.issued_by == "admin" and entry.issued_by_name == "管理员"
    assert (entry.period_start, entry.period_end) == (TODAY, date(2027, 4, 7))
    assert entry.pages == issued.pages and entry.paper == "A4" and entry.sha256 == issued.sha256
    assert entry.layout == "roster" and entry.disclosure == "none"
    assert entry.state(date(2027, 4, 3)) == "公示中" and entry.state(date(2027, 4, 8)) == "已结束"
    path = notices.reprint_path(village.ws, village.admin, issued.id)
    assert path.read_bytes() == issued.pdf_path.read_bytes()
    # The data it was made from: masked rows and parameters, as printed.
    doc = notices.archived_document(village.ws, village.admin, issued.id)
    assert doc.rows[0][1] == "张*丰"
    with village.ws.read() as session:
        row = session.get(Notice, issued.id)
        assert all(number not in row.data_json for number in village.ids)
        assert json.loads(row.data_json)["paper"] == "A4"
        # recorded like every write: audited and queued for sync
        assert session.scalar(select(AuditEntry).where(AuditEntry.row_id == issued.id,
                                                       AuditEntry.action == "issue_notice"))
        assert session.scalar(select(OutboxOp).where(OutboxOp.row_id == issued.id))


def test_newest_first(village):
    first = issue(village, "enrollment")
    second = issue(village, "policy")
    assert [n.id for n in notices.list_notices(village.ws, village.admin)] == [second.id, first.id]
    assert [n.id for n in notices.list_notices(village.ws, village.admin, kind="policy")] == [second.id]


def test_altered_or_missing_archive_is_refused(village):
    issued = issue(village, "chronic")
    data = issued.pdf_path.read_bytes()
    issued.pdf_path.write_bytes(data.replace(b"/Title", b"/Titl3", 1))
    with pytest.raises(notices.NoticeArchiveError, match="已被修改"):
        notices.reprint_path(village.ws, village.admin, issued.id)
    assert not notices.verify_archive(village.ws, village.admin, issued.id)
    issued.pdf_path.unlink()
    with pytest.raises(notices.NoticeArchiveError, match="存档文件不存在"):
        notices.reprint_path(village.ws, village.admin, issued.id)


def test_archive_can_be_checked_by_rerendering_the_stored_data(village):
    """The PDF depends only on the stored content: the archived data reproduces the same bytes."""
    issued = issue(village, "assistance")
    doc = notices.archived_document(village.ws, village.admin, issued.id)
    pdf, _pages = notices.render_notice(doc, "A4L")
    assert notices.sha256_of(pdf) == issued.sha256


def test_failed_archive_write_leaves_no_file(village, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(notices, "utcnow", broken)
    with pytest.raises(RuntimeError):
        issue(village)
    assert list(paths.notices_dir().rglob("*.pdf")) == []
    assert notices.list_notices(village.ws, village.admin) == []


def test_objection_within_the_period_with_outcome(village):
    issued = issue(village)
    oid = notices.record_objection(village.ws, village.admin, issued.id, received_date=date(2027, 4, 3),
                                   raised_by="李四", content="本人已缴费，公示为未缴费", today=date(2027, 4, 3))
    entry = notices.list_notices(village.ws, village.admin)[0]
    assert (entry.objections, entry.open_objections) == (1, 1)
    notices.record_outcome(village.ws, village.admin, oid, outcome="核实属实，已更正缴费记录",
                           today=date(2027, 4, 5))
    [objection] = notices.list_objections(village.ws, village.admin, issued.id)
    assert objection.outcome == "核实属实，已更正缴费记录" and objection.outcome_date == date(2027, 4, 5)
    assert objection.raised_by == "李四" and objection.raised_by_masked == "李*"
    assert notices.list_notices(village.ws, village.admin)[0].open_objections == 0


@pytest.mark.parametrize("received, message", [(date(2027, 3, 31), "公示期内"), (date(2027, 4, 8), "公示期内"),
                                               (date(2027, 4, 9), "晚于今天")])
def test_objection_outside_the_period_is_refused(village, received, message):
    issued = issue(village)
    with pytest.raises(ValidationError, match=message):
        notices.record_objection(village.ws, village.admin, issued.id, received_date=received,
                                 content="有异议", today=date(2027, 4, 8))


def test_objection_outcome_before_receipt_is_refused(village):
    issued = issue(village)
    oid = notices.record_objection(village.ws, village.admin, issued.id, received_date=date(2027, 4, 7),
                                   content="有异议", today=date(2027, 4, 10))
    with pytest.raises(ValidationError, match="早于受理日期"):
        notices.record_outcome(village.ws, village.admin, oid, outcome="x", outcome_date=date(2027, 4, 6),
                               today=date(2027, 4, 10))


def test_village_doctor_sees_and_publishes_only_their_village(village):
    issued = issue(village)
    doctor = Actor("doc", "村医", "village_doctor", VILLAGE_B, "XW-TS")
    assert notices.list_notices(village.ws, doctor) == []
    with pytest.raises(PermissionDenied):
        notices.reprint_path(village.ws, doctor, issued.id)
    with pytest.raises(PermissionDenied):
        notices.prepare_notice(village.ws, doctor, "enrollment", VILLAGE_A, 2027)
    assert [v.code for v in notices.notice_villages(village.ws, doctor)] == [VILLAGE_B]
    assert [v.code for v in notices.notice_villages(village.ws, village.admin)] == [VILLAGE_A, VILLAGE_B]


def test_settings_are_stored_audited_and_guarded(village):
    ws, admin = village.ws, village.admin
    assert notices.get_settings(ws) == notices.NoticeSettings()
    saved = notices.save_settings(ws, admin, notices.NoticeSettings(id_mode="hidden", period_days=10,
                                                                     supervision_phone=" 0915-5212345 ", paper="A3"))
    assert notices.get_settings(ws) == saved and saved.supervision_phone == "0915-5212345"
    assert saved.paper_for("policy") == "A3" and notices.NoticeSettings(paper="A4L").paper_for("policy") == "A4"
    with ws.read() as session:
        assert session.get(AppSetting, "notice.period_days").value == "10"
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "notice_settings",
                                                       AuditEntry.row_id == "notice.id_mode"))
    doc = notices.prepare_notice(ws, admin, "enrollment", VILLAGE_A, 2027, today=TODAY)
    assert doc.period_days == 10 and doc.supervision_phone == "0915-5212345"
    assert doc.rows[0][2] == "*" * 18
    clerk = Actor("clerk", "专干", "township_clerk", "610921103000", "XW-TS")
    with pytest.raises(PermissionDenied, match="管理员"):
        notices.save_settings(ws, clerk, notices.NoticeSettings(masking_enabled=False))
    with pytest.raises(ValidationError):
        notices.save_settings(ws, admin, notices.NoticeSettings(period_days=0))


def test_batch_for_every_village_with_progress_and_cancel(village, tmp_path):
    seen = []
    result = notices.batch_notices(village.ws, village.admin, 2027, out_dir=tmp_path, today=TODAY,
                                   progress=lambda done, total, msg: seen.append((done, total, msg)))
    # 堰坪村 has no people: its three record-based notices are skipped, not printed empty.
    assert len(result.items) == 8 and len(result.made) == 5 and not result.cancelled
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["610921103201-群英村-assistance-2027.pdf",
                                                             "610921103201-群英村-chronic-2027.pdf"]
    assert seen[0] == (0, 8, "") and seen[-1][:2] == (8, 8)
    calls = iter(range(100))
    stopped = notices.batch_notices(village.ws, village.admin, 2027, out_dir=tmp_path / "b", archive=True,
                                    today=TODAY, cancel=lambda: next(calls) >= 3)
    assert stopped.cancelled and 0 < len(stopped.made) < 5
    assert len(notices.list_notices(village.ws, village.admin)) == len(stopped.made)


def test_default_year_follows_the_kind():
    november, march = date(2026, 11, 23), date(2027, 3, 1)
    assert notices.default_year("enrollment", november) == 2027  # collecting for next year
    assert notices.default_year("policy", november) == 2027
    assert notices.default_year("assistance", november) == 2026  # what happened this year
    assert notices.default_year("chronic", march) == notices.default_year("enrollment", march) == 2027


# --------------------------------------------------------------------------- issue 11.6: versions


def test_publishing_an_unchanged_notice_again_reuses_the_entry(village):
    """Finding: publishing twice made two archive entries with the same SHA-256 and no link."""
    first = issue(village, "chronic")
    again = issue(village, "chronic")
    assert again.reused and again.id == first.id and again.sha256 == first.sha256
    assert again.issued_at == first.issued_at and "完全相同，未重复存档" in again.message()
    assert len(notices.list_notices(village.ws, village.admin)) == 1
    assert len(list(paths.notices_dir().rglob("*.pdf"))) == 1


def test_a_changed_notice_is_a_new_version_linked_with_its_reason_and_objections_follow(village):
    first = issue(village, "enrollment")
    oid = notices.record_objection(village.ws, village.admin, first.id, received_date=date(2027, 4, 2),
                                   content="赵*华已在税务APP缴费", today=date(2027, 4, 2))
    with village.ws.unit_of_work(village.admin, "test") as session:
        from station_app.store.models import Enrollment

        row = session.scalar(select(Enrollment).where(Enrollment.resident_id == village.resident_ids[4]))
        row.status, row.paid_fen = "paid", 40000
    second = issue(village, "enrollment", reason="核实异议后更正缴费状态")
    assert not second.reused and second.id != first.id
    assert second.replaces_id == first.id and second.version == 2
    assert second.change_reason == "核实异议后更正缴费状态"
    listed = {n.id: n for n in notices.list_notices(village.ws, village.admin)}
    assert listed[second.id].replaces_id == first.id and listed[second.id].change_reason == "核实异议后更正缴费状态"
    # The objection stays with the version it was raised against, and is shown with the new one.
    assert [o.id for o in notices.list_objections(village.ws, village.admin, first.id)] == [oid]
    [carried] = notices.list_objections(village.ws, village.admin, second.id)
    assert carried.id == oid and carried.notice_id == first.id and "上一版" in carried.earlier_version
    assert notices.list_objections(village.ws, village.admin, second.id, with_earlier=False) == []
    # Without a reason, the change is described.
    third = issue(village, "enrollment", period_days=10)
    assert third.replaces_id == second.id and third.version == 3 and "公示期改为" in third.change_reason


def test_archive_entry_records_the_disclosure_setting(village):
    issued = issue(village, "assistance")
    with village.ws.read() as session:
        meta = json.loads(session.get(Notice, issued.id).data_json)
    assert meta["disclosure"] == "none" and meta["document"]["masking"]["disclosure"] == "none"
    [entry] = notices.list_notices(village.ws, village.admin)
    assert entry.disclosure == "none"


def test_disclosure_is_a_county_setting_only_an_admin_changes(village):
    clerk = Actor("clerk", "专干", "township_clerk", "610921103000", "XW-TS")
    with pytest.raises(PermissionDenied, match="县级设置"):
        notices.save_settings(village.ws, clerk, notices.NoticeSettings(disclosure="disease"))
    saved = notices.save_settings(village.ws, village.admin, notices.NoticeSettings(disclosure="category"))
    assert notices.get_settings(village.ws).disclosure == saved.disclosure == "category"


def test_old_disease_display_setting_is_read_as_its_disclosure(village):
    with village.ws.unit_of_work(village.admin, "test") as session:
        session.add(AppSetting(key="notice.disease_display", value="hidden"))
    assert notices.get_settings(village.ws).disclosure == "none"
