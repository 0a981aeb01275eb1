"""Which station tables travel, with their fields, value kinds and natural keys.

The description itself is plain data in ``table_data`` (generated from the station's models;
a station test checks they still match); this module turns it into specs and judges values.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .protocol import MAX_FIELD_CHARS, is_uuid, text_problem

#: Station tables whose rows stay in the station: every station database has its own
#: accounts ("admin" exists everywhere), so user rows would collide on the username; a
#: station's own 政策问答 entries are its doctors' notes, not county data.
LOCAL_ONLY_TABLES = frozenset({"app_user", "qa_entry"})

#: Natural keys the reference loader upserts by, where the table declares no unique constraint.
EXTRA_NATURAL_KEYS = {"policy": ("county_code", "title")}

#: Columns every synced row carries that are bookkeeping, not data: they never travel as fields.
SYNC_BOOKKEEPING_FIELDS = frozenset({"id", "updated_hlc", "row_version"})

#: Callable defaults in ``table_data``: a fresh row id, the current UTC time (whole seconds).
NEW_ID = "<new id>"
NOW = "<now>"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?", re.ASCII)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # str | int | bool | float | date | datetime
    nullable: bool
    #: Longest text the column takes (String(n)); None: MAX_FIELD_CHARS.
    length: int | None = None
    #: The table a foreign key names (its value must be a row id in the caller's scope).
    ref: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    reference: bool
    #: Fields that travel (village_code and deleted included; id/hlc/row_version not).
    fields: dict[str, FieldSpec]
    local_fields: frozenset[str]
    natural_key: tuple[str, ...] | None
    #: Every column of the local table, for the upsert the client builds.
    columns: tuple[str, ...]
    #: Defaults of non-nullable columns, for rows a newer/older peer left short.
    defaults: dict[str, Any]
    #: Columns a new local row cannot do without (non-nullable, no default).
    required: frozenset[str]
    #: Written by the county server only, delivered per village (``settlement``): stations
    #: never push it.
    server_authored: bool = False

    @property
    def local_only(self) -> bool:
        return self.name in LOCAL_ONLY_TABLES


def _default(value: Any) -> Any:
    # Evaluated once, when the specs are built (as the models' callables were before).
    if value == NEW_ID:
        return str(uuid.uuid4())
    if value == NOW:
        return datetime.utcnow().replace(microsecond=0)
    return value


@lru_cache(maxsize=1)
def table_specs() -> dict[str, TableSpec]:
    """Every synced table's spec, from the plain description in ``table_data``."""
    from .table_data import TABLES

    specs: dict[str, TableSpec] = {}
    for name, table in sorted(TABLES.items()):
        fields = {key: FieldSpec(key, *spec) for key, spec in table["fields"].items()}
        natural = table["natural_key"]
        specs[name] = TableSpec(name, table["reference"], fields, frozenset(table["local_fields"]),
                                tuple(natural) if natural is not None else None, tuple(table["columns"]),
                                {k: _default(v) for k, v in table["defaults"].items()},
                                frozenset(table["required"]), table["server_authored"])
    return specs


def value_problem(spec: FieldSpec, value: Any) -> str | None:
    """Why a JSON value does not fit the column (None when it does). The server refuses such ops
    (they would break stations or every later page); stations check pulled rows the same way."""
    if value is None:
        return None if spec.nullable else "null"
    kind = spec.kind
    if kind == "str":
        if not isinstance(value, str):
            return "not text"
        if spec.ref is not None:
            return None if is_uuid(value) else "not an id"
        return text_problem(value, spec.length or MAX_FIELD_CHARS)
    if kind == "bool":
        return None if isinstance(value, bool) else "not a boolean"
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
        return None if ok else "not an integer"
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "not a number"
        return None if math.isfinite(value) else "not finite"
    if kind == "date":
        if not isinstance(value, str) or len(value) != 10 or not _DATE.fullmatch(value):
            return "not a date"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "not a date"
        return None
    if kind == "datetime":
        if not isinstance(value, str) or len(value) > 26 or not _DATETIME.fullmatch(value):
            return "not a date and time"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "not a date and time"
        return None
    return None


def valid_value(spec: FieldSpec, value: Any) -> bool:
    """Whether a JSON value fits the column."""
    return value_problem(spec, value) is None


def natural_key_text(values: list[Any]) -> str:
    """One string per natural key, unambiguous whatever the values contain."""
    import json

    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
