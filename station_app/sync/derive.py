"""Local-only fields the station derives itself when a row arrives (they never travel).

Today that is the resident's pinyin search keys (``domain.names.pinyin_keys``, cached and
fast enough for an initial sync of 60,000 residents).
"""

from __future__ import annotations

from typing import Any, Callable

from station_app.domain.names import pinyin_keys


def _resident(fields: dict[str, Any]) -> dict[str, Any]:
    if "name" not in fields:
        return {}
    full, initials = pinyin_keys(fields["name"] or "")
    return {"name_pinyin": full, "name_initials": initials}


#: table → function(incoming fields) → local fields to store with them.
DERIVERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"resident": _resident}


def derived_columns(table: str) -> tuple[str, ...]:
    return ("name_pinyin", "name_initials") if table == "resident" else ()
