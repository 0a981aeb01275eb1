"""Lay out an HTML document and write it as an A4 PDF in a child process.

QTextDocument's layout of a long table (a township's 未缴清单: 8,000 rows, ~160 pages) takes
seconds and PySide6 keeps the GIL while it runs, so even on a worker thread the window froze for
all of it. In a spawned process the GIL is the child's own; the calling worker thread only waits
(releasing the GIL), and the window stays responsive. The frozen build supports spawn through
``multiprocessing.freeze_support()`` in its launcher.

The child imports only Qt and ``notices.qtenv`` (the bundled CJK font, an offscreen
QGuiApplication), never the database or the services.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _render(html: str, path: str, point_size: int, landscape: bool) -> int:
    """In the child: lay out ``html`` on A4 at ``point_size`` and write it; returns the page count."""
    from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPdfWriter, QTextDocument

    from station_app.notices import qtenv

    app = qtenv.ensure_app()  # kept alive while the document is drawn; registers the bundled font
    writer = QPdfWriter(path)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageOrientation(QPageLayout.Orientation.Landscape if landscape else QPageLayout.Orientation.Portrait)
    writer.setResolution(300)
    doc = QTextDocument()
    font = QFont(qtenv.FAMILY)
    font.setPointSize(point_size)
    doc.setDefaultFont(font)
    # QTextDocument lays out in 96-dpi pixels; a page given in points (72 dpi) would hold a
    # quarter fewer rows than the paper does once printed.
    doc.setPageSize(writer.pageLayout().paintRect(QPageLayout.Unit.Point).size() * (96 / 72))
    doc.setHtml(html)
    pages = doc.pageCount()
    doc.print_(writer)
    return pages


def write_html_pdf(html: str, path: Path, *, point_size: int, landscape: bool = False) -> int:
    """Write ``html`` as an A4 PDF at ``path`` in a child process; returns the number of pages.

    Blocks the calling thread (run it as a background task) but not the GIL: the UI thread keeps
    painting meanwhile. Errors in the child are raised here.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_render, html, str(path), point_size, landscape).result()
