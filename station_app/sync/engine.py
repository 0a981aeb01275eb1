"""The station's sync engine: relay bundles, push the outbox, then pull pages until caught up.

Guarantees (each one a failure mode in docs/design/SYNC.md):

* A batch is written to the outbox (batch id, state ``sent``) and committed before it is sent;
  after a crash the same batch is sent again first, and the server answers a replay from its
  store — nothing is created twice (1).
* A pulled page and its cursor are applied in one SQLite transaction; a crash in between
  leaves both untouched and the page is fetched again (2, 3).
* Pushing goes first, pulling second, and a rejected op never blocks the queue (9, 10).
* The station's clock is merged with every page (HLC receive, clamped) and compared with the
  server's; more than five minutes apart, the user is warned (5).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator

from sqlalchemy.engine import Connection

from station_app.domain.errors import DomainError
from sync_protocol.hlc import Timestamp, wall_clock_ms
from station_app.services.workspace import Workspace
from station_app.store import deferred_indexes
from station_app.store.models import MODEL_BY_TABLE

from . import state
from .apply import ApplyStats, Applier
from .client import BadRequest, Forbidden, SyncClient, SyncError
from sync_protocol.protocol import (
    DEFAULT_PAGE_ROWS,
    MAX_BATCH_BYTES,
    MAX_BATCH_OPS,
    MAX_DRIFT_MS,
    MAX_PAGE_ROWS,
    MIN_PAGE_ROWS,
    OpStatus,
    Reason,
    RowState,
)
from sync_protocol.tables import LOCAL_ONLY_TABLES
from sync_protocol.validate import row_state_problem

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
#: Re-fetch the township's village station keys this often (they change when a station is added).
KEYS_MAX_AGE_S = 24 * 3600
#: Page cache of the connection that applies pages (random UUID keys touch many index pages).
APPLY_CACHE_KB = 262144
FAST_PAGE_S = 0.25
SLOW_PAGE_S = 2.0

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class SyncBusy(DomainError):
    def __init__(self) -> None:
        super().__init__("同步正在进行中，请稍候。", code="busy")


class SyncCancelled(DomainError):
    def __init__(self) -> None:
        super().__init__("同步已取消。", code="cancelled")


class NotConfigured(DomainError):
    def __init__(self) -> None:
        super().__init__("尚未设置县服务器地址和同步令牌，请在“同步”页填写。", code="not_configured")


@dataclass
class SyncReport:
    pushed: int = 0
    accepted: int = 0
    conflicts: int = 0
    rejected: int = 0
    batches: int = 0
    relayed_bundles: int = 0
    pulled_rows: int = 0
    ref_rows: int = 0
    pages: int = 0
    new_conflicts: int = 0
    backfilled: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    clock_warning: str = ""
    #: People registered twice (same ID number) after this sync: offered for merging.
    double_registrations: int = 0

    def summary(self) -> str:
        parts = [f"上传 {self.pushed} 条（接受 {self.accepted}，冲突 {self.conflicts}，拒绝 {self.rejected}）",
                 f"下载 {self.pulled_rows} 行"]
        if self.ref_rows:
            parts.append(f"参考数据 {self.ref_rows} 行")
        if self.new_conflicts:
            parts.append(f"新冲突 {self.new_conflicts} 条待处理")
        if self.double_registrations:
            parts.append(f"{self.double_registrations} 人重复登记待合并")
        if self.relayed_bundles:
            parts.append(f"转交数据包 {self.relayed_bundles} 个")
        return "，".join(parts) + f"，用时 {self.seconds:.1f} 秒"


@dataclass
class _Batch:
    batch_id: str
    ops: list[dict[str, Any]]  # wire ops
    seqs: list[int]


def describe_skew(skew_ms: int) -> str:
    """'本机时钟比县服务器快约 3 天' — skew = local − server, rounded the way a person says it."""
    ahead = skew_ms > 0
    size = abs(skew_ms)
    if size >= 86_400_000:
        days, hours = divmod(round(size / 3_600_000), 24)
        amount = f"{days} 天" + (f" {hours} 小时" if hours else "")
    elif size >= 3_600_000:
        hours, minutes = divmod(round(size / 60_000), 60)
        amount = f"{hours} 小时" + (f" {minutes} 分钟" if minutes else "")
    else:
        amount = f"{max(1, round(size / 60_000))} 分钟"
    return (f"本机时钟比县服务器{'快' if ahead else '慢'}约 {amount}，请校正电脑的日期和时间。"
            "（已按县服务器时间校正本次上传的修改顺序）")


@contextmanager
def sync_connection(ws: Workspace) -> Iterator[Connection]:
    """The one connection a sync run applies with, set up for arriving rows.

    Rows come in seq order, not parent-first (an enrollment may arrive before the resident it
    points to, or point to a household in a village outside our scope), so SQLite's foreign
    key checks are off on this connection. synchronous=NORMAL on it only: a power cut may
    lose the last applied page, but always together with its cursor (same transaction), so it
    is fetched again; the station's own edits, on other connections, keep synchronous=FULL.
    A big page cache and rarer checkpoints: random UUID keys touch index pages all over the
    file. Everything goes back to normal before the pool gets the connection back.
    """
    with ws.engine.connect() as conn:
        # The engine's own page cache (larger on an encrypted file: store/db.py) comes back after.
        cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        for pragma in ("foreign_keys=OFF", "synchronous=NORMAL", f"cache_size=-{APPLY_CACHE_KB}",
                       "wal_autocheckpoint=20000"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")
        conn.commit()
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()
            for pragma in ("foreign_keys=ON", "synchronous=FULL", f"cache_size={int(cache_size)}",
                           "wal_autocheckpoint=1000"):
                conn.exec_driver_sql(f"PRAGMA {pragma}")
            conn.commit()


@contextmanager
def write_txn(conn: Connection) -> Iterator[Connection]:
    """``BEGIN IMMEDIATE`` … commit: the write lock is taken at once, so the overlay of
    unacknowledged edits read at the start cannot change before the rows are written."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


