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
from station_app.services.changes import Actor, synced_field_names, to_jsonable
from station_app.services.scope import check_village
from station_app.services.workspace import Workspace
from station_app.store.base import utcnow
from station_app.store.models import MODEL_BY_TABLE, OutboxOp, SyncConflict

from .protocol import dumps
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


class ConflictChanged(ValidationError):
    """The field changed after the conflict was found: the clerk must look at the newer value.

    The conflict now shows the current value as the other side; nothing was written.
    """

    def __init__(self, conflict_ids: list[int], current_display: str = ""):
        if len(conflict_ids) == 1 and current_display:
            message = (f"发现冲突之后，该项又被修改为「{current_display}」。"
                       "列表已显示最新的值，请核对后再次选择。")
        else:
            message = (f"{len(conflict_ids)} 条冲突在发现之后又被修改过，列表已显示最新的值，"
                       "请核对后再次选择。")
        super().__init__(message, code="conflict_changed")
        self.conflict_ids = conflict_ids


@dataclass
class ResolveResult:
    resolved: int = 0
    #: Conflicts whose field changed since they were found: refreshed, not resolved.
    changed: list[int] | None = None
    current_display: str = ""


def _same_value(table: str, field_name: str, stored_text: str, current: Any) -> bool:
    value = _python_value(table, field_name, _decode(stored_text))
    if isinstance(current, bool) or field_name == "deleted":
        return bool(value) == bool(current)
    if value in (None, "") and current in (None, ""):
        return True
    return value == current


def _settle(session, conflict: SyncConflict, actor: Actor, choice: str) -> int:
    """Mark this conflict and every older open one on the same field as resolved."""
    same = session.scalars(select(SyncConflict).where(
        SyncConflict.table_name == conflict.table_name, SyncConflict.row_id == conflict.row_id,
        SyncConflict.field == conflict.field, SyncConflict.resolution == ""))
    count = 0
    now = utcnow()
    for item in same:
        item.resolution = choice
        item.resolved_by = actor.username
        item.resolved_at = now
        count += 1
    return count


def _resolve_one(session, actor: Actor, conflict: SyncConflict, choice: str, result: ResolveResult) -> None:
    model = MODEL_BY_TABLE.get(conflict.table_name)
    row = session.get(model, conflict.row_id) if model is not None else None
    if row is None:
        if choice == "theirs":  # nothing here to adopt: the record is gone from this station
            result.resolved += _settle(session, conflict, actor, choice)
            return
        raise NotFound("该记录已不在本站，无法处理。")
    check_village(session, actor, row.village_code)
    name = conflict.field
    if name not in synced_field_names(model):
        raise ValidationError("该字段不能在此修改。")
    current = getattr(row, name)
    if choice == "theirs":
        # 采用服务器: the value standing now (the server's, or a later edit) stays; nothing is
        # written, so nothing newer can be reverted.
        result.resolved += _settle(session, conflict, actor, choice)
        return
    if not _same_value(conflict.table_name, name, conflict.remote_value, current):
        # Changed since the conflict was found (another station's later edit, or ours): the
        # clerk decided against a value that no longer stands. Show the newer one, ask again.
        conflict.remote_value = dumps(to_jsonable(current))
        conflict.remote_hlc = row.updated_hlc or conflict.remote_hlc
        result.changed = (result.changed or []) + [conflict.id]
        result.current_display = display_value(name, current)
        return
    # 保留本地: the local value as a new edit (fresh stamp, base = what we see now), so it is
    # causally after the value it replaces, which the clerk has just seen.
    value = _python_value(conflict.table_name, name, _decode(conflict.local_value))
    if current != value:
        setattr(row, name, value)
    else:
        flag_modified(row, name)  # the server holds the other value: send ours again
    if name == "deleted" and value is False:
        # Restoring a deleted row: send every field, the server may keep only the key of an
        # old tombstone.
        for other in synced_field_names(model):
            flag_modified(row, other)
    if name == "name" and hasattr(row, "name_pinyin"):
        row.name_pinyin, row.name_initials = pinyin_keys(value or "")
    result.resolved += _settle(session, conflict, actor, choice)


def resolve_conflicts(ws: Workspace, actor: Actor, conflict_ids: list[int], choice: str) -> ResolveResult:
    """Keep mine / take theirs for many conflicts in one transaction (the bulk buttons).

    A conflict whose field changed since it was found is not resolved: it is refreshed to show
    the current value and listed in ``changed`` (the clerk is asked again).
    """
    if choice not in ("mine", "theirs"):
        raise ValidationError("未知的处理方式。")
    result = ResolveResult()
    with ws.unit_of_work(actor, f"sync_conflict_{choice}") as session:
        for conflict_id in conflict_ids:
            conflict = session.get(SyncConflict, conflict_id)
            if conflict is None:
                raise NotFound("找不到该冲突记录。")
            if conflict.resolution:
                if len(conflict_ids) == 1:
                    raise ValidationError("该冲突已处理。")
                continue  # settled together with an earlier one of the same field
            _resolve_one(session, actor, conflict, choice, result)
    return result


def _resolve(ws: Workspace, actor: Actor, conflict_id: int, choice: str) -> None:
    result = resolve_conflicts(ws, actor, [conflict_id], choice)
    if result.changed:
        raise ConflictChanged(result.changed, result.current_display)


def keep_mine(ws: Workspace, actor: Actor, conflict_id: int) -> None:
    """保留本地: write the local value as a new edit (it wins everywhere).

    Raises ConflictChanged (nothing written) when the field changed since the conflict was
    found; the conflict then shows the newer value and the clerk chooses again.
    """
    _resolve(ws, actor, conflict_id, "mine")


def take_theirs(ws: Workspace, actor: Actor, conflict_id: int) -> None:
    """采用服务器: the value standing now stays; the conflict is marked resolved, nothing written.

    Never writes the value recorded when the conflict was found (it may have been replaced by a
    newer edit since).
    """
    _resolve(ws, actor, conflict_id, "theirs")
