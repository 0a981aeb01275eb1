"""A table model for long lists: holds only row ids, fetches the visible rows a page at a time.

At 60,000 residents, loading every row into Python objects costs seconds and hundreds of MB;
the view only ever shows ~40 rows. So the model keeps the ordered id list (cheap: one query)
and asks a service for the rows of a page when the view first paints them, keeping a bounded
cache of pages (after anki's browser table model and vorta's archive model).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex

#: Role that returns the row's id (a UUID string) for any cell.
ID_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role that returns the raw value (for sorting proxies and tests).
VALUE_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    #: Turns the raw value into display text; default: str(), dates ISO, None → "".
    format: Callable[[Any], str] | None = None
    align_right: bool = False
    width: int | None = None
    #: The key the service sorts by, or None when the column cannot be sorted.
    sort_key: str | None = "__same__"
    tooltip: str | None = None

    def sort_by(self) -> str | None:
        return self.key if self.sort_key == "__same__" else self.sort_key


def default_format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


#: fetch_rows(ids) → {id: {column key: value}}; ids missing from the answer show as blank.
RowFetcher = Callable[[Sequence[str]], dict[str, dict[str, Any]]]


class LazyTableModel(QAbstractTableModel):
    """See the module docstring. Sorting is delegated: the owner reloads ids in the new order."""

    def __init__(self, columns: Sequence[Column], fetch_rows: RowFetcher, *, page_size: int = 200,
                 max_cached_pages: int = 30, parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self._fetch_rows = fetch_rows
        self._ids: list[str] = []
        self._row_of: dict[str, int] | None = None
        self._page_size = page_size
        self._max_pages = max_cached_pages
        self._pages: OrderedDict[int, dict[str, dict[str, Any]]] = OrderedDict()
        #: Called with (sort key, ascending) when the user clicks a sortable header.
        self.on_sort: Callable[[str, bool], None] | None = None
        self.fetch_count = 0  # pages fetched, for tests and diagnostics

    # -- the id list ------------------------------------------------------------------------

    def set_ids(self, ids: Sequence[str]) -> None:
        self.beginResetModel()
        self._ids = list(ids)
        self._row_of = None
        self._pages.clear()
        self.endResetModel()

    def ids(self) -> list[str]:
        return list(self._ids)

    def id_at(self, row: int) -> str | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, row_id: str) -> int | None:
        if self._row_of is None:
            self._row_of = {rid: i for i, rid in enumerate(self._ids)}
        return self._row_of.get(row_id)

    def refresh_ids(self, changed: Sequence[str]) -> None:
        """Rows changed in place (an edit saved): drop their pages and repaint those rows."""
        rows = [r for r in (self.row_of(i) for i in changed) if r is not None]
        for row in rows:
            self._pages.pop(row // self._page_size, None)
        for row in rows:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))

    def row_values(self, row: int) -> dict[str, Any]:
        row_id = self.id_at(row)
        if row_id is None:
            return {}
        return self._page(row // self._page_size).get(row_id, {})

    # -- Qt model API -----------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), self.columns[index.column()]
        if role == ID_ROLE:
            return self.id_at(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.align_right else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, VALUE_ROLE, Qt.ItemDataRole.ToolTipRole):
            return None
        value = self.row_values(row).get(column.key)
        if role == VALUE_ROLE:
            return value
        text = (column.format or default_format)(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return text if len(text) > 20 else None
        return text

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            column = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return column.title
            if role == Qt.ItemDataRole.ToolTipRole:
                return column.tooltip
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = self.columns[column].sort_by() if 0 <= column < len(self.columns) else None
        if key and self.on_sort is not None:
            self.on_sort(key, order == Qt.SortOrder.AscendingOrder)

    # -- paging -----------------------------------------------------------------------------

    def _page(self, page: int) -> dict[str, dict[str, Any]]:
        cached = self._pages.get(page)
        if cached is not None:
            self._pages.move_to_end(page)
            return cached
        start = page * self._page_size
        ids = self._ids[start:start + self._page_size]
        rows = self._fetch_rows(ids) if ids else {}
        self.fetch_count += 1
        self._pages[page] = rows
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)
        return rows
