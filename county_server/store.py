"""The county server's use cases over its database: authenticate, push, pull, reference, bundles.

Correctness rules this module keeps (docs/SYNC_PROTOCOL.md has the why):

* One push batch = one transaction that first locks the ``counter`` row, so change seqs are
  handed out in commit order; a pull reads the committed counter first and serves only rows
  at or below it, so it never skips a change committed late (failure mode 13).
* A batch's answer is stored under (station, batch_id) and each op's under its op_id, in the
  same transaction: a replay, a re-batched op (restored backup) or a re-imported bundle
  creates nothing twice (failure modes 1 and 4).
* Every op is checked against the pusher's scope on the server's copy of the row, never on
  what the station claims; an op refused leaves the rest of the batch going (modes 8–10).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from sync_protocol.hlc import Timestamp, wall_clock_ms
from sync_protocol.batching import chunks
from sync_protocol.bundle_format import (
    BundleError,
    bundle_key,
    is_sealed,
    open_sealed,
    read_bundle,
    sealed_station,
)
from sync_protocol.protocol import (
    ERROR_MESSAGES,
    MAX_CURSOR,
    MAX_DRIFT_MS,
    MAX_PAGE_BYTES,
    MAX_PAGE_ROWS,
    REASON_MESSAGES,
    ErrorCode,
    OpStatus,
    ProtocolError,
    Reason,
    TooLarge,
    all_uuids,
    dumps,
    is_station_code,
    is_uuid,
    short_text,
    validate_push_request,
)
from sync_protocol.tables import TableSpec, natural_key_text, table_specs, value_problem
from sync_protocol.validate import Verdict, foreign_keys, judge_op, shift_hlc, skew_offset

from .auth import SCOPE_COUNTY, SCOPE_TOWNSHIP, SCOPE_VILLAGE, SCOPES, ApiError, StationCtx, new_token, token_hash
from .db import make_engine
from .merge import Conflict, RowRecord, apply_merge, decode_data, encode_data, merge_fields
from .models import (
    BundleImport,
    Counter,
    Place,
    PushBatch,
    PushOp,
    QuarantinedRow,
    Station,
    SyncEvent,
    SyncRow,
    utcnow,
)

logger = logging.getLogger(__name__)


def to_jsonable_value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value

T_ROW = SyncRow.__table__
T_EVENT = SyncEvent.__table__
T_STATION = Station.__table__
T_PLACE = Place.__table__
T_BATCH = PushBatch.__table__
T_OP = PushOp.__table__
T_COUNTER = Counter.__table__

STREAM_DATA = "data"
STREAM_REF = "ref"
REFERENCE_NODE = "county"
#: Fixed namespace: the same reference row gets the same id on every server.
REFERENCE_NAMESPACE = uuid.UUID("6f1c3c0e-2b1d-4f55-9a51-7f3f9f1b0c11")
#: How often a station's pull cursor is written back (bookkeeping) when unchanged, and how
#: often the marks collected meanwhile are flushed, all in one transaction.
PULL_MARK_SECONDS = 60.0
MARK_FLUSH_SECONDS = 2.0
#: Longest natural key the server stores (its column); longer ones are refused, never a 5xx.
NATURAL_KEY_CHARS = 255
_IN_CHUNK = 500
_SURROGATE = re.compile("[\ud800-\udfff]")
#: A stamp safe to paste into a page as is (the server writes every node as a station code).
_HLC_SAFE = re.compile(r"[0-9]{13}-[0-9]{6}-[A-Za-z0-9_.-]{1,32}", re.ASCII)



@dataclass
class _Txn:
    """A write transaction holding the sequence lock."""

    conn: Connection
    seq: int

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def _row_text(row_id: str, rv: int, h0: str, fh: str, vals: str, *, safe: bool = False) -> str:
    """One row of a page: stored JSON (written by json.dumps) is spliced, not re-encoded; the
    id and the HLC are pasted as they are, which ``_page_is_plain`` proves safe for the whole
    page at once (else ``safe``: everything encoded)."""
    if safe:
        row_id = row_id if is_uuid(row_id) else json.dumps(row_id)[1:-1]
        h0 = h0 if _HLC_SAFE.fullmatch(h0) else json.dumps(h0)[1:-1]
        if "\\ud" in vals or "\\uD" in vals:
            vals = _without_lone_surrogates(vals)
    return (f'["{row_id}",{rv},"{h0}",{"null" if fh == "{}" else fh}'
            + ("," + vals[1:] if len(vals) > 2 else "]"))


def _page_is_plain(rows: list, blocks: dict) -> bool:
    """Every id a canonical UUID and every stamp of the fixed HLC alphabet: checked for the
    whole page with one regex scan each (C speed, not per row)."""
    if not rows:
        return True
    return all_uuids([r[2] for r in rows]) and all(map(_HLC_SAFE.fullmatch, [r[4] for r in rows]))


def _without_lone_surrogates(vals: str) -> str:
    """Stored values with an escaped lone surrogate (left by an older version): re-encoded with
    U+FFFD in its place, so no station ever decodes text it cannot store."""
    try:
        values = json.loads(vals)
    except ValueError:
        return "[]"
    fixed = [_SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v for v in values]
    return json.dumps(fixed, ensure_ascii=False, separators=(",", ":"))


def _part_of(ops: list, answer: dict[str, Any]) -> bool:
    """Whether every op of a resent batch was in the batch first answered: a station may resend
    fewer ops (some closed meanwhile, e.g. a duplicate entry settled by a pull), never others."""
    answered = {r.get("op_id") for r in answer.get("results", []) if isinstance(r, dict)}
    return all(isinstance(op, dict) and is_uuid(op.get("op_id")) and op["op_id"] in answered for op in ops)


def _expiry(days: int | None):
    if days is None:
        return None
    if days <= 0:
        raise ValueError("有效天数必须大于 0")
    return utcnow() + timedelta(days=days)


def batch_digest(ops: list) -> str:
    """sha256 of a batch's ops, independent of key order and of how the JSON was spaced."""
    import hashlib

    return hashlib.sha256(json.dumps(ops, sort_keys=True, ensure_ascii=True,
                                     separators=(",", ":")).encode("ascii")).hexdigest()


def _reject(op_id: str, reason: str, *, detail: str = "", row: list | None = None) -> dict[str, Any]:
    answer = {"op_id": op_id, "status": OpStatus.REJECTED, "reason": reason,
              "message": REASON_MESSAGES[reason] + (f"（{detail}）" if detail else "")}
    if row is not None:
        answer["row"] = row
    return answer


