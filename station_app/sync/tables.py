"""Which station tables travel, with their fields, value kinds and natural keys (from the models)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, UniqueConstraint, inspect

from station_app.store.base import SYNC_BOOKKEEPING_FIELDS

from .protocol import MAX_FIELD_CHARS, is_uuid, text_problem

#: Station tables whose rows stay in the station: every station database has its own
#: accounts ("admin" exists everywhere), so user rows would collide on the username; a
#: station's own 政策问答 entries are its doctors' notes, not county data.
LOCAL_ONLY_TABLES = frozenset({"app_user", "qa_entry"})

#: Natural keys the reference loader upserts by, where the table declares no unique constraint.
EXTRA_NATURAL_KEYS = {"policy": ("county_code", "title")}

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
    model: type
    reference: bool
    #: Fields that travel (village_code and deleted included; id/hlc/row_version not).
    fields: dict[str, FieldSpec]
    local_fields: frozenset[str]
    natural_key: tuple[str, ...] | None
    #: Every column of the local table, for the upsert the client builds.
    columns: tuple[str, ...]
    #: Python-side defaults of non-nullable columns, for rows a newer/older peer left short.
    defaults: dict[str, Any]
    #: Columns a new local row cannot do without (non-nullable, no default).
    required: frozenset[str]
    #: Written by the county server only, delivered per village (``settlement``): stations
    #: never push it.
    server_authored: bool = False

    @property
    def local_only(self) -> bool:
        return self.name in LOCAL_ONLY_TABLES


def _kind(column) -> str:
    type_ = column.type
    if isinstance(type_, Boolean):
        return "bool"
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, (Float, Numeric)):
        return "float"
    return "str"


def _default(column) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        try:
            return default.arg(None)
        except TypeError:
            return default.arg()
    return None


@lru_cache(maxsize=1)
def table_specs() -> dict[str, TableSpec]:
    from station_app.store.models import MODEL_BY_TABLE

    specs: dict[str, TableSpec] = {}
    for name, model in sorted(MODEL_BY_TABLE.items()):
        table = model.__table__
        local = frozenset(getattr(model, "__local_fields__", frozenset()))
        mapper = inspect(model)
        fields = {}
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if attr.key in SYNC_BOOKKEEPING_FIELDS or attr.key in local:
                continue
            refs = [fk.column.table.name for fk in column.foreign_keys]
            fields[attr.key] = FieldSpec(attr.key, _kind(column), bool(column.nullable),
                                         getattr(column.type, "length", None), refs[0] if refs else None)
        natural = EXTRA_NATURAL_KEYS.get(name)
        if natural is None:
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    natural = tuple(c.name for c in constraint.columns)
                    break
        defaults = {c.name: _default(c) for c in table.columns if not c.nullable and c.default is not None}
        required = frozenset(c.name for c in table.columns if not c.nullable and c.default is None
                             and c.name not in SYNC_BOOKKEEPING_FIELDS and c.name not in local)
        specs[name] = TableSpec(name, model, bool(model.__reference__), fields, local, natural,
                                tuple(c.name for c in table.columns), defaults, required,
                                bool(getattr(model, "__server_authored__", False)))
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
