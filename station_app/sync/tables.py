"""Which station tables travel, with their fields, value kinds and natural keys (from the models)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, UniqueConstraint, inspect

from station_app.store.base import SYNC_BOOKKEEPING_FIELDS

#: Station tables whose rows stay in the station: every station database has its own
#: accounts ("admin" exists everywhere), so user rows would collide on the username; a
#: station's own 政策问答 entries are its doctors' notes, not county data.
LOCAL_ONLY_TABLES = frozenset({"app_user", "qa_entry"})

#: Natural keys the reference loader upserts by, where the table declares no unique constraint.
EXTRA_NATURAL_KEYS = {"policy": ("county_code", "title")}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # str | int | bool | float | date | datetime
    nullable: bool


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
            fields[attr.key] = FieldSpec(attr.key, _kind(column), bool(column.nullable))
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


def valid_value(spec: FieldSpec, value: Any) -> bool:
    """Whether a JSON value fits the column (the server refuses ops that would break stations)."""
    if value is None:
        return spec.nullable
    kind = spec.kind
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value):
            return False
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if kind == "datetime":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return True


def natural_key_text(values: list[Any]) -> str:
    """One string per natural key, unambiguous whatever the values contain."""
    import json

    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
