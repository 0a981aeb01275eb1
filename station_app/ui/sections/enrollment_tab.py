"""年度参保: a benefit year's list of residents with their status, bulk marking, the unpaid list and a new year."""

from __future__ import annotations

import html
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QTextDocument
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import EnrollmentStatus, SpecialGroup
from station_app.services import enrollment as svc
from station_app.services.enrollment import EnrollmentFilters, YearInfo, yuan

from ..dialogs.payment_dialog import NoteDialog, PaymentDialog, SubmitDialog, SubsidyDialog
from ..models.lazy_table import Column, LazyTableModel
from ..tasks import TaskManager
from ..views import apply_widths, enable_sorting, setup_table
from . import PageContext
from ..fit import fit_size
from ..common import ProgressRelay, SEARCH_DELAY_MS, error_text

logger = logging.getLogger(__name__)

ALL = ""

#: Who and 参保状态 first: on a 1366×768 screen ~8 columns show, and the status used to be
#: cut off at the right edge behind 村/组/户号. The village column is hidden for a village user.
COLUMNS = (
    Column("name", "姓名", width=76),
    Column("status", "参保状态", width=100),
    Column("sex", "性别", width=46),
    Column("age", "年龄", align_right=True, width=50),
    Column("group", "组", width=60),
    Column("village", "村", width=80),
    Column("head_name", "户主", width=70),
    Column("relation", "关系", width=56, sort_key="relation"),
    Column("due_yuan", "应缴(元)", align_right=True, width=76, sort_key=None),
    Column("paid_yuan", "实缴(元)", align_right=True, width=76),
    Column("paid_date", "缴费日期", width=96),
    Column("benefit_start", "待遇起始", width=96, sort_key=None),
    Column("channel", "渠道", width=90),
    Column("phone", "电话", width=110),
    Column("id_number", "身份证号", width=170),
    Column("household_no", "户号", width=110),
    Column("groups", "人员类别", width=120),
    Column("subsidy_category", "资助类别", width=190),
    Column("subsidy_yuan", "资助(元)", align_right=True, width=76),
    Column("resident_status", "居民状态", width=70),
    Column("note", "备注", width=140, sort_key=None),
)
STATUS_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "status")
VILLAGE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "village")
STATUS_COLOURS = {
    EnrollmentStatus.PAID.value: "#1b7f3b", EnrollmentStatus.SUBSIDISED.value: "#1b6f8f",
    EnrollmentStatus.OTHER_CHANNEL.value: "#4b5b6b", EnrollmentStatus.NOT_REQUIRED.value: "#8a96a3",
    EnrollmentStatus.UNPAID.value: "#b3261e", svc.NO_RECORD: "#b3261e",
    EnrollmentStatus.TO_VERIFY.value: "#8a5a00",
}
BANNER_STYLES = {
    "open": "background:#fff4e0; color:#8a4b00; border:1px solid #f0c27a;",
    "urgent": "background:#fde8e6; color:#b3261e; border:1px solid #eea49c;",
    "closed": "background:#eef2f6; color:#5a6b7b; border:1px solid #d5dde5;",
    "before": "background:#e8f1f8; color:#2f6f9f; border:1px solid #b6d0e4;",
    "unset": "background:#eef2f6; color:#5a6b7b; border:1px solid #d5dde5;",
}
#: Days left at which the countdown turns red.
URGENT_DAYS = 15


