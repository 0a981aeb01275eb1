"""pypinyin's two dictionaries, loaded in small steps so that no thread holds the GIL for long.

pypinyin (pinned 0.55.0) loads ``pinyin_dict.json`` (0.8 MB) and ``phrases_dict.json`` (2.5 MB)
with one ``json.loads`` each: one C call that holds the GIL ~100 ms on a quiet machine and longer
on a busy one. Whichever thread first needs a pinyin key (the 政策问答 list, a sync's apply, the first
registration of the day) therefore froze the window that long: the 政策 page's first open stalled
242 ms (bench/bench_ui_stall.py, goal < 200 ms). Here the same files are read one entry at a time
(``raw_decode`` per value), so the interpreter can switch to the UI thread between entries, and the
result is put in place as pypinyin's own ``pypinyin.pinyin_dict`` / ``pypinyin.phrases_dict``
modules before pypinyin imports them. The content is the same (tests/domain/test_pinyin_data.py
compares it with pypinyin's own loaders); it costs about twice the CPU, off the UI thread.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import re
import sys
import threading
import types
from json.decoder import scanstring
from pathlib import Path
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_lock = threading.Lock()


def read_json_object(text: str) -> dict[str, Any]:
    """A JSON object's entries, each value decoded by its own C call (same result as json.loads)."""
    skip = _WHITESPACE.match
    decode = json.JSONDecoder().raw_decode
    entries: dict[str, Any] = {}
    i = skip(text, 0).end()
    if text[i:i + 1] != "{":
        raise ValueError("not a JSON object")
    i = skip(text, i + 1).end()
    if text[i:i + 1] == "}":
        return entries
    while True:
        if text[i:i + 1] != '"':
            raise ValueError(f"key expected at {i}")
        key, i = scanstring(text, i + 1)
        i = skip(text, i).end()
        if text[i:i + 1] != ":":
            raise ValueError(f"':' expected at {i}")
        value, i = decode(text, skip(text, i + 1).end())
        entries[key] = value
        i = skip(text, i).end()
        mark = text[i:i + 1]
        if mark == "}":
            return entries
        if mark != ",":
            raise ValueError(f"',' expected at {i}")
        i = skip(text, i + 1).end()


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("pypinyin")  # finds the package without running it
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _install(name: str, attribute: str, value: dict, source: Path) -> None:
    module = types.ModuleType(name)
    module.__file__ = str(source)
    setattr(module, attribute, value)
    sys.modules[name] = module


def ensure_loaded() -> None:
    """Load pypinyin's dictionaries in small steps, once, before pypinyin itself is imported.

    Does nothing when pypinyin is already imported or its data files are not where expected
    (pypinyin then loads them itself, as before).
    """
    if "pypinyin.constants" in sys.modules:
        return
    with _lock:
        if "pypinyin.constants" in sys.modules or "pypinyin.phrases_dict" in sys.modules:
            return
        package = _package_dir()
        if package is None:
            return
        singles_file, phrases_file = package / "pinyin_dict.json", package / "phrases_dict.json"
        if not (singles_file.is_file() and phrases_file.is_file()):
            return
        singles = {int(code): value
                   for code, value in read_json_object(singles_file.read_text(encoding="utf8")).items()}
        phrases = read_json_object(phrases_file.read_text(encoding="utf8"))
        _install("pypinyin.pinyin_dict", "pinyin_dict", singles, singles_file)
        _install("pypinyin.phrases_dict", "phrases_dict", phrases, phrases_file)
        # The dictionaries live as long as the process: ~200,000 lists that every later full
        # collection would walk again (46 ms each, measured). Frozen, the collector skips them.
        # (Whatever else is alive at this moment is frozen too: a one-time, bounded cost.)
        gc.freeze()
