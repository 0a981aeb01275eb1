"""Conflicts and refused changes for review: list them, keep mine, take theirs.

Resolving goes through a unit of work like any edit, so the choice is recorded in the outbox
with a fresh HLC (newer than both values) and pushed: every station ends up with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from station_app.domain.errors import NotFound, ValidationError
from sync_protocol.hlc import Timestamp
from station_app.domain.masking import mask_id, mask_name
from station_app.domain.names import pinyin_keys
from station_app.services.audit import show_value
from station_app.services.changes import Actor, synced_field_names, to_jsonable
from station_app.services.scope import check_village
from station_app.services.workspace import Workspace
from station_app.store.base import utcnow
from station_app.store.models import MODEL_BY_TABLE, OutboxOp, SyncConflict

from sync_protocol.protocol import dumps
from sync_protocol.tables import table_specs

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
    "helper_phone": "包帮人电话", "deleted": "删除", "paid_fen": "缴费金额", "paid_date": "缴费日期",
    "channel": "缴费渠道", "subsidy_category": "资助类别", "subsidy_fen": "资助金额", "year": "年度",
    "card_no": "卡号", "disease_code": "病种", "household_no": "户号", "category_since": "类别认定日期",
    "other_channel_note": "其他渠道说明", "kind": "服务类型", "service_date": "服务日期",
    "applied_date": "申请日期", "assessed_date": "评定日期", "issued_date": "发卡日期", "materials": "材料",
    "resident_id": "人员",
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
    created_at: datetime  # local time
    #: The record refused, in words (a masked name with 户号, a card number …).
    record: str = ""
    #: What the refused change changed, in words ("联系电话：138…；备注：…").
    fields: str = ""


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def display_value(field_name: str, value: Any, table: str = "*") -> str:
    """A value as the clerk should see it: the audit's words for a stored value (codes as their
    labels, 分 as 元, dates), with ID numbers masked (this list is on screen) and deletion said
    as such."""
    if field_name == "deleted":
        return "已删除" if value else "未删除"
    if field_name == "id_number" and isinstance(value, str) and value:
        return mask_id(value)
    return show_value(field_name, value, "" if table == "*" else table)


def _row_label(session, table: str, row_id: str) -> str:
    model = MODEL_BY_TABLE.get(table)
    row = session.get(model, row_id) if model is not None else None
    if row is None:
        return "（记录不在本站）"
    for attr in _PERSON_FIELDS:
        value = getattr(row, attr, None)
        if value:
            number = getattr(row, "household_no", None) or ""
            return mask_name(value) + (f"（户号 {number}）" if number else "")
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
                display_value(c.field, _decode(c.local_value), c.table_name),
                display_value(c.field, _decode(c.remote_value), c.table_name),
                c.detected_at, c.resolution))
        return views


def _fields_in_words(table: str, fields_json: str) -> str:
    try:
        fields = json.loads(fields_json or "{}")
    except ValueError:
        return ""
    if not isinstance(fields, dict):
        return ""
    shown = [f"{FIELD_LABELS.get(k, k)}：{display_value(k, v, table)}" for k, v in fields.items()
             if k in FIELD_LABELS and k not in ("village_code", "household_id", "resident_id")]
    text = "；".join(shown[:6])
    return text + ("…" if len(shown) > 6 else "")


def list_rejected(ws: Workspace, limit: int = 200) -> list[RejectedView]:
    """The refused changes, newest first, each naming its record and what it changed."""
    with ws.read() as session:
        rows = session.scalars(select(OutboxOp).where(OutboxOp.state == "rejected")
                               .order_by(OutboxOp.seq.desc()).limit(limit))
        return [RejectedView(r.seq, TABLE_LABELS.get(r.table_name, r.table_name), r.row_id,
                             {"insert": "新增", "update": "修改", "delete": "删除"}.get(r.op, r.op),
                             r.last_error or "县服务器未接受此修改。", utc_to_local(r.created_at),
                             _row_label(session, r.table_name, r.row_id),
                             _fields_in_words(r.table_name, r.fields_json)) for r in rows]


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
        result.current_display = display_value(name, current, conflict.table_name)
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


# ---------------------------------------------------------------- review at scale (issue 18.2)


@dataclass(frozen=True)
class ConflictFilter:
    """Filters of the conflict list; empty = everything open."""

    person: str = ""  # part of the person's name (or 户号)
    field: str = ""  # a field name, e.g. "phone"
    station: str = ""  # station code of the competing change
    since: date | None = None  # detected on or after (local date)
    until: date | None = None  # detected on or before (local date)


#: Sort keys of conflict_ids(); "group" keeps one person's conflicts on one field together.
CONFLICT_SORTS = ("group", "detected", "person", "field", "station")

_OPEN_CONFLICTS_SQL = """
SELECT c.id, c.table_name, c.row_id, c.field, c.remote_hlc, c.detected_at,
       COALESCE(r.name, h.head_name, r2.name, '') AS person,
       COALESCE(h.household_no, rh.household_no, r2h.household_no, '') AS household_no,
       COALESCE(r.id, r2.id, (SELECT hr.id FROM resident hr WHERE hr.household_id = h.id
                              AND hr.relation = 'head' AND hr.deleted = 0 LIMIT 1)) AS resident_id
