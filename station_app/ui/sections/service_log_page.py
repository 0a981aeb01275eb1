"""服务记录: a quick entry row, the list of services, and 绩效统计 (each doctor's counts by kind, month by month)."""

from __future__ import annotations

import logging
from datetime import date
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGroupBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain import chronic as months_rules
from station_app.domain.enums import ServiceKind
from station_app.services import exports
from station_app.services import service_log as svc
from station_app.services.chronic import village_choices

from ..dialogs.service_widgets import DateField, ResidentPicker, error_text, run_export
from ..views import apply_widths, enable_sorting, setup_table
from ..models.lazy_table import Column
from ..reveal import RevealButton, RevealController, RevealTableModel
from . import PageContext
from ..common import SEARCH_DELAY_MS

logger = logging.getLogger(__name__)

ALL = ""
LOADING = "加载中…"
KINDS = list(ServiceKind)

SERVICE_COLUMNS = (
    Column("service_date", "服务日期", width=104),
    Column("kind", "服务类型", width=84),
    Column("name", "姓名", width=80),
    Column("village", "村", width=80),
    Column("group", "组", width=56, sort_key=None),
    Column("phone", "电话", width=118, sort_key=None),
    Column("doctor", "服务人", width=84),
    Column("note", "备注", width=300, sort_key=None),
)


def _month_label(month: str) -> str:
    first = months_rules.parse_month(month)
    return f"{first.year}年{first.month}月"


def _months(today: date, count: int = 12) -> list[str]:
    return list(reversed(months_rules.months_ending(months_rules.month_key(today), count)))


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def _set_message(label: QLabel, text: str, error: bool = False) -> None:
    label.setText(text)
    name = "error" if error else "hint"
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


def _number_item(value: int, *, bold: bool = False) -> QStandardItem:
    item = QStandardItem(f"{value:,}")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setData(value, Qt.ItemDataRole.UserRole)
    if bold:
        font = QFont()
        font.setBold(True)
        item.setFont(font)
    return item


class QuickEntry(QGroupBox):
    """快速登记: resident, kind (one click), date (today), note → 登记. Enter in the note saves."""

    saved = Signal(str)  # the new entry's id

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__("快速登记", parent)
        self.ctx = ctx
        self.picker = ResidentPicker(ctx)
        self.date = DateField()
        self.kind_group = QButtonGroup(self)
        self.kind_group.setExclusive(True)
        kinds = QHBoxLayout()
        kinds.setSpacing(6)
        self.kind_buttons: dict[str, QPushButton] = {}
        for kind in KINDS:
            button = QPushButton(kind.label)
            button.setCheckable(True)
            button.setMinimumWidth(72)
            button.setStyleSheet("QPushButton:checked { background:#2f6f9f; color:white; border-color:#2f6f9f; }")
            self.kind_group.addButton(button)
            self.kind_buttons[kind.value] = button
            kinds.addWidget(button)
        self.kind_buttons[ServiceKind.HOME_VISIT.value].setChecked(True)
        self.note = QLineEdit()
        self.note.setPlaceholderText("备注：如 测血压 150/95，已提醒按时服药")
        self.note.setMaxLength(svc.MAX_NOTE)
        self.note.returnPressed.connect(self.save)
        self.save_button = QPushButton("登记")
        self.save_button.setObjectName("primary")
        self.save_button.setMinimumWidth(96)
        self.save_button.clicked.connect(self.save)
        self.message = _hint("服务人为当前登录用户：" + ctx.actor.display_name)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(10)
        grid.addWidget(QLabel("居民"), 0, 0)
        grid.addWidget(self.picker, 0, 1, 1, 3)
        grid.addWidget(QLabel("日期"), 0, 4)
        grid.addWidget(self.date, 0, 5)
        grid.addWidget(QLabel("类型"), 1, 0)
        grid.addLayout(kinds, 1, 1)
        grid.addWidget(QLabel("备注"), 1, 2)
        grid.addWidget(self.note, 1, 3, 1, 2)
        grid.addWidget(self.save_button, 1, 5)
        grid.addWidget(self.message, 2, 1, 1, 5)
        grid.setColumnStretch(3, 1)

    def kind(self) -> str:
        for value, button in self.kind_buttons.items():
            if button.isChecked():
                return value
        return ServiceKind.HOME_VISIT.value

    def set_kind(self, kind: str) -> None:
        self.kind_buttons[kind].setChecked(True)

    def save(self) -> None:
        hit = self.picker.hit
        if hit is None:
            _set_message(self.message, "请先在“居民”一栏搜索并选中服务对象（输入后按回车选第一个）。", True)
            self.picker.edit.setFocus()
            return
        ws, actor = self.ctx.ws, self.ctx.actor
        kind, on, note = self.kind(), self.date.value(), self.note.text()
        self.save_button.setEnabled(False)

        def done(entry_id: str) -> None:
            self.save_button.setEnabled(True)
            _set_message(self.message, f"已登记：{hit.name} · {ServiceKind(kind).label} · {on.isoformat()}")
            self.note.clear()
            self.picker.clear()
            self.picker.edit.setFocus()
            self.saved.emit(entry_id)

        def failed(error: BaseException) -> None:
            self.save_button.setEnabled(True)
            _set_message(self.message, error_text(error), True)

        self.ctx.tasks.run_write(lambda: svc.record_service(ws, actor, resident_id=hit.id, kind=kind, on=on, note=note),
                                 done, failed, name="record_service", owner=self)


