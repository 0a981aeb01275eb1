"""Apply pulled rows and events to the station database inside the caller's transaction.

The server's merged row is the truth, with one exception: a field this station changed and
has not yet had acknowledged (its op is pending or sent) keeps the local value when the local
stamp is newer — the push will win it on the server too. Rows go in with one ``INSERT … ON
CONFLICT DO UPDATE`` per (table, column set) on the raw connection: this bypasses the ORM and
its change recorder on purpose (the same effect as ``session.info["sync_apply"]``), and is
what makes 30,000 rows a second possible on a clinic PC.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Callable, Iterable

from sqlalchemy.engine import Connection

from station_app.domain.names import pinyin_keys

from .derive import DERIVERS, derived_columns
from sync_protocol.protocol import RowState, all_uuids, dumps, is_uuid, short_text
from sync_protocol.tables import TableSpec, table_specs
from sync_protocol.validate import block_problem, pulled_row_problem, row_state_problem

logger = logging.getLogger(__name__)

#: Outbox states whose fields still overlay what the server sends.
IN_FLIGHT = ("pending", "sent")
DUPLICATE_REASON = "与其他站点录入的记录重复，已保留县服务器上的记录；您的数据见“冲突”列表。"
_CHUNK = 500
#: What a value SQLite cannot bind raises (a lone surrogate, an integer over 64 bits …).
_UNBINDABLE = (sqlite3.InterfaceError, sqlite3.ProgrammingError, UnicodeEncodeError, OverflowError, ValueError,
               TypeError)
_DATE_LINES = re.compile(r"(?:\d{4}-\d{2}-\d{2}\n)*\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass
class ApplyStats:
    rows: int = 0
    skipped: int = 0
    conflicts: int = 0
    exits: int = 0
    #: Rows the validation layer refused (malformed; never written).
    refused: int = 0
    max_hlc: str = ""
    tables: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class _Plan:
    """How one block (a table and a column set) goes into the database, worked out once."""

    table: str
    sql: str
    getter: Callable[[list], Any]
    width: int  # number of known values the getter returns
    conversions: tuple[tuple[int, str], ...]  # (position among known values, kind)
    name_at: int | None  # position of the resident's name, for the derived search keys
    extra: tuple[Any, ...]  # defaults of columns the block lacks
    deleted_at: int | None  # index of "deleted" in the wire row
    complete: bool  # enough columns to create the row
    natural_key: bool
    date_positions: tuple[int, ...] = ()  # indexes of date columns in the wire row


@dataclass
class Prepared:
    """A page made ready for the database: executemany items and rows for the general path."""

    stats: ApplyStats
    items: list[tuple[_Plan, tuple[str, ...], list[list], list[tuple]]] = field(default_factory=list)
    slow: list[RowState] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def _q(name: str) -> str:
    return '"' + name + '"'


def _to_db(kind: str, value: Any) -> Any:
    """JSON value → what SQLAlchemy would have stored in SQLite for that column."""
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def pending_fields(conn: Connection, row_ids: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """row id → {field: newest stamp} of the changes this station has not had acknowledged."""
    found: dict[str, dict[str, str]] = {}
    for row_id, fields_json, hlc in conn.exec_driver_sql(
            "SELECT row_id, fields_json, hlc FROM sync_outbox WHERE state IN ('pending', 'sent')"):
        if row_ids is not None and row_id not in row_ids:
            continue
        try:
            names = json.loads(fields_json or "{}")
        except ValueError:
            continue
        entry = found.setdefault(row_id, {})
        for name in names:
            if hlc > entry.get(name, ""):
                entry[name] = hlc
    return found


class Applier:
    """Builds and caches the upsert statements; one per station database."""

    def __init__(self) -> None:
        self.specs: dict[str, TableSpec] = table_specs()
        self._sql: dict[tuple, str] = {}
        self._plans: dict[tuple, _Plan] = {}

    # -- blocks (the pull page format) -----------------------------------------------------------

    def prepare(self, blocks: list[dict[str, Any]], stats: ApplyStats | None = None) -> "Prepared":
        """Turn a page's blocks into statement parameters (pure Python, no database).

        Runs on the prefetch thread while the previous page's rows go into SQLite, which
        releases the GIL. Special rows are set aside for the general path (``apply_rows``):
        tombstones (we may never have had the row) and blocks too short to create a row.
        """
        prepared = Prepared(stats or ApplyStats())
        for block in blocks:
            if block_problem(block):
                logger.warning("a pull page held a malformed block: skipped")
                prepared.stats.refused += 1
                continue
            table, columns, rows = block["t"], tuple(block["c"]), block["r"]
            spec = self.specs.get(table)
            if spec is None or spec.local_only:
                prepared.stats.skipped += len(rows)
                continue
            plan = self._plan(spec, columns)
            if not self._block_looks_right(plan, columns, rows):
                rows = self._drop_bad_rows(spec, columns, rows, prepared.stats)
            fast = []
            for row in rows:
                if not plan.complete or (plan.deleted_at is not None and row[plan.deleted_at]):
                    prepared.slow.append(RowState(table, row[0], row[1], row[2], row[3] or {},
                                                  dict(zip(columns, row[4:]))))
                else:
                    fast.append(row)
            if fast:
                try:
                    params = self._params(plan, fast, prepared.stats)
                except (TypeError, ValueError, AttributeError):
                    # Something in the block is not what the column takes: check row by row.
                    fast = self._drop_bad_rows(spec, columns, fast, prepared.stats)
                    params = self._params(plan, fast, prepared.stats)
                prepared.items.append((plan, columns, fast, params))
            prepared.ids.update(row[0] for row in rows)
        return prepared

    @staticmethod
    def _block_looks_right(plan: "_Plan", columns: tuple[str, ...], rows: list) -> bool:
        """Cheap checks of a whole block at C speed (the initial sync must stay ≥ 30,000 rows/s):
        every row a list of the right width, every id a canonical UUID, every date a date.
        Values are checked one by one only when this fails (``_drop_bad_rows``)."""
        width = len(columns) + 4
        try:
            if not all(type(row) is list and len(row) == width for row in rows):
                return False
            if not all_uuids([row[0] for row in rows]):
                return False
            for position in plan.date_positions:
                values = [row[position] for row in rows if row[position] is not None]
                if values and _DATE_LINES.fullmatch("\n".join(values)) is None:
                    return False
        except TypeError:  # an id or a date that is not text
            return False
        return True

    @staticmethod
    def _drop_bad_rows(spec: TableSpec, columns: tuple[str, ...], rows: list, stats: ApplyStats) -> list:
        """The rows of a block the validation layer accepts; the others are skipped (and
        logged: the county's ``county-server check`` finds them on its side)."""
        kept = []
        for row in rows:
            problem = pulled_row_problem(spec, columns, row)
            if problem:
                stats.refused += 1
                logger.warning("a pulled %s row was refused (%s)", spec.name, problem)
            else:
                kept.append(row)
        return kept

    def apply_prepared(self, conn: Connection, prepared: "Prepared", *, reference: bool = False) -> ApplyStats:
        """Write prepared rows: executemany, except rows with an edit of ours not yet
        acknowledged and blocks that hit another row's natural key (general path)."""
        stats = prepared.stats
        slow = list(prepared.slow)
        overlay = {} if reference else pending_fields(conn)
        for plan, columns, rows, params in prepared.items:
            if overlay:
                mine = {r[0] for r in rows if r[0] in overlay}
                if mine:
                    slow += [RowState(plan.table, r[0], r[1], r[2], r[3] or {}, dict(zip(columns, r[4:])))
                             for r in rows if r[0] in mine]
                    params = [p for p in params if p[0] not in mine]
                    rows = [r for r in rows if r[0] not in mine]
            if params and not self._execute(conn, plan, params, stats):
                slow += [RowState(plan.table, r[0], r[1], r[2], r[3] or {}, dict(zip(columns, r[4:]))) for r in rows]
        if slow:
            self.apply_rows(conn, slow, reference=reference, stats=stats)
        return stats

    def apply_blocks(self, conn: Connection, blocks: list[dict[str, Any]], *, reference: bool = False,
                     stats: ApplyStats | None = None) -> ApplyStats:
        return self.apply_prepared(conn, self.prepare(blocks, stats), reference=reference)

    def _plan(self, spec: TableSpec, columns: tuple[str, ...]) -> _Plan:
        key = (spec.name, columns)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        known = [c for c in columns if c in spec.fields]
        positions = [columns.index(c) + 4 for c in known]
        if positions:
            picked = itemgetter(*positions)
            getter = (lambda row, g=picked: (g(row),)) if len(positions) == 1 else picked
        else:
            getter = lambda row: ()  # noqa: E731
        derived = derived_columns(spec.name)
        present = tuple(known) + derived
        complete = spec.required <= set(present)
        missing = tuple(sorted(c for c in spec.defaults if c not in present
                               and c not in ("id", "updated_hlc", "row_version")))
        conversions = tuple((i, spec.fields[c].kind) for i, c in enumerate(known) if spec.fields[c].kind == "datetime")
        dates = tuple(columns.index(c) + 4 for c in known if spec.fields[c].kind == "date")
        plan = _Plan(spec.name, self._upsert_sql(spec.name, present, missing), getter, len(known), conversions,
                     known.index("name") if derived and "name" in known else None,
                     tuple(spec.defaults[c] for c in missing),
                     columns.index("deleted") + 4 if "deleted" in columns else None, complete,
                     bool(spec.natural_key), dates)
        self._plans[key] = plan
        return plan

    @staticmethod
    def _params(plan: _Plan, rows: list[list], stats: ApplyStats) -> list[tuple]:
        params = []
        top = stats.max_hlc
        getter, extra, name_at, conversions = plan.getter, plan.extra, plan.name_at, plan.conversions
        for row in rows:
            fh = row[3]
            stamp = row[2] if not fh else max(row[2], *fh.values())
            if stamp > top:
                top = stamp
            values = getter(row)
            if conversions:
                values = list(values)
                for i, kind in conversions:
                    values[i] = _to_db(kind, values[i])
            if name_at is not None:
                values = (*values, *pinyin_keys(values[name_at] or ""))
            params.append((row[0], row[1], stamp, *values, *extra))
        stats.max_hlc = top
        return params

    def _execute(self, conn: Connection, plan: _Plan, params: list[tuple], stats: ApplyStats) -> bool:
        """executemany; False when a natural key of another local row is in the way."""
        raw = conn.connection.dbapi_connection
        if plan.natural_key:
            raw.execute("SAVEPOINT sync_block")
            try:
                raw.executemany(plan.sql, params)
            except (sqlite3.IntegrityError, conn.dialect.dbapi.IntegrityError,  # SQLCipher's own class
                    *_UNBINDABLE, conn.dialect.dbapi.InterfaceError, conn.dialect.dbapi.ProgrammingError):
                # A natural key of another local row in the way, or a value SQLite cannot take
                # (the general path checks the rows one by one).
                raw.execute("ROLLBACK TO sync_block")
                raw.execute("RELEASE sync_block")
                return False
            raw.execute("RELEASE sync_block")
        else:
            # No savepoint here: its statement journal would copy every page the block touches
            # (5x slower). Rows written before a value SQLite cannot take are upserted again,
            # unchanged, by the general path, which checks the rows one by one.
            try:
                raw.executemany(plan.sql, params)
            except (*_UNBINDABLE, conn.dialect.dbapi.InterfaceError, conn.dialect.dbapi.ProgrammingError):
                return False
        stats.rows += len(params)
        stats.tables[plan.table] += len(params)
        return True

    # -- rows -----------------------------------------------------------------------------------

    def apply_rows(self, conn: Connection, rows: list[RowState], *, reference: bool = False,
                   stats: ApplyStats | None = None) -> ApplyStats:
        stats = stats or ApplyStats()
        rows = [r for r in rows if self._known(r, stats) and self._valid(r, stats)]
        if not rows:
            return stats
        ids = {r.row_id for r in rows}
        overlay = {} if reference else pending_fields(conn, ids)
        rows = self._skip_unknown_tombstones(conn, rows, stats)
        self._resolve_natural_keys(conn, rows, reference, stats)
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for row in rows:
            spec = self.specs[row.table]
            mine = overlay.get(row.row_id, {})
            values: dict[str, Any] = {}
            for name, value in row.data.items():
                field_spec = spec.fields.get(name)
                if field_spec is None:
                    continue  # a column this version does not have (newer station or server)
                if mine and mine.get(name, "") > row.field_hlc(name):
                    continue  # our unacknowledged edit is newer: keep it
                values[name] = _to_db(field_spec.kind, value)
            derive = DERIVERS.get(row.table)
            if derive is not None:
                values.update(derive(values))
            present = tuple(sorted(values))
            if spec.required <= values.keys():
                missing = tuple(sorted(c for c in spec.defaults if c not in values and c not in ("id",)
                                       and c not in ("updated_hlc", "row_version")))
            else:
                # Too little to create the row (a purged tombstone, a partial bundle op): only
                # update it where it exists.
                missing = None
            key = (row.table, present, missing)
            max_hlc = row.max_hlc()
            if missing is None:
                groups[key].append((row.row_version, max_hlc, *(values[c] for c in present), row.row_id,
                                    row.row_version))
            else:
                groups[key].append((row.row_id, row.row_version, max_hlc,
                                    *(values[c] for c in present), *(spec.defaults[c] for c in missing)))
            if max_hlc > stats.max_hlc:
                stats.max_hlc = max_hlc
            stats.tables[row.table] += 1
        for key, params in groups.items():
            conn.exec_driver_sql(self._upsert_sql(*key), params)
            stats.rows += len(params)
        return stats

    def _valid(self, row: RowState, stats: ApplyStats) -> bool:
        problem = row_state_problem(self.specs[row.table], row)
        if problem:
            stats.refused += 1
            logger.warning("a %s row from the server was refused (%s)", row.table, problem)
            return False
        return True

    def _known(self, row: RowState, stats: ApplyStats) -> bool:
        spec = self.specs.get(row.table)
        if spec is None or spec.local_only:
            stats.skipped += 1  # a table this version does not know: the server keeps it
            return False
        return True

    def _upsert_sql(self, table: str, present: tuple[str, ...], missing: tuple[str, ...] | None) -> str:
        key = (table, present, missing)
        sql = self._sql.get(key)
        if sql is None and missing is None:
            sets = ['"row_version" = ?', '"updated_hlc" = max("updated_hlc", ?)'] + [f"{_q(c)} = ?" for c in present]
            sql = f'UPDATE {_q(table)} SET {", ".join(sets)} WHERE "id" = ? AND "row_version" <= ?'
            self._sql[key] = sql
        elif sql is None:
            columns = ("id", "row_version", "updated_hlc", *present, *missing)
            updates = ['"row_version" = excluded."row_version"',
                       f'"updated_hlc" = max({_q(table)}."updated_hlc", excluded."updated_hlc")']
            updates += [f"{_q(c)} = excluded.{_q(c)}" for c in present]
            # Never step a row back to an older server version (apply order guards it too).
            sql = (f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) "
                   f"VALUES ({', '.join('?' for _ in columns)}) "
                   f'ON CONFLICT("id") DO UPDATE SET {", ".join(updates)} '
                   f'WHERE excluded."row_version" >= {_q(table)}."row_version"')
            self._sql[key] = sql
        return sql

    def _existing(self, conn: Connection, table: str, ids: list[str], columns: str = '"id"') -> list:
        found = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            found += conn.exec_driver_sql(
                f'SELECT {columns} FROM {_q(table)} WHERE "id" IN ({",".join("?" for _ in chunk)})',
                tuple(chunk)).all()
        return found

    def _skip_unknown_tombstones(self, conn: Connection, rows: list[RowState], stats: ApplyStats) -> list[RowState]:
        """A deleted row we never had needs no copy (and a purged tombstone has no payload)."""
        deleted = defaultdict(list)
        for row in rows:
            if row.deleted:
                deleted[row.table].append(row.row_id)
        if not deleted:
            return rows
        have = set()
        for table, ids in deleted.items():
            have.update(r[0] for r in self._existing(conn, table, ids))
        kept = [r for r in rows if not r.deleted or r.row_id in have]
        stats.skipped += len(rows) - len(kept)
        return kept

    def _resolve_natural_keys(self, conn: Connection, rows: list[RowState], reference: bool,
                              stats: ApplyStats) -> None:
        """Make room for an incoming row whose natural key another local row holds.

        Reference rows loaded locally at set-up are simply replaced by the county's. A data row
        never confirmed by the server (row_version 0) is our own duplicate entry: its values are
        kept as conflicts against the server's row and its pending ops are closed. A confirmed
        row holding the key is stale (its re-keying comes later in this sync) and steps aside.
        """
        by_table: dict[str, list[RowState]] = defaultdict(list)
        for row in rows:
            if self.specs[row.table].natural_key:
                by_table[row.table].append(row)
        for table, incoming in by_table.items():
            spec = self.specs[table]
            key_cols = spec.natural_key or ()
            wanted = {}
            for row in incoming:
                values = tuple(row.data.get(c) for c in key_cols)
                if None not in values:
                    wanted[values] = row
            if not wanted:
                continue
            first = key_cols[0]
            firsts = sorted({k[0] for k in wanted}, key=str)
            cols = ", ".join(["id", "row_version", "updated_hlc", *key_cols])
            local_rows = []
            for start in range(0, len(firsts), _CHUNK):
                chunk = firsts[start:start + _CHUNK]
                local_rows += conn.exec_driver_sql(
                    f"SELECT {cols} FROM {_q(table)} WHERE {_q(first)} IN ({','.join('?' for _ in chunk)})",
                    tuple(chunk)).all()
            for local in local_rows:
                local_id, local_rv, local_hlc = local[0], local[1], local[2]
                values = tuple(local[3:])
                winner = wanted.get(values)
                if winner is None or winner.row_id == local_id:
                    continue
                if not reference and (local_rv or 0) == 0:
                    stats.conflicts += self._keep_duplicate_as_conflicts(conn, spec, local_id, local_hlc, winner)
                    conn.exec_driver_sql(
                        "UPDATE sync_outbox SET state = 'rejected', last_error = ? "
                        "WHERE row_id = ? AND state IN ('pending', 'sent')", (DUPLICATE_REASON, local_id))
                conn.exec_driver_sql(f'DELETE FROM {_q(table)} WHERE "id" = ?', (local_id,))

    def _keep_duplicate_as_conflicts(self, conn: Connection, spec: TableSpec, local_id: str, local_hlc: str,
                                     winner: RowState) -> int:
        fields = [f for f in spec.fields if f not in (spec.natural_key or ()) and f != "village_code"]
        row = conn.exec_driver_sql(
            f"SELECT {', '.join(map(_q, fields))} FROM {_q(spec.name)} WHERE id = ?", (local_id,)).first()
        if row is None:
            return 0
        count = 0
        for name, value in zip(fields, row):
            kind = spec.fields[name].kind
            remote = winner.data.get(name)
            local_value = bool(value) if kind == "bool" and value is not None else value
            if _to_db(kind, remote) == value or (kind == "bool" and remote == local_value):
                continue
            count += record_conflict(conn, spec.name, winner.row_id, name, local_value, local_hlc, remote,
                                     winner.field_hlc(name))
        return count

    # -- events ---------------------------------------------------------------------------------

    def apply_events(self, conn: Connection, events: list[dict[str, Any]], page_ids: set[str],
                     stats: ApplyStats) -> None:
        overlay: dict[str, dict[str, str]] | None = None
        for event in events:
            if not isinstance(event, dict) or not is_uuid(event.get("id")) or not isinstance(event.get("t"), str):
                stats.refused += 1
                continue
            kind = event.get("k")
            spec = self.specs.get(event["t"])
            if spec is None or (kind == "conflict" and event.get("f") not in spec.fields):
                continue
            if kind == "conflict":
                stats.conflicts += record_conflict(conn, spec.name, event["id"], event["f"], event.get("lv"),
                                                   event.get("lh", ""), event.get("wv"), event.get("wh", ""),
                                                   remote_user=short_text(event.get("wu")),
                                                   remote_station=short_text(event.get("wsn"), 80))
            elif kind == "exit" and event["id"] not in page_ids:
                # The row left one of our villages; its newer state (if still ours) is in this
                # page or a later one, so only the village changes here.
                if overlay is None:
                    overlay = pending_fields(conn)
                if "village_code" in overlay.get(event["id"], {}):
                    continue
                conn.exec_driver_sql(
                    f'UPDATE {_q(spec.name)} SET "village_code" = ? WHERE "id" = ? AND "village_code" = ?',
                    (event.get("to"), event["id"], event.get("from")))
                stats.exits += 1


def record_conflict(conn: Connection, table: str, row_id: str, field_name: str, local_value: Any, local_hlc: str,
                    remote_value: Any, remote_hlc: str, *, remote_user: str = "", remote_station: str = "") -> int:
    """Keep a losing value for review; the same conflict delivered twice is kept once.
    ``remote_user``/``remote_station``: who made the winning change (user, station name), when
    the server said."""
    local_text, remote_text = dumps(local_value), dumps(remote_value)
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sync_conflict WHERE table_name = ? AND row_id = ? AND field = ? AND local_hlc = ? "
        "AND remote_hlc = ? AND local_value = ?",
        (table, row_id, field_name, local_hlc or "", remote_hlc or "", local_text)).first()
    if exists:
        return 0
    conn.exec_driver_sql(
        "INSERT INTO sync_conflict (table_name, row_id, field, local_value, remote_value, local_hlc, remote_hlc, "
        "detected_at, resolution, resolved_by, remote_user, remote_station) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '', ?, ?)",
        (table, row_id, field_name, local_text, remote_text, local_hlc or "", remote_hlc or "",
         datetime.utcnow().replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S.%f"), remote_user, remote_station))
    return 1