class Store:
    """Everything the API and the command line do, over one engine."""

    def __init__(self, url_or_engine: str | Engine | None = None, *, now_ms: Callable[[], int] | None = None):
        self.engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.now_ms = now_ms or wall_clock_ms
        self.specs: dict[str, TableSpec] = table_specs()
        # One writer at a time in this process; the counter row lock does it across processes.
        self._write_lock = threading.Lock()
        self._marks: dict[str, tuple[int, float]] = {}
        self._marks_pending: dict[int, int] = {}
        self._marks_flushed = 0.0
        self._marks_lock = threading.Lock()
        #: There is no token cache (issue 9: revocation takes effect on the next request); this
        #: stays an empty dict for callers that clear it after changing a station.
        self._auth: dict[str, Any] = {}
        self._ref_last = ""
        #: Test hook: called inside a push transaction just before it commits.
        self.before_commit: Callable[[], None] | None = None
        #: Called after a push with (station, its clock in ms or None, server clock): the console
        #: notes each station's clock drift.
        self.on_push: Callable[[StationCtx, int | None, int], None] | None = None

    def close(self) -> None:
        try:
            self.flush_marks()
        except Exception:  # noqa: BLE001 - bookkeeping only
            logger.exception("could not save the stations' last pulls")
        self.engine.dispose()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def write_txn(self) -> Iterator[_Txn]:
        with self._write_lock, self.engine.connect() as conn:
            try:
                if self.sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, not mid-way
                start = conn.execute(select(T_COUNTER.c.value).where(T_COUNTER.c.name == "seq")
                                     .with_for_update()).scalar_one()
                txn = _Txn(conn, start)
                yield txn
                if txn.seq != start:
                    conn.execute(update(T_COUNTER).where(T_COUNTER.c.name == "seq").values(value=txn.seq))
                if self.before_commit is not None:
                    self.before_commit()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def horizon(self, conn: Connection) -> int:
        """The committed counter: every change at or below it is committed and visible."""
        return conn.execute(select(T_COUNTER.c.value).where(T_COUNTER.c.name == "seq")).scalar_one()

    # ------------------------------------------------------------------ stations and auth

    def add_station(self, *, code: str, name: str, scope: str, place_code: str = "",
                    expires_days: int | None = None) -> str:
        """Register a station; returns its token (shown once, stored only as a hash)."""
        scope = scope.lower()
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(s.upper() for s in SCOPES)}")
        if not is_station_code(code):
            raise ValueError("站点编码只能包含字母、数字、下划线、点和横线（最多 32 位）")
        if scope != SCOPE_COUNTY and not place_code:
            raise ValueError("村站和乡镇站必须指定 --place（行政区划代码）")
        token = new_token()
        with self.engine.begin() as conn:
            if conn.execute(select(T_STATION.c.id).where(T_STATION.c.code == code)).first():
                raise ValueError(f"站点编码已存在：{code}")
            if place_code:
                level = conn.execute(select(T_PLACE.c.level).where(T_PLACE.c.code == place_code)).scalar()
                wanted = {SCOPE_VILLAGE: "village", SCOPE_TOWNSHIP: "township"}.get(scope)
                if level is not None and wanted and level != wanted:
                    raise ValueError(f"{place_code} 是 {level}，与站点类型 {scope} 不符")
            conn.execute(insert(T_STATION).values(
                code=code, name=name, scope=scope, place_code=place_code, token_hash=token_hash(token),
                bundle_key=bundle_key(token).hex(), active=True, created_at=utcnow(), pulled_seq=0,
                token_expires_at=_expiry(expires_days)))
        return token

    def rotate_token(self, code: str, *, expires_days: int | None = None) -> str:
        """A new token for a station (the old one stops working at once); returns it (shown once).

        The bundle key is derived from the token, so it changes too: bundles exported with the
        old token are refused afterwards (a leaked token leaked that key as well).
        """
        token = new_token()
        with self.engine.begin() as conn:
            done = conn.execute(update(T_STATION).where(T_STATION.c.code == code).values(
                token_hash=token_hash(token), bundle_key=bundle_key(token).hex(),
                token_expires_at=_expiry(expires_days))).rowcount
        if not done:
            raise ValueError(f"没有该站点：{code}")
        return token

    def set_active(self, code: str, active: bool) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(T_STATION).where(T_STATION.c.code == code).values(active=active)).rowcount
        if not done:
            raise ValueError(f"没有该站点：{code}")

    def list_stations(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(T_STATION.c.code, T_STATION.c.name, T_STATION.c.scope,
                                       T_STATION.c.place_code, T_STATION.c.active, T_STATION.c.last_seen_at,
                                       T_STATION.c.pulled_seq, T_STATION.c.token_expires_at)
                                .order_by(T_STATION.c.code)).all()
        return [dict(code=r.code, name=r.name, scope=r.scope, place_code=r.place_code, active=r.active,
                     last_seen_at=r.last_seen_at.isoformat() if r.last_seen_at else None,
                     pulled_seq=r.pulled_seq,
                     token_expires_at=r.token_expires_at.isoformat() if r.token_expires_at else None)
                for r in rows]

    def _scope_codes(self, conn: Connection, scope: str, place_code: str) -> frozenset[str] | None:
        if scope == SCOPE_COUNTY:
            return None
        if scope == SCOPE_VILLAGE:
            return frozenset({place_code})
        villages = conn.execute(select(T_PLACE.c.code).where(
            T_PLACE.c.parent_code == place_code, T_PLACE.c.level == "village")).scalars()
        return frozenset({place_code, *villages})

    def _ctx(self, conn: Connection, row) -> StationCtx:
        return StationCtx(row.id, row.code, row.name, row.scope, row.place_code,
                          self._scope_codes(conn, row.scope, row.place_code))

    def authenticate(self, token: str | None) -> StationCtx:
        """The caller of one request, read from the database every time: disabling a station,
        rotating its token or moving a village takes effect on its very next request (no
        cache; one indexed lookup, plus the villages of a township)."""
        if not token or len(token) > 200 or not token.isascii():
            raise ApiError(401, ErrorCode.UNAUTHORIZED, ERROR_MESSAGES[ErrorCode.UNAUTHORIZED])
        digest = token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(select(T_STATION).where(T_STATION.c.token_hash == digest)).first()
            if row is None or not row.active:
                raise ApiError(401, ErrorCode.UNAUTHORIZED, ERROR_MESSAGES[ErrorCode.UNAUTHORIZED])
            if row.token_expires_at is not None and row.token_expires_at <= utcnow():
                raise ApiError(401, ErrorCode.TOKEN_EXPIRED, ERROR_MESSAGES[ErrorCode.TOKEN_EXPIRED])
            return self._ctx(conn, row)

    def station_ctx(self, code: str) -> StationCtx | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T_STATION).where(T_STATION.c.code == code)).first()
            return self._ctx(conn, row) if row is not None else None

    def _mark_pulled(self, ctx: StationCtx, cursor: int) -> None:
        """Remember how far a station has applied and when it was seen (throttled and batched:
        a no-op sync from 500 stations must not mean 500 writes)."""
        now = time.monotonic()
        with self._marks_lock:
            last = self._marks.get(ctx.code)
            if last is not None and last[0] == cursor and now - last[1] < PULL_MARK_SECONDS:
                return
            self._marks[ctx.code] = (cursor, now)
            self._marks_pending[ctx.id] = max(cursor, self._marks_pending.get(ctx.id, 0))
            if now - self._marks_flushed < MARK_FLUSH_SECONDS:
                return
            batch, self._marks_pending, self._marks_flushed = self._marks_pending, {}, now
        # Off the request thread: a pull must never wait for the write lock of a push.
        threading.Thread(target=self._flush_quietly, args=(batch,), daemon=True, name="pull-marks").start()

    def _flush_quietly(self, batch: dict[int, int]) -> None:
        try:
            self.flush_marks(batch)
        except Exception:  # noqa: BLE001 - bookkeeping only; the next flush writes newer marks
            logger.warning("could not save the stations' last pulls", exc_info=True)

    def flush_marks(self, batch: dict[int, int] | None = None) -> None:
        if batch is None:
            with self._marks_lock:
                batch, self._marks_pending = self._marks_pending, {}
        if not batch:
            return
        highest = func.max if self.sqlite else func.greatest
        with self.engine.begin() as conn:
            conn.execute(update(T_STATION).where(T_STATION.c.id == bindparam("b_id")).values(
                pulled_seq=highest(T_STATION.c.pulled_seq, bindparam("b_seq")), last_seen_at=utcnow()),
                [{"b_id": k, "b_seq": v} for k, v in batch.items()])

    # ------------------------------------------------------------------ push

    def push(self, ctx: StationCtx, body: Any, *, via_bundle: bool = False,
             offset: int | None = None) -> dict[str, Any]:
        """Apply one batch atomically and answer per op; a replay gets the stored answer.

        The whole batch is judged before the transaction starts (``validate.judge_op``): a
        malformed envelope is a 400/413 and nothing is written; a bad op is answered
        ``rejected`` on its own and the others go on. ``offset`` corrects the stamps of a
        bundle's batch (the push path computes it from ``client_time_ms``).
        """
        try:
            validate_push_request(body)
        except TooLarge:
            # More ops than a batch may hold: the body itself was within the byte limit, so this
            # is a malformed batch (400, as the OpenAPI's maxItems says), with the limit in words.
            raise ApiError(400, ErrorCode.TOO_LARGE, ERROR_MESSAGES[ErrorCode.TOO_LARGE]) from None
        except ProtocolError as error:
            raise ApiError(400, ErrorCode.BAD_REQUEST,
                           f"{ERROR_MESSAGES[ErrorCode.BAD_REQUEST]}（{error}）") from None
        batch_id = body["batch_id"]
        ops = body["ops"]
        digest = batch_digest(ops)
        verdicts = [judge_op(op, self.specs) for op in ops]
        now = self.now_ms()
        client_time = body.get("client_time_ms")
        if offset is None:
            offset = 0
            if not via_bundle and client_time is not None and abs(now - client_time) > MAX_DRIFT_MS:
                # The station's clock is off by more than the drift we tolerate: its stamps are
                # moved by the same amount, our best estimate of when the edits really happened.
                offset = now - client_time
        with self.write_txn() as txn:
            stored = txn.conn.execute(select(T_BATCH.c.answer, T_BATCH.c.digest).where(
                T_BATCH.c.station_code == ctx.code, T_BATCH.c.batch_id == batch_id)).first()
            if stored is not None:
                answer = json.loads(stored.answer)
                if stored.digest is not None and stored.digest != digest and not _part_of(ops, answer):
                    # The same batch id with ops it never had: not a replay (issue 9).
                    raise ApiError(409, ErrorCode.BATCH_REUSED, ERROR_MESSAGES[ErrorCode.BATCH_REUSED])
                answer["replayed"] = True
            else:
                results = self._apply_ops(txn, ctx, ops, verdicts, batch_id, offset, now)
                answer = {"batch_id": batch_id, "results": results}
                txn.conn.execute(insert(T_BATCH).values(station_code=ctx.code, batch_id=batch_id,
                                                        answer=dumps(answer), op_count=len(results),
                                                        digest=digest, created_at=utcnow()))
        answer["server_time_ms"] = self.now_ms()
        answer["accepts_user"] = True
        if self.on_push is not None and not via_bundle:
            try:
                self.on_push(ctx, client_time, now)
            except Exception:  # noqa: BLE001 - bookkeeping only, the batch is committed
                logger.warning("on_push hook failed", exc_info=True)
        return answer

    def _load_rows(self, conn: Connection, row_ids: list[str]) -> dict[str, RowRecord]:
        rows: dict[str, RowRecord] = {}
        for chunk in chunks(row_ids, _IN_CHUNK):
            for row in conn.execute(select(T_ROW).where(T_ROW.c.row_id.in_(chunk))):
                rows[row.row_id] = RowRecord.from_db(row)
        return rows

    def _apply_ops(self, txn: _Txn, ctx: StationCtx, ops: list, verdicts: list[Verdict], batch_id: str,
                   offset: int, now: int) -> list[dict[str, Any]]:
        conn = txn.conn
        good = [(op, v) for op, v in zip(ops, verdicts) if v.reason is None]
        done: dict[str, Any] = {}
        for chunk in chunks(sorted({op["op_id"] for op, _v in good}), _IN_CHUNK):
            for row in conn.execute(select(T_OP).where(T_OP.c.station_code == ctx.code, T_OP.c.op_id.in_(chunk))):
                done[row.op_id] = row
        wanted = {op["id"] for op, _v in good}
        for _op, verdict in good:
            wanted.update(target for _n, _t, target in foreign_keys(verdict.spec, verdict.fields))
        rows = self._load_rows(conn, sorted(wanted))
        results: list[dict[str, Any]] = []
        op_records: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        seen_ops: set[str] = set()
        for index, (op, verdict) in enumerate(zip(ops, verdicts)):
            if verdict.reason is not None:
                # Never echo an op id that is not one (it may not even be encodable).
                op_id = op["op_id"] if isinstance(op, dict) and is_uuid(op.get("op_id")) else ""
                results.append(_reject(op_id, verdict.reason, detail=verdict.detail[:80]))
                continue
            op_id = op["op_id"]
            if op_id in done or op_id in seen_ops:
                prior = done.get(op_id)
                results.append({"op_id": op_id, "status": prior.status if prior else OpStatus.ACCEPTED,
                                "rv": prior.row_version if prior else 0, "seq": prior.seq if prior else 0,
                                "duplicate": True,
                                **({"reason": prior.reason, "message": REASON_MESSAGES.get(prior.reason, "")}
                                   if prior is not None and prior.reason else {})})
                continue
            seen_ops.add(op_id)
            hlc = shift_hlc(op["h"], offset, now, ctx.code, index)
            result = self._apply_one(txn, ctx, op, verdict, hlc, rows, events)
            results.append(result)
            op_records.append(dict(op_id=op_id, station_code=ctx.code, batch_id=batch_id,
                                   status=result["status"], reason=result.get("reason", ""), row_id=op["id"],
                                   row_version=result.get("rv", 0), seq=result.get("seq", 0),
                                   created_at=utcnow()))
        self._write_rows(conn, rows.values())
        if events:
            conn.execute(insert(T_EVENT), events)
        if op_records:
            conn.execute(insert(T_OP), op_records)
        return results

    def _natural_key(self, spec: TableSpec, data: dict[str, Any]) -> str | None:
        if not spec.natural_key:
            return None
        values = [data.get(name) for name in spec.natural_key]
        if any(v is None for v in values):
            return None
        return natural_key_text(values)

    def _nk_owner(self, conn: Connection, table: str, key: str, rows: dict[str, RowRecord]) -> RowRecord | None:
        for row in rows.values():  # rows created or re-keyed earlier in this batch
            if row.table == table and row.natural_key == key:
                return row
        row = conn.execute(select(T_ROW).where(T_ROW.c.table_name == table, T_ROW.c.natural_key == key)).first()
        if row is None:
            return None
        return rows.get(row.row_id) or RowRecord.from_db(row)

    @staticmethod
    def _foreign_keys_in_scope(ctx: StationCtx, verdict: Verdict, rows: dict[str, RowRecord]) -> bool:
        """Every row the op's foreign keys name exists, is of the right table and is in the
        caller's scope (a village cannot attach its rows to another village's resident)."""
        for _name, table, target in foreign_keys(verdict.spec, verdict.fields):
            row = rows.get(target)
            if row is None or row.table != table or row.stream != STREAM_DATA or not ctx.covers(row.scope_code):
                return False
        return True

    def _apply_one(self, txn: _Txn, ctx: StationCtx, op: dict[str, Any], verdict: Verdict, hlc: str,
                   rows: dict[str, RowRecord], events: list[dict[str, Any]]) -> dict[str, Any]:
        op_id, table, row_id, kind, base = op["op_id"], op["t"], op["id"], op["k"], op["bv"]
        user = short_text(op.get("u"))
        spec, fields = verdict.spec, verdict.fields
        row = rows.get(row_id)
        conn = txn.conn
        # One answer for "not yours" and "not there" (and for a foreign key naming either):
        # the answer never tells a station whether a row exists outside its scope.
        if not self._foreign_keys_in_scope(ctx, verdict, rows):
            return _reject(op_id, Reason.OUT_OF_SCOPE)

        if row is None:
            if kind != "insert":
                return _reject(op_id, Reason.OUT_OF_SCOPE)
            village = fields.get("village_code")
            if not ctx.covers(village):
                return _reject(op_id, Reason.OUT_OF_SCOPE)
            missing = [n for n, f in spec.fields.items()
                       if not f.nullable and n not in fields and n not in spec.defaults and n != "deleted"]
            if missing:
                return _reject(op_id, Reason.INVALID_VALUE, detail=",".join(missing[:3]))
            data = dict(fields)
            data.setdefault("deleted", False)
            key = self._natural_key(spec, data)
            if key is not None:
                if len(key) > NATURAL_KEY_CHARS:
                    return _reject(op_id, Reason.INVALID_VALUE, detail="natural key too long")
                owner = self._nk_owner(conn, table, key, rows)
                if owner is not None:
                    return _reject(op_id, Reason.DUPLICATE_KEY,
                                   row=owner.wire() if ctx.covers(owner.scope_code) else None)
            seq = txn.next_seq()
            rows[row_id] = RowRecord(row_id, table, STREAM_DATA, village, seq, 1, hlc, {}, {}, data, key,
                                     ctx.code, is_new=True, dirty=True, fu={"": user} if user else {})
            return {"op_id": op_id, "status": OpStatus.ACCEPTED, "rv": 1, "seq": seq}

        # The server's copy decides the scope, never the station's claim (no leak either:
        # the answer is the same whether the row exists elsewhere or not).
        if row.table != table or row.stream != STREAM_DATA or not ctx.covers(row.scope_code):
            return _reject(op_id, Reason.OUT_OF_SCOPE)
        target = fields.get("village_code", row.scope_code)
        if target != row.scope_code and not ctx.covers(target):
            return _reject(op_id, Reason.OUT_OF_SCOPE)
        merge = merge_fields(row, fields, hlc, base, ctx.code, user)
        if spec.natural_key and any(name in merge.changes for name in spec.natural_key):
            merged = {**row.data, **{n: v for n, (v, _h) in merge.changes.items()}}
            key = self._natural_key(spec, merged)
            if key is not None:
                if len(key) > NATURAL_KEY_CHARS:
                    return _reject(op_id, Reason.INVALID_VALUE, detail="natural key too long")
                owner = self._nk_owner(conn, table, key, rows)
                if owner is not None and owner.row_id != row.row_id:
                    return _reject(op_id, Reason.DUPLICATE_KEY,
                                   row=owner.wire() if ctx.covers(owner.scope_code) else None)
            row.natural_key = key
        old_scope = row.scope_code
        if merge.changes:
            apply_merge(row, merge, txn.next_seq(), ctx.code, user)
            row.scope_code = row.data.get("village_code")
            if row.scope_code != old_scope and old_scope is not None:
                body = {"k": "exit", "t": table, "id": row_id, "from": old_scope, "to": row.scope_code,
                        "h": row.field_hlc("village_code")}
                events.append(dict(seq=txn.next_seq(), kind="exit", scope_code=old_scope, station_code=None,
                                   table_name=table, row_id=row_id, body=dumps(body), created_at=utcnow()))
        else:
            apply_merge(row, merge, row.seq, ctx.code, user)
        for conflict in merge.conflicts:
            events.append(self._conflict_event(txn, row, conflict))
        answer: dict[str, Any] = {"op_id": op_id, "status": OpStatus.ACCEPTED, "rv": row.row_version,
                                  "seq": row.seq}
        if merge.lost or any(c.loser == ctx.code for c in merge.conflicts):
            answer["status"] = OpStatus.CONFLICT
            answer["lost"] = sorted(set(merge.lost) | {c.field for c in merge.conflicts if c.loser == ctx.code})
        return answer

    @staticmethod
    def _station_name(conn: Connection, code: str) -> str:
        name = conn.execute(select(T_STATION.c.name).where(T_STATION.c.code == code)).scalar()
        return short_text(name or "", 80)

    def _conflict_event(self, txn: _Txn, row: RowRecord, conflict: Conflict) -> dict[str, Any]:
        body = {"k": "conflict", "t": row.table, "id": row.row_id, "f": conflict.field,
                "lv": conflict.loser_value, "lh": conflict.loser_hlc,
                "wv": conflict.winner_value, "wh": conflict.winner_hlc, "ws": conflict.winner,
                "wsn": self._station_name(txn.conn, conflict.winner), "wu": conflict.winner_user}
        return dict(seq=txn.next_seq(), kind="conflict", scope_code=row.scope_code,
                    station_code=conflict.loser, table_name=row.table, row_id=row.row_id,
                    body=dumps(body), created_at=utcnow())

    def _write_rows(self, conn: Connection, rows) -> None:
        new, changed = [], []
        for row in rows:
            if not row.dirty:
                continue
            cols, vals = encode_data(row.data)
            values = dict(table_name=row.table, stream=row.stream, scope_code=row.scope_code, seq=row.seq,
                          row_version=row.row_version, deleted=row.deleted, h0=row.h0, fh=dumps(row.fh),
                          fv=dumps(row.fv), fu=dumps(row.fu), cols=cols, vals=vals, natural_key=row.natural_key,
                          origin=row.origin, updated_at=utcnow(), compacted=row.compacted)
            if row.is_new:
                new.append(dict(row_id=row.row_id, **values))
            else:
                changed.append(dict(b_row_id=row.row_id, **values))
            row.dirty = False
            row.is_new = False
        if new:
            conn.execute(insert(T_ROW), new)
        if changed:
            conn.execute(update(T_ROW).where(T_ROW.c.row_id == bindparam("b_row_id")), changed)

    # ------------------------------------------------------------------ pull

    def pull(self, ctx: StationCtx, cursor: int = 0, limit: int = 500, *, villages: list[str] | None = None,
             stream: str = STREAM_DATA) -> bytes:
        """One page of rows (and events) after ``cursor``, as UTF-8 JSON ready to gzip.

        Rows travel in blocks of one table and one column set: the column names once, then
        one array per row ``[id, row_version, h0, fh|null, value…]`` — a third of the bytes of
        repeated keys, and the station binds each array straight into its upsert.
        """
        limit = max(1, min(int(limit), MAX_PAGE_ROWS))
        if not 0 <= int(cursor) <= MAX_CURSOR:
            raise ApiError(400, ErrorCode.BAD_REQUEST, f"{ERROR_MESSAGES[ErrorCode.BAD_REQUEST]}（cursor）")
        cursor = int(cursor)
        codes = ctx.codes
        backfill = bool(villages)
        if backfill:
            wanted = frozenset(villages or ())
            if codes is not None and not wanted <= codes:
                raise ApiError(403, ErrorCode.FORBIDDEN, ERROR_MESSAGES[ErrorCode.FORBIDDEN])
            codes = wanted
        columns = (T_ROW.c.seq, T_ROW.c.table_name, T_ROW.c.row_id, T_ROW.c.row_version, T_ROW.c.h0,
                   T_ROW.c.fh, T_ROW.c.cols, T_ROW.c.vals)
        blocks: dict[tuple[str, str], list[str]] = {}
        events: list[Any] = []
        count = 0
        with self.engine.connect() as conn:
            horizon, ref_horizon = self._counters(conn)
            last_seq = cursor
            full = False
            fetched: list = []
            if cursor < horizon:  # a no-op sync (nothing new) reads nothing else
                query = select(*columns).where(T_ROW.c.seq > cursor, T_ROW.c.seq <= horizon)
                if stream == STREAM_REF:
                    query = query.where(T_ROW.c.stream == STREAM_REF)
                elif codes is None:
                    query = query.where(T_ROW.c.stream == STREAM_DATA)
                elif len(codes) > 3:
                    # A township (most rows match): walk the seq index and filter. On the
                    # (scope, seq) index both databases would read every matching row of every
                    # village and sort them, for each page. coalesce() hides that index.
                    query = query.where(func.coalesce(T_ROW.c.scope_code, "").in_(sorted(codes)))
                else:
                    query = query.where(T_ROW.c.scope_code.in_(sorted(codes)))
                size = 0
                fetched = conn.execute(query.order_by(T_ROW.c.seq).limit(limit)).all()
                for seq, table, _row_id, _rv, _h0, fh, cols, vals in fetched:
                    key = (table, cols)
                    block = blocks.get(key)
                    if block is None:
                        block = blocks[key] = []
                    text = _row_text(_row_id, _rv, _h0, fh, vals)
                    block.append(text)
                    count += 1
                    size += len(text)
                    last_seq = seq
                    if size >= MAX_PAGE_BYTES:
                        full = True
                        break
                if not _page_is_plain(fetched[:count], blocks):
                    blocks = self._safe_blocks(fetched[:count])
            has_more = full or count >= limit
            next_cursor = last_seq if has_more else horizon
            if stream == STREAM_DATA and not backfill and next_cursor > cursor:
                conditions = [T_EVENT.c.station_code == ctx.code]
                if codes is not None:
                    conditions.append(and_(T_EVENT.c.kind == "exit", T_EVENT.c.scope_code.in_(sorted(codes))))
                events = [json.loads(body) for body in conn.execute(select(T_EVENT.c.body).where(
                    T_EVENT.c.seq > cursor, T_EVENT.c.seq <= next_cursor, or_(*conditions))
                    .order_by(T_EVENT.c.seq)).scalars()]
        if stream == STREAM_DATA and not backfill:
            # A cursor beyond the horizon is no station's real progress: never recorded as such.
            self._mark_pulled(ctx, min(cursor, horizon))
        head = {"server_time_ms": self.now_ms(), "station": ctx.code, "scope": ctx.scope_list(), "stream": stream,
                "cursor": next_cursor, "has_more": has_more, "horizon": horizon, "ref_horizon": ref_horizon,
                "accepts_user": True, "events": events}
        tables = ",".join(f'{{"t":{json.dumps(table)},"c":{cols},"r":[{",".join(rows)}]}}'
                          for (table, cols), rows in blocks.items())
        if "\\ud" in tables or "\\uD" in tables:  # maybe an escaped lone surrogate: one scan
            tables = ",".join(f'{{"t":{json.dumps(table)},"c":{cols},"r":[{",".join(rows)}]}}'
                              for (table, cols), rows in self._safe_blocks(fetched[:count]).items())
        page = dumps(head)[:-1] + ',"tables":[' + tables + "]}"
        try:
            return page.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate stored by an older version (``county-server repair`` removes
            # it): the page still goes out as valid UTF-8 JSON, never as a 5xx.
            logger.warning("a stored row holds text that is not UTF-8; run `county-server check`")
            return _SURROGATE.sub("\ufffd", page).encode("utf-8")

    @staticmethod
    def _safe_blocks(rows: list) -> dict[tuple[str, str], list[str]]:
        """A page's blocks built again from rows that may hold what an older version stored
        (issue 9): every id and stamp encoded, lone surrogates replaced — never a broken page."""
        blocks: dict[tuple[str, str], list[str]] = {}
        for _seq, table, row_id, rv, h0, fh, cols, vals in rows:
            blocks.setdefault((table, cols), []).append(_row_text(row_id, rv, h0, fh, vals, safe=True))
        return blocks

    def _counters(self, conn: Connection) -> tuple[int, int]:
        """(committed change seq, latest reference seq) in one read."""
        values = dict(conn.execute(select(T_COUNTER.c.name, T_COUNTER.c.value)).all())
        return values.get("seq", 0), values.get("ref_seq", 0)

    def station_keys(self, ctx: StationCtx) -> dict[str, str]:
        """Bundle keys of the stations under a township (so it can check their USB bundles)."""
        return {code: key for code, (key, _place) in self._village_stations(ctx).items()}

    def station_places(self, ctx: StationCtx) -> dict[str, str]:
        """The village of each of those stations: a bundle may only change rows of its village."""
        return {code: place for code, (_key, place) in self._village_stations(ctx).items()}

    def _village_stations(self, ctx: StationCtx) -> dict[str, tuple[str, str]]:
        if ctx.scope == SCOPE_VILLAGE:
            raise ApiError(403, ErrorCode.FORBIDDEN, ERROR_MESSAGES[ErrorCode.FORBIDDEN])
        with self.engine.connect() as conn:
            rows = conn.execute(select(T_STATION.c.code, T_STATION.c.place_code, T_STATION.c.bundle_key)
                                .where(T_STATION.c.active, T_STATION.c.scope == SCOPE_VILLAGE)).all()
        return {r.code: (r.bundle_key, r.place_code) for r in rows
                if r.code != ctx.code and ctx.covers(r.place_code)}

    # ------------------------------------------------------------------ bundles

    def _unseal_bundle(self, data: bytes) -> bytes:
        """A sealed (encrypted) bundle from a stick opens with its station's bundle key; a signed
        one (relayed by a township) passes as it is. BundleError when it does not open."""
        if not is_sealed(data):
            return data
        station, _bundle_id = sealed_station(data)
        with self.engine.connect() as conn:
            row = conn.execute(select(T_STATION.c.bundle_key).where(T_STATION.c.code == station)).first()
        if row is None:
            raise BundleError("unknown station")
        return open_sealed(data, bytes.fromhex(row.bundle_key))

    def import_bundle(self, data: bytes, uploader: StationCtx | None = None) -> dict[str, Any]:
        """Check a USB bundle's signature and push its batches as its station (idempotent)."""
        bad = ApiError(400, ErrorCode.BAD_SIGNATURE, ERROR_MESSAGES[ErrorCode.BAD_SIGNATURE])
        try:
            data = self._unseal_bundle(data)
            bundle = read_bundle(data)
        except BundleError:
            raise bad from None
        with self.engine.connect() as conn:
            row = conn.execute(select(T_STATION).where(T_STATION.c.code == bundle.station)).first()
            if row is None or not row.active or not bundle.verify(bytes.fromhex(row.bundle_key)):
                raise bad
            origin = self._ctx(conn, row)
        if uploader is not None and uploader.code != origin.code and not (
                uploader.is_county or (origin.place_code and uploader.covers(origin.place_code))):
            raise ApiError(403, ErrorCode.FORBIDDEN, ERROR_MESSAGES[ErrorCode.FORBIDDEN])
        try:
            payload = bundle.payload()
        except BundleError:
            raise bad from None
        counts = {OpStatus.ACCEPTED: 0, OpStatus.CONFLICT: 0, OpStatus.REJECTED: 0, "duplicate": 0}
        batches = 0
        # The station's clock skew against this server as it last measured it: the bundle path
        # corrects stamps the way the push path does from client_time_ms.
        offset = skew_offset(payload.get("clock_skew_ms"))
        refused = 0
        for batch in payload["batches"]:
            try:
                answer = self.push(origin, batch, via_bundle=True, offset=offset)
            except ApiError as error:
                if error.status >= 500:
                    raise
                refused += 1  # a malformed batch is refused alone; the others still count
                continue
            batches += 1
            for result in answer["results"]:
                if answer.get("replayed") or result.get("duplicate"):
                    counts["duplicate"] += 1
                else:
                    counts[result["status"]] = counts.get(result["status"], 0) + 1
        summary = {"bundle_id": bundle.bundle_id, "station": bundle.station, "batches": batches,
                   "refused_batches": refused, **counts}
        with self.engine.begin() as conn:
            exists = conn.execute(select(BundleImport.bundle_id).where(
                BundleImport.bundle_id == bundle.bundle_id)).first()
            summary["already_imported"] = exists is not None
            if exists is None:
                conn.execute(insert(BundleImport.__table__).values(
                    bundle_id=bundle.bundle_id, station_code=bundle.station,
                    imported_by=uploader.code if uploader else "cli", imported_at=utcnow(),
                    summary=dumps(summary)))
        return summary

    # ------------------------------------------------------------------ reference data

    def load_reference(self, data: dict[str, Any] | str | Path | None = None, *,
                       rows: list[tuple[str, list[Any], dict[str, Any]]] | None = None) -> dict[str, int]:
        """Upsert the county's reference file into the reference stream; returns changed rows per table.

        ``rows`` are the file already read by ``reference.reference_rows`` (tests reuse them).
        """
        if rows is None:
            from .reference import reference_rows

            rows = reference_rows(data)
        counts: dict[str, int] = {}
        with self.write_txn() as txn:
            conn = txn.conn
            for table, key_values, fields in rows:
                key = natural_key_text(key_values)
                existing = conn.execute(select(T_ROW).where(T_ROW.c.table_name == table,
                                                            T_ROW.c.natural_key == key)).first()
                if existing is None:
                    stamp = self._ref_hlc()
                    row_id = str(uuid.uuid5(REFERENCE_NAMESPACE, f"{table}|{key}"))
                    cols, vals = encode_data(dict(fields, deleted=False))
                    conn.execute(insert(T_ROW).values(
                        row_id=row_id, table_name=table, stream=STREAM_REF, scope_code=None, seq=txn.next_seq(),
                        row_version=1, deleted=False, h0=stamp, fh="{}", fv="{}", cols=cols, vals=vals,
                        natural_key=key, origin=REFERENCE_NODE, updated_at=utcnow(), compacted=False))
                    counts[table] = counts.get(table, 0) + 1
                    continue
                row = RowRecord.from_db(existing)
                changed = {k: v for k, v in fields.items() if row.data.get(k, object()) != v}
                if not changed:
                    continue
                stamp = self._ref_hlc()
                row.row_version += 1
                for name, value in changed.items():
                    row.data[name] = value
                    row.fh[name] = stamp
                    row.fv[name] = row.row_version
                cols, vals = encode_data(row.data)
                conn.execute(update(T_ROW).where(T_ROW.c.row_id == row.row_id).values(
                    seq=txn.next_seq(), row_version=row.row_version, fh=dumps(row.fh), fv=dumps(row.fv),
                    cols=cols, vals=vals, updated_at=utcnow(), origin=REFERENCE_NODE))
                counts[table] = counts.get(table, 0) + 1
            if counts:
                self._set_counter(conn, "ref_seq", txn.seq)
            for table, _key, fields in rows:
                if table != "place":
                    continue
                values = dict(name=fields["name"], level=fields["level"], parent_code=fields.get("parent_code"))
                if conn.execute(select(T_PLACE.c.code).where(T_PLACE.c.code == fields["code"])).first():
                    conn.execute(update(T_PLACE).where(T_PLACE.c.code == fields["code"]).values(**values))
                else:
                    conn.execute(insert(T_PLACE).values(code=fields["code"], **values))
        return counts

    # ------------------------------------------------------------------ settlements (server-authored)

    def load_settlements(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Upsert the platform's 结算 summaries into the data stream, each scoped to its resident's village.

        ``rows`` come from ``county_server.settlements`` (fields in fen plus ``id_number``).
        The resident is found by ID number among the rows stations pushed; a settlement of
        someone no station registered is counted as ``unknown`` and left out. Keyed by
        ``settlement_no``: loading a file again changes nothing, a corrected row is updated.
        """
        spec = self.specs["settlement"]
        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "unknown": 0}
        with self.write_txn() as txn:
            conn = txn.conn
            residents: dict[str, tuple[str, str | None]] = {}
            for row in conn.execute(select(T_ROW).where(T_ROW.c.table_name == "resident",
                                                        T_ROW.c.stream == STREAM_DATA, T_ROW.c.deleted.is_(False))):
                data = RowRecord.from_db(row).data
                if data.get("id_number"):
                    residents[data["id_number"]] = (row.row_id, row.scope_code)
            for item in rows:
                found = residents.get(item["id_number"])
                if found is None:
                    counts["unknown"] += 1
                    continue
                resident_id, village = found
                fields = {k: to_jsonable_value(v) for k, v in item.items() if k in spec.fields}
                fields.update(resident_id=resident_id, village_code=village, deleted=False)
                key = natural_key_text([fields["settlement_no"]])
                existing = conn.execute(select(T_ROW).where(T_ROW.c.table_name == "settlement",
                                                            T_ROW.c.natural_key == key)).first()
                stamp = self._ref_hlc()
                if existing is None:
                    cols, vals = encode_data(fields)
                    conn.execute(insert(T_ROW).values(
                        row_id=str(uuid.uuid5(REFERENCE_NAMESPACE, f"settlement|{key}")), table_name="settlement",
                        stream=STREAM_DATA, scope_code=village, seq=txn.next_seq(), row_version=1, deleted=False,
                        h0=stamp, fh="{}", fv="{}", cols=cols, vals=vals, natural_key=key, origin=REFERENCE_NODE,
                        updated_at=utcnow(), compacted=False))
                    counts["inserted"] += 1
                    continue
                record = RowRecord.from_db(existing)
                changed = {k: v for k, v in fields.items() if record.data.get(k, object()) != v}
                if not changed:
                    counts["unchanged"] += 1
                    continue
                record.row_version += 1
                for name, value in changed.items():
                    record.data[name] = value
                    record.fh[name] = stamp
                    record.fv[name] = record.row_version
                cols, vals = encode_data(record.data)
                conn.execute(update(T_ROW).where(T_ROW.c.row_id == record.row_id).values(
                    seq=txn.next_seq(), row_version=record.row_version, scope_code=village, fh=dumps(record.fh),
                    fv=dumps(record.fv), cols=cols, vals=vals, updated_at=utcnow(), origin=REFERENCE_NODE))
                counts["updated"] += 1
        return counts

    @staticmethod
    def _set_counter(conn: Connection, name: str, value: int) -> None:
        if conn.execute(update(T_COUNTER).where(T_COUNTER.c.name == name).values(value=value)).rowcount == 0:
            conn.execute(insert(T_COUNTER).values(name=name, value=value))

    def _ref_hlc(self) -> str:
        stamp = Timestamp(self.now_ms(), 0, REFERENCE_NODE).pack()
        if stamp <= self._ref_last:
            stamp = Timestamp.parse(self._ref_last)
            stamp = Timestamp(stamp.wall_ms, stamp.counter + 1, REFERENCE_NODE).pack()
        self._ref_last = stamp
        return stamp

    # ------------------------------------------------------------------ maintenance

    def purge(self, *, tombstone_days: int = 90, answer_days: int = 365) -> dict[str, int]:
        """Drop the payload of old tombstones (their key stays, so a station offline for months
        still learns the deletion and nothing deleted comes back) and old push answers."""
        cutoff = utcnow() - timedelta(days=tombstone_days)
        compacted = 0
        with self.write_txn() as txn:
            conn = txn.conn
            rows = conn.execute(select(T_ROW).where(T_ROW.c.deleted, T_ROW.c.stream == STREAM_DATA,
                                                    T_ROW.c.compacted.is_(False),
                                                    T_ROW.c.updated_at < cutoff)).all()
            for row in rows:
                data = RowRecord.from_db(row).data
                spec = self.specs.get(row.table_name)
                keep = {"village_code", "deleted", *(spec.natural_key or () if spec else ())}
                cols, vals = encode_data({k: v for k, v in data.items() if k in keep})
                conn.execute(update(T_ROW).where(T_ROW.c.row_id == row.row_id).values(
                    cols=cols, vals=vals, fh=dumps({k: v for k, v in json.loads(row.fh).items() if k in keep}),
                    fv=dumps({k: v for k, v in json.loads(row.fv).items() if k in keep}), compacted=True))
                compacted += 1
            answer_cutoff = utcnow() - timedelta(days=answer_days)
            dropped = conn.execute(T_BATCH.delete().where(T_BATCH.c.created_at < answer_cutoff)).rowcount
            conn.execute(T_OP.delete().where(T_OP.c.created_at < answer_cutoff))
        return {"tombstones_compacted": compacted, "answers_dropped": dropped or 0}

    # ------------------------------------------------------------------ check and repair (issue 9)

    def check(self) -> list[dict[str, Any]]:
        """Rows of the data stream that break the rules of the protocol boundary (left by an
        older version): ``{row_id, table, scope, level, reason, fields}``; ``level`` is "row"
        (the row itself cannot stay) or "fields" (some fields must go)."""
        problems: list[dict[str, Any]] = []
        stations: dict[str, StationCtx | None] = {}
        with self.engine.connect() as conn:
            last = -1
            while True:
                batch = conn.execute(select(T_ROW).where(T_ROW.c.stream == STREAM_DATA, T_ROW.c.seq > last)
                                     .order_by(T_ROW.c.seq).limit(2000)).all()
                if not batch:
                    break
                last = batch[-1].seq
                targets = self._check_targets(conn, batch)
                for row in batch:
                    found = self._row_problem(conn, row, targets, stations)
                    if found is not None:
                        problems.append(found)
        return problems

    def _check_targets(self, conn: Connection, batch) -> dict[str, Any]:
        ids = set()
        for row in batch:
            spec = self.specs.get(row.table_name)
            if spec is None:
                continue
            try:
                data = decode_data(row.cols, row.vals)
            except (ValueError, TypeError):
                continue
            ids.update(v for _n, _t, v in foreign_keys(spec, {k: v for k, v in data.items() if k in spec.fields})
                       if isinstance(v, str))
        found = {}
        for chunk in chunks(sorted(ids), _IN_CHUNK):
            for r in conn.execute(select(T_ROW.c.row_id, T_ROW.c.table_name, T_ROW.c.scope_code)
                                  .where(T_ROW.c.row_id.in_(chunk))):
                found[r.row_id] = r
        return found

    def _row_problem(self, conn: Connection, row, targets: dict[str, Any],
                     stations: dict[str, StationCtx | None]) -> dict[str, Any] | None:
        def problem(level: str, reason: str, fields: list[str] | None = None) -> dict[str, Any]:
            return {"row_id": row.row_id, "table": row.table_name, "scope": row.scope_code, "seq": row.seq,
                    "level": level, "reason": reason, "fields": fields or []}

        spec = self.specs.get(row.table_name)
        if not is_uuid(row.row_id):
            return problem("row", "id")
        if spec is None or spec.reference or spec.local_only:
            return problem("row", "table")
        if not _HLC_SAFE.fullmatch(row.h0 or ""):
            return problem("row", "hlc")
        try:
            data = decode_data(row.cols, row.vals)
            fh = json.loads(row.fh or "{}")
        except (ValueError, TypeError):
            return problem("row", "json")
        if not isinstance(fh, dict) or not all(isinstance(v, str) and _HLC_SAFE.fullmatch(v) for v in fh.values()):
            return problem("row", "hlc")
        if row.natural_key is not None and len(row.natural_key) > NATURAL_KEY_CHARS:
            return problem("row", "natural key")
        origin = row.origin or ""
        if origin not in stations:
            stations[origin] = self._station_ctx_in(conn, origin)
        ctx = stations[origin]
        for _name, table, target in foreign_keys(spec, {k: v for k, v in data.items() if k in spec.fields}):
            found = targets.get(target) if isinstance(target, str) else None
            if found is None or found.table_name != table or (ctx is not None and not ctx.covers(found.scope_code)):
                return problem("row", "foreign key")
        bad = sorted(name for name, value in data.items()
                     if name not in spec.fields or value_problem(spec.fields[name], value))
        if bad:
            return problem("fields", "fields", bad)
        return None

    def _station_ctx_in(self, conn: Connection, code: str) -> StationCtx | None:
        row = conn.execute(select(T_STATION).where(T_STATION.c.code == code)).first()
        return self._ctx(conn, row) if row is not None else None

    def repair(self) -> dict[str, int]:
        """Quarantine what ``check`` finds: the original goes to ``quarantined_row``; a row whose
        id or table is unusable is removed; a row that breaks a rule (a foreign key outside its
        station's scope) becomes a tombstone without a natural key (stations drop it at their
        next pull, and it blocks no one's key); bad fields are removed from the row. Every
        change gets a new seq, so stations pull the repaired state."""
        found = self.check()
        counts = {"removed": 0, "tombstoned": 0, "fields": 0}
        if not found:
            return counts
        with self.write_txn() as txn:
            conn = txn.conn
            for item in found:
                row = conn.execute(select(T_ROW).where(T_ROW.c.row_id == item["row_id"])).first()
                if row is None:
                    continue
                conn.execute(insert(QuarantinedRow.__table__).values(
                    row_id=row.row_id, table_name=row.table_name, scope_code=row.scope_code,
                    reason=item["reason"], action=item["level"] if item["reason"] != "foreign key" else "tombstone",
                    cols=row.cols, vals=row.vals, seq=row.seq, quarantined_at=utcnow()))
                if item["level"] == "row" and item["reason"] in ("id", "table", "hlc", "json", "natural key"):
                    conn.execute(T_ROW.delete().where(T_ROW.c.row_id == row.row_id))
                    counts["removed"] += 1
                    continue
                record = RowRecord.from_db(row)
                spec = self.specs[row.table_name]
                if item["level"] == "row":
                    keep = {"village_code", "deleted"}
                    record.data = {k: v for k, v in record.data.items() if k in keep}
                    record.data["deleted"] = True
                    record.natural_key = None
                    counts["tombstoned"] += 1
                else:
                    for name in item["fields"]:
                        record.data.pop(name, None)
                    counts["fields"] += 1
                record.row_version += 1
                record.fh = {k: v for k, v in record.fh.items() if k in record.data}
                record.fv = {k: v for k, v in record.fv.items() if k in record.data}
                if spec.natural_key and item["level"] != "row":
                    record.natural_key = self._natural_key(spec, record.data)
                cols, vals = encode_data(record.data)
                conn.execute(update(T_ROW).where(T_ROW.c.row_id == row.row_id).values(
                    seq=txn.next_seq(), row_version=record.row_version, deleted=record.deleted,
                    fh=dumps(record.fh), fv=dumps(record.fv), cols=cols, vals=vals,
                    natural_key=record.natural_key, updated_at=utcnow()))
        return counts

    # ------------------------------------------------------------------ inspection (tests, admin)

    def row_state(self, row_id: str) -> RowRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(T_ROW).where(T_ROW.c.row_id == row_id)).first()
        return RowRecord.from_db(row) if row is not None else None

    def rows_in_scope(self, codes: frozenset[str] | None) -> dict[str, RowRecord]:
        """Every data row a station of this scope should hold (tests compare stations with it)."""
        with self.engine.connect() as conn:
            query = select(T_ROW).where(T_ROW.c.stream == STREAM_DATA)
            if codes is not None:
                query = query.where(T_ROW.c.scope_code.in_(sorted(codes)))
            return {r.row_id: RowRecord.from_db(r) for r in conn.execute(query)}

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "rows": conn.execute(select(func.count()).select_from(T_ROW).where(
                    T_ROW.c.stream == STREAM_DATA)).scalar_one(),
                "ref_rows": conn.execute(select(func.count()).select_from(T_ROW).where(
                    T_ROW.c.stream == STREAM_REF)).scalar_one(),
                "events": conn.execute(select(func.count()).select_from(T_EVENT)).scalar_one(),
                "batches": conn.execute(select(func.count()).select_from(T_BATCH)).scalar_one(),
                "seq": self.horizon(conn),
            }

    def seed_rows(self, table: str, rows: list[dict[str, Any]], *, origin: str, hlc: str) -> int:
        """Bulk-load rows as if pushed long ago (benchmarks; migrating an existing township)."""
        spec = self.specs[table]
        with self.write_txn() as txn:
            records = []
            for row in rows:
                data = {k: row[k] for k in spec.fields if k in row}
                cols, vals = encode_data(data)
                records.append(dict(
                    row_id=row["id"], table_name=table, stream=STREAM_DATA, scope_code=data.get("village_code"),
                    seq=txn.next_seq(), row_version=1, deleted=bool(data.get("deleted")), h0=row.get("updated_hlc") or hlc,
                    fh="{}", fv="{}", cols=cols, vals=vals, natural_key=self._natural_key(spec, data), origin=origin,
                    updated_at=utcnow(), compacted=False))
            for chunk in chunks(records, 5000):
                txn.conn.execute(insert(T_ROW), chunk)
        return len(records)