@contextmanager
def apply_txn(ws: Workspace) -> Iterator[Connection]:
    """One write transaction on a sync connection (for a single change outside a sync run)."""
    with sync_connection(ws) as conn, write_txn(conn) as txn:
        yield txn


def read_state(ws: Workspace, key: str, default: str = "") -> str:
    with ws.engine.connect() as conn:
        return state.get(conn, key, default)


def read_json_state(ws: Workspace, key: str) -> Any:
    with ws.engine.connect() as conn:
        value = state.get_json(conn, key, None)
    return value


class SyncEngine:
    """Syncs one workspace with the county server; one instance per run is fine."""

    def __init__(self, ws: Workspace, client: SyncClient | None = None, *, progress: Progress | None = None,
                 cancel: threading.Event | None = None, page_rows: int = DEFAULT_PAGE_ROWS,
                 prefetch: bool = True, adaptive: bool = True, wall_clock: Callable[[], int] = wall_clock_ms):
        self.ws = ws
        #: The station's wall clock, sent with each push so the server can correct a skewed one.
        self.wall_clock = wall_clock
        self.client = client or self._client_from_settings(ws)
        self.progress = progress
        self.cancel = cancel
        self.page_rows = page_rows
        self.prefetch = prefetch
        self.adaptive = adaptive
        self.applier = Applier()
        self.report = SyncReport()
        self._stored_warning: str | None = None
        self._accepts_user: str | None = None  # "1" when the server takes op key u (see _observe_accepts)
        #: Tables this run pushed or pulled rows of: the duplicate checks after the pull run
        #: only when households or residents moved (a no-op sync must not scan 60,000 rows).
        self._touched: set[str] = set()
        self._conn: Connection | None = None
        #: Set for a station's very first pull: the scope is saved with the first page.
        self._first_scope = False
        #: Test hook: called inside a page's transaction just before it commits.
        self.before_page_commit: Callable[[], None] | None = None

    @staticmethod
    def _client_from_settings(ws: Workspace) -> SyncClient:
        with ws.engine.connect() as conn:
            url, token = state.get(conn, state.K_SERVER_URL), state.get(conn, state.K_TOKEN)
        if not url or not token:
            raise NotConfigured()
        from .settings import tls_transport

        return SyncClient(url, token, transport=tls_transport(ws))

    # ------------------------------------------------------------------ the run

    def sync(self) -> SyncReport:
        lock = self._lock()
        if not lock.acquire(blocking=False):
            raise SyncBusy()
        started = time.perf_counter()
        sent0, received0 = self.client.stats.bytes_sent, self.client.stats.bytes_received
        try:
            with sync_connection(self.ws) as conn:
                self._conn = conn
                try:
                    return self._run(started, sent0, received0)
                finally:
                    self._conn = None
        except DomainError as error:
            self._remember(state.K_LAST_ERROR, error.message)
            raise
        finally:
            lock.release()

    @contextmanager
    def _txn(self) -> Iterator[Connection]:
        if self._conn is None:
            with apply_txn(self.ws) as conn:
                yield conn
        else:
            with write_txn(self._conn) as conn:
                yield conn

    def _run(self, started: float, sent0: int, received0: int) -> SyncReport:
        with self._txn() as conn:  # an initial sync cut off before it rebuilt its indexes
            deferred_indexes.restore_deferred_indexes(conn)
        self._remember(state.K_LAST_ATTEMPT, _now_text())
        self._relay_bundles()
        self._push()
        self._pull()
        self._renumber_households()
        self._refresh_station_keys()
        self.report.seconds = time.perf_counter() - started
        self.report.bytes_sent = self.client.stats.bytes_sent - sent0
        self.report.bytes_received = self.client.stats.bytes_received - received0
        with self._txn() as conn:
            state.put(conn, state.K_LAST_SUCCESS, _now_text())
            state.put(conn, state.K_LAST_ERROR, "")
            state.put(conn, state.K_LAST_REPORT, self.report.summary())
        logger.info("sync done: %s", self.report.summary())
        return self.report

    def _renumber_households(self) -> None:
        """户号 duplicated by stations still numbering the old way get new, deterministic
        numbers (pushed at the next sync); see services/household_numbers.py.

        Both checks group every household / resident: they run only when this sync pushed or
        pulled rows of those tables (or never ran here); otherwise nothing they look at has
        changed since the last sync and the stored count of double registrations stands."""
        from station_app.services.household_numbers import renumber_duplicate_households
        from station_app.services.person_merge import count_double_registrations

        stored = read_state(self.ws, state.K_DOUBLE_REGISTRATIONS)
        if "household" in self._touched or not stored:
            try:
                changed = renumber_duplicate_households(self.ws)
            except DomainError:
                logger.exception("could not renumber duplicate household numbers")
                return
            if changed:
                logger.info("renumbered %d duplicate household numbers", changed)
        if "resident" in self._touched or not stored.isdigit():
            count = count_double_registrations(self.ws)
            with self._txn() as conn:
                state.put(conn, state.K_DOUBLE_REGISTRATIONS, str(count))
        else:
            count = int(stored)
        self.report.double_registrations = count

    def _lock(self) -> threading.Lock:
        key = str(self.ws.db_path or id(self.ws))
        with _locks_guard:
            return _locks.setdefault(key, threading.Lock())

    def _remember(self, key: str, value: str) -> None:
        try:
            with self._txn() as conn:
                state.put(conn, key, value)
        except Exception:  # noqa: BLE001 - bookkeeping must not hide the real error
            logger.exception("could not record %s", key)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise SyncCancelled()

    def _tell(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    # ------------------------------------------------------------------ push

    def pending_count(self) -> int:
        with self.ws.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT count(*) FROM sync_outbox WHERE state IN ('pending', 'sent')").scalar_one()

    def _push(self) -> None:
        total = self.pending_count()
        done = 0
        while True:
            self._check_cancel()
            batch = self._next_batch()
            if batch is None:
                return
            self._tell(done, max(total, done + len(batch.ops)), "上传本站修改")
            self._touched.update(op.get("t") for op in batch.ops)
            body = {"batch_id": batch.batch_id, "client_time_ms": int(self.wall_clock()), "ops": batch.ops}
            try:
                answer = self.client.push(body)
            except BadRequest as error:
                # The server will never take this batch as it is: close it visibly, go on.
                answer = {"results": [{"op_id": op["op_id"], "status": OpStatus.REJECTED, "reason": Reason.BAD_OP,
                                       "message": error.message} for op in batch.ops]}
            self._observe_server(answer.get("server_time_ms"))
            self._observe_accepts(answer)
            self._settle(batch, answer)
            done += len(batch.ops)
            self.report.batches += 1
            self._tell(done, max(total, done), "上传本站修改")

    def _next_batch(self) -> _Batch | None:
        with self._txn() as conn:
            return next_batch_in(conn, with_user=state.get(conn, state.K_SERVER_ACCEPTS_USER) == "1")

    def _observe_accepts(self, answer: dict[str, Any]) -> None:
        """Remember whether the server takes op key ``u`` (an older one refuses unknown keys)."""
        accepts = "1" if answer.get("accepts_user") is True else ""
        if accepts != self._accepts_user:
            self._accepts_user = accepts
            with self._txn() as conn:
                if state.get(conn, state.K_SERVER_ACCEPTS_USER) != accepts:
                    state.put(conn, state.K_SERVER_ACCEPTS_USER, accepts)

    def _settle(self, batch: _Batch, answer: dict[str, Any]) -> None:
        """Record the answer for every op in one transaction (replayed answers are the same)."""
        results = {r.get("op_id"): r for r in answer.get("results", []) if isinstance(r, dict)}
        stats = ApplyStats()
        with self._txn() as conn:
            for op in batch.ops:
                result = results.get(op["op_id"])
                if result is None:
                    # Not answered (should not happen): back to pending, the op id keeps it idempotent.
                    conn.exec_driver_sql("UPDATE sync_outbox SET state = 'pending', batch_id = NULL "
                                         "WHERE op_id = ?", (op["op_id"],))
                    continue
                status = result.get("status")
                self.report.pushed += 1
                if status in (OpStatus.ACCEPTED, OpStatus.CONFLICT):
                    note = ""
                    if status == OpStatus.CONFLICT:
                        self.report.conflicts += 1
                        note = "部分字段与其他站点的修改冲突，见“冲突”列表：" + "、".join(result.get("lost") or [])
                    else:
                        self.report.accepted += 1
                    conn.exec_driver_sql("UPDATE sync_outbox SET state = 'accepted', last_error = ? WHERE op_id = ?",
                                         (note, op["op_id"]))
                    continue
                self.report.rejected += 1
                message = result.get("message") or "县服务器未接受此修改。"
                conn.exec_driver_sql("UPDATE sync_outbox SET state = 'rejected', last_error = ? WHERE op_id = ?",
                                     (message, op["op_id"]))
                row = result.get("row")
                reason = result.get("reason")
                if isinstance(row, list):
                    # The server's copy of the row: our refused values give way to it.
                    try:
                        state_ = RowState.from_wire(row)
                    except (TypeError, ValueError):
                        state_ = None
                    spec = self.applier.specs.get(getattr(state_, "table", ""))
                    if state_ is not None and spec is not None and not row_state_problem(spec, state_):
                        self.applier.apply_rows(conn, [state_], stats=stats)
                elif reason == Reason.MISSING_ROW:
                    spec = self.applier.specs.get(op["t"])
                    if spec is not None:
                        conn.exec_driver_sql(
                            f'UPDATE "{spec.name}" SET deleted = 1 WHERE id = ? AND row_version > 0', (op["id"],))
            self.report.new_conflicts += stats.conflicts

    # ------------------------------------------------------------------ pull

    def _pull(self) -> None:
        with self.ws.engine.connect() as conn:
            cursor = state.get_int(conn, state.K_CURSOR)
            known = state.get_json(conn, state.K_SCOPE, None)
        # The very first pull starts at 0 and so covers the whole scope: it is saved with the
        # first page, and a crash after it never makes us fetch everything twice.
        self._first_scope = cursor == 0 and known is None
        if self._first_scope:
            # A fresh station: load the rows first, build the plain indexes once at the end.
            with self._txn() as conn:
                deferred_indexes.defer_secondary_indexes(conn, sorted(MODEL_BY_TABLE))
        try:
            scope = self._pull_stream(state.K_CURSOR, None, label="下载数据")
        finally:
            with self._txn() as conn:
                deferred_indexes.restore_deferred_indexes(conn)
        current = set(scope) if isinstance(scope, list) else None
        if current is None:
            self._save_scope(None)
            return
        # A village that joined our scope (reassigned to our township) has rows below our
        # cursor: fetch that village alone from the start, then follow it in the main stream.
        known_set = set(read_json_state(self.ws, state.K_SCOPE) or [])
        for village in sorted(current - known_set):
            self._pull_stream(state.K_BACKFILL + village, [village], label="补充下载新划入的村")
            known_set.add(village)
            self.report.backfilled.append(village)
            self._save_scope(known_set & current)
        if known_set != current:
            self._save_scope(current)

    def _save_scope(self, codes: set[str] | None) -> None:
        with self._txn() as conn:
            state.put(conn, state.K_SCOPE, "*" if codes is None else sorted(codes))

    def _fetch(self, cursor: int, limit: int, stream: str, villages: list[str] | None) -> tuple[dict, float]:
        started = time.perf_counter()
        page = self.client.pull(cursor, limit, stream=stream, villages=villages)
        seconds = time.perf_counter() - started
        # Parameters are built here, on the prefetch thread, while SQLite (which releases the
        # GIL) is still writing the previous page.
        page["_prepared"] = self.applier.prepare(page.get("tables") or [])
        return page, seconds

    def _pull_stream(self, cursor_key: str, villages: list[str] | None, *, label: str):
        """Pull pages until caught up; returns the scope the server reported (None = county)."""
        with self.ws.engine.connect() as conn:
            cursor = state.get_int(conn, cursor_key)
        start = cursor
        limit = self.page_rows
        scope: Any = "unset"
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-prefetch") if self.prefetch else None
        try:
            future: Future | None = None
            result = self._fetch(cursor, limit, "data", villages) if pool is None else None
            if pool is not None:
                future = pool.submit(self._fetch, cursor, limit, "data", villages)
            while True:
                self._check_cancel()
                page, seconds = future.result() if future is not None else result
                future = None
                self._observe_server(page.get("server_time_ms"))
                self._observe_accepts(page)
                if scope == "unset":
                    scope = page.get("scope")
                    if page.get("station"):
                        self._remember_station(page["station"])
                next_cursor = int(page["cursor"])
                if next_cursor < cursor:
                    raise SyncError("县服务器返回的进度倒退，已停止同步。", code="cursor_backwards")
                if self.adaptive:
                    if seconds < FAST_PAGE_S and sum(len(b["r"]) for b in page.get("tables") or []) >= limit:
                        limit = min(MAX_PAGE_ROWS, limit * 2)
                    elif seconds > SLOW_PAGE_S:
                        limit = max(MIN_PAGE_ROWS, limit // 2)
                if page.get("has_more"):
                    if pool is not None:
                        future = pool.submit(self._fetch, next_cursor, limit, "data", villages)
                self._apply_page(page, cursor_key)
                cursor = next_cursor
                if villages is None and int(page.get("ref_horizon") or 0) > self._ref_cursor():
                    self._pull_reference()
                horizon = int(page.get("horizon") or cursor)
                self._tell(cursor - start, max(1, horizon - start), label)
                if not page.get("has_more"):
                    break
                if future is None:
                    result = self._fetch(cursor, limit, "data", villages)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if villages is not None:
            with self._txn() as conn:
                state.delete(conn, cursor_key)
        return None if scope == "unset" else scope

    def _apply_page(self, page: dict[str, Any], cursor_key: str) -> None:
        prepared = page.get("_prepared") or self.applier.prepare(page.get("tables") or [])
        events = page.get("events") or []
        self._touched.update(block.get("t") for block in page.get("tables") or []
                             if isinstance(block, dict) and block.get("r"))
        self._touched.update(event.get("t") for event in events if isinstance(event, dict))
        with self._txn() as conn:
            stats = self.applier.apply_prepared(conn, prepared)
            if events:
                self.applier.apply_events(conn, events, prepared.ids, stats)
            state.put(conn, cursor_key, str(int(page["cursor"])))
            if self._first_scope and cursor_key == state.K_CURSOR:
                scope = page.get("scope")
                state.put(conn, state.K_SCOPE, "*" if scope is None else sorted(scope))
                self._first_scope = False
            self._merge_clock(conn, stats.max_hlc)
            if self.before_page_commit is not None:
                self.before_page_commit()
        self.report.pages += 1
        self.report.pulled_rows += stats.rows
        self.report.new_conflicts += stats.conflicts

    def _ref_cursor(self) -> int:
        with self.ws.engine.connect() as conn:
            return state.get_int(conn, state.K_REF_CURSOR)

    def _pull_reference(self) -> None:
        """The county's reference data: fetched whole, applied in one transaction."""
        cursor = self._ref_cursor()
        blocks: list[dict[str, Any]] = []
        while True:
            page = self.client.pull(cursor, MAX_PAGE_ROWS, stream="ref")
            blocks += page.get("tables") or []
            cursor = int(page["cursor"])
            if not page.get("has_more"):
                break
        with self._txn() as conn:
            stats = self.applier.apply_blocks(conn, blocks, reference=True)
            state.put(conn, state.K_REF_CURSOR, str(cursor))
            self._merge_clock(conn, stats.max_hlc)
        self.report.ref_rows += stats.rows

    # ------------------------------------------------------------------ clock

    def _merge_clock(self, conn: Connection, max_hlc: str) -> None:
        if not max_hlc:
            return
        clock = self.ws.clock
        before = clock.inner.clamped_count
        ts = clock.receive(Timestamp.parse(max_hlc))
        state.put_hlc(conn, ts.pack())
        if clock.inner.clamped_count > before:
            logger.warning("a pulled change was stamped more than %d minutes ahead of this clock",
                           MAX_DRIFT_MS // 60000)

    def _observe_server(self, server_ms: Any) -> None:
        if not isinstance(server_ms, int):
            return
        skew = self.ws.clock.inner.observe_server_time(server_ms)
        warning = describe_skew(skew) if abs(skew) > MAX_DRIFT_MS else ""
        self.report.clock_warning = warning
        if self._stored_warning is None:
            self._stored_warning = read_state(self.ws, state.K_CLOCK_WARNING)
        if warning != self._stored_warning:
            self._stored_warning = warning
            with self._txn() as conn:
                state.put(conn, state.K_CLOCK_WARNING, warning)
                state.put(conn, state.K_SERVER_SKEW, str(skew))

    # ------------------------------------------------------------------ township extras

    def _remember_station(self, code: str) -> None:
        if read_state(self.ws, state.K_STATION) != code:
            with self._txn() as conn:
                state.put(conn, state.K_STATION, code)

    def _refresh_station_keys(self) -> None:
        """A township keeps its villages' bundle keys, to check USB bundles with no network."""
        scope = read_state(self.ws, state.K_SCOPE)
        if not scope or (scope != "*" and len(json.loads(scope)) <= 1):
            return
        fetched = read_state(self.ws, state.K_STATION_KEYS_AT)
        if fetched and time.time() - float(fetched) < KEYS_MAX_AGE_S:
            return
        try:
            keys, places = self.client.station_keys_and_places()
        except SyncError as error:
            logger.info("station keys not refreshed: %s", error)
            return
        with self._txn() as conn:
            state.put(conn, state.K_STATION_KEYS, keys)
            state.put(conn, state.K_STATION_PLACES, places)
            state.put(conn, state.K_STATION_KEYS_AT, str(time.time()))

    def _relay_bundles(self) -> None:
        with self.ws.engine.connect() as conn:
            relays = state.with_prefix(conn, state.K_RELAY)
        for bundle_id, encoded in sorted(relays.items()):
            self._check_cancel()
            try:
                self.client.upload_bundle(base64.b64decode(encoded))
            except (BadRequest, Forbidden) as error:
                # Refused for good (tampered, or a village outside our scope): dropped from the
                # relay, remembered with the reason; never retried at every sync.
                logger.warning("bundle %s refused by the server: %s", bundle_id, error.message)
                with self._txn() as conn:
                    state.put(conn, state.K_BUNDLE_SEEN + bundle_id, f"refused: {error.message}")
                    state.delete(conn, state.K_RELAY + bundle_id)
                continue
            with self._txn() as conn:
                state.put(conn, state.K_BUNDLE_SEEN + bundle_id, "relayed")
                state.delete(conn, state.K_RELAY + bundle_id)
            self.report.relayed_bundles += 1


#: The JSON around an op's fields (ids, table, kind, HLC with a 32-character station code).
OP_OVERHEAD_BYTES = 260

_OP_COLUMNS = "seq, op_id, table_name, row_id, op, fields_json, base_version, hlc, username"


def _mark(conn: Connection, sql: str, seqs: list[int], leading: tuple = ()) -> None:
    for start in range(0, len(seqs), 500):
        chunk = seqs[start:start + 500]
        conn.exec_driver_sql(sql.format(",".join("?" for _ in chunk)), (*leading, *chunk))


def freeze_batch(conn: Connection) -> str | None:
    """Give the oldest pending ops a batch id (state ``sent``); None when nothing is pending."""
    placeholders = ",".join("?" for _ in LOCAL_ONLY_TABLES)
    conn.exec_driver_sql(
        f"UPDATE sync_outbox SET state = 'local' WHERE state = 'pending' AND table_name IN ({placeholders})",
        tuple(sorted(LOCAL_ONLY_TABLES)))
    # Bytes, not characters (Chinese text is 3 bytes a character in UTF-8): the server refuses a
    # body over MAX_PUSH_BYTES, so a batch is cut before it could get there.
    candidates = conn.exec_driver_sql(
        "SELECT seq, length(CAST(fields_json AS BLOB)) FROM sync_outbox WHERE state = 'pending' "
        "ORDER BY seq LIMIT ?", (MAX_BATCH_OPS,)).all()
    if not candidates:
        return None
    seqs, size = [], 0
    for seq, length in candidates:
        size += (length or 0) + OP_OVERHEAD_BYTES
        if seqs and size > MAX_BATCH_BYTES:
            break
        seqs.append(seq)
    batch_id = str(uuid.uuid4())
    _mark(conn, "UPDATE sync_outbox SET state = 'sent', batch_id = ? WHERE seq IN ({})", seqs, (batch_id,))
    return batch_id


def batch_ops(conn: Connection, batch_id: str, *, with_user: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
    """The wire ops of a saved batch, in outbox order; ``with_user``: each names its user (op key
    ``u``), for a server that takes it (never in bundles: an older township station refuses it)."""
    rows = conn.exec_driver_sql(f"SELECT {_OP_COLUMNS} FROM sync_outbox WHERE batch_id = ? AND state = 'sent' "
                                "ORDER BY seq", (batch_id,)).all()
    ops, seqs = [], []
    for seq, op_id, table, row_id, kind, fields_json, base_version, hlc, username in rows:
        try:
            fields = json.loads(fields_json or "{}")
        except ValueError:
            fields = None  # a damaged op: the server refuses it alone, the rest go on
        op = {"op_id": op_id, "t": table, "id": row_id, "k": kind, "f": fields, "bv": int(base_version or 0),
              "h": hlc}
        if with_user and username:
            op["u"] = username
        ops.append(op)
        seqs.append(seq)
    return ops, seqs


def next_batch(ws: Workspace) -> _Batch | None:
    with apply_txn(ws) as conn:
        return next_batch_in(conn)


def next_batch_in(conn: Connection, *, with_user: bool = False) -> _Batch | None:
    """The batch in flight (resent exactly as it was), else a new one frozen from pending ops."""
    row = conn.exec_driver_sql(
        "SELECT batch_id FROM sync_outbox WHERE state = 'sent' ORDER BY seq LIMIT 1").first()
    batch_id = row[0] if row is not None and row[0] else freeze_batch(conn)
    if batch_id is None:
        return None
    ops, seqs = batch_ops(conn, batch_id, with_user=with_user)
    _mark(conn, "UPDATE sync_outbox SET attempts = attempts + 1 WHERE seq IN ({})", seqs)
    return _Batch(batch_id, ops, seqs)


def _now_text() -> str:
    return datetime.now().replace(microsecond=0).isoformat(sep=" ")


def run_sync(ws: Workspace, *, client: SyncClient | None = None, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> SyncReport:
    """Sync once (CLI, the UI's worker thread, scripts)."""
    engine = SyncEngine(ws, client, progress=progress, cancel=cancel)
    try:
        return engine.sync()
    finally:
        if client is None:
            engine.client.close()
