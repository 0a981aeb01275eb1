"""Real-shaped township rosters for the tests: title rows, merged cells, number-typed IDs, GBK CSV."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Sequence

from openpyxl import Workbook

from station_app.domain.idnumber import make_id

REGION = "610921"
EXACT_INT = "EXACT-INT:"  # marker: write this cell as an exact integer number (see write_xlsx)


def person_id(n: int, region: str = REGION) -> str:
    """A valid, distinct 18-digit number for person ``n``."""
    born = date(1940, 1, 1) + timedelta(days=(n * 37) % 25000)
    return make_id(region, born, n % 997 + 1)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" or c == "X" else c for c in text)


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], merges: Sequence[str] = (), title: str = "花名册") -> Path:
    """Write a workbook; cells holding ``EXACT-INT:123…`` become exact integer number cells.

    openpyxl (like Excel) writes numbers with at most 16 significant digits, so an 18-digit
    integer cell — which some tools do write — can only be made by editing the sheet XML.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    for ref in merges:
        sheet.merge_cells(ref)
    workbook.save(path)
    _exact_ints(path)
    return path


def _exact_ints(path: Path) -> None:
    pattern = re.compile(r'<c r="([A-Z]+[0-9]+)"([^>]*?) t="inlineStr"><is><t>' + EXACT_INT + r'([0-9]+)</t></is></c>')
    temp = Path(tempfile.mkstemp(suffix=".xlsx")[1])
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = data.decode("utf-8")
                text = pattern.sub(lambda m: f'<c r="{m.group(1)}"{m.group(2)} t="n"><v>{m.group(3)}</v></c>', text)
                data = text.encode("utf-8")
            target.writestr(item, data)
    shutil.move(temp, path)
