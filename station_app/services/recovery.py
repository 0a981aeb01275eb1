"""The database recovery key, made anew on an administrator's demand (设置 → 安全, ``station-app recovery-key``).

The recovery key unlocks the encrypted station database when every password is lost. It is shown
once — at set-up, or here — and never stored in clear: the key file keeps only the database key
wrapped under it. A new one replaces the wrap, so the old key stops working at once (a key written
on a lost sheet of paper is retired this way).
"""

from __future__ import annotations

from station_app.domain.enums import Role
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.store.base import utcnow
from station_app.store.models import AuditEntry

from .changes import Actor
from .workspace import Workspace

#: Shown with every new recovery key (GUI and CLI): what it is and where it goes.
RECOVERY_KEY_WARNING = ("请立即抄写或打印，封存在站点以外的安全地方（如乡镇医保专干处），不要保存在这台电脑上。"
                        "所有用户的密码都丢失时，只有它能打开本站数据库；本密钥只显示这一次，关闭后无法再查看。")


def new_recovery_key(ws: Workspace, actor: Actor, password: str) -> str:
    """A new recovery key for the database (the old one stops working), returned once to be shown.

    Only an administrator, who confirms with their own password (a PC left signed in must not
    hand the key to whoever sits down); the audit trail says who made one and when, never the key.
    """
    from .auth import login

    if actor.role != Role.ADMIN.value:
        raise PermissionDenied("只有管理员可以生成新的恢复密钥。")
    if not password:
        raise ValidationError("请输入您的密码确认。", field="password")
    login(ws, actor.username, password)  # wrong password: counted towards the lockout like a sign-in
    if ws.db_key is None:
        raise ValidationError("本站数据库未加密，没有恢复密钥。")
    with ws.unit_of_work(actor, "recovery_key", skip_outbox=True) as session:
        # The new wrap is durable (atomic key-file replace) before the audit entry commits.
        recovery = ws.new_recovery_key()
        session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                               action="recovery_key", table_name="", row_id="",
                               summary="生成了新的数据库恢复密钥（原恢复密钥作废）"))
    if recovery is None:  # pragma: no cover - db_key checked above
        raise ValidationError("本站数据库未加密，没有恢复密钥。")
    ws.pending_recovery_key = None  # one made by the sign-in above (none existed) is already replaced
    return recovery
