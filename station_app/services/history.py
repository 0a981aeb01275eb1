"""A resident's history (变更记录): the audit entries of the person and their enrollments, in Chinese."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, or_, select

from station_app.domain.enums import (
    EnrollmentStatus,
    PaymentChannel,
    Relation,
    ResidentStatus,
    Sex,
)
from station_app.domain.errors import NotFound
from station_app.domain.masking import mask_id
from station_app.store.models import (
    AuditEntry,
    Enrollment,
    Household,
    Resident,
    User,
)

from .audit import json_fields
from .changes import Actor
from .scope import check_village, place_names
from .workspace import Workspace
from .registry_search import special_groups_text


# -- history ------------------------------------------------------------------------------------

_HIDDEN_FIELDS = frozenset({"id", "updated_hlc", "row_version", "name_pinyin", "name_initials",
                            "resident_id"})
_FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "联系电话", "relation": "与户主关系", "status": "状态",
    "status_date": "状态日期", "special_groups": "人员类别", "group_code": "村民小组", "household_id": "所在户",
    "village_code": "村", "note": "备注", "sex": "性别", "birth_date": "出生日期", "deleted": "已作废",
    "year": "年度", "paid_fen": "实缴金额", "subsidy_fen": "资助金额", "subsidy_category": "资助类别",
    "paid_date": "缴费日期", "channel": "缴费渠道", "other_channel_note": "其他参保渠道",
}
_ACTION_LABELS = {
    "insert": "新增", "update": "修改", "delete": "作废", "register_household": "登记新户",
    "add_resident": "添加成员", "update_resident": "修改信息", "move_resident": "迁户",
    "resident_died": "标记死亡", "resident_moved_out": "标记迁出", "resident_registered": "恢复在册",
    "import_roster": "导入花名册", "update_household": "修改户信息",
}


@dataclass(frozen=True)
class HistoryChange:
    field: str
    label: str
    before: str
    after: str

    @property
    def text(self) -> str:
        if not self.before:
            return f"{self.label}：{self.after or '（空）'}"
        return f"{self.label}：{self.before} → {self.after or '（空）'}"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime          # local time
    username: str
    who: str
    action: str
    subject: str          # 居民 / 2026 年度参保
    changes: tuple[HistoryChange, ...]
    summary: str = ""

    @property
    def detail(self) -> str:
        return self.summary or "；".join(c.text for c in self.changes)


def _local(at: datetime) -> datetime:
    """The audit stores UTC; the clerk reads local time."""
    return at.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)


def _show_value(table_name: str, field_name: str, value: Any, names: dict[str, str],
                households: dict[str, str]) -> str:
    if value is None or value == "":
        return ""
    if field_name == "id_number":
        return mask_id(str(value))  # masked when written; masked again for rows of older versions
    if field_name == "relation":
        return Relation.label_for(value)
    if field_name == "sex":
        return Sex.label_for(value)
    if field_name == "status":
        return (ResidentStatus if table_name == "resident" else EnrollmentStatus).label_for(value)
    if field_name == "special_groups":
        return special_groups_text(value)
    if field_name in ("group_code", "village_code"):
        return names.get(value, value)
    if field_name == "household_id":
        return f"户号 {households.get(value, '（已不存在）')}"
    if field_name == "channel":
        return PaymentChannel.label_for(value)
    if field_name.endswith("_fen"):
        return f"{int(value) / 100:.2f} 元"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def resident_history(ws: Workspace, resident_id: str, actor: Actor | None = None) -> list[HistoryEntry]:
    """Who changed what and when for a resident and their enrollment records, newest first.

    From the audit log, with Chinese field names and labels; ID numbers stay masked as the
    audit stores them. Rows loaded in bulk (demo, roster import) have one summary entry per
    batch, not per person, so their history starts at the first change made here.
    """
    with ws.read() as session:
        person = session.get(Resident, resident_id)
        if person is None:
            raise NotFound("找不到该居民。")
        if actor is not None:
            check_village(session, actor, person.village_code)
        enrollment_years = dict(session.execute(
            select(Enrollment.id, Enrollment.year).where(Enrollment.resident_id == resident_id)).all())
        entries = session.scalars(
            select(AuditEntry).where(or_(
                and_(AuditEntry.table_name == "resident", AuditEntry.row_id == resident_id),
                and_(AuditEntry.table_name == "enrollment", AuditEntry.row_id.in_(list(enrollment_years) or [""]))))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())).all()
        usernames = {e.username for e in entries}
        who = dict(session.execute(select(User.username, User.display_name)
                                   .where(User.username.in_(usernames))).all()) if usernames else {}
        household_ids: set[str] = set()
        for e in entries:
            for payload in (json_fields(e.before_json), json_fields(e.after_json)):
                if payload.get("household_id"):
                    household_ids.add(payload["household_id"])
        households = dict(session.execute(select(Household.id, Household.household_no)
                                          .where(Household.id.in_(household_ids))).all()) if household_ids else {}
        names = place_names(session)
    out: list[HistoryEntry] = []
    for e in entries:
        before, after = json_fields(e.before_json), json_fields(e.after_json)
        changes = []
        for key in sorted(set(before) | set(after), key=lambda k: list(_FIELD_LABELS).index(k)
                          if k in _FIELD_LABELS else 99):
            if key in _HIDDEN_FIELDS:
                continue
            old = _show_value(e.table_name, key, before.get(key), names, households)
            new = _show_value(e.table_name, key, after.get(key), names, households)
            if old == new:
                continue
            changes.append(HistoryChange(key, _FIELD_LABELS.get(key, key), old, new))
        subject = "居民信息" if e.table_name == "resident" else f"{enrollment_years.get(e.row_id, '')} 年度参保"
        action = _ACTION_LABELS.get(e.action, e.action)
        display = who.get(e.username, "")
        out.append(HistoryEntry(_local(e.at), e.username,
                                f"{display}（{e.username}）" if display and display != e.username else e.username,
                                action, subject, tuple(changes), e.summary or ""))
    return out
