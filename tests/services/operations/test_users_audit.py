"""Accounts (only admins manage users; lock-out; passwords never in the audit) and the audit trail query."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from station_app.cli.main import main
from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.services import users
from station_app.services.audit import AuditFilter, audit_choices, query_audit
from station_app.services.auth import login
from station_app.services.households import ResidentInput, register_household, update_resident
from station_app.store.models import AuditEntry, User

from tests.conftest import ADMIN_PASSWORD, GROUP_A1, TOWNSHIP, VILLAGE_A
from .rosters import person_id


def test_only_an_admin_manages_users(township_ws, doctor, clerk):
    ws, admin = township_ws
    for actor in (doctor, clerk):
        with pytest.raises(PermissionDenied, match="只有管理员"):
            users.add_user(ws, actor, username="x1", display_name="某", role="village_doctor",
                           place_code=VILLAGE_A, password="secret-123")
        with pytest.raises(PermissionDenied):
            users.reset_password(ws, actor, "admin", "hacked-123")
        with pytest.raises(PermissionDenied):
            users.set_active(ws, actor, "admin", False)
    assert [u.username for u in users.list_users(ws, doctor)] == ["cy01"]
    assert {u.username for u in users.list_users(ws, admin)} == {"admin", "cy01", "zg01"}


def test_role_and_place_must_fit(township_ws):
    ws, admin = township_ws
    with pytest.raises(ValidationError, match="村医的所属地应为行政村"):
        users.add_user(ws, admin, username="cy09", display_name="某", role="village_doctor",
                       place_code=TOWNSHIP, password="secret-123")
    with pytest.raises(ValidationError, match="乡镇医保专干的所属地应为乡镇"):
        users.add_user(ws, admin, username="zg09", display_name="某", role="township_clerk",
                       place_code=VILLAGE_A, password="secret-123")
    with pytest.raises(ValidationError, match="不存在"):
        users.add_user(ws, admin, username="zg09", display_name="某", role="township_clerk",
                       place_code="999", password="secret-123")
    assert dict(users.place_choices(ws, "township_clerk")) == {TOWNSHIP: "漩涡镇"}


def test_reset_deactivate_unlock_and_change_password(township_ws, doctor):
    ws, admin = township_ws
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            login(ws, "cy01", "wrong")
    with pytest.raises(PermissionDenied, match="锁定"):
        login(ws, "cy01", "doctor-pass-1")
    info = next(u for u in users.list_users(ws, admin) if u.username == "cy01")
    assert info.is_locked()
    users.unlock(ws, admin, "cy01")
    login(ws, "cy01", "doctor-pass-1")
    users.reset_password(ws, admin, "cy01", "new-pass-22")
    with pytest.raises(PermissionDenied):
        login(ws, "cy01", "doctor-pass-1")
    me = login(ws, "cy01", "new-pass-22")
    with pytest.raises(PermissionDenied, match="原密码不正确"):
        users.change_password(ws, me, "nope", "other-pass-3")
    users.change_password(ws, me, "new-pass-22", "other-pass-3")
    login(ws, "cy01", "other-pass-3")
    users.set_active(ws, admin, "cy01", False)
    with pytest.raises(PermissionDenied):
        login(ws, "cy01", "other-pass-3")
    users.set_active(ws, admin, "cy01", True)
    login(ws, "cy01", "other-pass-3")
    with pytest.raises(NotFound):
        users.reset_password(ws, admin, "nobody", "whatever-1")
    with ws.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "app_user")).all()
        hashes = {u.password_hash for u in session.scalars(select(User))}
    actions = [e.action for e in entries]
    assert {"reset_password", "change_password", "unlock_user", "deactivate_user", "activate_user"} <= set(actions)
    blob = " ".join(e.before_json + e.after_json + e.summary for e in entries)
    assert "argon2" not in blob and not any(h in blob for h in hashes)


def test_the_last_admin_stays(township_ws):
    ws, admin = township_ws
    with pytest.raises(ValidationError, match="不能停用自己"):
        users.set_active(ws, admin, "admin", False)
    users.add_user(ws, admin, username="admin2", display_name="二号", role="admin", place_code=TOWNSHIP,
                   password="secret-123")
    second = login(ws, "admin2", "secret-123")
    users.set_active(ws, second, "admin", False)  # two admins: one may go
    with pytest.raises(ValidationError, match="至少要保留一个"):
        users.set_active(ws, admin, "admin2", False)
    with pytest.raises(ValidationError, match="不能修改自己的角色"):
        users.update_user(ws, second, "admin2", role="village_doctor", place_code=VILLAGE_A)
    with pytest.raises(ValidationError, match="至少要保留一个"):
        users.update_user(ws, admin, "admin2", role="village_doctor", place_code=VILLAGE_A)


def test_update_user_checks_role_and_place(township_ws, doctor):
    ws, admin = township_ws
    users.update_user(ws, admin, "cy01", display_name="李医师", phone="13800138000")
    with pytest.raises(ValidationError, match="所属地与角色不符"):
        users.update_user(ws, admin, "cy01", role="township_clerk")
    users.update_user(ws, admin, "cy01", role="township_clerk", place_code=TOWNSHIP)
    info = next(u for u in users.list_users(ws, admin) if u.username == "cy01")
    assert (info.display_name, info.role_label, info.place_name) == ("李医师", "乡镇医保专干", "漩涡镇")


def test_audit_query_filters_and_pages(township_ws, doctor):
    ws, admin = township_ws
    _hid, rid = register_household(ws, doctor, village_code=VILLAGE_A,
                                   head=ResidentInput("张三丰", person_id(1), phone="13800138000", group_code=GROUP_A1))
    update_resident(ws, admin, rid, ResidentInput("张三丰", person_id(1), phone="13900139000", relation="head",
                                                  group_code=GROUP_A1))
    for n in range(2, 8):
        register_household(ws, admin, village_code=VILLAGE_A, head=ResidentInput("李四", person_id(n), group_code=GROUP_A1))

    page = query_audit(ws, admin, AuditFilter(row_id=rid))
    assert [r.action for r in page.rows] == ["update_resident", "register_household"]  # newest first
    update = page.rows[0]
    assert update.username == "admin" and update.table_label == "居民" and update.action_label == "修改居民"
    assert update.detail == "电话：13800138000 → 13900139000"
    created = page.rows[1]
    assert created.username == "cy01"
    ids = [c for c in created.changes if c.field == "id_number"]
    assert ids[0].after == person_id(1)[:6] + "********" + person_id(1)[-4:]  # masked (PIPL)

    assert query_audit(ws, admin, AuditFilter(username="cy01", table_name="resident")).total == 1
    assert query_audit(ws, admin, AuditFilter(action="register_household", table_name="household")).total == 7
    today = date.today()
    assert query_audit(ws, admin, AuditFilter(since=today, until=today, table_name="resident")).total == 8
    assert query_audit(ws, admin, AuditFilter(until=today - timedelta(days=1))).total == 0
    assert query_audit(ws, admin, AuditFilter(since=datetime.now() + timedelta(hours=1))).total == 0
    assert query_audit(ws, admin, AuditFilter(text="13900139000")).total == 1

    everything = query_audit(ws, admin, page_size=5)
    second = query_audit(ws, admin, page=1, page_size=5)
    assert everything.total > 10 and everything.pages == -(-everything.total // 5)
    assert len(everything.rows) == 5 and not {r.id for r in everything.rows} & {r.id for r in second.rows}

    # A 村医 sees only their own entries.
    mine = query_audit(ws, doctor)
    assert mine.total > 0 and {r.username for r in mine.rows} == {"cy01"}
    choices = audit_choices(ws, admin)
    assert {"admin", "cy01"} <= set(choices.usernames)
    assert ("resident", "居民") in choices.tables and ("update_resident", "修改居民") in choices.actions


def test_cli_users_and_audit(township_ws, capsys):
    ws, _admin = township_ws
    db = str(ws.db_path)
    assert main(["users", "add", "cy05", "--name", "周医生", "--role", "village_doctor", "--place", VILLAGE_A,
                 "--password", "pass-word-5", "--db", db]) == 0
    assert main(["users", "list", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "cy05" in listing and "村医" in listing and "群英村" in listing
    assert main(["users", "passwd", "cy05", "--password", "pass-word-6", "--db", db]) == 0
    login(ws, "cy05", "pass-word-6")
    assert main(["users", "add", "cy06", "--role", "village_doctor", "--place", VILLAGE_A,
                 "--password", "pass-word-7", "--user", "cy05", "--db", db]) == 1
    assert "只有管理员" in capsys.readouterr().err
    assert main(["audit", "--table", "app_user", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "重置密码" in out and "添加用户" in out and "共" in out
    assert ADMIN_PASSWORD not in out and "pass-word" not in out
