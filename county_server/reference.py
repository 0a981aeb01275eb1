"""Read the county's reference file into rows for the reference stream — the server's own loading.

The file is read and validated by ``sync_protocol.reference`` (the station loads it with the same
code); here each row is completed with its table's defaults, checked against the table spec (a
value a station would refuse on pull is refused here) and keyed by its natural key.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sync_protocol.domain.errors import ValidationError
from sync_protocol.reference import read_reference_file, reference_sections
from sync_protocol.tables import FieldSpec, table_specs, value_problem


def _stored(spec: FieldSpec, value: Any) -> Any:
    """The value as a station's column would hand it back (booleans as booleans, dates as text)."""
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if spec.kind == "bool" and isinstance(value, int):
        return bool(value)
    if spec.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if spec.kind == "int" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def reference_rows(data: dict[str, Any] | str | Path) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """(table, natural key values, travelling fields) for every reference row in the file."""
    if not isinstance(data, dict):
        data = read_reference_file(data)
    specs = table_specs()
    by_table: dict[str, dict[tuple, dict[str, Any]]] = {}
    for section in reference_sections(data):
        spec = specs[section.table]
        rows = by_table.setdefault(section.table, {})
        for key, values in section.rows:
            ident = tuple(sorted(key.items()))
            if ident not in rows:  # a new row: the table's defaults, then the file's values
                rows[ident] = {name: spec.defaults.get(name) for name in spec.fields}
            rows[ident].update(key)
            rows[ident].update(values)
    out: list[tuple[str, list[Any], dict[str, Any]]] = []
    # Places first: scopes are computed from them in the same transaction.
    for table in sorted(by_table, key=lambda n: (n != "place", n)):
        spec = specs[table]
        for row in by_table[table].values():
            fields = {name: _stored(spec.fields[name], value) for name, value in row.items() if name in spec.fields}
            for name, value in fields.items():
                problem = value_problem(spec.fields[name], value)
                if problem is not None:
                    raise ValidationError(f"参考数据 {table}.{name} 的值有误（{problem}）：{value!r}")
            out.append((table, [fields[k] for k in spec.natural_key or ("id",)], fields))
    return out
