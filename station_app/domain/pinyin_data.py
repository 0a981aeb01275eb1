"""pypinyin's two dictionaries, loaded in small steps so that no thread holds the GIL for long.

pypinyin (pinned 0.55.0) loads ``pinyin_dict.json`` (0.8 MB) and ``phrases_dict.json`` (2.5 MB)
with one ``json.loads`` each: one C call that holds the GIL ~100 ms on a quiet machine and longer
on a busy one. Whichever thread first needs a pinyin key (the 政策问答 list, a sync's apply, the first
registration of the day) therefore froze the window that long: the 政策 page's first open stalled
242 ms (bench/bench_ui_stall.py, goal < 200 ms). Here the same files are read in pieces of ~32 KB,
each its own ``json.loads``, so the interpreter can switch to the UI thread between pieces, and
the result is put in place as pypinyin's own ``pypinyin.pinyin_dict`` / ``pypinyin.phrases_dict``
modules before pypinyin imports them. The content is the same (tests/domain/test_pinyin_data.py
compares it with pypinyin's own loaders), at about the same CPU cost.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import re
import sys
import threading
import types
from pathlib import Path
from typing import Any

#: Where a JSON text may be cut between two entries: a comma, a line break, then a key's quote.
#: A JSON string holds no raw line break, so such a comma is never inside a string; a cut inside
#: a value leaves brackets open and the piece does not parse (it is then joined to the next one).
_CUT = re.compile(r",[ \t\r]*\n(?=[ \t\r\n]*\")")
#: About this many characters per json.loads call (~1–2 ms of GIL each).
PIECE_CHARS = 32_768
_lock = threading.Lock()


def read_json_object(text: str, piece_chars: int = PIECE_CHARS) -> dict[str, Any]:
    """A JSON object read in pieces of about ``piece_chars``, each by its own ``json.loads``
    (between two calls another thread can run); the same result as ``json.loads(text)``."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError("not a JSON object")
    inner = body[1:-1]
    entries: dict[str, Any] = {}
    start = 0
    for cut in _CUT.finditer(inner):
        if cut.start() - start < piece_chars:
            continue
        try:
            entries.update(json.loads("{" + inner[start:cut.start()] + "}"))
        except json.JSONDecodeError:
            continue  # cut inside a value: this piece goes on to the next cut
        start = cut.end()
    try:
        entries.update(json.loads("{" + inner[start:] + "}"))
    except json.JSONDecodeError as error:
        raise ValueError(f"not a JSON object: {error}") from error
    return entries


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
        # No collections while ~200,000 lists are made (they would walk them again and again,
        # ~40 ms a time: 177 → 71 ms for the phrases); they are frozen out of the collector below.
        collecting = gc.isenabled()
        gc.disable()
        try:
            singles = {int(code): value
                       for code, value in read_json_object(singles_file.read_text(encoding="utf8")).items()}
            phrases = read_json_object(phrases_file.read_text(encoding="utf8"))
        finally:
            if collecting:
                gc.enable()
        _install("pypinyin.pinyin_dict", "pinyin_dict", singles, singles_file)
        _install("pypinyin.phrases_dict", "phrases_dict", phrases, phrases_file)
        # The dictionaries live as long as the process: ~200,000 lists that every later full
        # collection would walk again (46 ms each, measured). Frozen, the collector skips them.
        # (Whatever else is alive at this moment is frozen too: a one-time, bounded cost.)
        gc.freeze()
