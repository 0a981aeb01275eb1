"""Lay a NoticeDocument out on pages and draw it to a PDF (QPdfWriter) or a printer (QPrinter).

The layout is our own on QPainter, not a QTextDocument table: pagination is done first (so
"第 x 页 共 y 页" is known on every page), the table header is repeated on each page, rows never
split, and a 3,000-row notice lays out in well under a second. Everything here works on a paint
device only — no widget — so it runs in a worker thread (create the device in that thread).

A4 is set in 12 pt and more for elderly readers; A3 (the village board) scales everything by
1.4. The PDF is made reproducible: fixed dates and document id derived from the content, and
the text layer names each glyph by its ideograph (see ``qtenv.radical_aliases``). The enrollment
roster is set in narrow side-by-side columns (``Composer.roster``) so a board holds it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QPointF, QRectF, Qt, QUuid
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPagedPaintDevice,
    QPainter,
    QPdfWriter,
    QPen,
    QStaticText,
    QTextLayout,
    QTextOption,
)

from .data import PAPERS, NoticeDocument, cn_date
from .qtenv import ensure_fonts, notice_font, radical_aliases

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]

PDF_RESOLUTION = 600
MARGIN_MM = (15.0, 13.0, 15.0, 12.0)  # left, top, right, bottom
INK = QColor("#000000")
GREY_TEXT = QColor("#333333")
RULE = QColor("#000000")
HEADER_FILL = QColor("#dcdcdc")
ZEBRA_FILL = QColor("#f2f2f2")
TITLE_RED = QColor("#b00000")
POSTER_FILL = QColor("#fbeaea")

_PAGE = {
    "A4": (QPageSize.PageSizeId.A4, QPageLayout.Orientation.Portrait, 1.0),
    "A4L": (QPageSize.PageSizeId.A4, QPageLayout.Orientation.Landscape, 1.0),
    "A3": (QPageSize.PageSizeId.A3, QPageLayout.Orientation.Portrait, 1.4),
    "A3L": (QPageSize.PageSizeId.A3, QPageLayout.Orientation.Landscape, 1.4),
}
# Point sizes on A4; A3 multiplies them.
SIZE_TITLE = 22.0
SIZE_POSTER_TITLE = 26.0
SIZE_META = 12.0
SIZE_BODY = 12.5
SIZE_TABLE = 12.0
SIZE_FOOTER = 11.0
SIZE_SECTION = 15.0
SIZE_POSTER_BODY = 13.5
#: The compact roster: 10.5 pt on A4 (≥ 10 pt for the board; A3 scales it like the rest).
SIZE_ROSTER = 10.0
ROSTER_GUTTER_MM = 3.0
#: Roster row pitch in ems: the printed-roster density (Noto's own line height is 1.45 em).
ROSTER_ROW_EM = 1.3
#: A roster column starts only if this many rows fit under its header (no orphaned headers).
ROSTER_MIN_ROWS = 3


class RenderCancelled(Exception):
    """The user cancelled while pages were being drawn."""


@dataclass(frozen=True)
class RenderResult:
    pdf: bytes
    pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


def page_layout(paper: str) -> QPageLayout:
    if paper not in _PAGE:
        raise ValueError(f"unknown paper {paper!r}; choose from {', '.join(PAPERS)}")
    size_id, orientation, _scale = _PAGE[paper]
    left, top, right, bottom = MARGIN_MM
    return QPageLayout(QPageSize(size_id), orientation, QMarginsF(left, top, right, bottom),
                       QPageLayout.Unit.Millimeter)


# --------------------------------------------------------------------------- atoms and pagination


@dataclass
class Atom:
    """One unsplittable strip of a page: a text line, a table row, a gap."""

    height: float
    draw: Callable[[QPainter, float, float], None] | None = None
    keep_with_next: bool = False
    gap: bool = False  # dropped at the top of a page
    table: "TableSpec | None" = None  # set on table rows: the header to repeat on a new page
    is_header: bool = False
    #: A flow that can be cut (the multi-column roster): split(room) → (part that fits, rest) or
    #: (None, self) when not even its minimum fits in ``room``.
    split: "Callable[[float], tuple[Atom | None, Atom | None]] | None" = None


@dataclass
class TableSpec:
    header: Atom | None


class Composer:
    """Measures the document for one device and paper and splits it into pages of atoms."""

    def __init__(self, doc: NoticeDocument, paper: str, device: QPagedPaintDevice):
        self.doc = doc
        self.paper = paper
        self.device = device
        self.scale = _PAGE[paper][2]
        layout = device.pageLayout()
        self.dpi = device.logicalDpiY()
        rect = layout.paintRectPixels(self.dpi)
        self.width = float(rect.width())
        self.height = float(rect.height())
        self.mm = self.dpi / 25.4
        self.pt = self.dpi / 72.0
        self.keep_alive: list[object] = []  # text layouts referenced by line atoms

    # -- fonts and text ---------------------------------------------------------------------

    def font(self, size: float, bold: bool = False):
        return notice_font(size * self.scale, bold)

    def metrics(self, font) -> QFontMetricsF:
        return QFontMetricsF(font, self.device)

    def paragraph(self, text: str, font, *, align=Qt.AlignmentFlag.AlignLeft, indent_em: float = 0.0,
                  width: float | None = None, spacing: float = 1.3, color: QColor = INK,
                  x_offset: float = 0.0) -> list[Atom]:
        """Wrapped lines of one paragraph (CJK line breaking by QTextLayout), one atom per line."""
        width = width if width is not None else self.width
        atoms: list[Atom] = []
        for part in text.split("\n"):
            if not part.strip():
                atoms.append(Atom(self.metrics(font).height() * 0.5, gap=True))
                continue
            layout = QTextLayout(part, font, self.device)
            option = QTextOption(align)
            option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            layout.setTextOption(option)
            indent = self.metrics(font).horizontalAdvance("中") * indent_em
            layout.beginLayout()
            first = True
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(width - (indent if first else 0))
                line.setPosition(QPointF(indent if first else 0, 0))
                first = False
                height = line.height() * spacing

                def draw(p: QPainter, x: float, y: float, line=line, height=height) -> None:
                    p.setPen(color)
                    line.draw(p, QPointF(x + x_offset, y + (height - line.height()) / 2))

                atoms.append(Atom(height, draw))
            layout.endLayout()
            self.keep_alive.append(layout)
        return atoms

    def gap(self, mm: float) -> Atom:
        return Atom(mm * self.mm * self.scale, gap=True)

    # -- tables -----------------------------------------------------------------------------

    def column_widths(self, titles: list[str], rows: list[list[str]], nowrap: list[bool],
                      body_fm: QFontMetricsF, head_fm: QFontMetricsF, pad: float) -> list[float]:
        """Headers break only where their title has a newline; one-line columns never shrink."""
        n = len(titles)
        head = [max(head_fm.horizontalAdvance(part) for part in t.split("\n")) + 2 * pad for t in titles]
        widest = [0.0] * n
        seen: list[set[str]] = [set() for _ in range(n)]
        for row in rows:
            for i, cell in enumerate(row):
                if cell in seen[i]:
                    continue
                seen[i].add(cell)
                w = body_fm.horizontalAdvance(cell)
                if w > widest[i]:
                    widest[i] = w
        want = [max(head[i], widest[i] + 2 * pad) for i in range(n)]
        if sum(want) <= self.width:
            extra = self.width - sum(want)
            return [w + extra * w / sum(want) for w in want]
        # Too wide: one-line columns (ID, amounts, dates) keep their width; short values (names,
        # statuses: up to four characters) stay on one line; long texts wrap and share the rest.
        four = body_fm.horizontalAdvance("中中中中") + 2 * pad
        two = body_fm.horizontalAdvance("中中") + 2 * pad
        flexible = [i for i in range(n) if not nowrap[i]]
        for fixed in ({i: want[i] for i in range(n) if nowrap[i]},
                      {i: widest[i] + 2 * pad for i in range(n) if nowrap[i]}):
            room = self.width - sum(fixed.values())
            for floor in (four, two):
                minimum = {i: max(min(widest[i] + 2 * pad, floor), min(head[i], floor)) for i in flexible}
                spare = room - sum(minimum.values())
                if spare >= 0:
                    out = [fixed.get(i, 0.0) for i in range(n)]
                    stretch = sum(max(want[i] - minimum[i], 0.0) for i in flexible)
                    for i in flexible:
                        share = (want[i] - minimum[i]) / stretch if stretch else 1 / len(flexible)
                        out[i] = minimum[i] + spare * max(share, 0.0)
                    if sum(out) < self.width:
                        extra = self.width - sum(out)
                        out = [w + extra * w / sum(out) for w in out]
                    return out
        k = self.width / sum(want)  # cannot fit even so: shrink everything alike
        return [w * k for w in want]

    def table(self, titles: list[str], aligns: list[str], nowrap: list[bool], rows: list[list[str]], *,
              size: float = SIZE_TABLE, header: bool = True, zebra: bool = True,
              widths_pct: list[float] | None = None, bold_first: bool = False,
              fill: QColor | None = None) -> list[Atom]:
        body_font = self.font(size)
        head_font = self.font(size, True)
        body_fm, head_fm = self.metrics(body_font), self.metrics(head_font)
        pad = 0.22 * body_fm.height()
        vpad = 0.22 * body_fm.height()
        if widths_pct:
            widths = [self.width * p for p in widths_pct]
        else:
            widths = self.column_widths(titles, rows, nowrap, body_fm, head_fm, pad)
        xs = [0.0]
        for w in widths:
            xs.append(xs[-1] + w)
        flags = [_align(a) for a in aligns]
        wrap_flags = [f | Qt.TextFlag.TextWrapAnywhere for f in flags]
        draw_flags = [f | Qt.AlignmentFlag.AlignVCenter for f in wrap_flags]
        # Headers are centred whatever their column's alignment (amounts are right-aligned).
        head_flags = [Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWrapAnywhere
                      for _ in flags]
        inner = [w - 2 * pad for w in widths]
        pen = QPen(RULE)
        pen.setWidthF(0.6 * self.pt)
        advance: dict[str, float] = {}  # many cells repeat (一组, 已缴费, —): measure each once

        def measure(cells: list[str], fm: QFontMetricsF, wrap_all: bool) -> float:
            h = base = fm.height()
            for i, cell in enumerate(cells):
                width = advance.get(cell) if fm is body_fm else None
                if width is None:
                    width = fm.horizontalAdvance(cell)
                    if fm is body_fm:
                        advance[cell] = width
                if "\n" not in cell and width <= inner[i]:
                    continue
                rect = fm.boundingRect(QRectF(0, 0, inner[i], 1e7), wrap_flags[i], cell)
                h = max(h, rect.height())
            return max(h, base) + 2 * vpad

        row_width = xs[-1]
        inner_lines = xs[1:-1]
        ascent, line_height = body_fm.ascent(), body_fm.height()
        # One-line cells are placed by hand: drawing a point is much cheaper than a wrapped rect,
        # and values that repeat (一组, 已缴费, —) are laid out once as QStaticText.
        counts: dict[str, int] = {}
        for row in rows:
            for cell in row:
                counts[cell] = counts.get(cell, 0) + 1
        statics: dict[str, QStaticText] = {}

        def place(i: int, cell: str) -> float | None:
            """x offset of a one-line cell inside its column, or None when it must wrap."""
            width = advance.get(cell)
            if width is None or width > inner[i] or "\n" in cell:
                return None
            if aligns[i] == "left":
                return 0.0
            if aligns[i] == "right":
                return inner[i] - width
            return (inner[i] - width) / 2

        def make_draw(cells: list[str], font, background: QColor | None, bold_cells: set[int],
                      is_header: bool = False):
            def draw(p: QPainter, x: float, y: float, height: float) -> None:
                if background is not None:
                    p.fillRect(QRectF(x, y, row_width, height), background)
                p.setFont(font)
                p.setPen(INK)
                top, text_h = y + vpad, height - 2 * vpad
                for i, cell in enumerate(cells):
                    if i in bold_cells:
                        p.setFont(head_font)
                        p.drawText(QRectF(x + xs[i] + pad, top, inner[i], text_h),
                                   head_flags[i] if is_header else draw_flags[i], cell)
                        p.setFont(font)
                        continue
                    offset = place(i, cell) if font is body_font else None
                    if offset is None:
                        p.drawText(QRectF(x + xs[i] + pad, top, inner[i], text_h), draw_flags[i], cell)
                        continue
                    left, line_top = x + xs[i] + pad + offset, top + (text_h - line_height) / 2
                    if counts.get(cell, 0) > 2:
                        static = statics.get(cell)
                        if static is None:
                            static = statics[cell] = QStaticText(cell)
                            static.setTextFormat(Qt.TextFormat.PlainText)
                        p.drawStaticText(QPointF(left, line_top), static)
                    else:
                        p.drawText(QPointF(left, line_top + ascent), cell)
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(x, y, row_width, height))
                for xi in inner_lines:
                    p.drawLine(QPointF(x + xi, y), QPointF(x + xi, y + height))
            return draw

        atoms: list[Atom] = []
        spec = TableSpec(None)
        if header:
            h = measure(titles, head_fm, True)
            head_draw = make_draw(titles, head_font, HEADER_FILL, set(range(len(titles))), True)
            spec.header = Atom(h, lambda p, x, y, d=head_draw, h=h: d(p, x, y, h), keep_with_next=True,
                               table=spec, is_header=True)
            atoms.append(spec.header)
        for n, row in enumerate(rows):
            h = measure(row, body_fm, False)
            background = fill if fill is not None else (ZEBRA_FILL if zebra and n % 2 else None)
            d = make_draw(row, body_font, background, {0} if bold_first else set())
            atoms.append(Atom(h, lambda p, x, y, d=d, h=h: d(p, x, y, h), table=spec))
        return atoms

    def roster(self, titles: list[str], aligns: list[str], rows: list[list[str]], *,
               size: float = SIZE_ROSTER) -> list[Atom]:
        """Narrow rows set two or three times side by side, every cell on one line.

        Columns are as wide as their widest cell, so nothing wraps; as many side-by-side copies
        as fit the paper are used. Rows run down the first copy, then the next; the last page is
        balanced. The header is repeated at the top of every copy.
        """
        body_font, head_font = self.font(size), self.font(size, True)
        body_fm, head_fm = self.metrics(body_font), self.metrics(head_font)
        em = size * self.scale * self.pt
        pad = 0.25 * em
        n_cols = len(titles)
        widest = [head_fm.horizontalAdvance(t) for t in titles]
        seen: list[set[str]] = [set() for _ in range(n_cols)]
        for row in rows:
            for i, cell in enumerate(row):
                if cell not in seen[i]:
                    seen[i].add(cell)
                    widest[i] = max(widest[i], body_fm.horizontalAdvance(cell))
        want = [w + 2 * pad for w in widest]
        gutter = ROSTER_GUTTER_MM * self.mm * self.scale
        block = sum(want)
        copies = max(1, int((self.width + gutter) // (block + gutter)))
        block_w = (self.width - (copies - 1) * gutter) / copies
        widths = [w * block_w / block for w in want]  # ≥ want when it fits (copies ≥ 1)
        xs = [0.0]
        for w in widths:
            xs.append(xs[-1] + w)
        row_h = ROSTER_ROW_EM * em
        head_h = ROSTER_ROW_EM * em
        # Baseline that centres the ideographic em box (0.88 em above, 0.12 em below) in the row.
        baseline = row_h / 2 + 0.38 * em
        pen = QPen(RULE)
        pen.setWidthF(0.5 * self.pt)

        def cell_x(i: int, text: str, fm: QFontMetricsF) -> float:
            room = widths[i] - 2 * pad
            adv = fm.horizontalAdvance(text)
            if aligns[i] == "left":
                return xs[i] + pad
            if aligns[i] == "right":
                return xs[i] + pad + room - adv
            return xs[i] + pad + (room - adv) / 2

        def draw_copy(p: QPainter, x: float, y: float, chunk: list[list[str]], start: int) -> None:
            p.fillRect(QRectF(x, y, block_w, head_h), HEADER_FILL)
            p.setPen(INK)
            p.setFont(head_font)
            for i, t in enumerate(titles):
                p.drawText(QPointF(x + cell_x(i, t, head_fm), y + baseline), t)
            p.setFont(body_font)
            for k, row in enumerate(chunk):
                top = y + head_h + k * row_h
                if (start + k) % 2:
                    p.fillRect(QRectF(x, top, block_w, row_h), ZEBRA_FILL)
                for i, cell in enumerate(row):
                    p.drawText(QPointF(x + cell_x(i, cell, body_fm), top + baseline), cell)
            height = head_h + len(chunk) * row_h
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x, y, block_w, height))
            p.drawLine(QPointF(x, y + head_h), QPointF(x + block_w, y + head_h))
            for xi in xs[1:-1]:
                p.drawLine(QPointF(x + xi, y), QPointF(x + xi, y + height))

        def make(remaining: list[list[str]]) -> Atom:
            def split(room: float, remaining=remaining) -> tuple[Atom | None, Atom | None]:
                per_col = int((room - head_h) // row_h)
                if per_col < min(ROSTER_MIN_ROWS, len(remaining)):
                    return None, None
                capacity = per_col * copies
                if len(remaining) <= capacity:
                    per_col = -(-len(remaining) // copies)
                    chunk, rest = remaining, []
                else:
                    chunk, rest = remaining[:capacity], remaining[capacity:]
                parts = [chunk[c * per_col:(c + 1) * per_col] for c in range(copies)]
                height = head_h + per_col * row_h

                def draw(p: QPainter, x: float, y: float, parts=parts, per_col=per_col) -> None:
                    for c, part in enumerate(parts):
                        if part:
                            draw_copy(p, x + c * (block_w + gutter), y, part, c * per_col)

                return Atom(height, draw), (make(rest) if rest else None)

            minimum = head_h + min(ROSTER_MIN_ROWS, len(remaining)) * row_h
            return Atom(minimum, None, split=split)

        return [make(list(rows))] if rows else []

    # -- the notice -------------------------------------------------------------------------

    def title_atoms(self, size: float, color: QColor) -> list[Atom]:
        # Largest size that keeps the title on one line, down to 80 %; longer titles wrap.
        for k in (1.0, 0.92, 0.85, 0.8):
            font = self.font(size * k, True)
            if self.metrics(font).horizontalAdvance(self.doc.title) <= self.width:
                break
        return self.paragraph(self.doc.title, font, align=Qt.AlignmentFlag.AlignHCenter, spacing=1.35,
                              color=color)

    def meta_atoms(self) -> list[Atom]:
        doc = self.doc
        text = f"公示范围：{doc.scope_text}　　公示期：{doc.period_text()}" if doc.is_notice else f"范围：{doc.scope_text}"
        return self.paragraph(text, self.font(SIZE_META), align=Qt.AlignmentFlag.AlignHCenter, color=GREY_TEXT)

    def signature_atoms(self) -> list[Atom]:
        font = self.font(SIZE_BODY)
        right = Qt.AlignmentFlag.AlignRight
        lines = self.paragraph(f"{self.doc.issuer}（盖章）", font, align=right)
        lines += self.paragraph(cn_date(self.doc.issue_date), font, align=right)
        lines[0].keep_with_next = True
        return lines

    def flow(self) -> list[Atom]:
        doc = self.doc
        atoms: list[Atom] = []
        body = self.font(SIZE_BODY)
        if doc.is_table:
            atoms += self.title_atoms(SIZE_TITLE, INK)
            atoms += self.meta_atoms()
            atoms.append(self.gap(3))
            atoms += self.paragraph(doc.intro, body, indent_em=2)
            atoms.append(self.gap(2))
            if doc.rows:
                atoms += self.any_table(doc.columns, doc.rows, doc.layout)
            else:
                atoms += self.paragraph(f"（{doc.summary or '本期无符合公示条件的记录。'}）", self.font(SIZE_SECTION, True),
                                        align=Qt.AlignmentFlag.AlignHCenter)
            atoms.append(self.gap(3))
            if not doc.empty:
                atoms += self.paragraph(doc.summary, body, indent_em=2)
            for block in doc.blocks:
                atoms.append(self.gap(4))
                heading = self.paragraph(block["title"], self.font(SIZE_BODY, True))
                for atom in heading:
                    atom.keep_with_next = True
                atoms += heading
                if block["rows"]:
                    atoms += self.any_table(block["columns"], block["rows"], block.get("layout", "detail"))
                else:
                    atoms += self.paragraph("（无）", body, indent_em=2)
            for note in doc.notes:
                atoms += self.paragraph(note, self.font(SIZE_FOOTER), color=GREY_TEXT)
        else:
            atoms += self.poster_flow()
        if doc.is_notice:
            atoms.append(self.gap(6))
            atoms += self.signature_atoms()
        return atoms

    def any_table(self, cols, rows: list[list[str]], layout: str) -> list[Atom]:
        titles, aligns = [c.title for c in cols], [c.align for c in cols]
        if layout == "roster":
            return self.roster(titles, aligns, rows)
        return self.table(titles, aligns, [c.nowrap for c in cols], rows)

    def poster_flow(self) -> list[Atom]:
        doc = self.doc
        atoms = self.title_atoms(SIZE_POSTER_TITLE, TITLE_RED)
        atoms += self.meta_atoms()
        atoms.append(self.gap(3))
        body = self.font(SIZE_POSTER_BODY)
        atoms += self.paragraph(doc.intro, body, indent_em=2)
        if doc.highlights:
            atoms.append(self.gap(3))
            heading = self.section_heading("政策要点")
            atoms += heading
            rows = [[label, value] for label, value in doc.highlights]
            atoms += self.table(["", ""], ["left", "left"], [True, False], rows, size=SIZE_POSTER_BODY,
                                header=False, zebra=False, widths_pct=[0.26, 0.74], bold_first=True,
                                fill=None)
        numbers = "一二三四五六七八九十"
        for i, section in enumerate(doc.sections):
            atoms.append(self.gap(4))
            label = numbers[i] if i < len(numbers) else str(i + 1)
            atoms += self.section_heading(f"{label}、{section.title}")
            atoms.append(self.gap(1.2))
            lines = self.paragraph(section.body.strip(), body, indent_em=2, spacing=1.4)
            if lines:  # a heading stays with the first two lines of its text
                lines[0].keep_with_next = True
            atoms += lines
            if section.doc_no:
                atoms += self.paragraph(f"政策依据：{section.doc_no}", self.font(SIZE_FOOTER), color=GREY_TEXT,
                                        align=Qt.AlignmentFlag.AlignRight)
        if not doc.sections and not doc.highlights:
            atoms += self.paragraph("（县医保局尚未下发本年度政策。）", body, align=Qt.AlignmentFlag.AlignHCenter)
        atoms.append(self.gap(4))
        atoms += self.paragraph(doc.summary, self.font(SIZE_BODY), indent_em=2)
        return atoms

    def section_heading(self, text: str) -> list[Atom]:
        font = self.font(SIZE_SECTION, True)
        fm = self.metrics(font)
        height = fm.height() * 1.5
        bar = 1.6 * self.mm * self.scale

        def draw(p: QPainter, x: float, y: float) -> None:
            p.fillRect(QRectF(x, y, self.width, height), POSTER_FILL)
            p.fillRect(QRectF(x, y, bar, height), TITLE_RED)
            p.setFont(font)
            p.setPen(TITLE_RED)
            p.drawText(QRectF(x + bar * 2.5, y, self.width - bar * 3, height),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)

        return [Atom(height, draw, keep_with_next=True)]

    # -- page furniture ---------------------------------------------------------------------

    def footer_lines(self, page: int, total: int) -> list[tuple[str, Qt.AlignmentFlag]]:
        doc = self.doc
        if not doc.is_notice:  # a working list (e.g. 未缴清单): no 公示期, no objections, no phone
            return [(f"制表单位：{doc.issuer}　　制表日期：{cn_date(doc.issue_date)}", Qt.AlignmentFlag.AlignLeft),
                    (f"第 {page} 页 共 {total} 页", Qt.AlignmentFlag.AlignHCenter)]
        first = f"公示期：{doc.period_text()}。{doc.objection_text()}"
        phone = doc.supervision_phone or "（未设置）"
        second = f"监督电话：{phone}　　发布单位：{doc.issuer}　　发布日期：{cn_date(doc.issue_date)}"
        return [(first, Qt.AlignmentFlag.AlignLeft), (second, Qt.AlignmentFlag.AlignLeft),
                (f"第 {page} 页 共 {total} 页", Qt.AlignmentFlag.AlignHCenter)]

    def footer_height(self) -> float:
        cached = getattr(self, "_footer_height", None)
        if cached is not None:
            return cached
        self._footer_height = self._measure_footer()
        return self._footer_height

    def _measure_footer(self) -> float:
        font = self.font(SIZE_FOOTER)
        fm = self.metrics(font)
        h = 0.0
        for text, align in self.footer_lines(9999, 9999):
            rect = fm.boundingRect(QRectF(0, 0, self.width, 1e7), align | Qt.TextFlag.TextWordWrap, text)
            h += rect.height() + 0.15 * fm.height()
        return h + 2.5 * self.mm

    def draw_footer(self, p: QPainter, page: int, total: int) -> None:
        font = self.font(SIZE_FOOTER)
        fm = self.metrics(font)
        p.setFont(font)
        y = self.height - self.footer_height()
        pen = QPen(RULE)
        pen.setWidthF(0.6 * self.pt)
        p.setPen(pen)
        p.drawLine(QPointF(0, y + 0.8 * self.mm), QPointF(self.width, y + 0.8 * self.mm))
        y += 2.0 * self.mm
        p.setPen(INK)
        for text, align in self.footer_lines(page, total):
            flags = align | Qt.TextFlag.TextWordWrap
            rect = fm.boundingRect(QRectF(0, 0, self.width, 1e7), flags, text)
            p.drawText(QRectF(0, y, self.width, rect.height()), flags, text)
            y += rect.height() + 0.15 * fm.height()

    def running_header(self) -> Atom:
        font = self.font(SIZE_FOOTER)
        fm = self.metrics(font)
        height = fm.height() * 1.6
        text = f"{self.doc.title}（续）"

        def draw(p: QPainter, x: float, y: float) -> None:
            p.setFont(font)
            p.setPen(GREY_TEXT)
            p.drawText(QRectF(x, y, self.width, fm.height() * 1.3),
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)

        return Atom(height, draw)

    def _need(self, atoms: list[Atom], index: int) -> float:
        """Height that must fit for ``atoms[index]`` to start here: itself plus, while it is kept
        with the next, what follows — a gap passes the keep on, so a heading stays with its text
        (the policy notice's 「二、…」 alone at a page foot was this)."""
        need = atoms[index].height
        keep, j = atoms[index].keep_with_next, index
        while keep and j + 1 < len(atoms):
            j += 1
            need += atoms[j].height
            keep = atoms[j].gap or atoms[j].keep_with_next
        return need

    def paginate(self) -> list[list[tuple[float, Atom]]]:
        atoms = self.flow()
        bottom = self.height - self.footer_height() - 1.5 * self.mm
        running = self.running_header()
        pages: list[list[tuple[float, Atom]]] = [[]]
        y = 0.0
        placed = 0  # flow atoms on the current page (running header and repeated header excluded)

        def new_page(next_atom: Atom) -> None:
            nonlocal y, placed
            pages.append([(0.0, running)])
            y = running.height
            placed = 0
            spec = next_atom.table
            if spec is not None and spec.header is not None and not next_atom.is_header:
                pages[-1].append((y, spec.header))
                y += spec.header.height

        for index, atom in enumerate(atoms):
            if atom.gap and placed == 0:
                continue
            if atom.split is not None:
                current: Atom | None = atom
                while current is not None:
                    part, rest = current.split(bottom - y)
                    if part is None:
                        if placed == 0:  # not even the minimum fits an empty page: take it anyway
                            part, rest = current.split(1e9)
                        else:
                            new_page(current)
                            continue
                    pages[-1].append((y, part))
                    y += part.height
                    placed += 1
                    current = rest
                    if current is not None:
                        new_page(current)
                continue
            need = self._need(atoms, index)
            if y + need > bottom and placed > 0:
                if atom.gap:
                    continue
                new_page(atom)
            pages[-1].append((y, atom))
            y += atom.height
            placed += 1
        return pages


def _align(name: str) -> Qt.AlignmentFlag:
    return {"left": Qt.AlignmentFlag.AlignLeft, "right": Qt.AlignmentFlag.AlignRight}.get(
        name, Qt.AlignmentFlag.AlignHCenter)


# --------------------------------------------------------------------------- drawing


def paint(doc: NoticeDocument, paper: str, device: QPagedPaintDevice, *, progress: Progress | None = None,
          cancel: Cancel | None = None) -> int:
    """Draw every page on ``device`` (its page layout is set here); returns the page count."""
    ensure_fonts()
    if not device.setPageLayout(page_layout(paper)):
        raise RuntimeError("打印机不支持所选纸张。")
    composer = Composer(doc, paper, device)
    pages = composer.paginate()
    total = len(pages)
    painter = QPainter()
    if not painter.begin(device):
        raise RuntimeError("无法开始绘制（打印机或文件不可用）。")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        for number, page in enumerate(pages, 1):
            if cancel is not None and cancel():
                raise RenderCancelled()
            if number > 1:
                device.newPage()
            for y, atom in page:
                if atom.draw is not None:
                    atom.draw(painter, 0.0, y)
            composer.draw_footer(painter, number, total)
            if progress is not None:
                progress(number, total, f"第 {number}/{total} 页")
    finally:
        painter.end()
    return total


PREVIEW_DPI = 96


def render_preview(doc: NoticeDocument, paper: str, *, dpi: int = PREVIEW_DPI, progress: Progress | None = None,
                   cancel: Cancel | None = None) -> list[bytes]:
    """Every page as a PNG (bytes), drawn on QImages: safe in a worker thread, so the preview
    window never paints a long notice on the UI thread. Laid out exactly as the PDF (same
    600-dpi measuring device), then drawn scaled."""
    from PySide6.QtGui import QImage

    ensure_fonts()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION)
    layout = page_layout(paper)
    writer.setPageLayout(layout)
    composer = Composer(doc, paper, writer)
    pages = composer.paginate()
    full = layout.fullRectPixels(PDF_RESOLUTION)
    paint_rect = layout.paintRectPixels(PDF_RESOLUTION)
    k = dpi / PDF_RESOLUTION
    out: list[bytes] = []
    total = len(pages)
    for number, page in enumerate(pages, 1):
        if cancel is not None and cancel():
            raise RenderCancelled()
        image = QImage(round(full.width() * k), round(full.height() * k), QImage.Format.Format_RGB32)
        image.fill(QColor("#ffffff"))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.scale(k, k)
        painter.translate(paint_rect.left(), paint_rect.top())
        for y, atom in page:
            if atom.draw is not None:
                atom.draw(painter, 0.0, y)
        composer.draw_footer(painter, number, total)
        painter.end()
        png = QBuffer()
        png.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(png, "PNG")
        out.append(bytes(png.data()))
        if progress is not None:
            progress(number, total, f"预览 第 {number}/{total} 页")
    return out


