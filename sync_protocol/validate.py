"""The one validation layer at the protocol boundary (issue 9), shared by every way changes arrive:

* the county server's push (and so the bundles it imports, which are pushed batch by batch),
* the township station's import of a village's USB bundle,
* the station's pull (rows from the server are checked the same way before they are written).

An op is judged whole, before anything is written: its shape (canonical UUIDs matched with
``fullmatch``, an HLC, no unknown keys), its table, every field against the table's spec
(known names only, type, length, no NUL, no lone surrogate, real dates; foreign keys are ids).
Fields the table keeps local (a notice's ``pdf_path``, search keys) are dropped, never stored:
nothing local is taken from the wire. Whether a foreign key names a row inside the caller's
scope needs the rows, so the server checks it in its transaction (``county_server.store``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_protocol.hlc import MAX_WALL_MS, Timestamp

from .protocol import MAX_DRIFT_MS, Reason, is_uuid, text_problem, validate_op_shape
from .tables import TableSpec, table_specs, value_problem


@dataclass(frozen=True)
class Verdict:
    """What the boundary made of one op: ``reason`` set → refused; else ``fields`` is what may be stored."""

    reason: str | None
    detail: str = ""
    fields: dict[str, Any] | None = None
    spec: TableSpec | None = None


def judge_op(op: Any, specs: dict[str, TableSpec] | None = None) -> Verdict:
    """Judge one pushed op against the protocol and the table specs (no database needed)."""
    problem = validate_op_shape(op)
    if problem:
        return Verdict(Reason.BAD_OP, problem)
    specs = specs or table_specs()
    table = op["t"]
    spec = specs.get(table)
    if spec is None:
        return Verdict(Reason.UNKNOWN_TABLE, table)
    if spec.reference:
        return Verdict(Reason.REFERENCE_READ_ONLY)
    if spec.server_authored:
        return Verdict(Reason.SERVER_AUTHORED)
    if spec.local_only:
        return Verdict(Reason.LOCAL_ONLY)
    fields = op["f"]
    kept: dict[str, Any] | None = None
    for name, value in fields.items():
        field_spec = spec.fields.get(name)
        if field_spec is None:
            if name in spec.local_fields:
                # An older station still sends a field now kept local: drop it, keep the rest.
                if kept is None:
                    kept = dict(fields)
                kept.pop(name, None)
                continue
            return Verdict(Reason.UNKNOWN_FIELD, name)
        why = value_problem(field_spec, value)
        if why:
            return Verdict(Reason.INVALID_VALUE, f"{name}: {why}")
    if op["k"] == "delete" and fields.get("deleted") is not True:
        return Verdict(Reason.BAD_OP, "delete without deleted=true")
    return Verdict(None, fields=fields if kept is None else kept, spec=spec)


def foreign_keys(spec: TableSpec, fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, target table, target id) of every foreign key the fields set."""
    return [(name, spec.fields[name].ref, value) for name, value in fields.items()
            if value is not None and name in spec.fields and spec.fields[name].ref]


# -- pulled rows -------------------------------------------------------------------------------


def pulled_row_problem(spec: TableSpec, columns: tuple[str, ...], row: Any) -> str | None:
    """Why a row of a pull page cannot be applied (None when it can). Unknown columns are
    ignored by the applier (a newer server), so only known ones are checked."""
    if not isinstance(row, list) or len(row) != len(columns) + 4:
        return "shape"
    row_id, version, h0, fh = row[0], row[1], row[2], row[3]
    if not is_uuid(row_id):
        return "id"
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**31:
        return "row_version"
    if not _hlc_ok(h0):
        return "hlc"
    if fh is not None:
        if not isinstance(fh, dict) or not all(isinstance(k, str) and _hlc_ok(v) for k, v in fh.items()):
            return "hlc"
    for name, value in zip(columns, row[4:]):
        field_spec = spec.fields.get(name)
        if field_spec is not None:
            why = value_problem(field_spec, value)
            if why:
                return f"{name}: {why}"
    return None


def row_state_problem(spec: TableSpec, row: Any) -> str | None:
    """``pulled_row_problem`` for a row already turned into a RowState (the general apply path)."""
    data = row.data if isinstance(row.data, dict) else None
    if data is None:
        return "shape"
    columns = tuple(data)
    return pulled_row_problem(spec, columns, [row.row_id, row.row_version, row.h0, row.fh or None,
                                              *data.values()])


def _hlc_ok(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 64 or text_problem(value):
        return False
    try:
        Timestamp.parse(value)
    except ValueError:
        return False
    return True


def block_problem(block: Any) -> str | None:
    """Why a block of a pull page is not one (None when it is)."""
    if not isinstance(block, dict) or not isinstance(block.get("t"), str) or not isinstance(block.get("r"), list):
        return "block"
    columns = block.get("c")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return "columns"
    return None


# -- clocks ------------------------------------------------------------------------------------


def skew_offset(reported_skew_ms: Any) -> int:
    """The shift for the stamps of a station that reported its clock ``local − server`` skew
    (a USB bundle carries it): the same correction the push path makes from client_time_ms."""
    if not isinstance(reported_skew_ms, int) or isinstance(reported_skew_ms, bool):
        return 0
    if abs(reported_skew_ms) <= MAX_DRIFT_MS or abs(reported_skew_ms) > MAX_WALL_MS:
        return 0
    return -reported_skew_ms


def shift_hlc(packed: str, offset: int, now: int, station: str, nudge: int = 0) -> str:
    """A pushed stamp corrected by ``offset`` (clock skew), clamped to ``now`` when still in the
    future (keeping the batch's order with the counter), with the node of the authenticated station."""
    ts = Timestamp.parse(packed)
    wall = min(MAX_WALL_MS, max(0, ts.wall_ms + offset))
    if wall > now + MAX_DRIFT_MS:
        wall, counter = now, min(nudge, 999_999)
    else:
        counter = ts.counter
    return Timestamp(wall, counter, station).pack()
