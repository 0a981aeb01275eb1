"""On screen, minimum necessary (PIPL, issue 15): lists show ID numbers and phones masked; 「显示」
reveals one resident's for ``REVEAL_SECONDS`` (audited by ``services.reveal.reveal_resident``),
then the list masks them again.

Pieces a page puts together:

- ``RevealController`` — which one resident is revealed, the timer that masks again, the audited
  service call off the UI thread; ``text(key, resident_id, value)`` is what a cell shows.
- ``RevealTableModel`` — a ``LazyTableModel`` whose ``id_number`` / ``phone`` columns go through
  the controller (rows carry ``resident_id``).
- ``RevealButton`` — 「显示」 for the selected row of a table.

The residents page's detail panel keeps its own button (same service, same period).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from PySide6.QtCore import QAbstractItemModel, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QPushButton, QTableView, QWidget

from station_app.domain.masking import MASK
from station_app.services.reveal import REVEAL_SECONDS, Revealed, masked_id, masked_phone, reveal_resident

from .common import error_text
from .models.lazy_table import VALUE_ROLE, Column, LazyTableModel, RowFetcher

#: Column keys whose values are masked until revealed, and how each is masked.
MASKED_KEYS: dict[str, Callable[[str | None], str]] = {"id_number": masked_id, "phone": masked_phone}
REVEAL_TIP = f"显示选中居民的完整身份证号和电话（{REVEAL_SECONDS} 秒后自动隐藏，记入操作日志）"


def masked(key: str, value: Any) -> str:
    """The masked form of a stored ID number or phone; a value a service already masked stays as is."""
    text = "" if value is None else str(value)
    if not text or MASK in text:
        return text
    return MASKED_KEYS[key](text)


class RevealController(QObject):
    """One revealed resident at a time (a new 「显示」 masks the previous one), for a minute."""

    #: The revealed resident changed (revealed, or masked again): views repaint.
    changed = Signal()
    #: A reveal was refused (out of scope, not found …): the Chinese message.
    failed = Signal(str)

    def __init__(self, ctx, parent: QObject | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.revealed: Revealed | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REVEAL_SECONDS * 1000)
        self.timer.timeout.connect(self.remask)

    def reveal(self, resident_id: str | None) -> None:
        """Ask for one resident's full ID number and phone (audited); shown when the answer comes."""
        if not resident_id:
            return
        ws, actor = self.ctx.ws, self.ctx.actor
        self.ctx.tasks.run_write(lambda: reveal_resident(ws, actor, resident_id), self._revealed,
                                 lambda error: self.failed.emit(error_text(error)), name="reveal", owner=self)

    def _revealed(self, revealed: Revealed) -> None:
        self.revealed = revealed
        self.timer.start()
        self.changed.emit()

    def remask(self) -> None:
        self.timer.stop()
        if self.revealed is not None:
            self.revealed = None
            self.changed.emit()

    def is_revealed(self, resident_id: str | None) -> bool:
        return self.revealed is not None and resident_id is not None and self.revealed.resident_id == resident_id

    def text(self, key: str, resident_id: str | None, value: Any) -> str:
        """What a cell of column ``key`` ("id_number" / "phone") shows for this resident."""
        if self.is_revealed(resident_id):
            full = self.revealed.id_number if key == "id_number" else self.revealed.phone
            if full:
                return full
        return masked(key, value)

    def follow(self, model: QAbstractItemModel) -> None:
        """Repaint ``model`` whenever the revealed resident changes."""
        def repaint() -> None:
            rows, columns = model.rowCount(), model.columnCount()
            if rows and columns:
                model.dataChanged.emit(model.index(0, 0), model.index(rows - 1, columns - 1))
        self.changed.connect(repaint)


class RevealTableModel(LazyTableModel):
    """A lazy list whose ``id_number`` and ``phone`` cells are masked unless their row's resident
    (``resident_key`` of the row's values) is the one revealed."""

    def __init__(self, columns: Sequence[Column], fetch_rows: RowFetcher, reveal: RevealController, *,
                 resident_key: str = "resident_id", **kwargs):
        super().__init__(columns, fetch_rows, **kwargs)
        self.reveal = reveal
        self.resident_key = resident_key
        reveal.follow(self)

    def resident_at(self, row: int) -> str | None:
        return self.row_values(row).get(self.resident_key)

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (index.isValid() and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, VALUE_ROLE)
                and self.columns[index.column()].key in MASKED_KEYS):
            if role == Qt.ItemDataRole.ToolTipRole:
                return None
            values = self.row_values(index.row())
            key = self.columns[index.column()].key
            return self.reveal.text(key, values.get(self.resident_key), values.get(key))
        return super().data(index, role)


class RevealButton(QPushButton):
    """「显示」 for the resident of a table's selected row; enabled while a row is selected."""

    def __init__(self, reveal: RevealController, table: QTableView, resident_at: Callable[[int], str | None],
                 parent: QWidget | None = None):
        super().__init__("显示", parent)
        self.reveal, self.table, self.resident_at = reveal, table, resident_at
        self.setToolTip(REVEAL_TIP)
        self.clicked.connect(self.reveal_selected)
        table.selectionModel().selectionChanged.connect(lambda *_: self.update_enabled())
        table.model().modelReset.connect(self.update_enabled)
        self.update_enabled()

    def selected_resident(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.resident_at(rows[0].row()) if rows else None

    def update_enabled(self) -> None:
        self.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def reveal_selected(self) -> None:
        self.reveal.reveal(self.selected_resident())
