"""The audit trail: who changed what, when, before → after — filtered and paged for the viewer and the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from station_app.domain.enums import Role
from station_app.domain.masking import mask_id
from station_app.log import redact
from station_app.store.models import AuditEntry

from .changes import Actor
from .workspace import Workspace

DEFAULT_PAGE_SIZE = 100

TABLE_LABELS = {
    "household": "户", "resident": "居民", "enrollment": "参保", "chronic_card": "慢病卡",
    "card_usage": "用卡记录", "assistance_case": "医疗救助", "assistance_referral": "救助转介",
    "service_entry": "服务记录", "notice": "公示", "notice_objection": "公示异议", "app_user": "用户",
    "station": "站点", "place": "地区", "app_setting": "设置",
    "settlement": "结算", "settlement_review": "待落实不适用", "burden_alert": "高额费用预警",
}
ACTION_LABELS = {
    "insert": "新增", "update": "修改", "delete": "作废", "import_roster": "导入花名册",
    "register_household": "登记新户", "add_resident": "添加成员", "update_resident": "修改居民",
    "create_user": "添加用户", "reset_password": "重置密码", "change_password": "修改密码",
    "deactivate_user": "停用用户", "activate_user": "启用用户", "unlock_user": "解除锁定",
    "update_user": "修改用户", "setup_station": "初始设置", "load_reference": "更新参考数据",
    "login": "登录", "login_failed": "登录失败", "restore_backup": "恢复备份",
    "settlement_not_applicable": "标记不适用", "burden_alert_decide": "研判高额费用预警",
}
FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "电话", "relation": "与户主关系", "status": "状态",
    "special_groups": "人员类别", "group_code": "村民小组", "household_id": "户", "head_name": "户主",
    "address": "地址", "note": "备注", "sex": "性别", "birth_date": "出生日期", "year": "年度",
    "paid_fen": "实缴（分）", "subsidy_fen": "资助（分）", "subsidy_category": "资助类别", "active": "启用",
    "role": "角色", "display_name": "姓名", "username": "用户名", "category": "户类别",
    "deleted": "已作废", "village_code": "村", "place_code": "所属地", "card_no": "卡号",
    "suggested_fen": "建议救助（分）", "deviation_reason": "调整原因", "assistance_fen": "救助金额（分）",
    "policy_self_pay_fen": "政策范围内自付（分）", "outcome": "研判结果", "reason": "原因",
}


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: Any
    after: Any

    @property
    def text(self) -> str:
        return f"{self.label}：{_show(self.before)} → {_show(self.after)}"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    username: str
    action: str
    table_name: str
    row_id: str
    summary: str
    changes: tuple[FieldChange, ...] = field(default=())

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def table_label(self) -> str:
        return TABLE_LABELS.get(self.table_name, self.table_name)

    @property
    def detail(self) -> str:
        """One line: the summary, or each field before → after."""
        if self.summary:
            return self.summary
        return "；".join(change.text for change in self.changes)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass
class AuditFilter:
    username: str | None = None
    table_name: str | None = None
    action: str | None = None
    since: date | datetime | None = None
    until: date | datetime | None = None  # a date includes that whole day
    row_id: str | None = None
    text: str | None = None  # in the summary or the changed values


def json_fields(text: str) -> dict[str, Any]:
    """An audit entry's before/after JSON as a dict ({} for none or anything else)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _changes(before_json: str, after_json: str) -> tuple[FieldChange, ...]:
    before, after = json_fields(before_json), json_fields(after_json)
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key == "id_number":  # already masked when written; masked again in case of old rows
            old, new = mask_id(old) if old else old, mask_id(new) if new else new
        out.append(FieldChange(key, FIELD_LABELS.get(key, key), old, new))
    return tuple(out)


def _bounds(value: date | datetime | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time.min) if end else datetime.combine(value, time.min)


def _apply(query, flt: AuditFilter, actor: Actor):
    # A 村医 sees only their own actions; 专干 and admins see the station's whole trail.
    if actor.role == Role.VILLAGE_DOCTOR.value:
        query = query.where(AuditEntry.username == actor.username)
    if flt.username:
        query = query.where(AuditEntry.username == flt.username)
    if flt.table_name:
        query = query.where(AuditEntry.table_name == flt.table_name)
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.row_id:
        query = query.where(AuditEntry.row_id == flt.row_id)
    since, until = _bounds(flt.since, end=False), _bounds(flt.until, end=True)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until if not isinstance(flt.until, datetime) else AuditEntry.at <= until)
    if flt.text:
        like = f"%{flt.text}%"
        query = query.where(or_(AuditEntry.summary.like(like), AuditEntry.before_json.like(like),
                                AuditEntry.after_json.like(like)))
    return query


def query_audit(ws: Workspace, actor: Actor, flt: AuditFilter | None = None, *, page: int = 0,
                page_size: int = DEFAULT_PAGE_SIZE) -> AuditPage:
    """Newest first; ``page`` counts from 0."""
    flt = flt or AuditFilter()
    page, page_size = max(0, page), max(1, min(page_size, 1000))
    with ws.read() as session:
        total = session.scalar(_apply(select(func.count()).select_from(AuditEntry), flt, actor)) or 0
        entries = session.scalars(_apply(select(AuditEntry), flt, actor)
                                  .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                  .offset(page * page_size).limit(page_size)).all()
        rows = [AuditRow(e.id, e.at, e.username, e.action, e.table_name, e.row_id,
                         redact(e.summary or ""), _changes(e.before_json, e.after_json)) for e in entries]
    return AuditPage(rows, total, page, page_size)


@dataclass(frozen=True)
class AuditChoices:
    usernames: list[str]
    tables: list[tuple[str, str]]
    actions: list[tuple[str, str]]


def audit_choices(ws: Workspace, actor: Actor) -> AuditChoices:
    """Values present in the trail, for the viewer's filter boxes."""
    with ws.read() as session:
        def distinct(column):
            return [v for v in session.scalars(_apply(select(column).distinct(), AuditFilter(), actor)
                                               .order_by(column)) if v]

        return AuditChoices(
            distinct(AuditEntry.username),
            [(t, TABLE_LABELS.get(t, t)) for t in distinct(AuditEntry.table_name)],
            [(a, ACTION_LABELS.get(a, a)) for a in distinct(AuditEntry.action)],
        )
