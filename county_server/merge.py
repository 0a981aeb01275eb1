"""Per-field merge of one pushed op into a row's state: last writer wins by (HLC, station),
except that an edit made after seeing the current value wins (causality beats clocks), and
every value that loses to an edit its author had not seen is kept as a conflict for review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sync_protocol.protocol import after, hlc_node


def encode_data(data: dict[str, Any]) -> tuple[str, str]:
    """(names, values) as two JSON arrays, names sorted: rows of one table share the names text."""
    names = sorted(data)
    return (json.dumps(names, separators=(",", ":")),
            json.dumps([data[n] for n in names], ensure_ascii=False, separators=(",", ":")))


def decode_data(cols: str, vals: str) -> dict[str, Any]:
    return dict(zip(json.loads(cols), json.loads(vals)))


@dataclass
class RowRecord:
    """A ``sync_row`` in memory while a push transaction works on it."""

    row_id: str
    table: str
    stream: str
    scope_code: str | None
    seq: int
    row_version: int
    h0: str
    fh: dict[str, str]
    fv: dict[str, int]
    data: dict[str, Any]
    natural_key: str | None = None
    origin: str = ""
    compacted: bool = False
    is_new: bool = False
    dirty: bool = False
    #: {field: username} of the station user who wrote each field's current value (when the
    #: station said); "" key: the insert's user. Only ever shown beside a conflict.
    fu: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_db(cls, row) -> "RowRecord":
        return cls(row.row_id, row.table_name, row.stream, row.scope_code, row.seq, row.row_version,
                   row.h0, json.loads(row.fh or "{}"), json.loads(row.fv or "{}"), decode_data(row.cols, row.vals),
                   row.natural_key, row.origin, bool(row.compacted), fu=json.loads(getattr(row, "fu", None) or "{}"))

    def field_user(self, name: str) -> str:
        return self.fu.get(name, self.fu.get("", ""))

    def field_hlc(self, name: str) -> str:
        return self.fh.get(name, self.h0)

    def field_version(self, name: str) -> int:
        return self.fv.get(name, 1)

    @property
    def deleted(self) -> bool:
        return bool(self.data.get("deleted"))

    def wire(self) -> list:
        return [self.table, self.row_id, self.row_version, self.h0, self.fh, self.data]


@dataclass
class Conflict:
    """A value that lost; ``loser`` is the station that will see it in its 同步 section."""

    loser: str
    field: str
    loser_value: Any
    loser_hlc: str
    winner_value: Any
    winner_hlc: str
    winner: str
    #: The station user who made the winning change ("" when that station did not say).
    winner_user: str = ""


@dataclass
class MergeResult:
    #: field → (value, hlc) to write
    changes: dict[str, tuple[Any, str]] = field(default_factory=dict)
    #: field → hlc: same value already there, only its stamp moves forward
    touches: dict[str, str] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def merge_fields(row: RowRecord, fields: dict[str, Any], hlc: str, base_version: int, station: str,
                 user: str = "") -> MergeResult:
    """Decide, field by field, what an op from ``station`` (made by ``user``) does to ``row``
    (``row`` is not changed)."""
    result = MergeResult()
    for name, value in fields.items():
        if name not in row.data:
            result.changes[name] = (value, hlc)  # a field this row never had (newer station)
            continue
        current_hlc = row.field_hlc(name)
        current = row.data[name]
        if hlc == current_hlc:
            continue  # this very write is already in
        seen = row.field_version(name) <= base_version  # the author had this value on screen
        if value == current:
            if hlc > current_hlc:
                result.touches[name] = hlc
            continue
        if hlc > current_hlc:
            result.changes[name] = (value, hlc)
            writer = hlc_node(current_hlc)
            if not seen and writer != station:
                result.conflicts.append(Conflict(writer, name, current, current_hlc, value, hlc, station, user))
        elif seen:
            # Causally later despite a smaller stamp (a clock behind): it wins, stamped just
            # above the value it replaces so every later comparison agrees.
            result.changes[name] = (value, after(current_hlc, station))
        else:
            result.lost.append(name)
            writer = hlc_node(current_hlc)
            if writer != station:
                result.conflicts.append(Conflict(station, name, value, hlc, current, current_hlc, writer,
                                                 row.field_user(name)))

    # Edit against delete (both orders) is a conflict too: nothing is silently hidden.
    deleting = fields.get("deleted") is True
    if row.deleted and not deleting and "deleted" not in result.changes:
        edited = [n for n in result.changes if n != "deleted"]
        if edited and row.field_version("deleted") > base_version:
            deleted_hlc = row.field_hlc("deleted")
            result.conflicts.append(Conflict(station, "deleted", False, hlc, True, deleted_hlc,
                                             hlc_node(deleted_hlc), row.field_user("deleted")))
    elif deleting and not row.deleted and "deleted" in result.changes:
        others: dict[str, str] = {}
        for name, stamp in row.fh.items():
            writer = hlc_node(stamp)
            if name != "deleted" and writer != station and row.field_version(name) > base_version:
                others[writer] = max(stamp, others.get(writer, ""))
        for writer, stamp in sorted(others.items()):
            result.conflicts.append(Conflict(writer, "deleted", False, stamp, True, hlc, station, user))
    return result


def apply_merge(row: RowRecord, result: MergeResult, seq: int, station: str, user: str = "") -> None:
    """Write a merge result into the row: one new version and seq for the whole op."""
    if result.changes:
        row.row_version += 1
        for name, (value, stamp) in result.changes.items():
            row.data[name] = value
            row.fh[name] = stamp
            row.fv[name] = row.row_version
            if user:
                row.fu[name] = user
            elif row.fu:
                row.fu[name] = ""  # written by a station that did not say who (not the insert's user)
        row.seq = seq
        row.origin = station
    for name, stamp in result.touches.items():
        if stamp > row.field_hlc(name):
            row.fh[name] = stamp
    if result.changes or result.touches:
        row.dirty = True
