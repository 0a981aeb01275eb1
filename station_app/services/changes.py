"""Record every write for audit and sync in the same transaction as the write itself.

A ``before_flush`` hook on service sessions turns each new or changed synced row into an
outbox op (only the changed fields travel) and an audit entry (before → after, ID numbers
masked). A session without an actor refuses to write: nothing reaches the database around
the service layer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import Table, bindparam, event, insert, inspect, update
from sqlalchemy.orm import Session

from station_app.domain.errors import PermissionDenied
from sync_protocol.hlc import HybridLogicalClock, Timestamp
from station_app.domain.masking import mask_id
from station_app.store.base import SYNC_BOOKKEEPING_FIELDS, SyncedMixin, new_id, new_ids, utcnow
from station_app.store.models import AuditEntry, OutboxOp, SyncState

HLC_STATE_KEY = "hlc_last"
#: Fields whose values are masked wherever they are copied for audit (PIPL).
SENSITIVE_FIELDS = frozenset({"id_number"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: every write is attributed to one."""

    username: str
    display_name: str
    role: str
    place_code: str
    station_code: str


#: The actor for writes the software itself makes (migrations of data, demo seeding).
def system_actor(station_code: str = "") -> Actor:
    return Actor("system", "系统", "admin", "", station_code)


class SharedClock:
    """One HLC per database, shared by every thread's sessions."""

    def __init__(self, clock: HybridLogicalClock):
        self._clock = clock
        self._lock = threading.Lock()

    def now(self) -> Timestamp:
        with self._lock:
            return self._clock.now()

    def receive(self, remote: Timestamp) -> Timestamp:
        with self._lock:
            return self._clock.receive(remote)

    @property
    def inner(self) -> HybridLogicalClock:
        return self._clock

    @property
    def last(self) -> Timestamp | None:
        return self._clock.last


def to_jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


#: Longer text values (a notice's source data) are summarised in the audit, not copied.
AUDIT_TEXT_LIMIT = 2000


#: Never copied into the audit at all.
SECRET_FIELDS = frozenset({"password_hash"})


def _audit_value(key: str, value: Any) -> Any:
    if key in SECRET_FIELDS:
        return "〔已隐藏〕"
    if key in SENSITIVE_FIELDS and value:
        return mask_id(value)  # PIPL: the audit trail never holds an ID number in clear
    if isinstance(value, str) and len(value) > AUDIT_TEXT_LIMIT:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
        return f"〔{len(value)} 字符，sha256 {digest}…〕"
    return value


def _mask_sensitive(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _audit_value(k, v) for k, v in values.items()}


def _dumps(values: dict[str, Any] | None) -> str:
    if not values:
        return ""
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)


def synced_field_names(model: type[SyncedMixin]) -> list[str]:
    """Column attributes that travel in sync ops (bookkeeping and local-only fields excluded)."""
    mapper = inspect(model)
    local = getattr(model, "__local_fields__", frozenset())
    return [
        attr.key for attr in mapper.column_attrs
        if attr.key not in SYNC_BOOKKEEPING_FIELDS and attr.key not in local
    ]


def _apply_scalar_defaults(obj: SyncedMixin) -> None:
    """Column defaults normally land at INSERT; the outbox needs them now."""
    mapper = inspect(type(obj))
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if getattr(obj, attr.key) is not None or column.default is None:
            continue
        default = column.default
        if default.is_scalar:
            setattr(obj, attr.key, default.arg)
        elif default.is_callable:
            setattr(obj, attr.key, default.arg(None))


def _changed_fields(obj: SyncedMixin) -> dict[str, tuple[Any, Any]]:
    """field → (before, after) for the columns changed since load."""
    state = inspect(obj)
    changes: dict[str, tuple[Any, Any]] = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            changes[attr.key] = (before, after)
    return changes


