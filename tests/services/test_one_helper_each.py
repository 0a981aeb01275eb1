"""Issue 14.5: one money formatter, one enum-label lookup, one chunker, one xlsx writer (outside ui/)."""

from __future__ import annotations

import ast
from pathlib import Path

from station_app.domain import money
from station_app.domain.enums import CardStatus, Relation
from station_app.notices import data as notice_data
from station_app.services import enrollment

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "station_app"
#: ui/ (another change) and the station's sync/ are cleaned up separately.
SKIP = ("ui", "sync")


def _defined(names: set[str]) -> dict[str, list[str]]:
    """Where each name is defined: station_app/ as ``domain/x.py``, the shared protocol and the
    county server by their own folder (``sync_protocol/…``, ``county_server/…``)."""
    found: dict[str, list[str]] = {}
    paths = [p for p in sorted(ROOT.rglob("*.py")) if p.relative_to(ROOT).parts[0] not in SKIP]
    paths += sorted((REPO / "sync_protocol").rglob("*.py")) + sorted((REPO / "county_server").rglob("*.py"))
    for path in paths:
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.relative_to(REPO)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                found.setdefault(node.name, []).append(str(rel))
    return found


def test_no_private_copies_of_the_shared_helpers():
    found = _defined({"_label", "_chunks", "_yuan"})
    # domain/roster.py's _label reads a header cell (another job); exports._yuan gives a number for a cell.
    assert found == {"_label": ["domain/roster.py"],
                     "_yuan": ["services/exports.py", "sync_protocol/domain/entitlement.py"]}


def test_one_money_formatter_with_the_old_outputs():
    assert enrollment.yuan is money.yuan
    assert [money.yuan(x) for x in (None, 0, 40000, 15050, -150, 123456789)] == [
        "", "0.00", "400.00", "150.50", "-1.50", "1234567.89"]
    assert money.yuan(12300000, thousands=True) == "123,000.00"
    assert notice_data.yuan(None) == "0.00" and notice_data.yuan(123456) == "1,234.56"


def test_labels_of_stored_codes():
    assert Relation.label_for("head") == Relation.HEAD.label
    assert Relation.label_for("unknown-code") == "unknown-code" and Relation.label_for(None) == ""
    assert CardStatus.label_for(None, "—") == "—" and CardStatus.label_for("nonsense", "—") == "—"


def test_one_xlsx_writer():
    """Every xlsx the app writes goes through exports.XlsxBook (openpyxl may still read)."""
    writers = [str(p.relative_to(ROOT)) for p in sorted(ROOT.rglob("*.py"))
               if p.relative_to(ROOT).parts[0] not in SKIP and "Workbook(" in p.read_text(encoding="utf-8")]
    assert writers == []
