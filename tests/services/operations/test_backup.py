"""Backups: daily with 7 daily + 4 weekly kept, restore only after the integrity check, WAL handled."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from station_app.cli.main import main
from station_app.domain.errors import ValidationError
from station_app.services import backup
from station_app.services.households import ResidentInput, register_household
from station_app.store.encryption import connect_known
from station_app.store.models import Resident

from tests.conftest import GROUP_A1, VILLAGE_A
from .rosters import person_id

TODAY = date(2026, 11, 23)  # a Monday


def fake_daily(folder: Path, day: date, hour: int = 9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"station-daily-{day:%Y%m%d}-{hour:02d}0000.db"
    path.write_bytes(b"")
    return path


def resident_count(ws) -> int:
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(Resident))


def add_person(ws, actor, n: int) -> str:
    _hid, rid = register_household(ws, actor, village_code=VILLAGE_A,
                                   head=ResidentInput("张三", person_id(n), group_code=GROUP_A1))
    return rid


def test_rotation_keeps_seven_daily_and_four_weekly(tmp_path):
    folder = tmp_path / "backups"
    for back in range(60):
        fake_daily(folder, TODAY - timedelta(days=back))
    fake_daily(folder, TODAY - timedelta(days=3), hour=7)  # an earlier copy of the same day
    other = folder / "station-before-migrate-0001-20260101-120000.db"
    other.write_bytes(b"")
    removed = backup.rotate(folder, today=TODAY)
    kept = sorted(b.created.date() for b in backup.list_backups(folder) if b.kind == backup.DAILY)
    # 7 days: 11-17 … 11-23; weeks: W48 (11-23), W47 (11-22), W46 → 11-15, W45 → 11-08.
    assert kept == [date(2026, 11, 8), date(2026, 11, 15)] + [date(2026, 11, d) for d in range(17, 24)]
    assert len(removed) == 61 - 9
    assert other.exists()  # migration backups are never pruned
    assert not (folder / f"station-daily-{TODAY - timedelta(days=3):%Y%m%d}-070000.db").exists()


def test_other_kinds_are_capped(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    for i in range(15):
        (folder / f"station-before-import-202611{i + 1:02d}-100000.db").write_bytes(b"")
    backup.rotate(folder, today=TODAY)
    left = [b for b in backup.list_backups(folder) if b.kind == backup.BEFORE_IMPORT]
    assert len(left) == backup.KEEP_OTHER[backup.BEFORE_IMPORT]
    assert left[0].created.date() == date(2026, 11, 15)  # the newest stay


def test_daily_backup_once_a_day_over_a_month(township_ws, tmp_path):
    ws, _admin = township_ws
    folder = tmp_path / "backups"
    start = datetime(2026, 10, 20, 8, 30)
    made = 0
    for day in range(35):
        for hour in (0, 4):  # the app starts twice a day; the timer fires again later
            if backup.ensure_daily_backup(ws.db_path, folder, now=start + timedelta(days=day, hours=hour)):
                made += 1
    assert made == 35
    dailies = [b for b in backup.list_backups(folder) if b.kind == backup.DAILY]
    last = (start + timedelta(days=34)).date()
    assert dailies[0].created.date() == last and len(dailies) <= backup.KEEP_DAILY + backup.KEEP_WEEKLY
    assert {b.created.date() for b in dailies} >= {last - timedelta(days=d) for d in range(7)}
    backup.verify_backup(dailies[0].path)


def test_backup_is_consistent_while_the_wal_holds_uncheckpointed_writes(township_ws, tmp_path):
    ws, admin = township_ws
    add_person(ws, admin, 1)
    assert Path(str(ws.db_path) + "-wal").exists()
    info = backup.backup_now(ws.db_path, backup.MANUAL, tmp_path / "b")
    conn = connect_known(info.path)
    assert conn.execute("SELECT count(*) FROM resident").fetchone()[0] == 1
    conn.close()


def test_restore_brings_back_the_backup_and_keeps_the_replaced_file(township_ws, tmp_path):
    ws, admin = township_ws
    folder = tmp_path / "b"
    add_person(ws, admin, 1)
    saved = backup.backup_now(ws.db_path, backup.MANUAL, folder)
    add_person(ws, admin, 2)  # after the backup: lives only in the current file (and its WAL)
    assert resident_count(ws) == 2
    new_ws = backup.restore_workspace(ws, saved.path, folder)
    try:
        assert resident_count(new_ws) == 1
        assert new_ws.station.code == "XW-TS"
        add_person(new_ws, admin, 3)  # the restored file is fully writable
    finally:
        new_ws.close()
    replaced = [b for b in backup.list_backups(folder) if b.kind == backup.BEFORE_RESTORE]
    assert len(replaced) == 1
    conn = connect_known(replaced[0].path)
    assert conn.execute("SELECT count(*) FROM resident").fetchone()[0] == 2
    conn.close()


def corrupt(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    page = 4096
    for offset in range(2 * page, min(len(data), 40 * page), page):
        data[offset + 8: offset + 200] = b"\xff" * 192  # trash b-tree page headers and cell pointers
    target.write_bytes(bytes(data))
    return target


def test_a_corrupted_backup_is_refused_and_nothing_changes(township_ws, tmp_path):
    ws, admin = township_ws
    add_person(ws, admin, 1)
    saved = backup.backup_now(ws.db_path, backup.MANUAL, tmp_path / "b")
    broken = corrupt(saved.path, tmp_path / "broken.db")
    with pytest.raises(ValidationError, match="已损坏"):
        backup.verify_backup(broken)
    with pytest.raises(ValidationError, match="已损坏"):
        backup.restore_workspace(ws, broken, tmp_path / "b")
    assert resident_count(ws) == 1  # the workspace was not even closed
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("hello")
    with pytest.raises(ValidationError, match="不是数据库备份文件"):
        backup.verify_backup(not_a_db)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(ValidationError, match="不是本程序的数据库备份"):
        backup.verify_backup(other)


def test_restore_refuses_while_another_connection_holds_the_database(township_ws, tmp_path):
    ws, admin = township_ws
    add_person(ws, admin, 1)
    saved = backup.backup_now(ws.db_path, backup.MANUAL, tmp_path / "b")
    with ws.read() as session:
        session.execute(select(Resident.id)).all()
        # a second process-like connection keeps the file open while the restore runs
        holder = connect_known(ws.db_path)
        holder.execute("BEGIN")
        holder.execute("SELECT count(*) FROM resident").fetchone()
        try:
            with pytest.raises(ValidationError, match="正在被使用"):
                backup.restore_file(ws.db_path, saved.path, tmp_path / "b")
        finally:
            holder.rollback()
            holder.close()
    assert resident_count(ws) == 1


def test_cli_backup_list_and_restore(township_ws, tmp_path, capsys):
    ws, admin = township_ws
    add_person(ws, admin, 1)
    db = ws.db_path
    ws.close()
    folder = tmp_path / "cli-backups"
    assert main(["backup", "--db", str(db), "--backups", str(folder)]) == 0
    assert "完整性检查通过" in capsys.readouterr().out
    assert main(["backup", "--daily", "--db", str(db), "--backups", str(folder)]) == 0
    assert main(["backup", "--daily", "--db", str(db), "--backups", str(folder)]) == 0
    assert "今天的自动备份已存在" in capsys.readouterr().out
    assert main(["list-backups", "--db", str(db), "--backups", str(folder)]) == 0
    listing = capsys.readouterr().out
    assert "手动备份" in listing and "每日自动备份" in listing
    manual = next(b for b in backup.list_backups(folder) if b.kind == backup.MANUAL)
    conn = connect_known(db)
    conn.execute("DELETE FROM sync_outbox")
    conn.commit()
    conn.close()
    assert main(["restore", str(manual.path), "--yes", "--db", str(db), "--backups", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "完整性检查通过" in out and "已恢复" in out
    conn = connect_known(db)
    assert conn.execute("SELECT count(*) FROM sync_outbox").fetchone()[0] > 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    broken = corrupt(manual.path, tmp_path / "broken.db")
    assert main(["restore", str(broken), "--yes", "--db", str(db), "--backups", str(folder)]) == 1
    assert "已损坏" in capsys.readouterr().err


def test_two_backups_in_the_same_second_are_both_kept(workspace, tmp_path):
    from station_app.services.backup import backup_now

    folder = tmp_path / "backups"
    first = backup_now(workspace.db_path, "manual", folder)
    second = backup_now(workspace.db_path, "manual", folder)
    assert first.path != second.path and first.path.exists() and second.path.exists()