class ChangeRecorder:
    """Installed on a sessionmaker; see the module docstring."""

    def __init__(self, clock: SharedClock, station_code: str, *, outbox_user: bool = True):
        self.clock = clock
        self.station_code = station_code
        #: Whether outbox ops record their user: False in a data migration older than the
        #: ``sync_outbox.username`` column (0071), which writes through the current models.
        self.outbox_user = outbox_user

    def install(self, session_factory) -> None:
        event.listen(session_factory, "before_flush", self._before_flush)

    # -- the hook ---------------------------------------------------------------------------

    def _before_flush(self, session: Session, _flush_context, _instances) -> None:
        if session.info.get("sync_apply"):
            return  # the sync engine stamps and records what it applies itself
        touched = [o for o in list(session.new) + list(session.dirty) if isinstance(o, SyncedMixin)]
        for obj in session.deleted:
            if isinstance(obj, SyncedMixin):
                raise PermissionDenied("同步数据不能物理删除，请使用作废/注销（软删除）。")
        if not touched:
            return
        actor: Actor | None = session.info.get("actor")
        if actor is None:
            raise PermissionDenied("所有写入必须经过业务服务层（缺少操作人）。")
        action = session.info.get("action", "")
        last_ts: Timestamp | None = None
        for obj in touched:
            if type(obj).__reference__ and not session.info.get("reference_write"):
                raise PermissionDenied("县级参考数据只读，只能由县医保局下发。")
            if type(obj).__server_authored__ and not session.info.get("reference_write"):
                raise PermissionDenied("结算数据由县医保局下发，站点不能修改。")
            is_new = obj in session.new
            if is_new:
                _apply_scalar_defaults(obj)
                fields = {k: getattr(obj, k) for k in synced_field_names(type(obj))}
                fields["village_code"] = obj.village_code
                before_audit, after_audit, op = None, fields, "insert"
            else:
                changes = _changed_fields(obj)
                local = type(obj).__local_fields__
                travelling = {k: v for k, v in changes.items()
                              if k not in SYNC_BOOKKEEPING_FIELDS and k not in local}
                if not changes:
                    continue
                before_audit = {k: b for k, (b, _a) in changes.items() if k not in SYNC_BOOKKEEPING_FIELDS}
                after_audit = {k: a for k, (_b, a) in changes.items() if k not in SYNC_BOOKKEEPING_FIELDS}
                fields = {k: a for k, (_b, a) in travelling.items()}
                op = "delete" if fields.get("deleted") is True else "update"
                if not fields:  # only local search keys changed: audit-free, sync-free
                    continue
            ts = self.clock.now()
            last_ts = ts
            obj.updated_hlc = ts.pack()
            if not session.info.get("skip_outbox"):
                outbox = OutboxOp(
                    op_id=new_id(), table_name=obj.__tablename__, row_id=obj.id,
                    village_code=obj.village_code, op=op,
                    fields_json=_dumps({k: to_jsonable(v) for k, v in fields.items()}) or "{}",
                    base_version=obj.row_version or 0, hlc=ts.pack(),
                )
                if self.outbox_user:
                    outbox.username = actor.username or ""
                session.add(outbox)
            session.add(AuditEntry(
                at=utcnow(), username=actor.username, station_code=actor.station_code or self.station_code,
                action=action or op, table_name=obj.__tablename__, row_id=obj.id,
                before_json=_dumps(_mask_sensitive({k: to_jsonable(v) for k, v in (before_audit or {}).items()})),
                after_json=_dumps(_mask_sensitive({k: to_jsonable(v) for k, v in after_audit.items()})),
            ))
        if last_ts is not None:
            save_clock_state(session, last_ts)

    # -- bulk path --------------------------------------------------------------------------

    def bulk_insert(self, session: Session, model: type[SyncedMixin], rows: Iterable[dict[str, Any]],
                    *, summary: str, record_outbox: bool = True) -> int:
        """Insert many rows with Core (demo data, a new enrollment year) and record them.

        Each row gets its id, HLC and an outbox op like the ORM path; the audit gets one
        summary entry for the whole batch instead of one per row.
        """
        actor = _bulk_actor(session, model)
        travelling = set(synced_field_names(model)) | {"village_code"}
        dated = _dated_columns(model)
        fillers = _column_fillers(model)
        # One tick for the whole batch: the HLC orders writes to the same field, and no two
        # rows of one insert share a field, so per-row ticks would only cost time.
        ts = self.clock.now()
        hlc = ts.pack()
        prepared: list[dict[str, Any]] = [{**fillers, **row} for row in rows]
        if not prepared:
            return 0
        without_id = sum(1 for row in prepared if row["id"] is None)
        ids = iter(new_ids(without_id + (len(prepared) if record_outbox else 0)))
        outbox: list[dict[str, Any]] = []
        created = utcnow()
        travel_keys = [k for k in prepared[0] if k in travelling]
        dated_keys = [k for k in travel_keys if k in dated]
        table_name = model.__tablename__
        for row in prepared:
            if row["id"] is None:
                row["id"] = next(ids)
            row["updated_hlc"] = hlc
            if record_outbox:
                fields = {k: row[k] for k in travel_keys}
                for key in dated_keys:
                    fields[key] = to_jsonable(fields[key])
                outbox.append(dict(
                    op_id=next(ids), batch_id=None, table_name=table_name, row_id=row["id"],
                    village_code=row.get("village_code"), op="insert", fields_json=_dumps(fields) or "{}",
                    base_version=0, hlc=hlc, state="pending", attempts=0, last_error="",
                    created_at=created,
                ))
        if outbox and self.outbox_user:
            for op in outbox:
                op["username"] = actor.username or ""
        insert_rows(session, model.__table__, prepared)
        if outbox:
            insert_rows(session, OutboxOp.__table__, outbox)
        session.add(AuditEntry(
            at=utcnow(), username=actor.username, station_code=actor.station_code or self.station_code,
            action=session.info.get("action", "bulk_insert"), table_name=model.__tablename__,
            summary=f"{summary}（{len(prepared)} 条）",
        ))
        save_clock_state(session, ts)
        return len(prepared)

    def bulk_update(self, session: Session, model: type[SyncedMixin],
                    updates: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> int:
        """Update many rows with one Core executemany (bulk status changes), recorded per row.

        Each pair is a row's current values (``id``, ``village_code``, ``row_version`` and the
        fields being set) and its new values; every pair sets the same fields. A row gets the same
        outbox op (only the changed fields travel) and audit entry as an ORM flush would write;
        rows whose values do not change are skipped. Returns the number of rows written.
        """
        actor = _bulk_actor(session, model)
        action = session.info.get("action", "update")
        station = actor.station_code or self.station_code
        now = utcnow()
        params: list[dict[str, Any]] = []
        outbox: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        ts: Timestamp | None = None
        for before, after in updates:
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            if not changed:
                continue
            ts = self.clock.now()
            hlc = ts.pack()
            params.append({**{f"v_{k}": v for k, v in after.items()}, "b_id": before["id"], "v_updated_hlc": hlc})
            fields = _dumps({k: to_jsonable(v) for k, v in changed.items()})
            outbox.append(dict(op_id=new_id(), batch_id=None, table_name=model.__tablename__, row_id=before["id"],
                               village_code=before.get("village_code"), op="update", fields_json=fields,
                               base_version=before.get("row_version") or 0, hlc=hlc, state="pending", attempts=0,
                               last_error="", created_at=now))
            if self.outbox_user:
                outbox[-1]["username"] = actor.username or ""
            audit.append(dict(at=now, username=actor.username, station_code=station, action=action,
                              table_name=model.__tablename__, row_id=before["id"],
                              before_json=_dumps(_mask_sensitive({k: to_jsonable(before.get(k)) for k in changed})),
                              after_json=_dumps(_mask_sensitive({k: to_jsonable(v) for k, v in changed.items()})),
                              summary=""))
        if not params:
            return 0
        table = model.__table__
        keys = [k[2:] for k in params[0] if k.startswith("v_")]
        session.execute(update(table).where(table.c.id == bindparam("b_id"))
                        .values({k: bindparam(f"v_{k}") for k in keys}), params)
        if outbox and not session.info.get("skip_outbox"):
            session.execute(insert(OutboxOp.__table__), outbox)
        session.execute(insert(AuditEntry.__table__), audit)
        assert ts is not None
        save_clock_state(session, ts)
        return len(params)


def _bulk_actor(session: Session, model: type[SyncedMixin]) -> Actor:
    """The bulk paths' guard: an actor is required, and reference tables only from the county."""
    actor: Actor | None = session.info.get("actor")
    if actor is None:
        raise PermissionDenied("所有写入必须经过业务服务层（缺少操作人）。")
    if model.__reference__ and not session.info.get("reference_write"):
        raise PermissionDenied("县级参考数据只读，只能由县医保局下发。")
    if model.__server_authored__ and not session.info.get("reference_write"):
        raise PermissionDenied("结算数据由县医保局下发，站点不能修改。")
    return actor


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (every one with the same keys) with one executemany at the driver.

    Each value goes through its column type's own bind processor for this dialect, as
    SQLAlchemy would send it; SQLAlchemy's per-row parameter handling in between cost ~1 s of a
    new year's 4.4 s (58,200 rows into two tables). Python-side column defaults of columns the
    rows leave out are evaluated once (one timestamp per batch, as the bulk paths want); the
    database fills the rest (an autoincrement key, a server default). A driver with another
    parameter style takes SQLAlchemy's Core insert.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.paramstyle != "qmark":
        session.execute(insert(table), rows)
        return
    keys = list(rows[0])
    defaults = {column.key: _batch_default(column) for column in table.columns
                if column.key not in rows[0] and _has_batch_default(column)
                and not (column.primary_key and column.autoincrement)}
    columns = [table.c[key] for key in keys] + [table.c[key] for key in defaults]
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    fixed = tuple(defaults.values())
    if fixed:
        fixed = tuple(p(v) if p else v for p, v in zip(processors[len(keys):], fixed))
    converting = [(i, p) for i, p in enumerate(processors[:len(keys)]) if p is not None]
    params = []
    for row in rows:
        values = [row[key] for key in keys]
        for i, process in converting:
            values[i] = process(values[i])
        params.append((*values, *fixed))
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    connection.exec_driver_sql(sql, params)


@functools.lru_cache(maxsize=None)
def _dated_columns(model: type[SyncedMixin]) -> frozenset[str]:
    """Columns holding dates or times: the only values ``to_jsonable`` changes, so a bulk insert
    converts just these (one dict comprehension per row over every field cost ~0.5 s a new year)."""
    dated = set()
    for column in model.__table__.columns:
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            python_type = None  # a custom type: convert it the general way
        if python_type is None or issubclass(python_type, date):
            dated.add(column.key)
    return frozenset(dated)


def _has_batch_default(column) -> bool:
    """A Python-side default (a value, or a function of nothing) that one batch can share."""
    return column.default is not None and (column.default.is_scalar or column.default.is_callable)


def _batch_default(column) -> Any:
    """The column's Python-side default, evaluated once for a whole batch (None without one)."""
    if not _has_batch_default(column):
        return None
    return column.default.arg if column.default.is_scalar else column.default.arg(None)


def _column_fillers(model: type[SyncedMixin]) -> dict[str, Any]:
    """Every column with its default (or None), so each Core row has the same keys.

    Callable defaults are evaluated once per batch (one timestamp per batch is what we want);
    the id is the exception, drawn per row by the caller.
    """
    fillers: dict[str, Any] = {column.key: _batch_default(column) if column.key != "id" else None
                               for column in model.__table__.columns}
    fillers["deleted"] = False
    fillers["row_version"] = 0
    return fillers


def save_clock_state(session: Session, ts: Timestamp) -> None:
    """Persist the HLC with the write, so a restart never reissues an older timestamp."""
    with session.no_autoflush:
        state = session.get(SyncState, HLC_STATE_KEY)
    if state is None:
        session.add(SyncState(key=HLC_STATE_KEY, value=ts.pack()))
    elif state.value < ts.pack():
        state.value = ts.pack()


def load_clock_state(session: Session) -> Timestamp | None:
    state = session.get(SyncState, HLC_STATE_KEY)
    return Timestamp.parse(state.value) if state and state.value else None
