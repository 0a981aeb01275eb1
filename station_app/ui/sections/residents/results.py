"""The 居民档案 results: the columns, the lazy model and the table that shows it."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTableView, QWidget

from station_app.domain.enums import EnrollmentStatus, ResidentStatus
from station_app.services.reveal import masked_id, masked_phone

from ...models.lazy_table import Column, LazyTableModel
from ...views import apply_widths, enable_sorting, setup_table

GREY = QColor("#8a96a3")

#: Key columns first: on a 1366×768 screen beside the detail panel only ~7 columns show, and
#: the year's 参保 is what the counter asks about (it used to be cut off at the right).
COLUMNS = (
    Column("name", "姓名", width=78),
    Column("sex", "性别", width=46),
    Column("age", "年龄", align_right=True, width=48),
    Column("enrollment", "参保", width=100),
    Column("id_number", "身份证号", format=masked_id, width=172),  # masked: 「显示」 in the detail panel
    Column("group", "组", width=50),
    Column("village", "村", width=70),
    Column("status", "状态", width=50),
    Column("household_no", "户编号", width=100),
    Column("relation", "关系", width=56),
    Column("phone", "联系电话", format=masked_phone, width=112),
    Column("special_groups", "人员类别", width=150),
)
ENROLLMENT_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "enrollment")
VILLAGE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "village")
ENROLLMENT_COLOURS = {
    EnrollmentStatus.PAID.value: "#1b7f3b", EnrollmentStatus.SUBSIDISED.value: "#1b6f8f",
    EnrollmentStatus.UNPAID.value: "#b3261e",
}


class RegistryModel(LazyTableModel):
    """Residents who died or moved out in grey; the year's enrollment status in its colour."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            values = self.row_values(index.row())
            if values.get("status_code", ResidentStatus.REGISTERED.value) != ResidentStatus.REGISTERED.value:
                return QBrush(GREY)
            if index.column() == ENROLLMENT_COLUMN:
                colour = ENROLLMENT_COLOURS.get(values.get("enrollment_code") or EnrollmentStatus.UNPAID.value)
                return QBrush(QColor(colour)) if colour else None
            return None
        return super().data(index, role)


class ResultsTable(QTableView):
    """The lazy list of residents; emits ``current_changed`` (a resident id or None) and
    ``activated_resident`` (Enter or a double-click on a row)."""

    current_changed = Signal(object)
    activated_resident = Signal(str)

    def __init__(self, fetch_rows: Callable, *, single_village: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows_model = RegistryModel(COLUMNS, fetch_rows, parent=self)
        self.setModel(self.rows_model)
        setup_table(self, row_height=30)
        apply_widths(self, COLUMNS)
        # A village doctor's list has one village: its column only takes room from 参保.
        self.setColumnHidden(VILLAGE_COLUMN, single_village)
        # No indicator: the default order (village, group, household, head first) is no column's.
        enable_sorting(self)
        self.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.current_changed.emit(
                self.rows_model.id_at(current.row()) if current.isValid() else None))
        self.doubleClicked.connect(self._activate)

    def set_year(self, year: int | None) -> None:
        """The 参保 column's title names the year it shows."""
        title = f"{year} 参保" if year else "参保"
        self.rows_model.columns[ENROLLMENT_COLUMN] = Column("enrollment", title, width=100)
        self.rows_model.headerDataChanged.emit(Qt.Orientation.Horizontal, ENROLLMENT_COLUMN, ENROLLMENT_COLUMN)

    def select_row(self, row: int) -> None:
        index = self.rows_model.index(row, 0)
        self.setCurrentIndex(index)  # → current_changed when it is another resident
        self.selectRow(row)
        self.scrollTo(index)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activate(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _activate(self, index) -> None:
        resident_id = self.rows_model.id_at(index.row()) if index.isValid() else None
        if resident_id:
            self.activated_resident.emit(resident_id)
