"""User accounts beyond sign-in: list, add with a checked place, change or reset a password, deactivate, unlock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station_app.domain.enums import PlaceLevel, Role
from station_app.domain.errors import NotFound, PermissionDenied, ValidationError
from station_app.store.base import utcnow
from station_app.store.models import AuditEntry, Place, User

from . import auth
from .changes import Actor
from .workspace import Workspace

#: The level of place each role works for (an admin may sit at either).
ROLE_PLACE_LEVELS = {
    Role.VILLAGE_DOCTOR.value: {PlaceLevel.VILLAGE.value},
    Role.TOWNSHIP_CLERK.value: {PlaceLevel.TOWNSHIP.value},
    Role.ADMIN.value: {PlaceLevel.VILLAGE.value, PlaceLevel.TOWNSHIP.value, PlaceLevel.COUNTY.value},
}


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    place_code: str
    place_name: str
    phone: str
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role in Role._value2member_map_ else self.role

    def is_locked(self, now: datetime | None = None) -> bool:
        return bool(self.locked_until and self.locked_until > (now or datetime.now()))


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != Role.ADMIN.value:
        raise PermissionDenied(f"只有管理员可以{what}。")


def _audit(session: Session, actor: Actor, action: str, row_id: str, summary: str) -> None:
    # Password changes touch only local fields, which the change hook does not audit: say so here
    # (without the hash).
    session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                           action=action, table_name="app_user", row_id=row_id, summary=summary))


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username, User.deleted.is_(False)))
    if user is None:
        raise NotFound(f"找不到用户“{username}”。")
    return user


def list_users(ws: Workspace, actor: Actor) -> list[UserInfo]:
    """Every account for an admin; anyone else sees only their own."""
    with ws.read() as session:
        query = select(User, Place.name).outerjoin(Place, Place.code == User.place_code).where(
            User.deleted.is_(False)).order_by(User.role, User.username)
        if actor.role != Role.ADMIN.value:
            query = query.where(User.username == actor.username)
        return [UserInfo(u.username, u.display_name, u.role, u.place_code, name or u.place_code, u.phone,
                         u.active, u.locked_until, u.last_login_at) for u, name in session.execute(query)]


def place_choices(ws: Workspace, role: str) -> list[tuple[str, str]]:
    """(code, name) of the places a user of ``role`` can work for."""
    levels = ROLE_PLACE_LEVELS.get(Role(role).value, set())
    with ws.read() as session:
        return [(code, name) for code, name in session.execute(
            select(Place.code, Place.name).where(Place.level.in_(levels), Place.deleted.is_(False))
            .order_by(Place.level, Place.sort_order, Place.code))]


def add_user(ws: Workspace, actor: Actor, *, username: str, display_name: str, role: str, place_code: str,
             password: str, phone: str = "") -> None:
    """Create an account whose place fits its role (村医 → a village, 专干 → a township)."""
    _require_admin(actor, "添加用户")
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError("角色无效。", field="role") from None
    with ws.read() as session:
        level = session.scalar(select(Place.level).where(Place.code == place_code, Place.deleted.is_(False)))
    if level is None:
        raise ValidationError("所属村/乡镇不存在。", field="place_code")
    if level not in ROLE_PLACE_LEVELS[role]:
        need = "行政村" if role == Role.VILLAGE_DOCTOR.value else "乡镇"
        raise ValidationError(f"{Role(role).label}的所属地应为{need}。", field="place_code")
    auth.create_user(ws, actor, username=username.strip(), display_name=display_name, role=role,
                     place_code=place_code, password=password, phone=phone)


def change_password(ws: Workspace, actor: Actor, old_password: str, new_password: str) -> None:
    """The signed-in user changes their own password (the old one is checked first)."""
    with ws.read() as session:
        user = _user(session, actor.username)
    try:
        PasswordHasher().verify(user.password_hash, old_password)
    except (VerificationError, InvalidHashError):
        raise PermissionDenied("原密码不正确。") from None
    auth._check_new_password(new_password)
    if new_password == old_password:
        raise ValidationError("新密码不能与原密码相同。", field="password")
    new_hash = auth.hash_password(new_password)
    # Re-wrap the database key, never re-encrypt: the new wrap is durable before the new hash is
    # committed, and the old one goes only after (a kill at any moment leaves a way in).
    ws.add_password_wrap(actor.username, new_password, new_hash)
    with ws.unit_of_work(actor, "change_password") as session:
        row = _user(session, actor.username)
        row.password_hash = new_hash
        _audit(session, actor, "change_password", row.id, f"用户 {row.username} 修改了自己的密码")
    ws.refresh_key_wraps()


def reset_password(ws: Workspace, actor: Actor, username: str, new_password: str) -> None:
    """An admin sets a new password (the user forgot theirs); also lifts a lock-out."""
    _require_admin(actor, "重置密码")
    auth._check_new_password(new_password)
    new_hash = auth.hash_password(new_password)
    ws.add_password_wrap(username, new_password, new_hash)
    with ws.unit_of_work(actor, "reset_password") as session:
        row = _user(session, username)
        row.password_hash = new_hash
        row.failed_logins = 0
        row.locked_until = None
        _audit(session, actor, "reset_password", row.id, f"重置了用户 {row.username} 的密码")
    ws.refresh_key_wraps()


def unlock(ws: Workspace, actor: Actor, username: str) -> None:
    _require_admin(actor, "解除锁定")
    with ws.unit_of_work(actor, "unlock_user") as session:
        row = _user(session, username)
        row.failed_logins = 0
        row.locked_until = None
        _audit(session, actor, "unlock_user", row.id, f"解除了用户 {row.username} 的锁定")


def set_active(ws: Workspace, actor: Actor, username: str, active: bool) -> None:
    """Deactivate (the account stays for the audit trail) or reactivate; never the last admin."""
    _require_admin(actor, "停用或启用用户")
    if not active and username == actor.username:
        raise ValidationError("不能停用自己的账户。")
    with ws.unit_of_work(actor, "activate_user" if active else "deactivate_user") as session:
        row = _user(session, username)
        if not active and row.role == Role.ADMIN.value and row.active:
            _keep_an_admin(session)
        row.active = active
    ws.refresh_key_wraps()  # a deactivated user's password no longer unlocks the database


def _keep_an_admin(session: Session) -> None:
    """Refuse to take away the last active administrator (nobody could manage users again)."""
    admins = session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN.value, User.active.is_(True), User.deleted.is_(False))) or 0
    if admins <= 1:
        raise ValidationError("至少要保留一个可用的管理员账户。")


def update_user(ws: Workspace, actor: Actor, username: str, *, display_name: str | None = None,
                phone: str | None = None, role: str | None = None, place_code: str | None = None) -> None:
    _require_admin(actor, "修改用户")
    with ws.unit_of_work(actor, "update_user") as session:
        row = _user(session, username)
        new_role = Role(role).value if role is not None else row.role
        new_place = place_code if place_code is not None else row.place_code
        if new_role != row.role and username == actor.username:
            raise ValidationError("不能修改自己的角色。")
        if row.role == Role.ADMIN.value and new_role != Role.ADMIN.value:
            _keep_an_admin(session)
        if (new_role, new_place) != (row.role, row.place_code):
            level = session.scalar(select(Place.level).where(Place.code == new_place))
            if level not in ROLE_PLACE_LEVELS[new_role]:
                raise ValidationError("所属地与角色不符。", field="place_code")
            row.role, row.place_code, row.village_code = new_role, new_place, new_place
        if display_name is not None:
            if not display_name.strip():
                raise ValidationError("请输入姓名。", field="display_name")
            row.display_name = display_name.strip()
        if phone is not None:
            row.phone = phone.strip()
