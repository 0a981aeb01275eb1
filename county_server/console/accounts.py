"""County staff accounts for the console: argon2 passwords, lock-out, sessions with a CSRF token, audit.

Separate from station tokens: a console user can never sync, a station token never opens the
console. Two roles: ``county_admin`` changes things, ``viewer`` only looks.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from ..models import ConsoleAudit, ConsoleSession, ConsoleUser, utcnow

ROLE_ADMIN = "county_admin"
ROLE_VIEWER = "viewer"
ROLES = {ROLE_ADMIN: "县医保局管理员", ROLE_VIEWER: "只读查看"}
#: Five wrong passwords lock the account for 15 minutes (as the station's sign-in does, DOMAIN.md).
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 8
MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
#: A hash to verify against when the username is unknown: same time either way.
_DUMMY = _hasher.hash("not-a-real-password")

T_USER = ConsoleUser.__table__
T_SESSION = ConsoleSession.__table__
T_AUDIT = ConsoleAudit.__table__


class ConsoleError(Exception):
    """A refusal with a Chinese message for the page."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: str
    csrf: str = ""

    @property
    def can_edit(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def role_text(self) -> str:
        return ROLES.get(self.role, self.role)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def add_user(engine: Engine, *, username: str, role: str, password: str, display_name: str = "") -> None:
    if not _USERNAME.match(username or ""):
        raise ConsoleError("用户名只能包含字母、数字、下划线、点和横线，2–40 位。")
    if role not in ROLES:
        raise ConsoleError(f"角色应为 {' 或 '.join(ROLES)}。")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ConsoleError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 位。")
    with engine.begin() as conn:
        if conn.execute(select(T_USER.c.id).where(T_USER.c.username == username)).first():
            raise ConsoleError(f"用户名已存在：{username}")
        conn.execute(insert(T_USER).values(username=username, display_name=display_name or username, role=role,
                                           password_hash=_hasher.hash(password), active=True, failed_logins=0,
                                           created_at=utcnow()))
        audit(conn, "cli", "add_user", username, {"role": role})


def audit(conn, username: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
    conn.execute(insert(T_AUDIT).values(at=utcnow(), username=username, action=action, target=target[:120],
                                        detail=json.dumps(detail or {}, ensure_ascii=False)))


def sign_in(engine: Engine, username: str, password: str, *, now: datetime | None = None) -> str:
    """Check the password; returns a new session id (the cookie). Wrong: ConsoleError (same words
    for an unknown user and a wrong password); locked: says until when."""
    now = now or utcnow()
    refusal = ""
    session_id = secrets.token_urlsafe(32)
    # Decided inside the transaction, raised after it commits: a failure must be counted.
    with engine.begin() as conn:
        row = conn.execute(select(T_USER).where(T_USER.c.username == username)).first()
        if row is None or not row.active:
            try:
                _hasher.verify(_DUMMY, password or "x")
            except VerificationError:
                pass
            refusal = "用户名或密码不正确。"
        elif row.locked_until is not None and row.locked_until > now:
            refusal = f"密码错误次数过多，账户已锁定至 {row.locked_until:%H:%M}（UTC），请稍后再试。"
            audit(conn, username, "sign_in_locked", username)
        else:
            try:
                _hasher.verify(row.password_hash, password or "")
            except (VerificationError, InvalidHashError):
                failures = (row.failed_logins or 0) + 1
                locked = now + timedelta(minutes=LOCK_MINUTES) if failures >= MAX_FAILURES else None
                conn.execute(update(T_USER).where(T_USER.c.id == row.id).values(
                    failed_logins=0 if locked else failures, locked_until=locked))
                audit(conn, username, "sign_in_failed", username, {"locked": bool(locked)})
                refusal = (f"密码错误次数过多，账户已锁定 {LOCK_MINUTES} 分钟。" if locked
                           else "用户名或密码不正确。")
        if not refusal:
            conn.execute(update(T_USER).where(T_USER.c.id == row.id).values(
                failed_logins=0, locked_until=None, last_login_at=now))
            conn.execute(delete(T_SESSION).where(T_SESSION.c.expires_at < now))
            conn.execute(insert(T_SESSION).values(id_hash=_digest(session_id), user_id=row.id,
                                                  csrf=secrets.token_urlsafe(24), created_at=now,
                                                  expires_at=now + timedelta(hours=SESSION_HOURS)))
            audit(conn, username, "sign_in", username)
    if refusal:
        raise ConsoleError(refusal)
    return session_id


def session_user(engine: Engine, session_id: str | None) -> StaffUser | None:
    if not session_id:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(T_USER.c.id, T_USER.c.username, T_USER.c.display_name, T_USER.c.role,
                                  T_USER.c.active, T_SESSION.c.csrf, T_SESSION.c.expires_at)
                           .join(T_SESSION, T_SESSION.c.user_id == T_USER.c.id)
                           .where(T_SESSION.c.id_hash == _digest(session_id))).first()
    if row is None or not row.active or row.expires_at < utcnow():
        return None
    return StaffUser(row.id, row.username, row.display_name, row.role, row.csrf)


def sign_out(engine: Engine, session_id: str, username: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T_SESSION).where(T_SESSION.c.id_hash == _digest(session_id)))
        audit(conn, username, "sign_out", username)


def recent_audit(engine: Engine, limit: int = 200) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(T_AUDIT).order_by(T_AUDIT.c.id.desc()).limit(limit)))