class EnrollmentTableModel(LazyTableModel):
    """The lazy model, with the status cell coloured (red for those who still owe)."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and index.column() == STATUS_COLUMN:
            colour = STATUS_COLOURS.get(self.row_values(index.row()).get("status_code"))
            return QBrush(QColor(colour)) if colour else None
        return super().data(index, role)


def bulk_text(result: svc.BulkResult, verb: str) -> str:
    """"已标记 120 人（已缴费 100，资助参保 20）；跳过 3 人（已参保 2 人、已死亡或迁出 1 人）"."""
    parts = "，".join(f"{EnrollmentStatus(s).label} {n:,}" for s, n in result.by_status.items())
    text = f"{verb} {result.total_written:,} 人" + (f"（{parts}）" if parts and len(result.by_status) > 1 else "")
    if result.skipped_total:
        text += f"；跳过 {result.skipped_total:,} 人（{result.skipped_text()}）"
    return text + "。"


class EnrollmentTab(QWidget):
    """The year's list; embedded as "年度参保" in the residents page, or shown alone.

    ``today`` pins the date (tests, demos); by default the real date is read on each use.
    """

    #: Emitted after any save (so a page that embeds the tab can refresh what it shows).
    changed = Signal()
    #: Emitted when the list has (re)loaded, with the number of rows.
    loaded = Signal(int)

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._today = today
        self.year: int | None = None
        self.info: YearInfo | None = None
        self.summary: svc.FilterSummary | None = None
        self._sort: tuple[str | None, bool] = (None, True)
        self._generation = 0
        self._busy = False
        self.active_dialog: QDialog | None = None
        #: Asked before long or sweeping actions; replaced in tests.
        self.confirm: Callable[[str, str], bool] = self._ask
        #: Asks where to save an export; replaced in tests.
        self.ask_save_path: Callable[[str, str], str] = self._ask_path
        self.last_export: Path | None = None
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self._on_progress)

        # -- year, deadline, KPI --------------------------------------------------------
        self.year_combo = QComboBox()
        self.year_combo.setMinimumWidth(120)
        self.banner = QLabel("")
        self.banner.setObjectName("deadlineBanner")
        self.banner.setWordWrap(True)
        banner_font = self.banner.font()
        banner_font.setPointSize(banner_font.pointSize() + 3)
        banner_font.setBold(True)
        self.banner.setFont(banner_font)
        self.kpi_label = QLabel("")
        self.kpi_label.setObjectName("kpiLabel")
        kpi_font = self.kpi_label.font()
        kpi_font.setPointSize(kpi_font.pointSize() + 3)
        kpi_font.setBold(True)
        self.kpi_label.setFont(kpi_font)
        self.kpi_label.setStyleSheet("color:#2f6f9f;")
        self.kpi_detail = QLabel("")
        self.kpi_detail.setObjectName("hint")
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(QLabel("待遇年度"))
        top.addWidget(self.year_combo)
        top.addWidget(self.banner, 1)
        kpi_box = QVBoxLayout()
        kpi_box.setSpacing(0)
        kpi_box.addWidget(self.kpi_label, 0, Qt.AlignmentFlag.AlignRight)
        kpi_box.addWidget(self.kpi_detail, 0, Qt.AlignmentFlag.AlignRight)
        top.addLayout(kpi_box)

        # -- filters ---------------------------------------------------------------------
        self.places = svc.filter_places(ctx.ws, ctx.actor)
        self.village_combo = QComboBox()
        self.village_combo.setMinimumWidth(120)
        if len(self.places) != 1:
            self.village_combo.addItem("全部村", ALL)
        for code, name, _groups in self.places:
            self.village_combo.addItem(name, code)
        self.village_combo.setEnabled(len(self.places) > 1)
        self.group_combo = QComboBox()
        self.group_combo.setMinimumWidth(90)
        self.status_combo = QComboBox()
        self.status_combo.addItem("全部状态", ALL)
        for code, label in EnrollmentStatus.choices():
            self.status_combo.addItem(label, code)
        self.status_combo.addItem(svc.NO_RECORD_LABEL, svc.NO_RECORD)
        self.special_combo = QComboBox()
        self.special_combo.addItem("全部人员", ALL)
        self.special_combo.addItem("困难群众", svc.GROUP_FILTER_HARDSHIP)
        self.special_combo.addItem("任一特殊人群", svc.GROUP_FILTER_ANY)
        self.special_combo.addItem("普通居民", svc.GROUP_FILTER_NONE)
        for code, label in SpecialGroup.choices():
            self.special_combo.addItem(label, code)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("姓名 / 拼音首字母 / 身份证号 / 电话")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(150)
        for combo in (self.village_combo, self.group_combo, self.status_combo, self.special_combo):
            # Sized to a few characters, not to the longest item (孤儿/事实无人抚养儿童).
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(5)
        self.reset_button = QPushButton("清除筛选")
        filters = QHBoxLayout()
        filters.setSpacing(8)
        for label, widget in (("村", self.village_combo), ("组", self.group_combo), ("状态", self.status_combo),
                              ("人员类别", self.special_combo)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addSpacing(8)
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.reset_button)

        # -- the list --------------------------------------------------------------------
        self.model = EnrollmentTableModel(COLUMNS, self._fetch_rows, parent=self)
        self.model.on_sort = self.sort_by
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_table(self.table, row_height=30, multi_select=True)
        apply_widths(self.table, COLUMNS)
        self.table.setColumnHidden(VILLAGE_COLUMN, len(self.places) <= 1)
        enable_sorting(self.table)

        # -- actions ---------------------------------------------------------------------
        self.paid_button = QPushButton("标记已缴费…")
        self.subsidy_button = QPushButton("设置资助参保…")
        # Rarer statuses live in one menu so the row fits a 1366-pixel clinic screen.
        self.more_button = QPushButton("其他状态")
        more = QMenu(self.more_button)
        self.other_action = more.addAction("其他渠道参保（职工医保、外地参保、军人…）…")
        self.not_required_action = more.addAction("无需参保（死亡、迁出…）…")
        self.confirm_action = more.addAction("待核实确认为其他渠道参保")
        self.confirm_action.setToolTip("上年其他渠道参保、本年度待核实的人员：核实仍在其他渠道参保后确认（选中的，或当前年度全部）。")
        more.addSeparator()
        self.unpaid_action = more.addAction("改为未缴费")
        self.more_button.setMenu(more)
        self.apply_button = QPushButton("套用资助建议")
        self.apply_button.setToolTip("按县医保局资助规则，为未缴费的特殊人群填入资助类别和金额；全额资助的直接登记为资助参保。\n"
                                     "先选中人员则只处理选中的，否则处理当前列表。")
        self.new_year_button = QPushButton("开始新年度…")
        self.new_year_button.setToolTip("为本年度还没有参保记录的在册居民建立记录（未缴费，符合全额资助的登记为资助参保）；\n"
                                        "以前年度的记录不变；可重复执行，不会重复建立。")
        self.unpaid_list_button = QPushButton("未缴清单…")
        self.export_button = QPushButton("导出台账…")
        self.selection_buttons = (self.paid_button, self.subsidy_button, self.more_button)
        actions = QHBoxLayout()
        actions.setSpacing(8)
        for b in self.selection_buttons:
            actions.addWidget(b)
        actions.addSpacing(12)
        actions.addWidget(self.apply_button)
        actions.addStretch(1)
        for b in (self.new_year_button, self.unpaid_list_button, self.export_button):
            actions.addWidget(b)

        # -- status line -----------------------------------------------------------------
        self.count_label = QLabel("")
        self.count_label.setObjectName("hint")
        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(320)
        status = QHBoxLayout()
        status.addWidget(self.count_label)
        status.addSpacing(16)
        status.addWidget(self.message, 1)
        status.addWidget(self.progress)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addLayout(status)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.reload)

        self.year_combo.currentIndexChanged.connect(self._year_changed)
        self.village_combo.currentIndexChanged.connect(self._village_changed)
        for combo in (self.group_combo, self.status_combo, self.special_combo):
            combo.currentIndexChanged.connect(self.reload)
        self.search_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.reset_button.clicked.connect(self.reset_filters)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.mark_paid())
        self.paid_button.clicked.connect(self.mark_paid)
        self.subsidy_button.clicked.connect(self.set_subsidised)
        self.other_action.triggered.connect(self.set_other_channel)
        self.not_required_action.triggered.connect(self.set_not_required)
        self.unpaid_action.triggered.connect(self.set_unpaid)
        self.confirm_action.triggered.connect(self.confirm_other_channel)
        self.apply_button.clicked.connect(self.apply_subsidies)
        self.new_year_button.clicked.connect(self.start_new_year)
        # Year-level bulk operations are the township's (the service refuses a 村医 anyway):
        # a village doctor never sees a button that can only fail.
        for button in (self.apply_button, self.new_year_button):
            button.setVisible(svc.may_manage_year(ctx.actor))
        self.unpaid_list_button.clicked.connect(self.show_unpaid_list)
        self.export_button.clicked.connect(self.export_ledger)

        self._fill_groups()
        self._selection_changed()
        self.load_years()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self._today or date.today()

    @property
    def tasks(self) -> TaskManager:
        return self.ctx.tasks

    def filters(self) -> EnrollmentFilters:
        return EnrollmentFilters(
            village_code=self.village_combo.currentData() or None,
            group_code=self.group_combo.currentData() or None,
            status=self.status_combo.currentData() or None,
            special_group=self.special_combo.currentData() or None,
            text=self.search_edit.text().strip())

    def set_filters(self, *, village_code: str | None = None, group_code: str | None = None,
                    status: str | None = None, special_group: str | None = None, text: str = "") -> None:
        """Narrow the list from outside (the residents page, the 工作台)."""
        widgets = (self.village_combo, self.group_combo, self.status_combo, self.special_combo)
        for w in widgets:
            w.blockSignals(True)
        try:
            self._select_data(self.village_combo, village_code or ALL)
            self._fill_groups()
            self._select_data(self.group_combo, group_code or ALL)
            self._select_data(self.status_combo, status or ALL)
            self._select_data(self.special_combo, special_group or ALL)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.search_edit.blockSignals(True)
        self.search_edit.setText(text)
        self.search_edit.blockSignals(False)
        self.reload()

    @staticmethod
    def _select_data(combo: QComboBox, data: str) -> None:
        index = combo.findData(data)
        combo.setCurrentIndex(index if index >= 0 else 0)

    def selected_ids(self) -> list[str]:
        ids: list[str] = []
        selection = self.table.selectionModel().selection()
        for span in selection:  # ranges: cheap even when 10,000 rows are selected
            for row in range(span.top(), span.bottom() + 1):
                row_id = self.model.id_at(row)
                if row_id is not None:
                    ids.append(row_id)
        return list(dict.fromkeys(ids))

    def select_ids(self, ids: list[str]) -> None:
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for row_id in ids:
            row = self.model.row_of(row_id)
            if row is not None:
                selection.select(self.model.index(row, 0), self.model.index(row, last))
        self.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _fetch_rows(self, ids):
        if self.year is None:
            return {}
        return svc.enrollment_rows(self.ctx.ws, ids, self.year, today=self.today)

    def _set_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        name = "error" if error else "hint"
        if self.message.objectName() != name:
            self.message.setObjectName(name)
            self.message.style().unpolish(self.message)
            self.message.style().polish(self.message)

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self._set_message(error_text(error), error=True)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat(text)
        for b in (*self.selection_buttons, self.apply_button, self.new_year_button):
            b.setEnabled(not busy)
        if not busy:
            self._selection_changed()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{message} %p%")

    @staticmethod
    def _ask(title: str, text: str) -> bool:
        answer = QMessageBox.question(None, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_path(self, title: str, default_name: str) -> str:
        path, _filter = QFileDialog.getSaveFileName(self, title, str(Path.home() / default_name), "Excel 文件 (*.xlsx)")
        return path

    # -- years and loading -----------------------------------------------------------------

    def load_years(self, select: int | None = None) -> None:
        years = svc.enrollment_years(self.ctx.ws)
        wanted = select or self.year or svc.default_year(self.ctx.ws, self.today)
        self.year_combo.blockSignals(True)
        self.year_combo.clear()
        for y in years:
            self.year_combo.addItem(f"{y} 年度", y)
        self.year_combo.blockSignals(False)
        if not years:
            self.year = None
            self.banner.setText("县医保局尚未下发缴费年度，请先载入县级参考数据。")
            self._style_banner("unset")
            self.model.set_ids([])
            return
        index = self.year_combo.findData(wanted)
        self.year_combo.setCurrentIndex(index if index >= 0 else 0)
        self._year_changed()

    def set_year(self, year: int) -> None:
        index = self.year_combo.findData(year)
        if index >= 0:
            self.year_combo.setCurrentIndex(index)

    def _year_changed(self) -> None:
        year = self.year_combo.currentData()
        if year is None:
            return
        self.year = int(year)
        ws, actor, today = self.ctx.ws, self.ctx.actor, self.today
        self.tasks.run_read(lambda: svc.year_info(ws, year, actor=actor, today=today), self._show_info,
                            self._failed, name="enrollment_year_info", owner=self)
        self.reload()

    def _style_banner(self, phase: str) -> None:
        self.banner.setStyleSheet(f"QLabel {{ {BANNER_STYLES[phase]} border-radius:6px; padding:6px 12px; }}")

    def _show_info(self, info: YearInfo) -> None:
        if info.year != self.year:
            return
        self.info = info
        text = info.banner_text
        if info.has_setting and info.records == 0:
            text += "　｜　本年度尚未开始：点“开始新年度”为在册居民建立记录"
        self.banner.setText(text)
        phase = info.phase
        if phase == "open" and info.days_left is not None and info.days_left <= URGENT_DAYS:
            phase = "urgent"
        self._style_banner(phase)

    def _village_changed(self) -> None:
        self.group_combo.blockSignals(True)
        self._fill_groups()
        self.group_combo.blockSignals(False)
        self.reload()

    def _fill_groups(self) -> None:
        village = self.village_combo.currentData()
        self.group_combo.clear()
        self.group_combo.addItem("全部组", ALL)
        for code, _name, groups in self.places:
            if code == village:
                for group_code, group_name in groups:
                    self.group_combo.addItem(group_name, group_code)
        self.group_combo.setEnabled(self.group_combo.count() > 1)

    def reset_filters(self) -> None:
        self.set_filters(village_code=self.places[0][0] if len(self.places) == 1 else None)

    def sort_by(self, key: str, ascending: bool) -> None:
        self._sort = (key, ascending)
        self.reload()

    def reload(self) -> None:
        """Reload the id list and the KPI for the current year, filters and sort (off the UI thread)."""
        if self.year is None:
            return
        self._generation += 1
        generation = self._generation
        ws, actor, year, filters = self.ctx.ws, self.ctx.actor, self.year, self.filters()
        key, ascending = self._sort
        self.count_label.setText("加载中…")
        self.tasks.run_read(lambda: svc.enrollment_ids(ws, actor, year, filters, key, ascending),
                            lambda ids: self._show_ids(generation, ids), self._failed,
                            name="enrollment_ids", owner=self)
        self.refresh_kpi()

    def refresh_kpi(self) -> None:
        if self.year is None:
            return
        generation = self._generation
        ws, actor, year, filters = self.ctx.ws, self.ctx.actor, self.year, self.filters()
        self.tasks.run_read(lambda: svc.filter_summary(ws, actor, year, filters),
                            lambda s: self._show_summary(generation, s), self._failed,
                            name="enrollment_summary", owner=self)

    def _show_ids(self, generation: int, ids: list[str]) -> None:
        if generation != self._generation:
            return  # a newer filter has been asked for meanwhile
        self.model.set_ids(ids)
        self._selection_changed()
        self.loaded.emit(len(ids))

    def _show_summary(self, generation: int, summary: svc.FilterSummary) -> None:
        if generation != self._generation:
            return
        self.summary = summary
        r = summary.ratio
        self.kpi_label.setText(f"参保率 {r.percent_text}")
        self.kpi_detail.setText(f"已参保 {r.numerator:,} / 应参保 {r.denominator:,} · 未缴 {summary.unpaid:,} 人")

    def _selection_changed(self, *_args) -> None:
        selected = len(self.selected_ids()) if self.model.rowCount() else 0
        self.count_label.setText(f"共 {self.model.rowCount():,} 人 · 已选 {selected:,} 人")
        for b in self.selection_buttons:
            b.setEnabled(selected > 0 and not self._busy and self.year is not None)
        self.subsidy_button.setEnabled(selected == 1 and not self._busy and self.year is not None)

    def _after_write(self, ids: list[str], text: str) -> None:
        """Show what changed: rows in place when the list keeps them, else a reload; the KPI always."""
        self._set_busy(False)
        self._set_message(text)
        key, _asc = self._sort
        if self.filters().status or key in ("status", "paid_date", "paid_yuan", "subsidy_yuan", "channel",
                                             "subsidy_category"):
            self.reload()
        else:
            self.model.refresh_ids(ids)
            self.refresh_kpi()
        self.tasks.run_read(lambda: svc.year_info(self.ctx.ws, self.year, actor=self.ctx.actor, today=self.today),
                            self._show_info, None, name="enrollment_year_info", owner=self)
        self.changed.emit()

    def _open(self, dialog: SubmitDialog, on_saved: Callable[[Any], None]) -> SubmitDialog:
        self.active_dialog = dialog
        dialog.accepted.connect(lambda: on_saved(dialog.result_value))
        dialog.finished.connect(lambda _r: setattr(self, "active_dialog", None))
        dialog.open()
        return dialog

    def _need_info(self) -> YearInfo | None:
        if self.year is None:
            return None
        if self.info is None or self.info.year != self.year:
            self.info = svc.year_info(self.ctx.ws, self.year, actor=self.ctx.actor, today=self.today)
        return self.info

    # -- status actions --------------------------------------------------------------------

    def mark_paid(self) -> SubmitDialog | None:
        ids = self.selected_ids()
        info = self._need_info()
        if not ids or info is None:
            return None
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准，不能登记缴费。", error=True)
            return None
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, info.year, self.today, self._relay
        due = None
        if len(ids) == 1:
            row = self.model.row_of(ids[0])
            values = self.model.row_values(row) if row is not None else {}
            if values.get("due_yuan"):
                due = int(round(float(values["due_yuan"]) * 100))

        def submit(v: dict[str, Any]):
            if len(ids) == 1:
                status = svc.set_paid(ws, actor, ids[0], year, paid_on=v["paid_on"], channel=v["channel"],
                                      amount_fen=v["amount_fen"], today=today)
                return f"已登记为{EnrollmentStatus(status).label}。"
            result = svc.mark_paid(ws, actor, ids, year, paid_on=v["paid_on"], channel=v["channel"], today=today,
                                   progress=relay.progress.emit)
            return bulk_text(result, "已登记缴费")

        name = ""
        if len(ids) == 1:
            row = self.model.row_of(ids[0])
            name = self.model.row_values(row).get("name", "") if row is not None else ""
        dialog = PaymentDialog(self.tasks, submit, count=len(ids), info=info, today=today, due_fen=due, name=name,
                               parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def set_subsidised(self) -> SubmitDialog | None:
        ids = self.selected_ids()
        info = self._need_info()
        if len(ids) != 1 or info is None:
            return None
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准，不能登记资助参保。", error=True)
            return None
        resident_id = ids[0]
        ws, actor, year, today = self.ctx.ws, self.ctx.actor, info.year, self.today
        suggestion = svc.suggest_for(ws, resident_id, year)
        row = self.model.row_of(resident_id)
        name = self.model.row_values(row).get("name", "") if row is not None else ""

        def submit(v: dict[str, Any]):
            svc.set_subsidised(ws, actor, resident_id, year, category=v["category"], subsidy_fen=v["subsidy_fen"],
                               paid_on=v["paid_on"], channel=v["channel"], today=today)
            return f"已登记{name}为资助参保（{v['category']}，资助 {yuan(v['subsidy_fen'])} 元）。"

        dialog = SubsidyDialog(self.tasks, submit, name=name, info=info, today=today,
                               category=suggestion.category if suggestion else "",
                               subsidy_fen=suggestion.subsidy_fen if suggestion else None,
                               categories=svc.subsidy_categories(ws, year), parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def _note_action(self, status: str, title: str, label: str, choices: tuple[str, ...], hint: str) -> SubmitDialog | None:
        ids = self.selected_ids()
        if not ids or self.year is None:
            return None
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, self.year, self.today, self._relay
        who = "1 人" if len(ids) == 1 else f"{len(ids):,} 人"

        def submit(v: dict[str, Any]):
            change = svc.StatusChange(status, note=v["note"])
            if len(ids) == 1:
                svc.set_enrollment(ws, actor, ids[0], year, change, today=today)
                return f"已登记为{EnrollmentStatus(status).label}。"
            result = svc.set_enrollment_many(ws, actor, ids, year, change, today=today, progress=relay.progress.emit)
            return bulk_text(result, f"已登记{EnrollmentStatus(status).label}")

        dialog = NoteDialog(self.tasks, submit, title=title, heading=f"{year} 年度{title}：{who}", label=label,
                            choices=choices, hint=hint, parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def set_other_channel(self) -> SubmitDialog | None:
        return self._note_action(EnrollmentStatus.OTHER_CHANNEL.value, "其他渠道参保", "参保渠道",
                                 svc.OTHER_CHANNEL_CHOICES, "已通过职工医保、外地或部队等渠道参保，计入参保率。")

    def set_not_required(self) -> SubmitDialog | None:
        return self._note_action(EnrollmentStatus.NOT_REQUIRED.value, "无需参保", "原因", svc.NOT_REQUIRED_REASONS,
                                 "不计入应参保人数（如死亡、迁出）。")

    def confirm_other_channel(self) -> None:
        """待核实 → 其他渠道参保 (issue 17.3): the selected people, or every 待核实 of the year."""
        if self.year is None:
            return
        ids = self.selected_ids() or None
        scope = f"选中的 {len(ids):,} 人中" if ids else "本年度全部"
        if not self.confirm("确认其他渠道参保", f"将{scope}待核实的人员确认为其他渠道参保（保留原参保渠道）？"):
            return
        ws, actor, year = self.ctx.ws, self.ctx.actor, self.year
        self._set_busy(True, "保存中…")

        def done(result: svc.BulkResult) -> None:
            self._after_write(ids or [], bulk_text(result, "已确认为其他渠道参保"))
            if not ids:
                self.reload()
        self.tasks.run_write(lambda: svc.confirm_other_channel(ws, actor, ids, year), done,
                             self._failed, name="enrollment_confirm_other_channel", owner=self)

    def set_unpaid(self) -> None:
        ids = self.selected_ids()
        if not ids or self.year is None:
            return
        if not self.confirm("改为未缴费", f"将选中的 {len(ids):,} 人改为未缴费，清除其缴费日期、金额和渠道？"):
            return
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, self.year, self.today, self._relay
        change = svc.StatusChange(EnrollmentStatus.UNPAID.value)

        def work():
            if len(ids) == 1:
                svc.set_enrollment(ws, actor, ids[0], year, change, today=today)
                return "已改为未缴费。"
            return bulk_text(svc.set_enrollment_many(ws, actor, ids, year, change, today=today,
                                                     progress=relay.progress.emit), "已改为未缴费")

        self._set_busy(True, "保存中…")
        self.tasks.run_write(work, lambda text: self._after_write(ids, text), self._failed,
                             name="enrollment_unpaid", owner=self)

    def apply_subsidies(self) -> None:
        if self.year is None:
            return
        ids = self.selected_ids()
        scope = f"选中的 {len(ids):,} 人" if ids else f"当前列表的 {self.model.rowCount():,} 人"
        if not ids:
            ids = self.model.ids()
            if not ids:
                return
            if not self.confirm("套用资助建议", f"按县医保局资助规则，为{scope}中未缴费的特殊人群填入资助？\n"
                                              "全额资助的登记为资助参保；定额资助的保持未缴费，应缴金额相应减少。"):
                return
        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, self.year, self._relay
        self._set_busy(True, "套用资助建议…")
        self.tasks.run_write(lambda: svc.apply_suggested_subsidies(ws, actor, year, ids, progress=relay.progress.emit),
                             lambda r: self._after_write(ids, bulk_text(r, "已套用资助建议")), self._failed,
                             name="enrollment_apply_subsidies", owner=self)

    # -- a new year ------------------------------------------------------------------------

    def start_new_year(self) -> None:
        info = self._need_info()
        if info is None:
            return
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准（个人缴费、征缴期），不能开始新年度。"
                              "请先同步或载入县级参考数据。", error=True)
            return
        missing, existing = svc.new_year_plan(self.ctx.ws, self.ctx.actor, info.year)
        if missing == 0:
            self._set_message(f"{info.year} 年度参保记录已齐全（{existing:,} 人），没有需要新建的。")
            return
        text = (f"为 {missing:,} 名尚无 {info.year} 年度记录的在册居民建立参保记录？\n\n"
                f"· 记为“未缴费”；符合全额资助规则的（如特困人员）直接记为“资助参保”，定额资助的填入资助金额。\n"
                f"· 已有记录的 {existing:,} 人和以前年度的记录都不变。\n· 可重复执行，不会重复建立。")
        if not self.confirm("开始新年度", text):
            return
        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, info.year, self._relay
        self._set_busy(True, "开始新年度…")
        self.tasks.run_write(lambda: svc.start_new_year(ws, actor, year, progress=relay.progress.emit),
                             self._new_year_done, self._failed, name="enrollment_new_year", owner=self)

    def _new_year_done(self, result: svc.NewYearResult) -> None:
        self._set_busy(False)
        self.info = None
        self.load_years(select=result.year)
        self._set_message(f"{result.text}（用时 {result.seconds:.1f} 秒）")
        self.changed.emit()

    # -- unpaid list and export ------------------------------------------------------------

    def show_unpaid_list(self) -> "UnpaidListDialog | None":
        if self.year is None:
            return None
        f = self.filters()
        dialog = UnpaidListDialog(self.ctx, self.year, village_code=f.village_code, group_code=f.group_code,
                                  today=self.today, ask_save_path=self.ask_save_path, parent=self)
        self.active_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "active_dialog", None))
        dialog.open()
        return dialog

    def export_ledger(self) -> None:
        if self.year is None:
            return
        village = self.filters().village_code
        path = self.ask_save_path("导出参保台账", f"{self.year}年度参保台账.xlsx")
        if not path:
            return
        from station_app.services import exports

        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, self.year, self._relay
        self.export_button.setEnabled(False)
        self.progress.setVisible(True)
        self.tasks.run_read(lambda: exports.export_enrollment(ws, actor, path, year=year, village_code=village,
                                                              progress=relay.progress.emit),
                            self._export_done, self._export_failed, name="export_enrollment", owner=self)

    def _export_done(self, result) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_export = result.path
        self._set_message(f"已导出 {result.rows:,} 行：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self._set_message(error_text(error), error=True)


# ================================================================================= unpaid list


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


def write_unpaid_pdf(data: svc.UnpaidList, title: str, outcomes: dict[str, Any], font: QFont,
                     path: Path) -> tuple[Path, int]:
    """Lay out and write the printout as an A4 PDF; runs on a worker thread (no widget touched).

    QTextDocument and QPdfWriter are reentrant: one instance used by one thread is safe, as the
    notices' renderer does.
    """
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter

    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageOrientation(QPageLayout.Orientation.Portrait)
    writer.setResolution(300)
    doc = QTextDocument()
    font = QFont(font)
    font.setPointSize(PRINT_POINT_SIZE)
    doc.setDefaultFont(font)
    layout = writer.pageLayout()
    doc.setPageSize(layout.paintRect(QPageLayout.Unit.Point).size() * (96 / 72))
    doc.setHtml(unpaid_html(data, title, outcomes))
    pages = doc.pageCount()
    doc.print_(writer)
    return path, pages


class OutcomeDialog(QDialog):
    """记录联系结果: 已打通 / 未接通 / 已承诺 (date) / 拒缴 (reason) / 已缴, saved through the service."""

    def __init__(self, ctx: PageContext, resident_id: str, who: str, *, list_kind: str, year: int | None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from station_app.domain.enums import OutreachResult

        from ..dialogs.service_widgets import DateField

        self.ctx, self.resident_id, self.list_kind, self.year = ctx, resident_id, list_kind, year
        self.result_value: Any = None
        self.setWindowTitle("记录联系结果")
        self.result_combo = QComboBox()
        for code, label in OutreachResult.choices():
            self.result_combo.addItem(label, code)
        self.promised = DateField(date.today() + timedelta(days=7), allow_future=True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("拒缴时必填，如：已在外地参保")
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("居民", QLabel(who))
        form.addRow("结果", self.result_combo)
        form.addRow("承诺缴费日期", self.promised)
        form.addRow("原因 / 说明", self.reason)
        self.save_button = QPushButton("保存")
        self.save_button.setObjectName("primary")
        self.save_button.setAutoDefault(False)
        cancel = QPushButton("取消")
        cancel.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.result_combo.currentIndexChanged.connect(self._result_changed)
        self._result_changed()

    def _result_changed(self) -> None:
        from station_app.domain.enums import OutreachResult

        self.promised.setEnabled(self.result_combo.currentData() == OutreachResult.PROMISED.value)

    def save(self) -> None:
        from station_app.services import outreach

        ws, actor, rid = self.ctx.ws, self.ctx.actor, self.resident_id
        result, promised, reason = self.result_combo.currentData(), self.promised.value(), self.reason.text()
        kind, year = self.list_kind, self.year
        self.save_button.setEnabled(False)
        self.ctx.tasks.run_write(
            lambda: outreach.record_outcome(ws, actor, rid, list_kind=kind, year=year, result=result,
                                            promised_date=promised, reason=reason),
            self._saved, self._failed, name="outreach_record", owner=self)

    def _saved(self, value: Any) -> None:
        self.result_value = value
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.message.setText(error_text(error))


class UnpaidListDialog(QDialog):
    """未缴清单: by group and household, with phone numbers; 打印 and 导出 xlsx."""

    loaded = Signal(object)

    def __init__(self, ctx: PageContext, year: int, *, village_code: str | None = None, group_code: str | None = None,
                 today: date | None = None, ask_save_path: Callable[[str, str], str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.year = ctx, year
        self.village_code, self.group_code = village_code, group_code
        self.today = today or date.today()
        self.data: svc.UnpaidList | None = None
        self.last_export: Path | None = None
        self._ask_save_path = ask_save_path
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self._on_progress)
        self.setWindowTitle(f"{year} 年度未缴费清单")
        fit_size(self, 1080, 680)
        self.heading = QLabel(f"{year} 年度未缴费清单")
        self.heading.setObjectName("dialogTitle")
        self.summary = QLabel("加载中…")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.outcomes: dict[str, Any] = {}
        self.info: YearInfo | None = None
        self.last_pdf: Path | None = None
        self.tree = QTreeWidget()
        self.tree.setColumnCount(9)
        self.tree.setHeaderLabels(["组 / 户 / 姓名", "上次联系", "关系", "年龄", "电话", "应缴(元)", "已缴/在册",
                                   "人员类别", "提示"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        for i, w in enumerate((250, 180, 50, 46, 190, 76, 70, 110, 140)):
            self.tree.setColumnWidth(i, w)
        self.tree.currentItemChanged.connect(lambda *_a: self._update_actions())
        # A work list: record each call's outcome, mark paid, send the county's SMS.
        self.outcome_button = QPushButton("记录联系结果…")
        self.paid_button = QPushButton("标记已缴费…")
        self.sms_button = QPushButton("导出短信…")
        self.sms_button.setToolTip("姓名、手机号、短信内容（CSV），供县短信平台群发")
        self.outcome_button.clicked.connect(self.record_outcome)
        self.paid_button.clicked.connect(self.mark_paid)
        self.sms_button.clicked.connect(self.export_sms)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.print_button = QPushButton("打印…")
        self.export_button = QPushButton("导出Excel…")
        self.close_button = QPushButton("关闭")
        self.print_button.clicked.connect(self.print_preview)
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.reject)
        self.message = QLabel("")
        self.message.setObjectName("hint")
        work = QHBoxLayout()
        work.addWidget(self.outcome_button)
        work.addWidget(self.paid_button)
        work.addStretch(1)
        work.addWidget(self.sms_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.heading)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addLayout(work)
        layout.addLayout(buttons)
        self.print_button.setEnabled(False)
        self.reload()

    def reload(self) -> None:
        from station_app.services import outreach

        ws, actor, year, today = self.ctx.ws, self.ctx.actor, self.year, self.today
        village_code, group_code = self.village_code, self.group_code

        def load():
            data = svc.unpaid_list(ws, actor, year, village_code=village_code, group_code=group_code, today=today)
            outcomes = outreach.latest_outcomes(ws, actor, "unpaid", year=year)
            return data, outcomes, svc.year_info(ws, year, actor=actor, today=today)

        self._update_actions()
        self.ctx.tasks.run_read(load, lambda r: self._show(*r), self._failed, name="unpaid_list", owner=self)

    # -- the work list ---------------------------------------------------------------------

    def current_member(self) -> tuple[str, str] | None:
        """(resident id, name) of the selected person row."""
        item = self.tree.currentItem()
        rid = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        return (rid, item.text(0)) if rid else None

    def _update_actions(self) -> None:
        chosen = self.current_member() is not None
        self.outcome_button.setEnabled(chosen)
        self.paid_button.setEnabled(chosen and self.info is not None and self.info.has_setting)

    def record_outcome(self) -> "OutcomeDialog | None":
        member = self.current_member()
        if member is None:
            return None
        dialog = OutcomeDialog(self.ctx, member[0], member[1], list_kind="unpaid", year=self.year, parent=self)
        dialog.accepted.connect(lambda: (self.message.setText(f"已记录 {member[1]} 的联系结果。"), self.reload()))
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def mark_paid(self) -> "SubmitDialog | None":
        member = self.current_member()
        if member is None or self.info is None:
            return None
        from station_app.services import outreach

        rid, name = member
        ws, actor, year, today, info = self.ctx.ws, self.ctx.actor, self.year, self.today, self.info

        def submit(v: dict[str, Any]) -> str:
            status = svc.set_paid(ws, actor, rid, year, paid_on=v["paid_on"], channel=v["channel"],
                                  amount_fen=v["amount_fen"], today=today)
            outreach.record_outcome(ws, actor, rid, list_kind="unpaid", year=year, result="paid", on=today)
            return f"已登记 {name} 为{EnrollmentStatus(status).label}。"

        dialog = PaymentDialog(self.ctx.tasks, submit, count=1, info=info, today=today, name=name, parent=self)
        dialog.accepted.connect(lambda: (self.message.setText(dialog.result_value or "已登记缴费。"), self.reload()))
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def sms_people(self) -> list[tuple[str, str, int | None]]:
        if self.data is None:
            return []
        people = []
        for group in self.data.groups:
            for h in group.households:
                for m in h.unpaid:
                    people.append((m.name, m.phone or h.phone, m.due_fen))
        return people

    def export_sms(self) -> None:
        from station_app.services import outreach

        if self.data is None:
            return
        ask = self._ask_save_path or self._default_ask_csv
        path = ask("导出短信名单", f"{self.year}年度缴费提醒短信.csv")
        if not path:
            return
        rows = outreach.sms_rows(self.sms_people(), year=self.year, deadline=self.data.deadline)
        count = outreach.write_sms_csv(Path(path), rows)
        self.last_export = Path(path)
        self.message.setText(f"已导出 {count:,} 条短信（无手机号的 {len(self.sms_people()) - count:,} 人未列入）：{path}")

    def _default_ask_csv(self, title: str, name: str) -> str:
        path, _f = QFileDialog.getSaveFileName(self, title, str(Path.home() / name), "CSV 文件 (*.csv)")
        return path

    def _failed(self, error: BaseException) -> None:
        self.summary.setText(error_text(error))

    def _show(self, data: svc.UnpaidList, outcomes: dict[str, Any] | None = None,
              info: YearInfo | None = None) -> None:
        self.data = data
        self.outcomes = outcomes or {}
        self.info = info
        contacted = sum(1 for g in data.groups for h in g.households for m in h.unpaid if m.resident_id in self.outcomes)
        deadline = f"缴费截止 {data.deadline:%Y-%m-%d}，{data.deadline_text}。" if data.deadline else ""
        flagged = f"★ {data.flagged:,} 户只有老人和小孩缴了费，年轻人未缴。" if data.flagged else ""
        self.summary.setText(f"未缴 {data.households:,} 户 {data.people:,} 人，分布在 {len(data.groups)} 个组；"
                             f"已联系 {contacted:,} 人。{deadline}{flagged}")
        self.tree.clear()
        bold = self.tree.font()
        bold.setBold(True)
        warn = QBrush(QColor("#b3261e"))
        for group in data.groups:
            top = QTreeWidgetItem([f"{group.title}　未缴 {len(group.households)} 户 {group.people} 人"])
            top.setFont(0, bold)
            top.setFirstColumnSpanned(True)
            self.tree.addTopLevelItem(top)
            for h in group.households:
                phones = "、".join(h.phones)
                item = QTreeWidgetItem([f"{h.household_no}　户主 {h.head_name}", "", "", "", phones,
                                        yuan(sum(m.due_fen or 0 for m in h.unpaid)), f"{h.covered}/{h.members}",
                                        "", "★ 仅老人/小孩已缴" if h.only_old_young_paid else ""])
                for col in (5, 6):
                    item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if h.only_old_young_paid:
                    item.setForeground(8, warn)
                top.addChild(item)
                for m in h.unpaid:
                    # The hint says what differs from a plain 未缴费: no record yet, or a subsidy that lowers the due.
                    hint = m.status if m.status != EnrollmentStatus.UNPAID.label else m.subsidy_category
                    outcome = self.outcomes.get(m.resident_id)
                    child = QTreeWidgetItem([m.name, outcome.text if outcome else "", m.relation,
                                             "" if m.age is None else str(m.age), m.phone, yuan(m.due_fen), "",
                                             m.groups, hint])
                    child.setData(0, Qt.ItemDataRole.UserRole, m.resident_id)
                    for col in (3, 5):
                        child.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    item.addChild(child)
            top.setExpanded(True)
        # A village's list opens with every member shown (the doctor works down it calling);
        # a township-wide one opens at household level.
        if data.households <= 1000:
            self.tree.expandAll()
        self.print_button.setEnabled(bool(data.groups))
        self.sms_button.setEnabled(bool(data.groups))
        self._update_actions()
        self.loaded.emit(data)

    def title(self) -> str:
        place = ""
        if self.data and self.data.groups and self.village_code:
            place = self.data.groups[0].village_name
            if self.group_code:
                place += self.data.groups[0].group_name
        return f"{place}{self.year}年度未缴费人员清单"

    def print_document(self) -> QTextDocument:
        doc = QTextDocument()
        font = QFont(self.font())
        font.setPointSize(PRINT_POINT_SIZE)
        doc.setDefaultFont(font)
        if self.data is not None:
            doc.setHtml(unpaid_html(self.data, self.title(), self.outcomes))
        return doc

    def print_document_for(self, printer) -> QTextDocument:
        doc = self.print_document()
        print_layout(doc, printer)
        return doc

    def print_preview(self) -> None:
        """打印: the list is laid out and written to a PDF on a worker thread (a township's 8,000
        rows took 15 s of frozen window in QPrintPreviewDialog), then opened for printing."""
        if self.data is None:
            return
        from ..dialogs.service_widgets import export_dir

        data, title, outcomes, font = self.data, self.title(), dict(self.outcomes), QFont(self.font())
        path = export_dir() / f"{title}-{date.today():%Y%m%d}.pdf"
        self.print_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.message.setText("正在排版打印稿…")
        self.ctx.tasks.run_read(lambda: write_unpaid_pdf(data, title, outcomes, font, path), self._printed,
                                self._print_failed, name="unpaid_pdf", owner=self)

    def _printed(self, result: tuple[Path, int]) -> None:
        path, pages = result
        self.print_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_pdf = path
        self.message.setText(f"打印稿已生成（{pages} 页）：{path}")
        self.open_file(path)

    def _print_failed(self, error: BaseException) -> None:
        self.print_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(error_text(error))

    @staticmethod
    def open_file(path: Path) -> None:
        """Open the PDF in the system viewer, where it is printed (replaced in tests)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def export(self) -> None:
        ask = self._ask_save_path or self._default_ask
        path = ask("导出未缴费清单", f"{self.year}年度未缴费清单.xlsx")
        if not path:
            return
        from station_app.services import exports

        ws, actor, year, village, relay = self.ctx.ws, self.ctx.actor, self.year, self.village_code, self._relay
        self.export_button.setEnabled(False)
        self.progress.setVisible(True)
        self.ctx.tasks.run_read(lambda: exports.export_unpaid(ws, actor, path, year=year, village_code=village,
                                                              progress=relay.progress.emit),
                                self._exported, self._export_failed, name="export_unpaid", owner=self)

    def _default_ask(self, title: str, name: str) -> str:
        path, _f = QFileDialog.getSaveFileName(self, title, str(Path.home() / name), "Excel 文件 (*.xlsx)")
        return path

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))

    def _exported(self, result) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_export = result.path
        self.message.setText(f"已导出 {result.rows:,} 行：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(error_text(error))


# ================================================================================= standalone page


class EnrollmentPage(QWidget):
    """The tab on its own, with a page title (when no residents page embeds it)."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        title = QLabel("年度参保")
        title.setObjectName("pageTitle")
        subtitle = QLabel("按待遇年度登记缴费、资助参保和其他渠道参保；未缴清单按组、按户列出联系电话")
        subtitle.setObjectName("pageSubtitle")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)
        self.tab = EnrollmentTab(ctx, self, today=today)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 12)
        layout.addLayout(header)
        layout.addWidget(self.tab, 1)


def make_enrollment_page(ctx: PageContext) -> QWidget:
    """Section factory for the standalone page (``SECTIONS`` entry "enrollment" until the residents page embeds the tab)."""
    return EnrollmentPage(ctx)
