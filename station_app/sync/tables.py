"""The station side of the table specs: describe the synced models as the plain data that
``sync_protocol.table_data`` holds, so a test (and ``python -m station_app.sync.tables``, which
rewrites that file) keeps the shared description in step with ``store.models``.

Everything else about table specs (``table_specs``, ``value_problem``, ``natural_key_text``)
lives in ``sync_protocol.tables``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, UniqueConstraint, inspect

from station_app.store.base import SYNC_BOOKKEEPING_FIELDS, new_id, utcnow
from sync_protocol.tables import EXTRA_NATURAL_KEYS, NEW_ID, NOW

#: Callable column defaults, by what the shared description calls them.
_CALLABLE_DEFAULTS = {new_id: NEW_ID, utcnow: NOW}


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
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        fn = getattr(default.arg, "__wrapped__", None) or default.arg
        for known, marker in _CALLABLE_DEFAULTS.items():
            if fn is known or getattr(fn, "__name__", None) == known.__name__:
                return marker
        raise ValueError(f"{column.table.name}.{column.name}: a callable default the protocol does not name")
    raise ValueError(f"{column.table.name}.{column.name}: a default the protocol cannot describe")


def describe_tables() -> dict[str, dict[str, Any]]:
    """The synced models as ``sync_protocol.table_data.TABLES`` describes them."""
    from station_app.store.models import MODEL_BY_TABLE

    tables: dict[str, dict[str, Any]] = {}
    for name, model in sorted(MODEL_BY_TABLE.items()):
        table = model.__table__
        local = frozenset(getattr(model, "__local_fields__", frozenset()))
        fields = {}
        for attr in inspect(model).column_attrs:
            column = attr.columns[0]
            if attr.key in SYNC_BOOKKEEPING_FIELDS or attr.key in local:
                continue
            refs = [fk.column.table.name for fk in column.foreign_keys]
            fields[attr.key] = (_kind(column), bool(column.nullable), getattr(column.type, "length", None),
                                refs[0] if refs else None)
        natural = EXTRA_NATURAL_KEYS.get(name)
        if natural is None:
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    natural = tuple(c.name for c in constraint.columns)
                    break
        tables[name] = {
            "reference": bool(model.__reference__),
            "server_authored": bool(getattr(model, "__server_authored__", False)),
            "natural_key": natural,
            "columns": tuple(c.name for c in table.columns),
            "local_fields": tuple(sorted(local)),
            "fields": fields,
            "defaults": {c.name: _default(c) for c in table.columns if not c.nullable and c.default is not None},
            "required": tuple(sorted(c.name for c in table.columns if not c.nullable and c.default is None
                                     and c.name not in SYNC_BOOKKEEPING_FIELDS and c.name not in local)),
        }
    return tables


def table_data_source() -> str:
    """The text of ``sync_protocol/table_data.py`` for the current models."""
    lines = ['"""Which station tables travel: fields (kind, nullable, longest text, table a foreign key',
             'names), natural keys, columns and defaults — plain data shared by station and server.',
             '',
             'Generated from station_app.store.models by ``python -m station_app.sync.tables``; do not',
             'edit by hand (tests/sync/test_table_specs.py fails when it and the models differ).',
             '"""',
             '',
             'from __future__ import annotations',
             '',
             'from typing import Any',
             '',
             'TABLES: dict[str, dict[str, Any]] = {']
    for name, table in describe_tables().items():
        lines.append(f"    {name!r}: {{")
        for key in ("reference", "server_authored", "natural_key", "columns", "local_fields"):
            lines.append(f"        {key!r}: {table[key]!r},")
        lines.append("        'fields': {")
        for field, spec in table["fields"].items():
            lines.append(f"            {field!r}: {spec!r},")
        lines.append("        },")
        lines.append(f"        'defaults': {table['defaults']!r},")
        lines.append(f"        'required': {table['required']!r},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # rewrite the shared description after a schema change
    target = Path(__file__).resolve().parents[2] / "sync_protocol" / "table_data.py"
    target.write_text(table_data_source(), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