class ServiceListTab(QWidget):
    def __init__(self, ctx: PageContext, today: date, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        ws, actor = ctx.ws, ctx.actor
        self.sort: tuple[str | None, bool] = (None, True)
        self.month = QComboBox()
        self.month.addItem("全部月份", ALL)
        for month in _months(today):
            self.month.addItem(_month_label(month), month)
        self.kind = QComboBox()
        self.kind.addItem("全部", ALL)
        for value, label in ServiceKind.choices():
            self.kind.addItem(label, value)
        self.doctor = QComboBox()
        self.village = QComboBox()
        self.village.addItem("全部", ALL)
        for code, name in village_choices(ws, actor):
            self.village.addItem(name, code)
        self.fill_doctors()
        self.search = QLineEdit()
        self.search.setPlaceholderText("姓名 / 拼音 / 身份证号")
        self.search.setClearButtonEnabled(True)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_DELAY_MS)
        self.timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self.timer.start())
        for box in (self.month, self.kind, self.doctor, self.village):
            box.currentIndexChanged.connect(self.reload)
        self.count = _hint("")
        filters = QHBoxLayout()
        for label, widget in (("月份", self.month), ("类型", self.kind), ("服务人", self.doctor), ("村", self.village)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.count)
        self.void_button = QPushButton("作废")
        self.void_button.setToolTip("作废登记错误的记录（保留痕迹，可在审计日志中查到）")
        self.void_button.clicked.connect(self.void)
        self.export_button = QPushButton("导出 Excel")
        self.export_button.clicked.connect(self.export)
        filters.addWidget(self.void_button)
        filters.addWidget(self.export_button)
        self.reveal = RevealController(ctx, self)
        self.model = RevealTableModel(SERVICE_COLUMNS, lambda ids: svc.service_rows(ws, ids), self.reveal, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.reveal_button = RevealButton(self.reveal, self.table, self.model.resident_at)
        self.reveal.failed.connect(lambda text: _set_message(self.message, text, True))
        filters.insertWidget(filters.indexOf(self.void_button), self.reveal_button)
        setup_table(self.table)
        enable_sorting(self.table)
        self.model.on_sort = self._sorted
        apply_widths(self.table, SERVICE_COLUMNS)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.message = _hint("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        self._update_buttons()

    def fill_doctors(self) -> None:
        current = self.doctor.currentData()
        self.doctor.blockSignals(True)
        self.doctor.clear()
        self.doctor.addItem("全部", ALL)
        for username, name in svc.doctor_choices(self.ctx.ws, self.ctx.actor):
            self.doctor.addItem(name, username)
        index = self.doctor.findData(current)
        self.doctor.setCurrentIndex(max(index, 0))
        self.doctor.blockSignals(False)

    def filters(self) -> svc.ServiceFilters:
        return svc.ServiceFilters(village_code=self.village.currentData() or None, kind=self.kind.currentData() or None,
                                  doctor=self.doctor.currentData() or None, month=self.month.currentData() or None,
                                  text=self.search.text())

    def _sorted(self, key: str, ascending: bool) -> None:
        self.sort = (key, ascending)
        self.reload()

    def reload(self) -> None:
        self.count.setText(LOADING)
        ws, actor, filters, (key, asc) = self.ctx.ws, self.ctx.actor, self.filters(), self.sort
        self.ctx.tasks.run_read(lambda: svc.service_ids(ws, actor, filters, key, asc), self._loaded,
                                lambda e: _set_message(self.message, f"加载失败：{error_text(e)}", True),
                                name="service_ids", owner=self)

    def _loaded(self, ids: list[str]) -> None:
        self.model.set_ids(ids)
        self.count.setText(f"共 {len(ids):,} 条")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.void_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def void(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        entry_id = self.model.id_at(rows[0].row())
        values = self.model.row_values(rows[0].row())
        answer = QMessageBox.question(self, "作废服务记录",
                                      f"作废这条记录？\n{values.get('service_date')} {values.get('kind')} {values.get('name')}")
        if answer != QMessageBox.StandardButton.Yes:
            return
        ws, actor = self.ctx.ws, self.ctx.actor
        self.ctx.tasks.run_write(lambda: svc.void_service(ws, actor, entry_id),
                                 lambda _v: (_set_message(self.message, "已作废。"), self.reload()),
                                 lambda e: _set_message(self.message, error_text(e), True), name="void_service",
                                 owner=self)

    def export(self) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        month, village = self.month.currentData() or None, self.village.currentData() or None
        year = None if month else date.today().year
        run_export(self, self.ctx, f"签约服务记录_{month or year}.xlsx",
                   lambda path, progress: exports.export_services(ws, actor, path, year=year, month=month,
                                                                  village_code=village, progress=progress))


class PerformanceTab(QWidget):
    """绩效统计: a month's doctor × kind table with totals, and a 12-month series."""

    loaded = Signal(object)  # ServiceCounts

    def __init__(self, ctx: PageContext, today: date, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.counts: svc.ServiceCounts | None = None
        self.month = QComboBox()
        for month in _months(today, 24):
            self.month.addItem(_month_label(month), month)
        self.month.currentIndexChanged.connect(self.reload)
        self.export_button = QPushButton("导出本月 Excel")
        self.export_button.clicked.connect(self.export)
        top = QHBoxLayout()
        top.addWidget(QLabel("月份"))
        top.addWidget(self.month)
        self.summary = _hint("")
        top.addWidget(self.summary, 1)
        top.addWidget(self.export_button)
        headers = ["服务人"] + [k.label for k in KINDS] + ["合计"]
        self.counts_model = QStandardItemModel(0, len(headers), self)
        self.counts_model.setHorizontalHeaderLabels(headers)
        self.counts_table = QTableView()
        self.counts_table.setModel(self.counts_model)
        setup_table(self.counts_table, row_height=32)
        self.counts_table.verticalHeader().hide()
        self.counts_table.horizontalHeader().setStretchLastSection(False)
        self.counts_table.setColumnWidth(0, 150)
        for i in range(1, len(headers)):
            self.counts_table.setColumnWidth(i, 62)
        self.counts_table.selectionModel().selectionChanged.connect(lambda *_: self.reload_series())

        self.series_title = QLabel("近 12 个月（全部服务人）")
        self.series_title.setObjectName("dialogTitle")
        series_headers = ["月份"] + [k.label for k in KINDS] + ["合计"]
        self.series_model = QStandardItemModel(0, len(series_headers), self)
        self.series_model.setHorizontalHeaderLabels(series_headers)
        self.series_table = QTableView()
        self.series_table.setModel(self.series_model)
        setup_table(self.series_table, row_height=28)
        self.series_table.verticalHeader().hide()
        self.series_table.horizontalHeader().setStretchLastSection(False)
        self.series_table.setColumnWidth(0, 110)
        for i in range(1, len(series_headers)):
            self.series_table.setColumnWidth(i, 62)
        self.message = _hint("统计口径：按服务日期所在月份、登记服务的用户（服务人）计数；作废的记录不计。选中一位服务人可看其近 12 个月。")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 10, 0, 0)
        # Side by side: the month's table on the left, the chosen doctor's year on the right.
        left = QVBoxLayout()
        self.month_title = QLabel("本月各服务人")
        self.month_title.setObjectName("dialogTitle")
        left.addWidget(self.month_title)
        left.addWidget(self.counts_table, 1)
        right = QVBoxLayout()
        right.addWidget(self.series_title)
        right.addWidget(self.series_table, 1)
        tables = QHBoxLayout()
        tables.addLayout(left, 1)
        tables.addSpacing(16)
        tables.addLayout(right, 1)
        layout.addLayout(top)
        layout.addLayout(tables, 1)
        layout.addWidget(self.message)

    def selected_doctor(self) -> str | None:
        rows = self.counts_table.selectionModel().selectedRows()
        if not rows or self.counts is None or rows[0].row() >= len(self.counts.doctors):
            return None
        return self.counts.doctors[rows[0].row()].username

    def reload(self) -> None:
        ws, actor, month = self.ctx.ws, self.ctx.actor, self.month.currentData()
        self.summary.setText(LOADING)
        self.ctx.tasks.run_read(lambda: svc.service_counts(ws, actor, month), self._show,
                                lambda e: _set_message(self.message, f"加载失败：{error_text(e)}", True),
                                name="service_counts", owner=self)
        self.reload_series()

    def _show(self, counts: svc.ServiceCounts) -> None:
        selected = self.selected_doctor()
        self.counts = counts
        self.counts_model.removeRows(0, self.counts_model.rowCount())
        for doctor in counts.doctors:
            name = QStandardItem(f"{doctor.display_name}（{doctor.place_name}）" if doctor.place_name
                                 else doctor.display_name)
            name.setToolTip(f"用户名：{doctor.username}")
            self.counts_model.appendRow([name] + [_number_item(doctor.counts[k.value]) for k in KINDS]
                                        + [_number_item(doctor.total, bold=True)])
        total = QStandardItem("合计")
        font = QFont()
        font.setBold(True)
        total.setFont(font)
        totals = counts.totals
        row = [total] + [_number_item(totals[k.value], bold=True) for k in KINDS] + [_number_item(counts.total, bold=True)]
        for item in row:
            item.setBackground(QBrush(QColor("#e8f1f8")))
        self.counts_model.appendRow(row)
        if selected:
            for i, doctor in enumerate(counts.doctors):
                if doctor.username == selected:
                    self.counts_table.selectRow(i)
        self.summary.setText(f"{_month_label(counts.month)}：{len(counts.doctors)} 位服务人，共 {counts.total:,} 人次")
        self.month_title.setText(f"{_month_label(counts.month)}各服务人")
        self.loaded.emit(counts)

    def count_of(self, username: str, kind: str) -> int | None:
        """The number shown in the table for a doctor and kind (tests read the widget, not the service)."""
        if self.counts is None:
            return None
        for i, doctor in enumerate(self.counts.doctors):
            if doctor.username == username:
                column = 1 + [k.value for k in KINDS].index(kind)
                return self.counts_model.item(i, column).data(Qt.ItemDataRole.UserRole)
        return None

    def reload_series(self) -> None:
        ws, actor, month = self.ctx.ws, self.ctx.actor, self.month.currentData()
        doctor = self.selected_doctor()
        name = next((d.display_name for d in self.counts.doctors if d.username == doctor), doctor) \
            if doctor and self.counts else None
        self.series_title.setText(f"近 12 个月（{name or '全部服务人'}）")
        self.ctx.tasks.run_read(lambda: svc.service_series(ws, actor, end_month=month, doctor=doctor),
                                self._show_series, lambda e: _set_message(self.message, error_text(e), True),
                                name="service_series", owner=self)

    def _show_series(self, series: list[svc.MonthCounts]) -> None:
        self.series_model.removeRows(0, self.series_model.rowCount())
        for month in reversed(series):
            self.series_model.appendRow([QStandardItem(_month_label(month.month))]
                                        + [_number_item(month.counts[k.value]) for k in KINDS]
                                        + [_number_item(month.total, bold=True)])

    def export(self) -> None:
        ws, actor, month = self.ctx.ws, self.ctx.actor, self.month.currentData()
        run_export(self, self.ctx, f"签约服务统计_{month}.xlsx",
                   lambda path, progress: exports.export_services(ws, actor, path, month=month, progress=progress))


class ServiceLogPage(QWidget):
    """The 服务记录 section."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        today = today or date.today()
        title = QLabel("服务记录")
        title.setObjectName("pageTitle")
        subtitle = _hint("签约服务：上门、代购药、答疑、代办、提醒；绩效统计按月给出每位服务人的服务人次")
        self.entry = QuickEntry(ctx)
        self.list = ServiceListTab(ctx, today)
        self.performance = PerformanceTab(ctx, today)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.list, "服务记录")
        self.tabs.addTab(self.performance, "绩效统计")
        self.tabs.currentChanged.connect(lambda _i: self.refresh())
        self.entry.saved.connect(lambda _id: self.refresh())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 20)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(self.entry)
        layout.addWidget(self.tabs, 1)
        self._shown_once = False
        self.refresh()

    def refresh(self) -> None:
        """Reload what the shown tab displays (entries may come from the 慢病档案 one-click actions too)."""
        if self.tabs.currentWidget() is self.performance:
            self.performance.reload()
        else:
            self.list.reload()

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.performance if name == "performance" else self.list)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._shown_once:
            self.refresh()
        self._shown_once = True
