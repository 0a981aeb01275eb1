"""Read the county's reference file into rows for the reference stream, with the station's own loader.

The file format and its validation live in ``station_app.services.reference``; loading it into
a throw-away station database there and reading the rows back means the server accepts exactly
what a station would, and builds the same field values.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from station_app.services.changes import to_jsonable
from station_app.services.reference import load_reference, read_reference_file
from station_app.services.workspace import Workspace
from station_app.sync.tables import table_specs


def reference_rows(data: dict[str, Any] | str | Path) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """(table, natural key values, travelling fields) for every reference row in the file."""
    if not isinstance(data, dict):
        data = read_reference_file(data)
    specs = table_specs()
    rows: list[tuple[str, list[Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="county-ref-") as folder:
        ws = Workspace.open(Path(folder) / "reference.db", backups=Path(folder) / "backups")
        try:
            load_reference(ws, data)
            with ws.read() as session:
                # Places first: scopes are computed from them in the same transaction.
                for name in sorted((n for n, s in specs.items() if s.reference), key=lambda n: (n != "place", n)):
                    spec = specs[name]
                    for obj in session.scalars(select(spec.model)):
                        fields = {k: to_jsonable(getattr(obj, k)) for k in spec.fields}
                        rows.append((name, [fields[k] for k in spec.natural_key or ("id",)], fields))
        finally:
            ws.close()
    return rows
