"""Backups of the station database: daily with rotation, before risky steps, restore after an integrity check."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from station_app import paths
from station_app.domain.errors import DomainError, ValidationError
from station_app.store import encryption, keys, migrate

from .workspace import Workspace

logger = logging.getLogger(__name__)

DAILY = "daily"
MANUAL = "manual"
BEFORE_IMPORT = "before-import"
BEFORE_RESTORE = "before-restore"
KEEP_DAILY = 7
KEEP_WEEKLY = 4
#: Newest copies kept of the other kinds; migration backups are never pruned (rare, precious).
KEEP_OTHER = {MANUAL: 20, BEFORE_IMPORT: 10, BEFORE_RESTORE: 5}

KIND_LABELS = {
    DAILY: "每日自动备份",
    MANUAL: "手动备份",
    BEFORE_IMPORT: "导入前备份",
    BEFORE_RESTORE: "恢复前备份",
    "before-migrate": "升级前备份",
}

_STAMP = re.compile(r"-(\d{8}-\d{6})\.db$")


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    kind: str
    created: datetime
    size_bytes: int

    @property
    def label(self) -> str:
        for prefix, label in KIND_LABELS.items():
            if self.kind == prefix or self.kind.startswith(prefix + "-"):
                return label
        return self.kind

    @property
    def size_text(self) -> str:
        return f"{self.size_bytes / 1_048_576:.1f} MB"


def _dir(backups: Path | None) -> Path:
    return backups if backups is not None else paths.backups_dir()


def parse_backup_name(path: Path, stem: str) -> tuple[str, datetime] | None:
    """(kind, time) from ``{stem}-{kind}-{YYYYmmdd-HHMMSS}.db`` (backup_copy's naming)."""
    match = _STAMP.search(path.name)
    if not match or not path.name.startswith(stem + "-"):
        return None
    kind = path.name[len(stem) + 1:match.start()]
    if not kind:
        return None
    try:
        return kind, datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
    except ValueError:
        return None


def list_backups(backups: Path | None = None, stem: str = "station") -> list[BackupInfo]:
    """Backups of the database named ``stem``, newest first."""
    folder = _dir(backups)
    found = []
    for path in folder.glob(f"{stem}-*.db") if folder.is_dir() else []:
        parsed = parse_backup_name(path, stem)
        if parsed is None:
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue
        found.append(BackupInfo(path, parsed[0], parsed[1], size))
    found.sort(key=lambda b: (b.created, b.path.name), reverse=True)
    return found


def backup_now(db_path: Path, reason: str = MANUAL, backups: Path | None = None,
               *, when: datetime | None = None) -> BackupInfo:
    """A consistent copy now (SQLite online backup API via ``migrate.backup_copy``).

    ``when`` names the copy as if made then (tests of the rotation; a clock set wrong).
    """
    db_path = Path(db_path)
    if not db_path.exists():
        raise ValidationError(f"数据库文件不存在：{db_path}")
    # Encrypted with the database's own key; its key file goes beside it.
    target = migrate.backup_copy(db_path, reason, _dir(backups), encryption.known_key(db_path))
    if when is not None:
        renamed = target.with_name(f"{db_path.stem}-{reason}-{when:%Y%m%d-%H%M%S}.db")
        sidecar = keys.key_file_path(target)
        target = target.replace(renamed)
        if sidecar.exists():
            sidecar.replace(keys.key_file_path(renamed))
    parsed = parse_backup_name(target, db_path.stem)
    created = parsed[1] if parsed else datetime.now()
    logger.info("backup (%s) written to %s", reason, target)
    return BackupInfo(target, reason, created, target.stat().st_size)


def backup_workspace(ws: Workspace, reason: str = MANUAL, backups: Path | None = None) -> BackupInfo | None:
    """Back up an open workspace's file; None for an in-memory database."""
    if ws.db_path is None:
        return None
    info = backup_now(ws.db_path, reason, backups)
    if reason in KEEP_OTHER:
        rotate(backups, ws.db_path.stem)
    return info


def ensure_daily_backup(db_path: Path, backups: Path | None = None, *,
                        now: datetime | None = None) -> BackupInfo | None:
    """The day's automatic backup (at start and from a timer); None if today's exists."""
    now = now or datetime.now()
    db_path = Path(db_path)
    if not db_path.exists():
        return None
    today = now.date()
    if any(b.kind == DAILY and b.created.date() == today for b in list_backups(backups, db_path.stem)):
        return None
    info = backup_now(db_path, DAILY, backups, when=now)
    rotate(backups, db_path.stem, today=today)
    return info


def _keep_daily_and_weekly(dailies: list[BackupInfo], today: date) -> set[Path]:
    """restic-style: newest copy of each of the last 7 days that have one, and of the last 4 ISO weeks."""
    keep: set[Path] = set()
    days: set[date] = set()
    weeks: set[tuple[int, int]] = set()
    for backup in dailies:  # newest first
        day = backup.created.date()
        if day > today:
            keep.add(backup.path)  # from a clock set ahead: never delete what we cannot place
            continue
        if day not in days and len(days) < KEEP_DAILY:
            days.add(day)
            keep.add(backup.path)
        week = tuple(day.isocalendar())[:2]
        if week not in weeks and len(weeks) < KEEP_WEEKLY:
            weeks.add(week)
            keep.add(backup.path)
    return keep


def rotate(backups: Path | None = None, stem: str = "station", *, today: date | None = None) -> list[Path]:
    """Prune old backups (7 daily + 4 weekly; capped counts of the other kinds); returns removed paths."""
    today = today or date.today()
    all_backups = list_backups(backups, stem)
    dailies = [b for b in all_backups if b.kind == DAILY]
    keep = _keep_daily_and_weekly(dailies, today)
    doomed = [b.path for b in dailies if b.path not in keep]
    for kind, count in KEEP_OTHER.items():
        doomed += [b.path for b in [b for b in all_backups if b.kind == kind][count:]]
    removed = []
    for path in doomed:
        try:
            path.unlink()
            keys.key_file_path(path).unlink(missing_ok=True)
            removed.append(path)
        except OSError as error:
            logger.warning("could not remove old backup %s: %s", path, error)
    return removed


# -- verify and restore ---------------------------------------------------------------------


def backup_key(path: Path) -> bytes | None:
    """The key of an encrypted backup: its key file (beside it) names the database it came
    from, whose key this process unlocked at sign-in. None for an old plaintext backup."""
    if keys.key_file_path(path).exists():
        try:
            return encryption.known_key(path)
        except DomainError as error:
            raise ValidationError("该备份已加密，但本程序还没有它的密钥：请先用本站用户登录，"
                                  "或把备份旁的 .keys 文件一同放回。") from error
    for key in keys.remembered_keys() + ([keys.key_from_env()] if keys.key_from_env() else []):
        if encryption.check_key(path, key):
            return key
    raise ValidationError("备份文件已损坏，或不是本站的数据库备份（本站密钥打不开它），不能用于恢复。")


def _connect_read_only(path: Path, key: bytes | None):
    # immutable: nothing is written next to the file (it may be on a USB stick or read-only share).
    return encryption.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", key, uri=True)


def verify_backup(path: Path) -> str:
    """Check a backup is whole and ours (``PRAGMA integrity_check``, and for an encrypted one
    ``cipher_integrity_check`` — every page's HMAC); returns its schema revision.

    Raises ValidationError with the reason in Chinese when it must not be restored.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"找不到备份文件：{path}")
    kind = keys.file_kind(path)
    size = path.stat().st_size
    if kind == "missing" or (kind == "encrypted" and (size < 1024 or size % 512)):
        raise ValidationError("该文件不是数据库备份文件（文件头不对），不能用于恢复。")
    key = backup_key(path) if kind == "encrypted" else None
    errors = encryption.database_errors(key)
    try:
        conn = _connect_read_only(path, key)
        try:
            if key is not None:
                problems = [row[0] for row in conn.execute("PRAGMA cipher_integrity_check").fetchall()]
                if problems:
                    raise ValidationError(f"备份文件已损坏（加密校验未通过：{problems[0]}），不能用于恢复。")
            result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                detail = "；".join(str(r) for r in result[:3])
                raise ValidationError(f"备份文件已损坏（完整性检查未通过：{detail}），不能用于恢复。")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"resident", "alembic_version"} <= tables:
                raise ValidationError("该文件不是本程序的数据库备份，不能用于恢复。")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except errors as error:
        raise ValidationError(f"备份文件已损坏或不是数据库（{error}），不能用于恢复。") from error
    revision = row[0] if row else ""
    if revision and not _is_known_revision(revision):
        raise ValidationError("该备份来自更新版本的程序，请先升级本程序再恢复。")
    return revision


def _is_known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


class RestoreError(ValidationError):
    """Restore did not happen; ``workspace`` is the reopened, unchanged database."""

    def __init__(self, message: str, workspace: Workspace):
        super().__init__(message)
        self.workspace = workspace


def restore_file(db_path: Path, backup_path: Path, backups: Path | None = None, *,
                 backup_current: bool = True) -> BackupInfo | None:
    """Replace the database with a verified backup; returns the copy taken of the current file.

    The app must have closed its engine. The copy goes through SQLite's backup API into the
    live file (in rollback-journal mode, so a WAL left behind cannot be replayed over it):
    a crash half-way leaves the old database, never a mix. The live file keeps its own key;
    a backup under another key (or an old plaintext one) is first re-encrypted into a
    temporary file with it.
    """
    db_path, backup_path = Path(db_path), Path(backup_path)
    verify_backup(backup_path)
    if db_path.resolve() == backup_path.resolve():
        raise ValidationError("不能用数据库文件自身恢复。")
    source_key = backup_key(backup_path) if keys.file_kind(backup_path) == "encrypted" else None
    live_kind = keys.file_kind(db_path)
    if live_kind == "encrypted":
        live_key = encryption.known_key(db_path)
    elif live_kind == "missing" and not keys.plaintext_mode():
        live_key = source_key or keys.new_database_key()
    else:
        live_key = None
    before = backup_now(db_path, BEFORE_RESTORE, backups) if backup_current and db_path.exists() else None
    staged = None
    if source_key != live_key:
        staged = db_path.with_name(db_path.name + ".restoring")
        encryption.copy_database(backup_path, source_key, staged, live_key)
    if live_kind == "missing" and live_key is not None:  # a new machine: the backup's key file comes along
        sidecar = keys.load_key_file(keys.key_file_path(backup_path)) if source_key == live_key else None
        key_file = sidecar or keys.KeyFile.new()
        if sidecar is None:
            key_file.bootstrap = live_key.hex()
        keys.save_key_file(keys.key_file_path(db_path), key_file)
        keys.remember(key_file, live_key)
    errors = encryption.database_errors(live_key) + encryption.database_errors(source_key)
    try:
        source = (encryption.connect(staged, live_key) if staged is not None
                  else _connect_read_only(backup_path, source_key))
        try:
            dest = encryption.connect(db_path, live_key, timeout=2)
            try:
                try:
                    mode = dest.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
                except errors as error:
                    raise ValidationError("数据库正在被使用（程序是否还开着？），请先关闭程序再恢复。") from error
                if str(mode).lower() != "delete":
                    raise ValidationError("数据库正在被使用（程序是否还开着？），请先关闭程序再恢复。")
                source.backup(dest)
                check = dest.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise ValidationError(f"恢复后的数据库检查未通过（{check}），请用恢复前备份重新恢复。")
            finally:
                dest.close()
        finally:
            source.close()
    finally:
        if staged is not None:
            staged.unlink(missing_ok=True)
    logger.info("database %s restored from %s", db_path, backup_path.name)
    return before


def restore_workspace(ws: Workspace, backup_path: Path, backups: Path | None = None) -> Workspace:
    """Restore into an open workspace's file: verify, copy the current file, close, restore, reopen.

    Returns the new Workspace (migrated if the backup is older); ``ws`` is closed and must
    not be used again.
    """
    if ws.db_path is None:
        raise ValidationError("内存数据库不能恢复。")
    db_path = ws.db_path
    verify_backup(backup_path)  # refuse before touching anything
    backup_now(db_path, BEFORE_RESTORE, backups)
    ws.close()
    try:
        restore_file(db_path, backup_path, backups, backup_current=False)
    except Exception as error:
        # The old file is untouched (the copy is all-or-nothing): hand back a reopened workspace.
        raise RestoreError(str(error), Workspace.open(db_path, backups=backups)) from error
    return Workspace.open(db_path, backups=backups)
