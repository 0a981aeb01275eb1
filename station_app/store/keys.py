"""Keys of the encrypted station database (SQLCipher): one random key, wrapped once per user.

The database is encrypted with a random 256-bit key that never changes (so a password change
re-wraps, never re-encrypts, and every backup opens with the same key). The key is kept in a
small JSON *key file* beside the database (``station.db.keys``), wrapped (AES-256-GCM) under
key-encryption keys derived with argon2id:

- one wrap per active user: ``argon2id(password, salt)``. Sign-in with any user unlocks the
  database before it is opened — the chicken-and-egg of "the users live in the database" is
  broken by the key file, which holds only salts and wrapped keys, never a password hash.
  A wrap made while converting an existing database, when no password is known, reuses the
  salt and parameters of the user's stored argon2 hash (the raw hash *is* argon2id(password,
  salt)); the user's next sign-in replaces it with a wrap of its own salt.
- one wrap under the recovery key (128 random bits, shown once, for when every password is lost).
- ``bootstrap``: the key itself, only while no user exists yet (a new database before its first
  set-up, or half-way through a conversion). It is dropped as soon as a user's wrap is durable.

Writes of the key file are atomic (temporary file, fsync, rename, fsync of the folder): a kill
at any moment leaves either the old file (whose wraps are still valid — the key never changes)
or the new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station_app.domain.errors import DomainError

logger = logging.getLogger(__name__)

FORMAT = "yibao-station-keys-1"
KEYFILE_SUFFIX = ".keys"
#: Development and tests only: the database key in hex (lets a child process open a test database).
KEY_ENV = "STATION_APP_DB_KEY"
#: Development and benchmarks only: new databases are created unencrypted and old ones left so.
PLAINTEXT_ENV = "STATION_APP_PLAINTEXT_DB"
SQLITE_MAGIC = b"SQLite format 3\x00"

#: argon2id cost of a password wrap: the same light parameters as the sign-in hash (~50 ms on a
#: clinic PC; see services/auth.py), since a wrap is tried at every sign-in.
ARGON_TIME, ARGON_MEMORY_KIB, ARGON_PARALLELISM = 2, 19 * 1024, 1

_KEK_CONTEXT = b"yibao-station-kek-v1\x00"
_RECOVERY_CONTEXT = b"yibao-station-recovery-v1\x00"
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper


class DatabaseLocked(DomainError):
    """The database is encrypted and nothing given unlocks it (no password asked yet)."""


class WrongPassword(DomainError):
    """The username/password or recovery key does not unlock this database."""


class KeyFileError(DomainError):
    """The key file is missing or damaged."""


# -- primitives -------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _argon_raw(secret: bytes, salt: bytes, t: int, m: int, p: int, length: int) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(secret, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=length,
                           type=Type.ID)


def _kek_from_raw(raw: bytes) -> bytes:
    return hashlib.sha256(_KEK_CONTEXT + raw).digest()


def _seal(kek: bytes, key: bytes, aad: bytes) -> dict[str, str]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return {"nonce": _b64(nonce), "ct": _b64(AESGCM(kek).encrypt(nonce, key, aad))}


def _open(kek: bytes, wrap: dict[str, Any], aad: bytes) -> bytes | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(kek).decrypt(_unb64(wrap["nonce"]), _unb64(wrap["ct"]), aad)
    except (InvalidTag, KeyError, ValueError):
        return None


def hash_fingerprint(password_hash: str) -> str:
    """Which stored password hash a wrap belongs to (a changed password makes it stale)."""
    return hashlib.sha256(b"yibao-wrap-fp\x00" + password_hash.encode("utf-8")).hexdigest()[:24]


def parse_argon2_hash(encoded: str) -> tuple[bytes, bytes, int, int, int] | None:
    """(salt, raw hash, t, m, p) of an argon2id PHC string; None for anything else."""
    parts = (encoded or "").split("$")
    if len(parts) != 6 or parts[1] != "argon2id":
        return None
    try:
        params = dict(item.split("=", 1) for item in parts[3].split(","))
        return (_unb64(parts[4]), _unb64(parts[5]), int(params["t"]), int(params["m"]), int(params["p"]))
    except (ValueError, KeyError):
        return None


def new_database_key() -> bytes:
    return secrets.token_bytes(32)


def new_recovery_key() -> str:
    """25 characters in five groups, e.g. ``K7QW2-…``: 125 random bits, easy to copy off paper."""
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(25))
    return "-".join(chars[i:i + 5] for i in range(0, 25, 5))


def normalize_recovery_key(text: str) -> str:
    return "".join(c for c in (text or "").upper() if c.isalnum())


def sqlcipher_key_pragma(key: bytes) -> str:
    """``PRAGMA key`` with a raw key (no PBKDF2 at each connection: the key is random already)."""
    return f"PRAGMA key = \"x'{key.hex()}'\""


# -- the key file ------------------------------------------------------------------------------


def key_file_path(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + KEYFILE_SUFFIX)


@dataclass
class KeyFile:
    db_id: str
    users: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    recovery: dict[str, Any] | None = None
    bootstrap: str | None = None  # hex key, only while no user exists

    # -- wraps --------------------------------------------------------------------------------

    def _aad(self, kind: str, name: str = "") -> bytes:
        return f"{FORMAT}|{self.db_id}|{kind}|{name}".encode("utf-8")

    def add_password_wrap(self, key: bytes, username: str, password: str, password_hash: str) -> None:
        """One more wrap for ``username`` under their password (fresh salt), for ``password_hash``.

        Added beside the user's existing wraps: the old password keeps unlocking until the
        new hash is committed and ``refresh_wraps`` drops the stale wrap.
        """
        salt = os.urandom(16)
        raw = _argon_raw(password.encode("utf-8"), salt, ARGON_TIME, ARGON_MEMORY_KIB, ARGON_PARALLELISM, 32)
        wrap = {"salt": _b64(salt), "t": ARGON_TIME, "m": ARGON_MEMORY_KIB, "p": ARGON_PARALLELISM, "len": 32,
                "fp": hash_fingerprint(password_hash), "from_hash": False,
                **_seal(_kek_from_raw(raw), key, self._aad("user", username))}
        self.users.setdefault(username, []).append(wrap)

    def wrap_from_hash(self, key: bytes, username: str, password_hash: str) -> dict[str, Any] | None:
        """A wrap for ``username`` made from their stored argon2 hash (no password known)."""
        parsed = parse_argon2_hash(password_hash)
        if parsed is None:
            return None
        salt, raw, t, m, p = parsed
        return {"salt": _b64(salt), "t": t, "m": m, "p": p, "len": len(raw),
                "fp": hash_fingerprint(password_hash), "from_hash": True,
                **_seal(_kek_from_raw(raw), key, self._aad("user", username))}

    def unwrap_password(self, username: str, password: str) -> bytes | None:
        for wrap in self.users.get(username, []):
            try:
                raw = _argon_raw(password.encode("utf-8"), _unb64(wrap["salt"]), int(wrap["t"]), int(wrap["m"]),
                                 int(wrap["p"]), int(wrap.get("len", 32)))
            except (KeyError, ValueError, TypeError):
                continue
            key = _open(_kek_from_raw(raw), wrap, self._aad("user", username))
            if key is not None:
                return key
        return None

    def wrap_recovery(self, key: bytes, recovery_key: str) -> None:
        kek = hashlib.sha256(_RECOVERY_CONTEXT + normalize_recovery_key(recovery_key).encode("ascii")).digest()
        self.recovery = _seal(kek, key, self._aad("recovery"))

    def unwrap_recovery(self, recovery_key: str) -> bytes | None:
        if not self.recovery:
            return None
        kek = hashlib.sha256(_RECOVERY_CONTEXT + normalize_recovery_key(recovery_key).encode("ascii")).digest()
        return _open(kek, self.recovery, self._aad("recovery"))

    # -- file ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": FORMAT, "db_id": self.db_id, "users": self.users,
                                "recovery": self.recovery}
        if self.bootstrap:
            data["bootstrap"] = self.bootstrap
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "KeyFile":
        if not isinstance(data, dict) or data.get("format") != FORMAT or not data.get("db_id"):
            raise KeyFileError("数据库密钥文件格式不对或已损坏。")
        return cls(str(data["db_id"]), dict(data.get("users") or {}), data.get("recovery") or None,
                   data.get("bootstrap") or None)

    @classmethod
    def new(cls) -> "KeyFile":
        return cls(str(uuid.uuid4()))


def load_key_file(path: Path) -> KeyFile | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise KeyFileError(f"无法读取数据库密钥文件：{path}（{error}）") from error
    try:
        return KeyFile.from_json(json.loads(text))
    except ValueError as error:
        raise KeyFileError(f"数据库密钥文件已损坏：{path}") from error


_write_lock = threading.Lock()


def save_key_file(path: Path, key_file: KeyFile) -> None:
    """Atomically replace the key file: temporary file, fsync, rename, fsync of the folder."""
    data = json.dumps(key_file.to_json(), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    with _write_lock:
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows has no directory fsync; NTFS journals the rename
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- in-process memory of unlocked keys ---------------------------------------------------------

_unlocked: dict[str, bytes] = {}


def remember(key_file: KeyFile, key: bytes) -> None:
    """Reopening in this process (after a restore, a migration) needs no second sign-in."""
    _unlocked[key_file.db_id] = key


def forget_all() -> None:
    _unlocked.clear()


def remembered(key_file: KeyFile) -> bytes | None:
    return _unlocked.get(key_file.db_id)


def remembered_keys() -> list[bytes]:
    """Every key unlocked in this process (to try on a copy that lost its key file)."""
    return list(dict.fromkeys(_unlocked.values()))


def key_from_env() -> bytes | None:
    value = os.environ.get(KEY_ENV, "").strip()
    if not value:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        return None
    return key if len(key) == 32 else None


def plaintext_mode() -> bool:
    return os.environ.get(PLAINTEXT_ENV, "") not in ("", "0")


def file_kind(path: Path) -> str:
    """``missing`` (absent or empty), ``plain`` (ordinary SQLite) or ``encrypted``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return "missing"
    if not head:
        return "missing"
    return "plain" if head == SQLITE_MAGIC else "encrypted"
