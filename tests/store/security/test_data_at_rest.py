"""Villagers' data protected where it lies (issue 15): the database, its WAL, every backup, a USB
bundle and a protected export hold no resident's name, ID number or phone in clear; sign-in with
any user unlocks the database, a wrong password does not, the recovery key does; a password
change re-wraps the key (never re-encrypts) and a kill at any moment of it loses nothing; an
existing plaintext database is converted at start, backup first."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from station_app.domain.errors import DomainError
from station_app.domain.idnumber import make_id
from station_app.services import backup, exports, users
from station_app.services.auth import login, setup_station
from station_app.services.export_protection import is_protected
from station_app.services.reference import load_reference
from station_app.services.households import ResidentInput, register_household
from station_app.services.workspace import DatabaseLocked, Workspace, WrongPassword
from station_app.store import keys
from station_app.store.models import AuditEntry
from station_app.sync.bundle import export_bundle
from station_app.sync.settings import set_server

from tests.conftest import ADMIN_PASSWORD, GROUP_A1, SMALL_REFERENCE, TOWNSHIP, VILLAGE_A

ROOT = Path(__file__).resolve().parents[3]
DOCTOR_PASSWORD = "doctor-pass-1"


def _people(count: int = 12) -> list[tuple[str, str, str]]:
    """(name, ID number, phone): names unusual enough not to occur by chance in reference data."""
    from datetime import date, timedelta

    given = "甲乙丙丁戊己庚辛壬癸子丑"
    return [(f"鲜于{given[i]}翠", make_id("610921", date(1950, 1, 1) + timedelta(days=311 * i), 40 + i),
             f"139{70000000 + i * 7919:08d}") for i in range(count)]


def _register(ws: Workspace, actor, people) -> None:
    for name, id_number, phone in people:
        register_household(ws, actor, village_code=VILLAGE_A,
                           head=ResidentInput(name, id_number, phone=phone, group_code=GROUP_A1))


def _needles(people) -> list[bytes]:
    found = []
    for name, id_number, phone in people:
        found += [name.encode("utf-8"), name.encode("utf-16-le"), id_number.encode("ascii"),
                  id_number.encode("utf-16-le"), phone.encode("ascii")]
    return found


def _hits(path: Path, needles: list[bytes]) -> list[str]:
    data = path.read_bytes()
    return [f"{path.name}: {n!r}" for n in needles if n in data]


@pytest.fixture
def station(tmp_path):
    """A township station with a doctor account, like the first weeks of a real one."""
    db = tmp_path / "station.db"
    ws = Workspace.open(db, backups=tmp_path / "backups")
    load_reference(ws, SMALL_REFERENCE)
    setup_station(ws, code="XW-TS", name="漩涡镇医保服务中心", scope="township", place_code=TOWNSHIP,
                  admin_username="admin", admin_password=ADMIN_PASSWORD)
    recovery = ws.pending_recovery_key
    admin = login(ws, "admin", ADMIN_PASSWORD)
    users.add_user(ws, admin, username="doctor", display_name="村医", role="village_doctor",
                   place_code=VILLAGE_A, password=DOCTOR_PASSWORD)
    yield ws, admin, recovery
    ws.close()


def test_no_resident_data_in_clear_in_the_database_wal_backups_bundle_or_protected_export(station, tmp_path):
    ws, admin, _recovery = station
    people = _people()
    needles = _needles(people)
    backups = tmp_path / "backups"
    backup.backup_workspace(ws, backup.MANUAL, backups)  # before and after the people: both scanned
    _register(ws, admin, people)
    set_server(ws, admin, "https://yb.example.gov.cn", "T" * 32)
    bundle = export_bundle(ws, tmp_path / "stick" / "village.ybsb").path
    export = exports.export(ws, admin, "residents", tmp_path / "out" / "花名册.xlsx", password="export-pass").path
    backup.backup_workspace(ws, backup.MANUAL, backups)
    backup.ensure_daily_backup(ws.db_path, backups)
    wal = Path(str(ws.db_path) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the writes above still sit in the WAL
    files = [ws.db_path, wal, bundle, export, *sorted(backups.glob("*.db"))]
    assert len(list(backups.glob("*.db"))) >= 3
    # the scan would find them in the plain forms: the names are in the rows the files hold
    with ws.read() as session:
        from station_app.store.models import Resident

        assert len(session.scalars(select(Resident.id).where(Resident.name.like("鲜于%"))).all()) == len(people)
    assert [hit for path in files for hit in _hits(path, needles)] == []
    for path in backups.glob("*.db"):
        backup.verify_backup(path)  # integrity checks still run on the encrypted copies
    assert is_protected(export)


def test_a_protected_export_opens_with_its_password_and_is_audited(station, tmp_path):
    import msoffcrypto
    from openpyxl import load_workbook

    ws, admin, _recovery = station
    people = _people(3)
    _register(ws, admin, people)
    path = exports.export(ws, admin, "residents", tmp_path / "p.xlsx", password="export-pass").path
    with open(path, "rb") as handle:
        office = msoffcrypto.OfficeFile(handle)
        office.load_key(password="export-pass")
        plain = io.BytesIO()
        office.decrypt(plain)
    values = [c for row in load_workbook(plain).active.iter_rows(values_only=True) for c in row]
    assert all(id_number in values for _n, id_number, _p in people)
    with ws.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all()
    assert len(entries) == 1 and entries[0].username == "admin"
    assert "3 行" in entries[0].summary and "已设打开密码" in entries[0].summary
    assert all(id_number not in entries[0].summary for _n, id_number, _p in people)


def test_any_user_unlocks_a_wrong_password_does_not_and_the_recovery_key_does(station):
    ws, _admin, recovery = station
    db, backups_dir = ws.db_path, ws.db_path.parent / "backups"
    ws.close()
    keys.forget_all()  # a new start of the program: nothing unlocked yet
    with pytest.raises(DatabaseLocked) as locked:
        Workspace.open(db)
    assert "用户名和密码" in locked.value.message
    for username, password in (("admin", ADMIN_PASSWORD), ("doctor", DOCTOR_PASSWORD)):
        keys.forget_all()
        with Workspace.open(db, username=username, password=password, backups=backups_dir) as opened:
            assert login(opened, username, password).username == username
    for username, password in (("admin", "wrong-password"), ("doctor", ADMIN_PASSWORD), ("nobody", "x" * 8)):
        keys.forget_all()
        with pytest.raises(WrongPassword, match="无法解锁"):
            Workspace.open(db, username=username, password=password)
    keys.forget_all()
    assert recovery and len(keys.normalize_recovery_key(recovery)) == 25
    with pytest.raises(WrongPassword, match="恢复密钥"):
        Workspace.open(db, recovery_key="AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")
    with Workspace.open(db, recovery_key=recovery.lower().replace("-", " ")) as opened:
        assert opened.is_set_up
    keys.forget_all()
    with pytest.raises(WrongPassword, match="密钥不对"):  # a wrong raw key: a message, not a crash
        Workspace.open(db, key=b"\x01" * 32)


def test_a_deactivated_users_password_no_longer_unlocks(station):
    ws, admin, _recovery = station
    users.set_active(ws, admin, "doctor", False)
    db = ws.db_path
    ws.close()
    keys.forget_all()
    with pytest.raises(WrongPassword):
        Workspace.open(db, username="doctor", password=DOCTOR_PASSWORD)


def test_a_password_change_rewraps_the_key_and_never_reencrypts(station):
    ws, admin, _recovery = station
    doctor = login(ws, "doctor", DOCTOR_PASSWORD)
    salt_before = ws.db_path.read_bytes()[:16]  # SQLCipher's per-file salt: page 1 is not rewritten
    key_before = ws.db_key
    users.change_password(ws, doctor, DOCTOR_PASSWORD, "doctor-new-2")
    users.reset_password(ws, admin, "admin", "admin-new-2")
    assert ws.db_key == key_before and ws.db_path.read_bytes()[:16] == salt_before
    db = ws.db_path
    ws.close()
    for username, old, new in (("doctor", DOCTOR_PASSWORD, "doctor-new-2"), ("admin", ADMIN_PASSWORD, "admin-new-2")):
        keys.forget_all()
        with pytest.raises(WrongPassword):
            Workspace.open(db, username=username, password=old)
        keys.forget_all()
        with Workspace.open(db, username=username, password=new) as opened:
            assert opened.db_key == key_before


def test_a_failed_key_file_write_leaves_the_old_wrap_valid(station, monkeypatch):
    ws, _admin, _recovery = station
    doctor = login(ws, "doctor", DOCTOR_PASSWORD)
    real_replace = os.replace

    def crash(source, target):
        if str(target).endswith(keys.KEYFILE_SUFFIX):
            raise OSError("power cut")
        return real_replace(source, target)

    monkeypatch.setattr(keys.os, "replace", crash)
    with pytest.raises(OSError):
        users.change_password(ws, doctor, DOCTOR_PASSWORD, "doctor-new-2")
    monkeypatch.undo()
    db = ws.db_path
    ws.close()
    keys.forget_all()
    with Workspace.open(db, username="doctor", password=DOCTOR_PASSWORD) as opened:  # nothing changed
        assert login(opened, "doctor", DOCTOR_PASSWORD).username == "doctor"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_during_password_changes_always_leaves_a_way_in(station, tmp_path):
    ws, _admin, _recovery = station
    db = ws.db_path
    ws.close()
    passwords = [DOCTOR_PASSWORD, "doctor-new-2"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), STATION_APP_DATA_DIR=str(tmp_path / "child-data"))
    for round_no in range(8):
        child = subprocess.Popen([sys.executable, "-m", "tests.store.security.rewrap_child", str(db), *passwords],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        assert line.startswith("CHANGED"), child.stderr.read()
        time.sleep(0.05 * round_no)  # a different moment of the next change each round
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        # Whatever the moment: the password the database accepts also unlocks it.
        opened = []
        for password in passwords:
            keys.forget_all()
            try:
                with Workspace.open(db, username="doctor", password=password) as reopened:
                    login(reopened, "doctor", password)
                    opened.append(password)
            except DomainError:
                pass
        assert len(opened) == 1, f"round {round_no}: {opened}"


def test_an_existing_plaintext_database_is_encrypted_at_start_backup_first(tmp_path, monkeypatch):
    db, backups = tmp_path / "station.db", tmp_path / "backups"
    people = _people(4)
    monkeypatch.setenv(keys.PLAINTEXT_ENV, "1")  # a station from before this version
    ws = Workspace.open(db, backups=backups)
    load_reference(ws, SMALL_REFERENCE)
    setup_station(ws, code="XW-TS", name="漩涡镇医保服务中心", scope="township", place_code=TOWNSHIP,
                  admin_username="admin", admin_password=ADMIN_PASSWORD)
    _register(ws, login(ws, "admin", ADMIN_PASSWORD), people)
    backup.backup_workspace(ws, backup.MANUAL, backups)
    ws.close()
    assert keys.file_kind(db) == "plain" and _hits(db, _needles(people))
    monkeypatch.delenv(keys.PLAINTEXT_ENV)
    keys.forget_all()

    with Workspace.open(db, backups=backups) as converted:  # at start, before anyone signs in
        with converted.read() as session:
            from station_app.store.models import Resident

            assert session.scalar(select(Resident.name).where(Resident.id_number == people[0][1])) == people[0][0]
    assert keys.file_kind(db) == "encrypted"
    before = [b for b in backups.glob("*.db") if "before-encrypt" in b.name]
    assert len(before) == 1 and keys.file_kind(before[0]) == "encrypted"
    assert all(keys.file_kind(b) == "encrypted" for b in backups.glob("*.db"))  # the old plaintext ones too
    needles = _needles(people)
    assert [h for p in [db, *backups.glob("*.db")] for h in _hits(p, needles)] == []
    assert keys.load_key_file(keys.key_file_path(db)).bootstrap is None  # users exist: no key in clear

    keys.forget_all()
    with Workspace.open(db, username="admin", password=ADMIN_PASSWORD) as opened:  # the old password unlocks
        login(opened, "admin", ADMIN_PASSWORD)
        assert opened.key_wrap_is_current("admin", _hash_of(opened, "admin"))  # now a wrap of its own salt
        assert opened.pending_recovery_key  # the admin's first sign-in makes the recovery key
    keys.forget_all()
    with pytest.raises(WrongPassword):
        Workspace.open(db, username="admin", password="not-the-password")


def _hash_of(ws: Workspace, username: str) -> str:
    from station_app.store.models import User

    with ws.read() as session:
        return session.scalar(select(User.password_hash).where(User.username == username))


def test_the_cli_unlocks_with_a_users_password_from_the_environment(station, monkeypatch, capsys):
    from station_app.cli.main import main

    ws, _admin, _recovery = station
    db = ws.db_path
    ws.close()
    keys.forget_all()
    assert main(["migrate", "--db", str(db)]) == 1
    assert "STATION_APP_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("STATION_APP_PASSWORD", "wrong-one")
    assert main(["migrate", "--db", str(db), "--signin", "doctor"]) == 1
    assert "无法解锁" in capsys.readouterr().err
    monkeypatch.setenv("STATION_APP_PASSWORD", DOCTOR_PASSWORD)
    assert main(["migrate", "--db", str(db), "--signin", "doctor"]) == 0


def test_an_admin_prints_a_new_recovery_key_and_it_replaces_the_old(station, monkeypatch, capsys):
    from station_app.cli.main import main

    ws, _admin, old = station
    db = ws.db_path
    ws.close()
    keys.forget_all()
    monkeypatch.setenv("STATION_APP_PASSWORD", DOCTOR_PASSWORD)
    assert main(["recovery-key", "--db", str(db), "--signin", "doctor"]) == 1
    assert "只有管理员" in capsys.readouterr().err
    keys.forget_all()
    monkeypatch.setenv("STATION_APP_PASSWORD", ADMIN_PASSWORD)
    assert main(["recovery-key", "--db", str(db), "--signin", "admin"]) == 0
    new = next(line.strip() for line in capsys.readouterr().out.splitlines() if line.count("-") == 4)
    keys.forget_all()
    with pytest.raises(WrongPassword):
        Workspace.open(db, recovery_key=old)
    keys.forget_all()
    # every password lost: the recovery key opens the database and an admin password is set again
    monkeypatch.setenv("STATION_APP_PASSWORD", "")
    monkeypatch.delenv("STATION_APP_PASSWORD")
    assert main(["users", "passwd", "admin", "--password", "brand-new-1", "--recovery-key", new,
                 "--db", str(db)]) == 0
    keys.forget_all()
    with Workspace.open(db, username="admin", password="brand-new-1") as opened:
        assert login(opened, "admin", "brand-new-1").role == "admin"
