"""Qt for drawing notices: a QGuiApplication when none exists (CLI, bench) and the bundled CJK font.

Notices are drawn with Noto Sans SC from ``resources/fonts`` only, registered here and selected
by family name, so a PDF looks the same on every machine and never shows empty boxes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from PySide6.QtCore import QCoreApplication, QHashSeed, QLibraryInfo
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QRawFont

from station_app import paths

logger = logging.getLogger(__name__)

FAMILY = "Noto Sans SC"

_lock = threading.Lock()
_registered: list[str] | None = None


class FontMissing(RuntimeError):
    """The bundled CJK font is missing: printing would fall back to boxes."""


def ensure_app() -> QCoreApplication:
    """The running Qt application, or a new offscreen QGuiApplication (command line, scripts).

    Call from the main thread. A widget app (the GUI) is returned unchanged.
    """
    app = QCoreApplication.instance()
    if app is None:
        argv = [sys.argv[0] if sys.argv else "station-app"]
        if not os.environ.get("QT_QPA_PLATFORM") and _has_offscreen_plugin():
            argv += ["-platform", "offscreen"]
        app = QGuiApplication(argv)
    elif not isinstance(app, QGuiApplication):
        raise RuntimeError("绘制公示需要 QGuiApplication（当前是无界面的 QCoreApplication）。")
    ensure_fonts()
    return app


def _has_offscreen_plugin() -> bool:
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    folder = os.path.join(plugins, "platforms")
    try:
        return any("offscreen" in name for name in os.listdir(folder))
    except OSError:
        return False


def ensure_fonts() -> str:
    """Register the bundled fonts once per process; returns the family to select.

    Also makes Qt's hashing deterministic: QPdfWriter writes its fonts (regular, bold) in QHash
    order, which with Qt's per-process random seed made the same notice give different bytes in
    two runs. A notice's PDF must depend on its content only (the archive compares SHA-256).
    """
    global _registered
    with _lock:
        if _registered is None:
            QHashSeed.setDeterministicGlobalSeed()
            files = paths.font_files()
            families: set[str] = set()
            for path in files:
                font_id = QFontDatabase.addApplicationFont(str(path))
                if font_id < 0:
                    logger.warning("could not load font %s", path)
                    continue
                families.update(QFontDatabase.applicationFontFamilies(font_id))
            if FAMILY not in families:
                raise FontMissing(f"找不到公示用字体 {FAMILY}（应在 {paths.resources_dir() / 'fonts'}），"
                                  "请重新安装程序。")
            _registered = [str(p) for p in files]
    return FAMILY


def notice_font(point_size: float, bold: bool = False) -> QFont:
    """The one family, explicitly; no merging from other fonts, so no glyph comes from elsewhere."""
    font = QFont()
    font.setFamilies([FAMILY])
    font.setPointSizeF(point_size)
    font.setBold(bold)
    font.setStyleStrategy(QFont.StyleStrategy.NoFontMerging)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    font.setKerning(True)
    # Noto Sans SC's 'locl' feature swaps digits next to a Latin letter (the X of an ID number:
    # 610921********287X) for proportional glyphs that have no cmap entry. Qt's PDF writer names
    # each embedded glyph by a cmap look-up only, so those digits had no text at all (pdftotext
    # read "******** X"). With 'locl' off every glyph a notice draws is a cmap glyph; the test
    # tests/notices/test_text_layer.py checks that for every character a notice can print.
    font.setFeature(QFont.Tag("locl"), 0)
    return font


_unified: dict[int, int] | None = None


def radical_aliases() -> dict[int, int]:
    """Radical code point → CJK unified ideograph drawn with the same glyph of the bundled font.

    Noto Sans SC maps e.g. U+2EA0 ⺠ and U+6C11 民 to one glyph. Qt's PDF writer names each glyph
    by the lowest code point that maps to it, so without a fix a PDF's text layer (search, copy,
    pdftotext) reads 公⽰ for 公示. ``render`` rewrites those names with this table.
    """
    global _unified
    with _lock:
        if _unified is not None:
            return _unified
    ensure_fonts()
    regular = next((p for p in paths.font_files() if "Regular" in p.name), None)
    table: dict[int, int] = {}
    if regular is not None:
        raw = QRawFont(str(regular), 12)
        radicals = [c for c in range(0x2E80, 0x2FE0)]
        glyph_of = dict(zip(radicals, raw.glyphIndexesForString("".join(map(chr, radicals)))))
        wanted = {g: c for c, g in glyph_of.items() if g}
        unified = list(range(0x4E00, 0xA000)) + list(range(0x3400, 0x4DC0))
        for c, g in zip(unified, raw.glyphIndexesForString("".join(map(chr, unified)))):
            radical = wanted.get(g)
            if radical is not None and radical not in table:
                table[radical] = c
    with _lock:
        _unified = table
    return table
