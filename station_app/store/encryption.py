"""Opening the encrypted station database: find its key, convert a plaintext one, copy encrypted.

``resolve_key`` decides, before any engine exists, which key opens a database file:
an explicit key; a user's name and password or the recovery key (unwrapped from the key file);
a key this process already unlocked; ``STATION_APP_DB_KEY`` (tests, development); the key
file's bootstrap entry (no user yet). A new file gets a new key; an existing plaintext file is
converted (an encrypted backup first). ``None`` means "plaintext", only when
``STATION_APP_PLAINTEXT_DB`` asks for it (benchmarks of encryption off).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from . import keys
from .keys import DatabaseLocked, KeyFile, KeyFileError, WrongPassword

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = "数据库已加密：请用本站任一用户的用户名和密码登录解锁。"
WRONG_PASSWORD = "用户名或密码错误，无法解锁数据库。"
WRONG_RECOVERY = "恢复密钥不正确，无法解锁数据库。"
WRONG_KEY = "数据库无法解锁：密钥不对，或数据库文件已损坏。"


def dbapi():
    """The DB-API module for encrypted files (SQLCipher, SQLite's own API)."""
    import sqlcipher3.dbapi2 as module

    return module


def connect(path: str | Path, key: bytes | None, **kwargs: Any):
    """A DB-API connection to a station file; ``key=None`` opens a plaintext file with sqlite3."""
    if key is None:
        return sqlite3.connect(str(path), **kwargs)
    conn = dbapi().connect(str(path), **kwargs)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our message, not stderr noise
        conn.execute(keys.sqlcipher_key_pragma(key))
    except BaseException:
        conn.close()
        raise
    return conn


def database_errors(key: bytes | None) -> tuple[type[BaseException], ...]:
    return (sqlite3.DatabaseError, dbapi().DatabaseError) if key is not None else (sqlite3.DatabaseError,)


def check_key(path: Path, key: bytes) -> bool:
    """Does ``key`` open this encrypted file? (Reads page 1; nothing is written.)"""
    conn = connect(path, key)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except dbapi().DatabaseError:
        return False
    finally:
        conn.close()


def copy_database(source: Path, source_key: bytes | None, target: Path, target_key: bytes | None) -> None:
    """A consistent copy of ``source`` into a new file ``target`` (encrypted when ``target_key``).

    Same kind on both sides: SQLite's online backup API (safe with WAL and open readers).
    Plaintext into encrypted or back: ``sqlcipher_export`` (the only way across the boundary).
    """
    target.unlink(missing_ok=True)
    if (source_key is None) == (target_key is None) and source_key == target_key:
        src = connect(source, source_key)
        try:
            dest = connect(target, target_key)
            try:
                src.backup(dest)
            finally:
                dest.close()
        finally:
            src.close()
        return
    src = connect(source, source_key) if source_key is not None else dbapi().connect(str(source))
    try:
        src.execute("PRAGMA cipher_log_level = NONE")
        literal = f"\"x'{target_key.hex()}'\"" if target_key is not None else "''"
        src.execute(f"ATTACH DATABASE ? AS copy_target KEY {literal}", (str(target),))
        src.execute("SELECT sqlcipher_export('copy_target')")
        src.execute("DETACH DATABASE copy_target")
    finally:
        src.close()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _user_hashes(conn) -> list[tuple[str, str]]:
    try:
        return [(u, h) for u, h in conn.execute(
            "SELECT username, password_hash FROM app_user WHERE active AND NOT deleted")]
    except (sqlite3.DatabaseError, dbapi().DatabaseError):
        return []  # no schema yet


# -- conversion of a plaintext database ----------------------------------------------------------


def encrypt_plaintext(db_path: Path, backups: Path | None = None, key_file: KeyFile | None = None,
                      key: bytes | None = None) -> bytes:
    """Encrypt an existing plaintext station file in place (every user's wrap from their hash).

    Steps, each safe to be killed after: (1) the key file, with the key as bootstrap; (2) an
    encrypted copy into ``backups/`` (the backup before a risky step); (3) an encrypted copy
    beside the file, fsynced, renamed over it; (4) the bootstrap dropped once users are wrapped.
    Old plaintext backups of this station in ``backups/`` are encrypted too.
    """
    from station_app import paths

    key_path = keys.key_file_path(db_path)
    key_file = key_file or KeyFile.new()
    key = key or (bytes.fromhex(key_file.bootstrap) if key_file.bootstrap else None) or keys.new_database_key()
    plain = sqlite3.connect(str(db_path))
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        users = _user_hashes(plain)
    finally:
        plain.close()
    key_file.bootstrap = key.hex()
    for username, password_hash in users:
        wrap = key_file.wrap_from_hash(key, username, password_hash)
        if wrap is not None:
            key_file.users[username] = [wrap]
    keys.save_key_file(key_path, key_file)
    keys.remember(key_file, key)

    backups = backups if backups is not None else paths.backups_dir()
    backups.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = backups / f"{db_path.stem}-before-encrypt-{stamp}.db"
    copy_database(db_path, None, backup, key)
    keys.save_key_file(keys.key_file_path(backup), key_file)
    logger.info("backed up plaintext database before encrypting it to %s", backup)

    temporary = db_path.with_name(db_path.name + ".encrypting")
    copy_database(db_path, None, temporary, key)
    _fsync_file(temporary)
    for suffix in ("-wal", "-shm"):  # checkpointed above; a stale WAL must not meet the new file
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    os.replace(temporary, db_path)
    keys.fsync_dir(db_path.parent)
    if key_file.users:
        key_file.bootstrap = None
        keys.save_key_file(key_path, key_file)
    encrypt_old_backups(db_path.stem, backups, key, key_file)
    logger.info("database %s is now encrypted", db_path)
    return key


def encrypt_old_backups(stem: str, backups: Path, key: bytes, key_file: KeyFile) -> int:
    """Backups written before encryption hold everything in clear: rewrite them encrypted."""
    done = 0
    for path in sorted(backups.glob(f"{stem}-*.db")) if backups.is_dir() else []:
        if keys.file_kind(path) != "plain":
            continue
        temporary = path.with_name(path.name + ".encrypting")
        try:
            copy_database(path, None, temporary, key)
            _fsync_file(temporary)
            os.replace(temporary, path)
            keys.save_key_file(keys.key_file_path(path), key_file)
            done += 1
        except (OSError, sqlite3.DatabaseError, dbapi().DatabaseError) as error:
            temporary.unlink(missing_ok=True)
            logger.warning("could not encrypt old backup %s: %s", path.name, error)
    return done


# -- which key opens a file ------------------------------------------------------------------


def create_key_file(db_path: Path) -> bytes:
    """A new database: a new key, kept as bootstrap until the first user is wrapped."""
    key_path = keys.key_file_path(db_path)
    if key_path.exists():  # the file it belonged to is gone: keep it aside, never delete a key
        key_path.replace(key_path.with_name(f"{key_path.name}.old-{datetime.now():%Y%m%d-%H%M%S}"))
    key_file = KeyFile.new()
    key = keys.new_database_key()
    key_file.bootstrap = key.hex()
    keys.save_key_file(key_path, key_file)
    keys.remember(key_file, key)
    return key


def unlock(key_file: KeyFile, *, username: str | None = None, password: str | None = None,
           recovery_key: str | None = None) -> bytes:
    """The key from a user's password or the recovery key; WrongPassword otherwise."""
    if recovery_key:
        key = key_file.unwrap_recovery(recovery_key)
        if key is None:
            raise WrongPassword(WRONG_RECOVERY)
    else:
        key = key_file.unwrap_password(username or "", password or "")
        if key is None:
            raise WrongPassword(WRONG_PASSWORD)
    keys.remember(key_file, key)
    return key


def resolve_key(db_path: Path, *, key: bytes | None = None, username: str | None = None,
                password: str | None = None, recovery_key: str | None = None,
                backups: Path | None = None) -> bytes | None:
    """The key that opens ``db_path`` (creating or converting as needed); None = plaintext."""
    kind = keys.file_kind(db_path)
    key_path = keys.key_file_path(db_path)
    if kind == "missing":
        if key is not None:
            return key
        if keys.plaintext_mode():
            return None
        return create_key_file(db_path)
    if kind == "plain":
        if keys.plaintext_mode() and key is None:
            return None
        try:
            key_file = keys.load_key_file(key_path)
        except KeyFileError:
            key_file = None
        return encrypt_plaintext(db_path, backups, key_file if key is None else None, key)
    key_file = keys.load_key_file(key_path)
    if key is not None:
        if key_file is not None:
            keys.remember(key_file, key)
        return key
    if key_file is None:
        # A copy without its key file: a key unlocked in this process may still open it.
        for candidate in keys.remembered_keys() + [k for k in [keys.key_from_env()] if k]:
            if check_key(db_path, candidate):
                return candidate
        raise KeyFileError(f"数据库已加密，但找不到它的密钥文件：{key_path}。"
                           "请把备份时一同保存的 .keys 文件放回数据库旁，或联系技术支持。")
    if recovery_key or (username and password is not None):
        return unlock(key_file, username=username, password=password, recovery_key=recovery_key)
    key = keys.remembered(key_file) or keys.key_from_env()
    if key is None and key_file.bootstrap:
        key = bytes.fromhex(key_file.bootstrap)
    if key is None:
        raise DatabaseLocked(LOCKED_MESSAGE, code="locked")
    return key


# -- keeping the wraps in step with the users ---------------------------------------------------


def refresh_wraps(db_path: Path, key: bytes, users: list[tuple[str, str]]) -> bool:
    """Make the key file hold current wraps for exactly the active users; True when rewritten.

    ``users``: (username, stored password hash) of every active user. Wraps made for another
    hash (the password changed or was reset) are dropped once the new hash is committed — that
    is, now; a user left without a wrap gets one made from the stored hash; wraps of users gone
    or deactivated are dropped; the bootstrap key goes once a user is wrapped. The new file is
    durable (atomic replace) before any old wrap disappears.
    """
    key_path = keys.key_file_path(db_path)
    key_file = keys.load_key_file(key_path)
    if key_file is None:
        key_file = KeyFile.new()
    before = json.dumps(key_file.to_json(), sort_keys=True)  # a snapshot: to_json shares the dicts
    wanted = dict(users)
    for username in list(key_file.users):
        if username not in wanted:
            del key_file.users[username]
    for username, password_hash in wanted.items():
        fp = keys.hash_fingerprint(password_hash)
        current = [w for w in key_file.users.get(username, []) if w.get("fp") == fp]
        own = [w for w in current if not w.get("from_hash")]
        if own:
            current = own[-1:]
        elif not current:
            wrap = key_file.wrap_from_hash(key, username, password_hash)
            current = [wrap] if wrap is not None else []
        if current:
            key_file.users[username] = current[-1:]
        else:
            key_file.users.pop(username, None)
    if key_file.bootstrap and key_file.users:
        key_file.bootstrap = None
    if json.dumps(key_file.to_json(), sort_keys=True) == before:
        return False
    keys.save_key_file(key_path, key_file)
    keys.remember(key_file, key)
    return True


def add_password_wrap(db_path: Path, key: bytes, username: str, password: str, password_hash: str) -> None:
    """A wrap of the user's own salt for ``password_hash``, durable before that hash is committed."""
    key_path = keys.key_file_path(db_path)
    key_file = keys.load_key_file(key_path) or KeyFile.new()
    key_file.add_password_wrap(key, username, password, password_hash)
    keys.save_key_file(key_path, key_file)
    keys.remember(key_file, key)
def set_recovery_key(db_path: Path, key: bytes) -> str:
    """A new recovery key (the previous one stops working); returned once, to be shown and printed."""
    key_path = keys.key_file_path(db_path)
    key_file = keys.load_key_file(key_path) or KeyFile.new()
    recovery = keys.new_recovery_key()
    key_file.wrap_recovery(key, recovery)
    keys.save_key_file(key_path, key_file)
    keys.remember(key_file, key)
    return recovery


def known_key(path: str | Path) -> bytes | None:
    """The key of an encrypted station file that this process can use without asking anyone:
    the key unlocked earlier in this process (matched by the key file beside it), then
    ``STATION_APP_DB_KEY``, then the bootstrap. None for a plaintext (or missing) file;
    DatabaseLocked when it is encrypted and no key is known."""
    path = Path(path)
    if keys.file_kind(path) != "encrypted":
        return None
    try:
        key_file = keys.load_key_file(keys.key_file_path(path))
    except KeyFileError:
        key_file = None
    key = (keys.remembered(key_file) if key_file else None) or keys.key_from_env()
    if key is None and key_file is not None and key_file.bootstrap:
        key = bytes.fromhex(key_file.bootstrap)
    if key is None:
        raise DatabaseLocked(LOCKED_MESSAGE, code="locked")
    return key


def connect_known(path: str | Path, **kwargs: Any):
    """A DB-API connection to a station file with whatever key this process knows for it
    (``known_key``); a plaintext file opens as it is. For tools, benchmarks and tests."""
    return connect(path, known_key(path), **kwargs)
