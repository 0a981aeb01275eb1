"""Conflicts and refused changes for review: list them, keep mine, take theirs.

Resolving goes through a unit of work like any edit, so the choice is recorded in the outbox
with a fresh HLC (newer than both values) and pushed: every station ends up with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.masking import mask_id, mask_name
from station_app.domain.names import pinyin_keys
from station_app.services.changes import Actor, synced_field_names
from station_app.services.scope import check_village
from station_app.services.workspace import Workspace
from station_app.store.base import utcnow
from station_app.store.models import MODEL_BY_TABLE, OutboxOp, SyncConflict

from .tables import table_specs

TABLE_LABELS = {
    "household": "户", "resident": "居民", "enrollment": "参保记录", "chronic_card": "慢病卡",
    "card_usage": "慢病卡使用", "assistance_case": "医疗救助", "assistance_referral": "救助转介",
    "service_entry": "服务记录", "notice": "公示", "notice_objection": "公示异议", "station": "站点",
    "settlement_review": "待落实不适用", "burden_alert": "高额费用预警",
}
FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "联系电话", "sex": "性别", "birth_date": "出生日期",
    "relation": "与户主关系", "status": "状态", "status_date": "状态日期", "special_groups": "人员类别",
    "note": "备注", "group_code": "村民小组", "village_code": "所属村", "household_id": "所属户",
    "head_name": "户主", "address": "地址", "category": "户类别", "helper_name": "包帮责任人",
    "helper_phone": "包帮人电话", "deleted": "删除", "paid_fen": "缴费金额（分）", "paid_date": "缴费日期",
    "channel": "缴费渠道", "subsidy_category": "资助类别", "subsidy_fen": "资助金额（分）", "year": "年度",
    "card_no": "卡号", "disease_code": "病种",
}
_PERSON_FIELDS = ("name", "head_name")


@dataclass(frozen=True)
class ConflictView:
    id: int
    table: str
    table_label: str
    row_id: str
    row_label: str
    field: str
    field_label: str
    local_display: str
    remote_display: str
    detected_at: datetime
    resolution: str


@dataclass(frozen=True)
class RejectedView:
    seq: int
    table_label: str
    row_id: str
    op: str
    message: str
    created_at: datetime


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def display_value(field_name: str, value: Any) -> str:
    """A value as the clerk should see it (ID numbers masked: this list is on screen)."""
    if field_name == "deleted":
        return "已删除" if value else "未删除"
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if field_name == "id_number" and isinstance(value, str):
        return mask_id(value)
    return str(value)


def _row_label(session, table: str, row_id: str) -> str:
    model = MODEL_BY_TABLE.get(table)
    row = session.get(model, row_id) if model is not None else None
    if row is None:
        return "（记录不在本站）"
    for attr in _PERSON_FIELDS:
        value = getattr(row, attr, None)
        if value:
            return mask_name(value)
    for attr in ("title", "household_no", "code", "card_no", "month"):
        value = getattr(row, attr, None)
        if value:
            return str(value)
    resident_id = getattr(row, "resident_id", None)
    if resident_id:
        resident = session.get(MODEL_BY_TABLE["resident"], resident_id)
        if resident is not None:
            return mask_name(resident.name)
    return row_id[:8]


def list_conflicts(ws: Workspace, *, include_resolved: bool = False, limit: int = 500) -> list[ConflictView]:
    with ws.read() as session:
        query = select(SyncConflict).order_by(SyncConflict.id.desc()).limit(limit)
        if not include_resolved:
            query = query.where(SyncConflict.resolution == "")
        views = []
        for c in session.scalars(query):
            views.append(ConflictView(
                c.id, c.table_name, TABLE_LABELS.get(c.table_name, c.table_name), c.row_id,
                _row_label(session, c.table_name, c.row_id), c.field, FIELD_LABELS.get(c.field, c.field),
                display_value(c.field, _decode(c.local_value)), display_value(c.field, _decode(c.remote_value)),
                c.detected_at, c.resolution))
        return views


def list_rejected(ws: Workspace, limit: int = 200) -> list[RejectedView]:
    with ws.read() as session:
        rows = session.scalars(select(OutboxOp).where(OutboxOp.state == "rejected")
                               .order_by(OutboxOp.seq.desc()).limit(limit))
        return [RejectedView(r.seq, TABLE_LABELS.get(r.table_name, r.table_name), r.row_id,
                             {"insert": "新增", "update": "修改", "delete": "删除"}.get(r.op, r.op),
                             r.last_error, r.created_at) for r in rows]


def _python_value(table: str, field_name: str, value: Any) -> Any:
    spec = table_specs()[table].fields.get(field_name)
    if value is None or spec is None:
        return value
    if spec.kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if spec.kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if spec.kind == "bool":
        return bool(value)
    return value


def _resolve(ws: Workspace, actor: Actor, conflict_id: int, choice: str) -> None:
    with ws.unit_of_work(actor, f"sync_conflict_{choice}") as session:
        conflict = session.get(SyncConflict, conflict_id)
        if conflict is None:
            raise NotFound("找不到该冲突记录。")
        if conflict.resolution:
            raise ValidationError("该冲突已处理。")
        model = MODEL_BY_TABLE.get(conflict.table_name)
        row = session.get(model, conflict.row_id) if model is not None else None
        if row is None:
            raise NotFound("该记录已不在本站，无法处理。")
        check_village(session, actor, row.village_code)
        text = conflict.local_value if choice == "mine" else conflict.remote_value
        value = _python_value(conflict.table_name, conflict.field, _decode(text))
        name = conflict.field
        if name not in synced_field_names(model):
            raise ValidationError("该字段不能在此修改。")
        if getattr(row, name) != value:
            setattr(row, name, value)
        elif choice == "mine":
            flag_modified(row, name)  # the server holds the other value: send ours again
        if name == "deleted" and value is False and choice == "mine":
            # Restoring a deleted row: send every field, the server may keep only the key of
            # an old tombstone.
            for other in synced_field_names(model):
                flag_modified(row, other)
        if name == "name" and hasattr(row, "name_pinyin"):
            row.name_pinyin, row.name_initials = pinyin_keys(value or "")
        same = session.scalars(select(SyncConflict).where(
            SyncConflict.table_name == conflict.table_name, SyncConflict.row_id == conflict.row_id,
            SyncConflict.field == name, SyncConflict.resolution == ""))
        for item in same:  # older conflicts on the same field are settled by this choice too
            item.resolution = choice
            item.resolved_by = actor.username
            item.resolved_at = utcnow()


def keep_mine(ws: Workspace, actor: Actor, conflict_id: int) -> None:
    """保留本地: write the local value again (a new edit that wins everywhere)."""
    _resolve(ws, actor, conflict_id, "mine")


def take_theirs(ws: Workspace, actor: Actor, conflict_id: int) -> None:
    """采用服务器: make sure the winning value stands here (and everywhere)."""
    _resolve(ws, actor, conflict_id, "theirs")
