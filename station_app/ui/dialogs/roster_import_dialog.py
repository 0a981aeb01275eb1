"""导入花名册: pick a file, correct the column mapping, preview the first rows, import with progress and cancel."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain import roster as R
from station_app.domain.errors import DomainError
from station_app.services.changes import Actor
from station_app.services.roster_import import (
    ERROR,
    ImportPlan,
    ImportResult,
    RosterTable,
    RowResult,
    import_roster,
    import_targets,
    plan_import,
    read_roster,
    suggested_year,
)
from station_app.services.workspace import Workspace

from ..tasks import TaskManager
from ..fit import fit_size

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 200
FILE_FILTER = "花名册 (*.xlsx *.xlsm *.csv);;所有文件 (*)"
#: Mapping choices in the order a clerk thinks of them; "" = 不导入.
FIELD_CHOICES = [("", "（不导入）")] + [(f, label) for f, label in R.FIELD_LABELS.items()]
BY_COLUMN = "__column__"


class _Bridge(QObject):
    """Created on the main thread: the worker emits, Qt delivers on the main thread."""

    progress = Signal(int, int, str)


class PreviewModel(QAbstractTableModel):
    """The first rows of the roster with what will happen to each."""

    HEADERS = ("原行号", "结果", "姓名", "身份证号", "说明")
    COL_ROW, COL_STATUS, COL_NAME, COL_ID, COL_MESSAGE = range(5)
    _COLOURS = {ERROR: QColor("#b3261e"), "new": QColor("#1b6e3a"), "exists": QColor("#5a6b7b"),
                "enroll": QColor("#2f6f9f")}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[RowResult] = []
        self._id_column: int | None = None  # where to show the raw ID of a row that failed to parse

    def set_rows(self, rows: list[RowResult]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_result(self, row: int) -> RowResult:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.COL_ROW:
                return row.row_no
            if column == self.COL_STATUS:
                return row.status_label
            if column == self.COL_NAME:
                return row.name
            if column == self.COL_ID:
                return row.id_number or R.display_value(
                    row.cells[self._id_column] if self._id_column is not None and self._id_column < len(row.cells)
                    else None)
            return row.message
        if role == Qt.ItemDataRole.ForegroundRole and column in (self.COL_STATUS, self.COL_MESSAGE):
            return QBrush(self._COLOURS.get(row.status, QColor("#1f2d3a")))
        if role == Qt.ItemDataRole.ToolTipRole and column == self.COL_MESSAGE:
            return row.message
        return None

    def set_id_column(self, column: int | None) -> None:
        self._id_column = column


class RosterImportDialog(QDialog):
    """The whole import in one window; every step runs off the UI thread through ``tasks``."""

    #: Emitted (on the main thread) with the ImportResult once rows were written.
    imported = Signal(object)

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager | None = None, parent: QWidget | None = None,
                 *, path: str | Path | None = None):
        super().__init__(parent)
        self.ws = ws
        self.actor = actor
        self.tasks = tasks or TaskManager(parent=self)
        self.table: RosterTable | None = None
        self.plan: ImportPlan | None = None
        self.result: ImportResult | None = None
        self._cancel = threading.Event()
        self._running = False
        self._preview_generation = 0
        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._on_progress)
        self.setWindowTitle("导入花名册")
        fit_size(self, 1100, 760)

        title = QLabel("导入花名册")
        title.setObjectName("dialogTitle")
        hint = QLabel("支持 Excel（.xlsx）和 CSV。表头可以在标题行下面，列的顺序不限；程序会自动识别各列，"
                      "识别不对的请在下表中改正。已登记的居民会自动跳过，有问题的行会写入错误报告。")
        hint.setObjectName("hint")
        hint.setWordWrap(True)

        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("请选择花名册文件")
        self.browse_button = QPushButton("选择文件…")
        self.browse_button.clicked.connect(self.browse)
        file_row = QHBoxLayout()
        file_row.addWidget(QLabel("文件："))
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(self.browse_button)

        self.village_combo = QComboBox()
        targets = import_targets(ws, actor)
        if len(targets) > 1:
            self.village_combo.addItem("按表中“村”列", BY_COLUMN)
        for target in targets:
            self.village_combo.addItem(target.name, target.code)
        self.year_spin = QSpinBox()
        self.year_spin.setRange(2000, 2100)
        self.year_spin.setValue(suggested_year(ws))
        self.year_spin.setToolTip("表中“缴费状态”所属的待遇年度")
        options = QHBoxLayout()
        options.addWidget(QLabel("导入到："))
        options.addWidget(self.village_combo)
        options.addSpacing(24)
        options.addWidget(QLabel("待遇年度："))
        options.addWidget(self.year_spin)
        options.addStretch(1)
        self.village_combo.currentIndexChanged.connect(self.refresh_preview)
        self.year_spin.valueChanged.connect(self.refresh_preview)

        self.mapping_table = QTableWidget(0, 4)
        self.mapping_table.setHorizontalHeaderLabels(["列", "表头", "示例", "导入为"])
        self.mapping_table.verticalHeader().setVisible(False)
        self.mapping_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.mapping_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.preview_model = PreviewModel(self)
        self.preview_view = QTableView()
        self.preview_view.setModel(self.preview_model)
        self.preview_view.verticalHeader().setVisible(False)
        self.preview_view.horizontalHeader().setSectionResizeMode(PreviewModel.COL_MESSAGE,
                                                                  QHeaderView.ResizeMode.Stretch)
        self.preview_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_label = QLabel("")
        self.preview_label.setObjectName("hint")

        mapping_box = QWidget()
        mapping_layout = QVBoxLayout(mapping_box)
        mapping_layout.setContentsMargins(0, 0, 0, 0)
        mapping_layout.addWidget(QLabel("列的对应关系（识别不对请改正）："))
        mapping_layout.addWidget(self.mapping_table)
        preview_box = QWidget()
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.preview_label)
        preview_layout.addWidget(self.preview_view)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(mapping_box)
        splitter.addWidget(preview_box)
        splitter.setSizes([260, 420])

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.report_button = QPushButton("打开错误报告")
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self.open_report)
        self.import_button = QPushButton("开始导入")
        self.import_button.setObjectName("primary")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = QPushButton("关闭")
        self.cancel_button.clicked.connect(self.cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress_bar, 1)
        buttons.addWidget(self.report_button)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(file_row)
        layout.addLayout(options)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)

        if path:
            self.load_file(path)

    # -- file and mapping ---------------------------------------------------------------------

    def browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "选择花名册", "", FILE_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> None:
        self.path_edit.setText(str(path))
        self.table = self.plan = self.result = None
        self.mapping_table.setRowCount(0)
        self.preview_model.set_rows([])
        self.report_button.setEnabled(False)
        self.import_button.setEnabled(False)
        self._set_status("正在读取文件…")
        self._set_busy(True)
        self.tasks.run_read(lambda: read_roster(path), self._file_read, self._show_error, name="read_roster")

    def _file_read(self, table: RosterTable) -> None:
        self._set_busy(False)
        self.table = table
        self.mapping_table.setRowCount(table.width)
        from openpyxl.utils import get_column_letter

        for column in range(table.width):
            self.mapping_table.setItem(column, 0, QTableWidgetItem(get_column_letter(column + 1)))
            self.mapping_table.setItem(column, 1, QTableWidgetItem(table.labels[column]))
            self.mapping_table.setItem(column, 2, QTableWidgetItem("、".join(table.column_samples(column))))
            combo = QComboBox()
            for value, label in FIELD_CHOICES:
                combo.addItem(label, value)
            combo.setCurrentIndex(max(0, combo.findData(table.detected.get(column, ""))))
            combo.currentIndexChanged.connect(self.refresh_preview)
            self.mapping_table.setCellWidget(column, 3, combo)
        self.mapping_table.resizeColumnsToContents()
        first, last = table.header_rows
        where = f"第 {first} 行" if first == last else f"第 {first}–{last} 行"
        self._set_status(f"工作表“{table.sheet}”：表头在{where}，共 {len(table.rows)} 行数据。")
        self.refresh_preview()

    def mapping(self) -> dict[int, str]:
        result = {}
        for column in range(self.mapping_table.rowCount()):
            combo = self.mapping_table.cellWidget(column, 3)
            if isinstance(combo, QComboBox) and combo.currentData():
                result[column] = combo.currentData()
        return result

    def set_mapping(self, column: int, field: str) -> None:
        """Choose what a column is imported as (the user's correction; tests use it too)."""
        combo = self.mapping_table.cellWidget(column, 3)
        combo.setCurrentIndex(combo.findData(field))

    def _village(self) -> str | None:
        value = self.village_combo.currentData()
        return None if value in (None, BY_COLUMN) else value

    # -- preview ------------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        if self.table is None or self._running:
            return
        table, ws, actor = self.table, self.ws, self.actor
        mapping, village, year = self.mapping(), self._village(), self.year_spin.value()
        self.preview_label.setText("正在检查…")
        self.import_button.setEnabled(False)
        self.preview_model.set_id_column(next((c for c, f in mapping.items() if f == "id_number"), None))
        # Reads run on a pool of several threads: only the latest request's answer is shown.
        self._preview_generation += 1
        generation = self._preview_generation
        self.tasks.run_read(
            lambda: plan_import(ws, actor, table, mapping=mapping, village_code=village, year=year,
                                limit=PREVIEW_ROWS),
            lambda plan: self._show_preview(plan, generation),
            lambda error: self._preview_failed(error, generation), name="preview_roster")

    def _show_preview(self, plan: ImportPlan, generation: int | None = None) -> None:
        if generation is not None and generation != self._preview_generation:
            return
        self.plan = plan
        self.preview_model.set_rows(plan.rows)
        self.preview_view.resizeColumnsToContents()
        shown = min(PREVIEW_ROWS, len(self.table.rows)) if self.table else 0
        self.preview_label.setText(
            f"预览前 {shown} 行：新增 {plan.count('new')}，已登记 {plan.count('exists') + plan.count('enroll')}，"
            f"错误 {plan.count(ERROR)}（全部行在导入时逐行检查）")
        self.import_button.setEnabled(True)

    def _preview_failed(self, error: BaseException, generation: int | None = None) -> None:
        if generation is not None and generation != self._preview_generation:
            return
        self.plan = None
        self.preview_model.set_rows([])
        self.preview_label.setText("")
        self._show_error(error)

    # -- import -------------------------------------------------------------------------------

    def start_import(self) -> None:
        if self.table is None or self._running:
            return
        table, ws, actor = self.table, self.ws, self.actor
        mapping, village, year = self.mapping(), self._village(), self.year_spin.value()
        self._cancel.clear()
        self._set_busy(True)
        self._running = True
        self.progress_bar.setValue(0)
        self.cancel_button.setText("取消导入")
        self._set_status("正在导入…（可随时取消，取消后数据库不会有任何更改）")
        bridge, cancel = self._bridge, self._cancel
        self.tasks.run_write(
            lambda: import_roster(ws, actor, table.path, table=table, mapping=mapping, village_code=village,
                                  year=year, progress=bridge.progress.emit, cancel=cancel.is_set),
            self._imported, self._import_failed, name="import_roster")

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress_bar.setValue(int(100 * done / total))
        else:
            self.progress_bar.setRange(0, 0)  # unknown length: a busy bar
            return
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setFormat(f"{message} %p%")

    def cancel_or_close(self) -> None:
        if self._running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self._set_status("正在取消…")
        else:
            self.reject()

    def _imported(self, result: ImportResult) -> None:
        self._finish()
        self.result = result
        self.progress_bar.setValue(100)
        lines = [result.summary]
        if result.report_path:
            lines.append(f"有 {result.errors} 行没有导入，原因见错误报告：{result.report_path}")
        self._set_status("\n".join(lines))
        self.report_button.setEnabled(result.report_path is not None)
        self.import_button.setEnabled(False)
        if result.added or result.enrollments_added:
            self.imported.emit(result)

    def _import_failed(self, error: BaseException) -> None:
        self._finish()
        self.progress_bar.setValue(0)
        self._show_error(error)

    def _finish(self) -> None:
        self._running = False
        self._set_busy(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("关闭")
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setFormat("%p%")

    def open_report(self) -> None:
        if self.result and self.result.report_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.report_path)))

    # -- helpers ------------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        self.browse_button.setEnabled(not busy)
        self.mapping_table.setEnabled(not busy)
        self.village_combo.setEnabled(not busy)
        self.year_spin.setEnabled(not busy)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        name = "error" if error else ""
        if self.status_label.objectName() != name:
            self.status_label.setObjectName(name)
            self.status_label.style().unpolish(self.status_label)
            self.status_label.style().polish(self.status_label)

    def _show_error(self, error: BaseException) -> None:
        self._set_busy(False)
        if isinstance(error, DomainError):
            self._set_status(error.message, error=True)
        else:
            logger.error("roster import failed", exc_info=error)
            self._set_status("导入时出现意外错误，数据库没有更改；详情已记录在日志中。", error=True)

    def reject(self) -> None:
        if self._running:  # Esc or the window's close button while importing: cancel first
            self.cancel_or_close()
            return
        super().reject()
