"""Local-only fields the station derives itself when a row arrives (they never travel).

Today that is the resident's pinyin search keys. ``domain.names.pinyin_keys`` runs pypinyin's
phrase segmentation (~60 µs a name), which alone would cap an initial sync of 60,000
residents at a few thousand rows a second. Names without any multi-character phrase of the
pinyin dictionary (nearly all of them) segment into single characters, so their keys are the
concatenation of per-character keys, which we cache; the rest take the full path. A test
checks the two agree.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from station_app.domain.names import pinyin_keys


@lru_cache(maxsize=1)
def _phrases() -> frozenset[str] | dict:
    from pypinyin.constants import PHRASES_DICT

    return PHRASES_DICT


@lru_cache(maxsize=20000)
def _char_keys(char: str) -> tuple[str, str]:
    return pinyin_keys(char)


@lru_cache(maxsize=65536)
def fast_pinyin_keys(name: str) -> tuple[str, str]:
    """Same result as ``pinyin_keys(name)``, much faster for ordinary names (and names repeat)."""
    if not name:
        return "", ""
    phrases = _phrases()
    n = len(name)
    for i in range(n):
        for j in range(i + 2, n + 1):
            if name[i:j] in phrases:
                return pinyin_keys(name)
    full, initials = [], []
    for char in name:
        f, s = _char_keys(char)
        full.append(f)
        initials.append(s)
    return "".join(full), "".join(initials)


def _resident(fields: dict[str, Any]) -> dict[str, Any]:
    if "name" not in fields:
        return {}
    full, initials = fast_pinyin_keys(fields["name"] or "")
    return {"name_pinyin": full, "name_initials": initials}


#: table → function(incoming fields) → local fields to store with them.
DERIVERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"resident": _resident}


def derived_columns(table: str) -> tuple[str, ...]:
    return ("name_pinyin", "name_initials") if table == "resident" else ()
