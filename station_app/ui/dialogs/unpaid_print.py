"""The 未缴清单's compact printout: HTML for QTextDocument, laid out on A4 and written as a PDF.

No widget is touched here, so the PDF can be written away from the window (see ``write_unpaid_pdf``).
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtGui import QFont, QTextDocument

from station_app.domain.money import yuan
from station_app.services import enrollment as svc

#: Print sizes of the 未缴清单: ≥ 40 people a page of A4 and a phone number never broken over lines.
PRINT_POINT_SIZE = 8
_NOWRAP = " style='white-space:nowrap'"


def unpaid_html(data: svc.UnpaidList, title: str, outcomes: dict[str, Any] | None = None) -> str:
    """The unpaid list as one compact table (a spanning row per group), for QTextDocument printing.

    One row a person (the household's number, head and phone only on its first row), small
    type, tight cells, phones kept on one line; 催缴情况 carries the last recorded outcome.
    """
    e = html.escape
    outcomes = outcomes or {}
    parts = [f"<h3 align='center'>{e(title)}</h3>",
             f"<p>未缴 {data.households:,} 户 {data.people:,} 人"
             + (f"；缴费截止 {data.deadline:%Y-%m-%d}（{e(data.deadline_text)}）" if data.deadline else "")
             + (f"；其中 {data.flagged:,} 户仅老人/小孩已缴（★）" if data.flagged else "")
             + f"。打印日期 {date.today():%Y-%m-%d}</p>"]
    head = "".join(f"<th{_NOWRAP}>{h}</th>" for h in ("户号", "户主", "户电话", "姓名", "关系", "年龄", "本人电话",
                                                       "人员类别", "应缴", "已缴/在册", "催缴情况"))
    # One table for the whole list, its header repeated on every page (<thead>); a group is one
    # spanning row, not a heading plus a new table (small groups cost a third of a page each).
    parts.append("<table border='1' cellspacing='0' cellpadding='1' width='100%'>")
    parts.append(f"<thead><tr style='background:#dde7f0'>{head}</tr></thead>")
    for group in data.groups:
        parts.append(f"<tr><td colspan='11' style='background:#eef2f6'><b>{e(group.title)}</b>"
                     f"　未缴 {len(group.households)} 户 {group.people} 人</td></tr>")
        for h in group.households:
            flag = "★" if h.only_old_young_paid else ""
            for i, m in enumerate(h.unpaid):
                first = i == 0
                outcome = outcomes.get(m.resident_id)
                cells = [f"<td{_NOWRAP}>{e(h.household_no) if first else ''}</td>",
                         f"<td{_NOWRAP}>{e(h.head_name) + flag if first else ''}</td>",
                         f"<td{_NOWRAP}>{e(h.phone) if first else ''}</td>",
                         f"<td{_NOWRAP}>{e(m.name)}</td>", f"<td{_NOWRAP}>{e(m.relation)}</td>",
                         f"<td align='right'>{'' if m.age is None else m.age}</td>",
                         f"<td{_NOWRAP}>{e(m.phone) if m.phone != h.phone else ''}</td>",
                         f"<td>{e(m.groups)}</td>", f"<td align='right'{_NOWRAP}>{yuan(m.due_fen)}</td>",
                         f"<td align='center'>{f'{h.covered}/{h.members}' if first else ''}</td>",
                         f"<td>{e(outcome.text) if outcome else ''}</td>"]
                parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def print_layout(doc: QTextDocument, printer) -> None:
    """Lay the document out on the printer's page (A4 by default) at the compact print size."""
    from PySide6.QtPrintSupport import QPrinter

    font = QFont(doc.defaultFont())
    font.setPointSize(PRINT_POINT_SIZE)
    doc.setDefaultFont(font)
    # QTextDocument lays out in 96-dpi pixels; a page given in points (72 dpi) would hold a
    # quarter fewer rows than the paper does once printed.
    doc.setPageSize(printer.pageRect(QPrinter.Unit.Point).size() * (96 / 72))


def write_unpaid_pdf(data: svc.UnpaidList, title: str, outcomes: dict[str, Any], path: Path) -> tuple[Path, int]:
    """Write the printout as an A4 PDF; run it as a background task (no widget touched).

    The HTML is built here; the layout and drawing (seconds for a township, GIL held throughout)
    happen in a child process, so the window keeps answering meanwhile.
    """
    from ..pdf_process import write_html_pdf

    pages = write_html_pdf(unpaid_html(data, title, outcomes), path, point_size=PRINT_POINT_SIZE)
    return path, pages