FROM sync_conflict c
LEFT JOIN resident r ON c.table_name = 'resident' AND r.id = c.row_id
LEFT JOIN household rh ON rh.id = r.household_id
LEFT JOIN household h ON c.table_name = 'household' AND h.id = c.row_id
LEFT JOIN enrollment e ON c.table_name = 'enrollment' AND e.id = c.row_id
LEFT JOIN chronic_card cc ON c.table_name = 'chronic_card' AND cc.id = c.row_id
LEFT JOIN assistance_case ac ON c.table_name = 'assistance_case' AND ac.id = c.row_id
LEFT JOIN service_entry se ON c.table_name = 'service_entry' AND se.id = c.row_id
LEFT JOIN resident r2 ON r2.id = COALESCE(e.resident_id, cc.resident_id, ac.resident_id, se.resident_id)
LEFT JOIN household r2h ON r2h.id = r2.household_id
WHERE c.resolution = ''
"""


def hlc_station(hlc: str) -> str:
    try:
        return Timestamp.parse(hlc).node if hlc else ""
    except ValueError:
        return ""


def hlc_local_time(hlc: str) -> datetime | None:
    """When a stamped edit was made, in this computer's local time."""
    try:
        return datetime.fromtimestamp(Timestamp.parse(hlc).wall_ms / 1000) if hlc else None
    except (ValueError, OverflowError, OSError):
        return None