def count_pages(doc: NoticeDocument, paper: str) -> int:
    """Pages the notice will take, without drawing (uses a throwaway PDF device)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION)
    writer.setPageLayout(page_layout(paper))
    return len(Composer(doc, paper, writer).paginate())


def render_pdf(doc: NoticeDocument, paper: str = "A4L", path: str | Path | None = None, *,
               progress: Progress | None = None, cancel: Cancel | None = None) -> RenderResult:
    """The notice as PDF bytes (and written to ``path`` when given)."""
    ensure_fonts()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_RESOLUTION)
    writer.setTitle(doc.title)
    writer.setCreator("村级医保服务站")
    writer.setAuthor(doc.issuer)
    content_id = uuid.uuid5(uuid.NAMESPACE_URL, "notice:" + paper + ":" + doc.to_json())
    writer.setDocumentId(QUuid(str(content_id)))
    # Our own XMP packet, dated by the issue date: Qt's would carry the current time.
    writer.setDocumentXmpMetadata(xmp_metadata(doc, content_id))
    pages = paint(doc, paper, writer, progress=progress, cancel=cancel)
    del writer  # flushes the trailer into the buffer
    buffer.close()
    pdf = fix_pdf(bytes(buffer.data()), doc.issue_date)
    if path is not None:
        Path(path).write_bytes(pdf)
    return RenderResult(pdf, pages)


def xmp_metadata(doc: NoticeDocument, content_id: uuid.UUID) -> bytes:
    from xml.sax.saxutils import escape

    stamp = doc.issue_date.strftime("%Y-%m-%dT00:00:00+00:00")
    return (
        "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>"
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(doc.title)}</rdf:li></rdf:Alt></dc:title>'
        f'<dc:creator><rdf:Seq><rdf:li>{escape(doc.issuer)}</rdf:li></rdf:Seq></dc:creator>'
        f'<xmp:CreatorTool>村级医保服务站</xmp:CreatorTool><xmp:CreateDate>{stamp}</xmp:CreateDate>'
        f'<xmp:ModifyDate>{stamp}</xmp:ModifyDate><xmp:MetadataDate>{stamp}</xmp:MetadataDate>'
        f'<xmpMM:DocumentID>uuid:{content_id}</xmpMM:DocumentID>'
        "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    ).encode("utf-8")


# --------------------------------------------------------------------------- PDF post-processing
#
# Two length-preserving substitutions remain, each because Qt offers no setting for it (and each
# proven still needed by a test in tests/notices/test_text_layer.py, which looks at Qt's raw output):
# * /CreationDate and /ModDate of the Info dictionary: QPdfWriter always writes the current time.
# * glyph names in the ToUnicode maps for glyphs Noto Sans SC shares between a CJK radical and the
#   ideograph (⺠/民): Qt names a glyph by the *lowest* code point mapping to it.
# (The XMP dates are our own packet now; the font order is made deterministic in qtenv.)

_PDF_DATE = re.compile(rb"/(?:CreationDate|ModDate) \((D:)(\d{14})")
_CMAP_BLOCK = re.compile(rb"(beginbf(?:range|char)\n)(.*?)(\nendbf(?:range|char))", re.S)
_HEX4 = re.compile(rb"<([0-9A-Fa-f]{4})>")


def fix_pdf(pdf: bytes, issued: date) -> bytes:
    """Make the bytes depend on the content only, and the text layer read as printed.

    Every substitution keeps the byte length, so the cross-reference table stays valid.
    """
    stamp = issued.strftime("%Y%m%d000000").encode()
    pdf = _PDF_DATE.sub(lambda m: m.group(0)[:-14] + stamp, pdf)
    aliases = radical_aliases()
    if not aliases:
        return pdf
    swap = {f"{r:04X}".encode(): f"{u:04X}".encode() for r, u in aliases.items()}

    def fix_dest(m: re.Match) -> bytes:
        code = m.group(1).upper()
        return b"<" + swap.get(code, m.group(1)) + b">"

    def fix_block(m: re.Match) -> bytes:
        lines = []
        for line in m.group(2).split(b"\n"):
            if m.group(1).startswith(b"beginbfchar"):
                src, _, dest = line.partition(b" ")
                lines.append(src + b" " + _HEX4.sub(fix_dest, dest) if dest else line)
                continue
            if b"[" in line:
                head, _, array = line.partition(b"[")
                lines.append(head + b"[" + _HEX4.sub(fix_dest, array))
                continue
            parts = line.split(b" ")
            # "<lo> <hi> <dst>": only a single-glyph range can be renamed in place.
            if len(parts) == 3 and parts[0] == parts[1]:
                parts[2] = _HEX4.sub(fix_dest, parts[2])
            lines.append(b" ".join(parts))
        return m.group(1) + b"\n".join(lines) + m.group(3)

    return _CMAP_BLOCK.sub(fix_block, pdf)
