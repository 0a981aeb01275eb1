"""Every write records audit + sync change in its transaction; invalid input saves nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from station_app.domain.errors import PermissionDenied, ValidationError
from sync_protocol.hlc import Timestamp
from station_app.services.auth import create_user, login
from station_app.services.changes import system_actor
from station_app.services.households import (
    ResidentInput,
    add_member,
    register_household,
    set_status,
    update_resident,
)
from station_app.services.workspace import Workspace
from station_app.store.models import AuditEntry, Disease, Household, OutboxOp, Resident

from tests.conftest import GROUP_A1, GROUP_B1, VILLAGE_A, VILLAGE_B

HEAD_ID = "11010519491231002X"
MEMBER_ID = "440524188001010014"


def counts(ws) -> dict[str, int]:
    with ws.read() as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                for m in (Household, Resident, AuditEntry, OutboxOp)}


def test_registering_a_household_records_outbox_and_audit(township_ws):
    ws, admin = township_ws
    before = counts(ws)
    household_id, resident_id = register_household(
        ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三丰", HEAD_ID, phone="13800138000",
                                                              group_code=GROUP_A1))
    after = counts(ws)
    assert after["household"] == before["household"] + 1
    assert after["resident"] == before["resident"] + 1
    assert after["sync_outbox"] == before["sync_outbox"] + 2
    assert after["audit_log"] == before["audit_log"] + 2
    with ws.read() as session:
        op = session.scalar(select(OutboxOp).where(OutboxOp.row_id == resident_id))
        fields = json.loads(op.fields_json)
        assert op.op == "insert" and op.table_name == "resident" and op.village_code == VILLAGE_A
        assert fields["id_number"] == HEAD_ID and fields["household_id"] == household_id
        assert "name_pinyin" not in fields  # derived search keys stay local
        person = session.get(Resident, resident_id)
        assert person.sex == "F" and str(person.birth_date) == "1949-12-31"
        assert (person.name_pinyin, person.name_initials) == ("zhangsanfeng", "zsf")
        assert Timestamp.parse(person.updated_hlc).pack() == op.hlc
        audit = session.scalar(select(AuditEntry).where(AuditEntry.row_id == resident_id))
        assert audit.username == "admin" and audit.action == "register_household"
        assert HEAD_ID not in audit.after_json  # PIPL: masked in the audit trail
        assert json.loads(audit.after_json)["id_number"] == "110105********002X"


@pytest.mark.parametrize("bad_id, code", [
    ("11010519491231002", "length"),
    ("110105194912310021", "check_digit"),
    ("110105199002300014", "birth_date"),
    ("11010519491231002Y", "chars"),
    ("", "empty"),
])
def test_invalid_id_number_is_refused_with_its_message_and_nothing_is_saved(township_ws, bad_id, code):
    ws, admin = township_ws
    before = counts(ws)
    with pytest.raises(ValidationError) as caught:
        register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("李四", bad_id, group_code=GROUP_A1))
    assert caught.value.code == code and caught.value.field == "id_number"
    assert "身份证号" in caught.value.message or "请输入" in caught.value.message
    assert counts(ws) == before


def test_a_failure_inside_the_transaction_rolls_back_everything(township_ws):
    ws, admin = township_ws
    household_id, _ = register_household(ws, admin, village_code=VILLAGE_A,
                                         head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    before = counts(ws)
    # Valid person, but the group belongs to another village: refused, nothing written.
    with pytest.raises(ValidationError, match="村民小组不属于该村"):
        add_member(ws, admin, household_id, ResidentInput("王五", MEMBER_ID, group_code=GROUP_B1))
    assert counts(ws) == before
    # A failure after rows, audit and outbox were already flushed takes all of them back.
    with pytest.raises(RuntimeError):
        with ws.unit_of_work(admin, "half_done") as session:
            session.add(Household(village_code=VILLAGE_A, household_no="X1", head_name="王五"))
            session.flush()
            assert session.scalar(select(func.count()).select_from(OutboxOp)) == before["sync_outbox"] + 1
            raise RuntimeError("power cut")
    assert counts(ws) == before


def test_duplicate_id_number_is_refused(township_ws):
    ws, admin = township_ws
    register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    with pytest.raises(ValidationError, match="已登记") as caught:
        register_household(ws, admin, village_code=VILLAGE_B, head=ResidentInput("张三", " 11010519491231002x ", group_code=GROUP_B1))
    assert caught.value.code == "duplicate"


def test_an_update_sends_only_the_changed_fields_and_audits_before_and_after(township_ws):
    ws, admin = township_ws
    _, resident_id = register_household(ws, admin, village_code=VILLAGE_A,
                                        head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    update_resident(ws, admin, resident_id, ResidentInput("张三", HEAD_ID, phone="13912345678",
                                                         relation="head", group_code=GROUP_A1))
    with ws.read() as session:
        op = session.scalars(select(OutboxOp).where(OutboxOp.row_id == resident_id)
                             .order_by(OutboxOp.seq.desc())).first()
        assert op.op == "update" and json.loads(op.fields_json) == {"phone": "13912345678"}
        assert op.base_version == 0
        audit = session.scalars(select(AuditEntry).where(AuditEntry.row_id == resident_id)
                                .order_by(AuditEntry.id.desc())).first()
        assert json.loads(audit.before_json) == {"phone": ""}
        assert json.loads(audit.after_json) == {"phone": "13912345678"}


def test_an_unchanged_save_records_nothing(township_ws):
    ws, admin = township_ws
    _, resident_id = register_household(ws, admin, village_code=VILLAGE_A,
                                        head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    before = counts(ws)
    update_resident(ws, admin, resident_id, ResidentInput("张三", HEAD_ID, relation="head", group_code=GROUP_A1))
    assert counts(ws) == before


def test_nothing_writes_around_the_service_layer(township_ws):
    ws, admin = township_ws
    _, resident_id = register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    with ws.read() as session:
        session.get(Resident, resident_id).phone = "13800000000"
        with pytest.raises(PermissionDenied):
            session.commit()
    with pytest.raises(PermissionDenied, match="不能物理删除"):
        with ws.unit_of_work(admin, "delete") as session:
            session.delete(session.get(Resident, resident_id))
    with pytest.raises(PermissionDenied, match="只读"):
        with ws.unit_of_work(admin, "edit_catalogue") as session:
            session.scalar(select(Disease)).name = "改名"
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        assert person.phone == "" and not person.deleted


def test_status_change_keeps_the_record(township_ws):
    from datetime import date

    ws, admin = township_ws
    _, resident_id = register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    set_status(ws, admin, resident_id, "died", date(2026, 10, 1))
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        assert person.status == "died" and person.status_date == date(2026, 10, 1) and not person.deleted


def test_a_village_doctor_cannot_write_another_village(township_ws):
    ws, admin = township_ws
    create_user(ws, admin, username="cy01", display_name="郭永章", role="village_doctor",
                place_code=VILLAGE_A, password="doctor-1")
    doctor = login(ws, "cy01", "doctor-1")
    register_household(ws, doctor, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    before = counts(ws)
    with pytest.raises(PermissionDenied, match="无权"):
        register_household(ws, doctor, village_code=VILLAGE_B, head=ResidentInput("李四", MEMBER_ID, group_code=GROUP_B1))
    assert counts(ws) == before


def test_the_clock_survives_a_restart(township_ws):
    ws, admin = township_ws
    _, first = register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    with ws.read() as session:
        first_hlc = session.get(Resident, first).updated_hlc
    path = ws.db_path
    ws.close()
    # A machine whose wall clock went backwards a day must still stamp later writes later.
    reopened = Workspace.open(path)
    reopened.clock.inner._wall_clock = lambda: Timestamp.parse(first_hlc).wall_ms - 86_400_000
    try:
        _, second = register_household(reopened, admin, village_code=VILLAGE_A,
                                       head=ResidentInput("李四", MEMBER_ID, group_code=GROUP_A1))
        with reopened.read() as session:
            assert session.get(Resident, second).updated_hlc > first_hlc
    finally:
        reopened.close()


def test_sign_in_locks_after_repeated_failures(township_ws):
    ws, _ = township_ws
    for _ in range(4):
        with pytest.raises(PermissionDenied, match="用户名或密码错误"):
            login(ws, "admin", "wrong")
    with pytest.raises(PermissionDenied, match="锁定"):
        login(ws, "admin", "wrong")
    from tests.conftest import ADMIN_PASSWORD

    with pytest.raises(PermissionDenied, match="锁定"):
        login(ws, "admin", ADMIN_PASSWORD)  # even the right password waits out the lock


def test_system_actor_is_attributed(township_ws):
    ws, _ = township_ws
    with ws.read() as session:
        setup_entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "setup_station")).all()
    assert setup_entries and {e.username for e in setup_entries} == {system_actor().username}


@pytest.mark.parametrize("code, field", [("has space", "code"), ("x" * 30, "code"), ("", "code")])
def test_station_setup_validates_its_code(workspace, code, field):
    from station_app.services.auth import setup_station

    with pytest.raises(ValidationError) as caught:
        setup_station(workspace, code=code, name="站", scope="village", place_code="610921103201",
                      admin_username="admin", admin_password="secret1")
    assert caught.value.field == field
    assert not workspace.is_set_up


def test_bulk_insert_records_one_op_per_row_and_one_audit_summary(township_ws):
    from station_app.store.models import Enrollment

    ws, admin = township_ws
    ids = [register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput(name, number, group_code=GROUP_A1))[1]
           for name, number in (("张三", HEAD_ID), ("李四", MEMBER_ID))]
    before = counts(ws)
    with ws.unit_of_work(admin, "start_year") as session:
        inserted = ws.recorder.bulk_insert(
            session, Enrollment, [dict(village_code=VILLAGE_A, resident_id=i, year=2027) for i in ids],
            summary="新年度参保记录")
    assert inserted == 2
    after = counts(ws)
    assert after["sync_outbox"] == before["sync_outbox"] + 2 and after["audit_log"] == before["audit_log"] + 1
    with ws.read() as session:
        rows = session.scalars(select(Enrollment)).all()
        assert {r.resident_id for r in rows} == set(ids)
        assert all(r.status == "unpaid" and r.paid_fen == 0 and r.updated_hlc and r.id for r in rows)
        ops = session.scalars(select(OutboxOp).where(OutboxOp.table_name == "enrollment")).all()
        assert {json.loads(op.fields_json)["status"] for op in ops} == {"unpaid"}
        summary = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert summary.action == "start_year" and "2 条" in summary.summary


def test_a_bulk_insert_stores_what_the_orm_stores(township_ws):
    """The bulk path hands rows to the driver itself (issue 14: a new year's SQLAlchemy parameter
    handling cost ~1 s): dates, datetimes, booleans, defaults and NULLs read back as the ORM path
    writes them, ids are canonical UUIDs, and each op carries the user who made it."""
    import uuid
    from datetime import date

    from station_app.store.models import Enrollment

    ws, admin = township_ws
    ids = [register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput(name, number, group_code=GROUP_A1))[1]
           for name, number in (("张三", HEAD_ID), ("李四", MEMBER_ID))]
    with ws.unit_of_work(admin, "orm") as session:
        session.add(Enrollment(village_code=VILLAGE_A, resident_id=ids[0], year=2026, status="paid", paid_fen=40000,
                               paid_date=date(2026, 3, 1), benefit_start=date(2026, 1, 1)))
    with ws.unit_of_work(admin, "start_year") as session:
        ws.recorder.bulk_insert(session, Enrollment, [
            dict(village_code=VILLAGE_A, resident_id=ids[1], year=2026, status="paid", paid_fen=40000,
                 paid_date=date(2026, 3, 1), benefit_start=date(2026, 1, 1)),
            dict(village_code=VILLAGE_A, resident_id=ids[0], year=2027, status="unpaid", paid_fen=0,
                 paid_date=None, benefit_start=None),
        ], summary="新年度")
    with ws.read() as session:
        rows = {(r.resident_id, r.year): r for r in session.scalars(select(Enrollment))}
        orm, bulk, empty = rows[(ids[0], 2026)], rows[(ids[1], 2026)], rows[(ids[0], 2027)]
        skip = {"id", "resident_id", "updated_hlc"}
        for column in Enrollment.__table__.columns:
            if column.key not in skip:
                assert getattr(bulk, column.key) == getattr(orm, column.key), column.key
                assert type(getattr(bulk, column.key)) is type(getattr(orm, column.key)), column.key
        assert empty.paid_date is None and empty.benefit_start is None and empty.deleted is False
        assert str(uuid.UUID(bulk.id)) == bulk.id and uuid.UUID(bulk.id).version == 4
        ops = {op.row_id: op for op in session.scalars(select(OutboxOp).where(OutboxOp.table_name == "enrollment"))}
        assert json.loads(ops[bulk.id].fields_json) == {**json.loads(ops[orm.id].fields_json),
                                                        "resident_id": ids[1]}
        assert ops[bulk.id].username == ops[orm.id].username == admin.username
        assert ops[bulk.id].state == "pending" and ops[bulk.id].created_at is not None
        assert str(uuid.UUID(ops[bulk.id].op_id)) == ops[bulk.id].op_id


def test_new_ids_are_distinct_canonical_version_4_uuids():
    import uuid

    from station_app.store.base import new_ids

    ids = new_ids(20_000)
    assert len(set(ids)) == 20_000
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert new_ids(0) == []


def test_long_text_is_summarised_in_the_audit_not_copied(township_ws):
    ws, admin = township_ws
    _, resident_id = register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("张三", HEAD_ID, group_code=GROUP_A1))
    long_note = "随访记录" * 1000
    with ws.unit_of_work(admin, "note") as session:
        session.get(Resident, resident_id).note = long_note
    with ws.read() as session:
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert long_note not in audit.after_json and "4000 字符" in audit.after_json
        op = session.scalars(select(OutboxOp).order_by(OutboxOp.seq.desc())).first()
        assert json.loads(op.fields_json) == {"note": long_note}  # sync still carries the value


def test_password_hashes_never_reach_the_audit(township_ws):
    from station_app.store.models import User

    ws, admin = township_ws
    with ws.unit_of_work(admin, "edit_user") as session:
        user = session.scalar(select(User).where(User.username == "admin"))
        user.password_hash = "argon2-new-hash"
        user.phone = "13800138000"  # a synced field changed in the same save
    with ws.read() as session:
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert "argon2" not in audit.before_json + audit.after_json
    assert json.loads(audit.after_json)["phone"] == "13800138000"


def test_bulk_update_records_only_changed_rows_and_fields(township_ws):
    from station_app.store.models import Enrollment

    ws, admin = township_ws
    ids = [register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput(name, number, group_code=GROUP_A1))[1]
           for name, number in (("张三", HEAD_ID), ("李四", MEMBER_ID))]
    with ws.unit_of_work(admin, "start_year") as session:
        ws.recorder.bulk_insert(session, Enrollment,
                                [dict(village_code=VILLAGE_A, resident_id=i, year=2027) for i in ids], summary="新年度")
    with ws.read() as session:
        rows = {r.resident_id: r for r in session.scalars(select(Enrollment))}
    before = counts(ws)
    pairs = [({"id": rows[ids[0]].id, "village_code": VILLAGE_A, "row_version": 0, "status": "unpaid", "paid_fen": 0},
              {"status": "paid", "paid_fen": 40000}),
             ({"id": rows[ids[1]].id, "village_code": VILLAGE_A, "row_version": 0, "status": "unpaid", "paid_fen": 0},
              {"status": "unpaid", "paid_fen": 0})]  # unchanged: skipped
    with ws.unit_of_work(admin, "mark_paid") as session:
        assert ws.recorder.bulk_update(session, Enrollment, pairs) == 1
    after = counts(ws)
    assert after["sync_outbox"] == before["sync_outbox"] + 1 and after["audit_log"] == before["audit_log"] + 1
    with ws.read() as session:
        paid = session.get(Enrollment, rows[ids[0]].id)
        assert (paid.status, paid.paid_fen) == ("paid", 40000) and paid.updated_hlc > rows[ids[0]].updated_hlc
        op = session.scalars(select(OutboxOp).order_by(OutboxOp.seq.desc())).first()
        assert op.op == "update" and json.loads(op.fields_json) == {"status": "paid", "paid_fen": 40000}
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert audit.action == "mark_paid" and json.loads(audit.before_json) == {"status": "unpaid", "paid_fen": 0}
    with pytest.raises(PermissionDenied, match="只读"):
        with ws.unit_of_work(admin, "edit_catalogue") as session:
            ws.recorder.bulk_update(session, Disease, [({"id": "x", "name": "a"}, {"name": "b"})])