def utc_to_local(value: datetime | str | None) -> datetime | None:
    """Stored times are UTC (naive); the page shows local time like every other page."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)


def _open_conflicts(conn) -> list:
    return conn.exec_driver_sql(_OPEN_CONFLICTS_SQL).all()


def conflict_ids(ws: Workspace, flt: ConflictFilter | None = None, *, sort: str = "group",
                 ascending: bool = True) -> list[str]:
    """Ids (as text, for the lazy table) of the open conflicts matching ``flt``, in order."""
    flt = flt or ConflictFilter()
    with ws.engine.connect() as conn:
        rows = _open_conflicts(conn)
    person = flt.person.strip()
    picked = []
    for row in rows:
        if person and person not in (row.person or "") and person not in (row.household_no or ""):
            continue
        if flt.field and row.field != flt.field:
            continue
        station = hlc_station(row.remote_hlc)
        if flt.station and station != flt.station:
            continue
        detected = utc_to_local(row.detected_at)
        if flt.since and (detected is None or detected.date() < flt.since):
            continue
        if flt.until and (detected is None or detected.date() > flt.until):
            continue
        picked.append((row, station, detected or datetime.min))
    keys = {
        "group": lambda t: (t[0].person or "", t[0].table_name, t[0].row_id, t[0].field, t[2]),
        "detected": lambda t: (t[2], t[0].id),
        "person": lambda t: (t[0].person or "", t[2]),
        "field": lambda t: (FIELD_LABELS.get(t[0].field, t[0].field), t[0].person or "", t[2]),
        "station": lambda t: (t[1], t[2]),
    }
    picked.sort(key=keys.get(sort, keys["group"]), reverse=not ascending)
    return [str(t[0].id) for t in picked]


def conflict_fields(ws: Workspace) -> list[tuple[str, str]]:
    """(field, label) pairs present among open conflicts, for the field filter."""
    with ws.engine.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql(
            "SELECT DISTINCT field FROM sync_conflict WHERE resolution = '' ORDER BY field")]
    return [(n, FIELD_LABELS.get(n, n)) for n in names]


def conflict_stations(ws: Workspace) -> list[tuple[str, str]]:
    """(code, name) of the stations whose edits compete in open conflicts."""
    with ws.engine.connect() as conn:
        codes = sorted({hlc_station(r[0]) for r in conn.exec_driver_sql(
            "SELECT DISTINCT remote_hlc FROM sync_conflict WHERE resolution = ''")} - {""})
        names = _station_names(conn)
    return [(code, names.get(code, code)) for code in codes]


def _station_names(conn) -> dict[str, str]:
    return dict(conn.exec_driver_sql("SELECT code, name FROM station").all())


def _who(station: str, names: dict[str, str], user: str, when: datetime | None, name: str = "") -> str:
    """站点 · 操作员 · 时间 (local): the station's name as this station knows it, else as the
    server named it, else its code."""
    parts = [names.get(station) or name or station or "未知站点"]
    if user:
        parts.append(user)
    if when is not None:
        parts.append(when.strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def _person_label(name: str, household_no: str, id_number: str) -> str:
    parts = [mask_name(name) if name else "（无姓名）"]
    if household_no:
        parts.append(f"户号 {household_no}")
    if id_number:
        parts.append(f"身份证尾号 {id_number[-4:]}")
    return " · ".join(parts)


def conflict_rows(ws: Workspace, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The lazy table's page: each conflict with both values in words, who changed each and
    when (station, user, local time), the person it belongs to and how many conflicts share
    its record and field."""
    if not ids:
        return {}
    wanted = {int(i) for i in ids}
    with ws.engine.connect() as conn:
        light = {r.id: r for r in _open_conflicts(conn) if r.id in wanted}
        placeholders = ",".join("?" for _ in wanted)
        full = {r.id: r for r in conn.exec_driver_sql(
            f"SELECT id, table_name, row_id, field, local_value, remote_value, local_hlc, remote_hlc, detected_at, "
            f"remote_user, remote_station FROM sync_conflict WHERE id IN ({placeholders})", tuple(wanted)).all()}
        groups = {(t, rid, f): n for t, rid, f, n in conn.exec_driver_sql(
            "SELECT table_name, row_id, field, count(*) FROM sync_conflict WHERE resolution = '' "
            "GROUP BY table_name, row_id, field").all()}
        names = _station_names(conn)
        own = conn.exec_driver_sql("SELECT value FROM app_setting WHERE key = 'station_code'").scalar() or ""
        id_numbers = {}
        resident_ids = [r.resident_id for r in light.values() if r.resident_id]
        if resident_ids:
            id_numbers = dict(conn.exec_driver_sql(
                f"SELECT id, id_number FROM resident WHERE id IN ({','.join('?' for _ in resident_ids)})",
                tuple(resident_ids)).all())
        out: dict[str, dict[str, Any]] = {}
        for cid, c in full.items():
            row = light.get(cid)
            user = conn.exec_driver_sql(
                "SELECT username FROM audit_log WHERE table_name = ? AND row_id = ? AND after_json LIKE ? "
                "AND at <= ? ORDER BY at DESC LIMIT 1",
                (c.table_name, c.row_id, f'%"{c.field}"%', c.detected_at)).scalar() or ""
            local_station = hlc_station(c.local_hlc) or own
            out[str(cid)] = {
                "person": _person_label(row.person if row else "", row.household_no if row else "",
                                        id_numbers.get(row.resident_id, "") if row else ""),
                "record": TABLE_LABELS.get(c.table_name, c.table_name),
                "field": FIELD_LABELS.get(c.field, c.field),
                "local": display_value(c.field, _decode(c.local_value), c.table_name),
                "remote": display_value(c.field, _decode(c.remote_value), c.table_name),
                "local_who": _who(local_station, names, user, hlc_local_time(c.local_hlc)),
                "remote_who": _who(hlc_station(c.remote_hlc), names, c.remote_user or "",
                                   hlc_local_time(c.remote_hlc), c.remote_station or ""),
                "detected": utc_to_local(c.detected_at),
                "group": groups.get((c.table_name, c.row_id, c.field), 1),
                "resident_id": row.resident_id if row else None,
                "table": c.table_name, "row_id": c.row_id,
            }
        return out
