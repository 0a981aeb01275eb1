"""First-run set-up, users and sign-in (argon2 hashes, lock-out after repeated failures)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from station_app.domain.enums import Role, StationScope
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.store.models import AppSetting, Place, Station, User

from .changes import Actor, system_actor
from .workspace import STATION_CODE_KEY, Workspace

logger = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 6
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
# The station code names this station in every HLC timestamp: short, no spaces.
STATION_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,24}$")
PLACE_CODE_PATTERN = re.compile(r"^\d{6,20}$")

# Light parameters: a clinic PC is slow and sign-in must feel instant (~50 ms).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 位。", field="password")


def _check_username(username: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise ValidationError("用户名只能包含字母、数字、下划线、点和横线，2–40 位。", field="username")


def setup_station(ws: Workspace, *, code: str, name: str, scope: str, place_code: str,
                  admin_username: str, admin_password: str, admin_display_name: str = "管理员",
                  supervision_phone: str = "") -> Actor:
    """First run: create this database's station and its administrator."""
    if ws.is_set_up:
        raise ValidationError("本数据库已完成初始设置。")
    if not STATION_CODE_PATTERN.match(code or ""):
        raise ValidationError("站点编码只能包含字母、数字、下划线、点和横线，2–24 位，不能有空格。", field="code")
    if not (name or "").strip():
        raise ValidationError("请输入站点名称。", field="name")
    if not PLACE_CODE_PATTERN.match(place_code or ""):
        raise ValidationError("所属地区编码应为 6–20 位数字（行政区划代码）。", field="place_code")
    try:
        scope = StationScope(scope).value
    except ValueError:
        raise ValidationError("站点类型无效：应为村或乡镇。", field="scope") from None
    name = name.strip()
    _check_username(admin_username)
    _check_new_password(admin_password)
    with ws.read() as session:
        place = session.scalar(select(Place).where(Place.code == place_code))
        county_code = _county_of(session, place) if place else place_code[:6]
    actor = system_actor(code)
    admin_hash = hash_password(admin_password)
    ws.add_password_wrap(admin_username, admin_password, admin_hash)
    with ws.unit_of_work(actor, "setup_station") as session:
        session.add(Station(code=code, name=name, scope=scope, place_code=place_code,
                            county_code=county_code, supervision_phone=supervision_phone,
                            village_code=place_code))
        session.add(User(username=admin_username, display_name=admin_display_name, role=Role.ADMIN.value,
                         place_code=place_code, village_code=place_code,
                         password_hash=admin_hash))
        session.merge(AppSetting(key=STATION_CODE_KEY, value=code))
    ws.reload_station()
    # The database key is now wrapped under the administrator's password (the bootstrap copy
    # goes), and a recovery key is made to print now.
    ws.refresh_key_wraps()
    if not ws.has_recovery_key:
        ws.pending_recovery_key = ws.new_recovery_key()
    return actor


def _county_of(session, place: Place) -> str:
    current = place
    while current is not None and current.level != "county" and current.parent_code:
        current = session.scalar(select(Place).where(Place.code == current.parent_code))
    return current.code if current is not None else place.code


def create_user(ws: Workspace, actor: Actor, *, username: str, display_name: str, role: str,
                place_code: str, password: str, phone: str = "") -> None:
    if actor.role != Role.ADMIN.value:
        raise PermissionDenied("只有管理员可以添加用户。")
    _check_username(username)
    _check_new_password(password)
    role = Role(role).value
    if not display_name.strip():
        raise ValidationError("请输入姓名。", field="display_name")
    password_hash = hash_password(password)
    with ws.unit_of_work(actor, "create_user") as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise ValidationError(f"用户名“{username}”已存在。", field="username")
        ws.add_password_wrap(username, password, password_hash)
        session.add(User(username=username, display_name=display_name.strip(), role=role,
                         place_code=place_code, village_code=place_code, phone=phone,
                         password_hash=password_hash))
    ws.refresh_key_wraps()


def login(ws: Workspace, username: str, password: str, *, now: datetime | None = None) -> Actor:
    """Check the password; lock the account for a while after repeated failures."""
    now = now or datetime.now()
    with ws.read() as session:
        user = session.scalar(select(User).where(User.username == username, User.deleted.is_(False)))
    if user is None or not user.active:
        raise PermissionDenied("用户名或密码错误。")
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise PermissionDenied(f"密码错误次数过多，账户已锁定，请 {minutes} 分钟后再试。")
    actor = Actor(user.username, user.display_name, user.role, user.place_code,
                  ws.station.code if ws.station else "")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        failures = user.failed_logins + 1
        with ws.unit_of_work(actor, "login_failed") as session:
            row = session.get(User, user.id)
            row.failed_logins = failures
            if failures >= MAX_FAILED_LOGINS:
                row.locked_until = now + LOCKOUT
                row.failed_logins = 0
        logger.warning("failed sign-in for user %s (%d)", username, failures)
        if failures >= MAX_FAILED_LOGINS:
            raise PermissionDenied("密码错误次数过多，账户已锁定 15 分钟。") from None
        raise PermissionDenied(f"用户名或密码错误（还可尝试 {MAX_FAILED_LOGINS - failures} 次）。") from None
    if user.failed_logins or user.locked_until or _hasher.check_needs_rehash(user.password_hash):
        with ws.unit_of_work(actor, "login") as session:
            row = session.get(User, user.id)
            row.failed_logins = 0
            row.locked_until = None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
    _after_sign_in(ws, actor, password)
    return actor


def _after_sign_in(ws: Workspace, actor: Actor, password: str) -> None:
    """A wrap made from the stored hash (conversion) becomes one of the user's own salt;
    an administrator's first sign-in on a database without a recovery key makes one."""
    with ws.read() as session:
        password_hash = session.scalar(select(User.password_hash).where(User.username == actor.username))
    if password_hash and not ws.key_wrap_is_current(actor.username, password_hash):
        ws.add_password_wrap(actor.username, password, password_hash)
        ws.refresh_key_wraps()
    if actor.role == Role.ADMIN.value and not ws.has_recovery_key:
        ws.pending_recovery_key = ws.new_recovery_key()
