"""同步: the county server's address and token, last sync, pending changes, conflicts to review,
refused changes, a progress bar and 立即同步. Sync runs on the network thread; a timer syncs
every few minutes while the server answers. Nothing here waits on the network."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, timedelta

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import Role
from station_app.domain.errors import DomainError
from station_app.services.changes import Actor
from station_app.services.person_merge import (
    DoubleRegistration,
    PersonCopy,
    find_double_registrations,
    merge_people,
)
from station_app.services.workspace import Workspace
from station_app.sync.client import SyncClient
from station_app.sync.conflicts import (
    ConflictChanged,
    ConflictFilter,
    RejectedView,
    ResolveResult,
    conflict_fields,
    conflict_ids,
    conflict_rows,
    conflict_stations,
    list_rejected,
    resolve_conflicts,
)
from station_app.sync.engine import SyncReport, run_sync
from station_app.sync.settings import (
    SyncStatus,
    server_settings,
    set_server,
    sync_status,
)

from ..models.lazy_table import Column, LazyTableModel
from ..tasks import TaskManager

logger = logging.getLogger(__name__)

#: Automatic sync interval; a failed attempt just waits for the next tick.
AUTO_SYNC_MS = 5 * 60 * 1000
NEVER = "从未"

CONFLICT_COLUMNS = (
    Column("person", "人员", width=200, sort_key="person"),
    Column("record", "类别", width=70, sort_key=None),
    Column("field", "字段", width=80, sort_key="field"),
    Column("local", "本站的值", width=120, sort_key=None),
    Column("local_who", "本站修改（站点 · 操作员 · 时间）", width=210, sort_key=None),
    Column("remote", "现在生效的值", width=120, sort_key=None),
    Column("remote_who", "对方修改（站点 · 操作员 · 时间）", width=230, sort_key="station"),
    Column("detected", "发现时间", width=130, sort_key="detected"),
    Column("group", "同项", width=44, sort_key="group", align_right=True,
           tooltip="同一人同一字段上的冲突条数（默认按人员和字段归组）"),
)
DATE_FILTERS = (("全部", None), ("今天", 0), ("近 7 天", 7), ("近 30 天", 30))
REJECTED_HEADERS = ["类别", "记录", "操作", "修改的内容", "原因", "时间"]
DOUBLE_HEADERS = ["身份证号", "姓名", "村", "户号", "名下记录", ""]


class _ProgressBridge(QObject):
    """Created on the main thread; the worker emits, Qt delivers on the main thread."""

    progress = Signal(int, int, str)


class SyncPage(QWidget):
    #: Emitted on the main thread after each sync attempt: (report or None, error message).
    synced = Signal(object, str)

    def __init__(self, ws: Workspace, actor: Actor, parent: QWidget | None = None, *,
                 tasks: TaskManager | None = None, auto_sync_ms: int = AUTO_SYNC_MS,
                 client_factory: Callable[[Workspace], SyncClient] | None = None):
        super().__init__(parent)
        self.ws = ws
        #: Builds the HTTP client for a run (tests pass one without real back-off waits).
        self.client_factory = client_factory
        self.actor = actor
        self.tasks = tasks or TaskManager(parent=self)
        self.running = False
        self._cancel = threading.Event()
        self._bridge = _ProgressBridge(self)
        self._bridge.progress.connect(self._on_progress)

        title = QLabel("同步")
        title.setObjectName("pageTitle")

        # -- server settings
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://县服务器地址")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("县医保局发放的同步令牌（已保存时留空即可）")
        self.save_button = QPushButton("保存")
        self.save_button.clicked.connect(self.save_settings)
        settings_box = QGroupBox("县服务器")
        form = QFormLayout(settings_box)
        form.addRow("地址：", self.url_edit)
        row = QHBoxLayout()
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.save_button)
        form.addRow("同步令牌：", row)
        # Where the station's data goes is the township's decision (set_server refuses a 村医).
        self.may_configure = actor.role in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value)
        for widget in (self.url_edit, self.token_edit):
            widget.setReadOnly(not self.may_configure)
        self.token_edit.setVisible(self.may_configure)
        token_label = form.labelForField(row)
        if token_label is not None:
            token_label.setVisible(self.may_configure)
        self.save_button.setVisible(self.may_configure)

        # -- status
        self.last_label = QLabel(NEVER)
        self.pending_label = QLabel("0")
        self.conflict_label = QLabel("0")
        self.rejected_label = QLabel("0")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.clock_label = QLabel("")
        self.clock_label.setObjectName("warning")
        self.clock_label.setStyleSheet("color: #b00020;")
        self.clock_label.setWordWrap(True)
        self.clock_label.hide()
        status_box = QGroupBox("状态")
        status = QFormLayout(status_box)
        status.addRow("上次成功同步：", self.last_label)
        status.addRow("待上传修改：", self.pending_label)
        status.addRow("待处理冲突：", self.conflict_label)
        status.addRow("未被接受的修改：", self.rejected_label)
        status.addRow(self.message_label)
        status.addRow(self.clock_label)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.sync_button = QPushButton("立即同步")
        self.sync_button.setObjectName("primary")
        self.sync_button.clicked.connect(self.sync_now)
        actions = QHBoxLayout()
        actions.addWidget(self.progress, 1)
        actions.addWidget(self.sync_button)

        # -- conflicts: every open one, lazy pages, filtered, sorted, grouped, bulk keep/take
        self.conflict_model = LazyTableModel(CONFLICT_COLUMNS, lambda ids: conflict_rows(self.ws, list(ids)),
                                             page_size=200, parent=self)
        self.conflict_model.on_sort = self._sort_conflicts
        self._conflict_sort = ("group", True)
        self.conflict_table = QTableView()
        self.conflict_table.setModel(self.conflict_model)
        self.conflict_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.conflict_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.conflict_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.conflict_table.setSortingEnabled(False)
        self.conflict_table.setWordWrap(False)
        self.conflict_table.setAlternatingRowColors(True)
        header = self.conflict_table.horizontalHeader()
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._header_clicked)
        for i, column in enumerate(CONFLICT_COLUMNS):
            if column.width:
                self.conflict_table.setColumnWidth(i, column.width)
        header.setStretchLastSection(True)
        self.conflict_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.conflict_table.doubleClicked.connect(lambda _index: self.open_record())
        self.person_filter = QLineEdit()
        self.person_filter.setPlaceholderText("姓名或户号")
        self.person_filter.setClearButtonEnabled(True)
        self.person_filter.textChanged.connect(lambda _t: self._filter_timer.start())
        self.field_filter = QComboBox()
        self.station_filter = QComboBox()
        self.date_filter = QComboBox()
        for label, days in DATE_FILTERS:
            self.date_filter.addItem(label, days)
        for box in (self.field_filter, self.station_filter, self.date_filter):
            box.currentIndexChanged.connect(lambda _i: self.reload_conflicts())
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(250)
        self._filter_timer.timeout.connect(self.reload_conflicts)
        self.conflict_count_label = QLabel("")
        self.keep_button = QPushButton("保留本地")
        self.keep_button.setToolTip("所选各条：用本站的值覆盖（作为一次新的修改），同步后所有站点都采用本站的值")
        self.keep_button.clicked.connect(lambda: self._resolve("mine"))
        self.take_button = QPushButton("采用服务器")
        self.take_button.setToolTip("所选各条：保留现在生效的值（其他站点的修改），不再提示")
        self.take_button.clicked.connect(lambda: self._resolve("theirs"))
        self.open_button = QPushButton("打开记录")
        self.open_button.setToolTip("查看该人员的历史记录（谁在何时改了什么）")
        self.open_button.clicked.connect(self.open_record)
        conflict_page = QWidget()
        conflict_layout = QVBoxLayout(conflict_page)
        conflict_layout.addWidget(QLabel("同一项被两个站点同时修改时，较晚的修改生效，另一个值保留在这里供核对。"
                                         "可按住 Ctrl / Shift 多选后一并处理："))
        filters = QHBoxLayout()
        filters.addWidget(QLabel("人员："))
        filters.addWidget(self.person_filter, 1)
        filters.addWidget(QLabel("字段："))
        filters.addWidget(self.field_filter)
        filters.addWidget(QLabel("对方站点："))
        filters.addWidget(self.station_filter)
        filters.addWidget(QLabel("发现时间："))
        filters.addWidget(self.date_filter)
        conflict_layout.addLayout(filters)
        conflict_layout.addWidget(self.conflict_table, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.conflict_count_label, 1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.take_button)
        conflict_layout.addLayout(buttons)

        self.rejected_table = QTableWidget(0, len(REJECTED_HEADERS))
        self.rejected_table.setHorizontalHeaderLabels(REJECTED_HEADERS)
        self.rejected_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rejected_table.setWordWrap(True)
        rejected_header = self.rejected_table.horizontalHeader()
        for i, width in enumerate((70, 190, 50, 200, 0, 130)):
            if width:
                self.rejected_table.setColumnWidth(i, width)
        rejected_header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        rejected_page = QWidget()
        rejected_layout = QVBoxLayout(rejected_page)
        rejected_layout.addWidget(QLabel("县服务器未接受的修改（不会阻塞其他修改上传）："))
        rejected_layout.addWidget(self.rejected_table, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(conflict_page, "冲突")
        self.tabs.addTab(rejected_page, "未被接受的修改")

        # -- the same person registered at two stations: merge
        self.double_table = QTableWidget(0, len(DOUBLE_HEADERS))
        self.double_table.setHorizontalHeaderLabels(DOUBLE_HEADERS)
        self.double_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.double_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.double_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.double_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.double_table.itemSelectionChanged.connect(self._update_buttons)
        self.merge_button = QPushButton("保留所选人员并合并")
        self.merge_button.setToolTip("同一身份证号的其他记录的参保、慢病卡、救助和服务记录转到所选人员名下，"
                                     "其他记录删除（留有操作日志，同步到所有站点）")
        self.merge_button.clicked.connect(self.merge_selected)
        double_page = QWidget()
        double_layout = QVBoxLayout(double_page)
        double_layout.addWidget(QLabel("同一身份证号在两个站点各登记了一次。选中要保留的那一条，再点合并："))
        double_layout.addWidget(self.double_table, 1)
        double_buttons = QHBoxLayout()
        double_buttons.addStretch(1)
        double_buttons.addWidget(self.merge_button)
        double_layout.addLayout(double_buttons)
        self.tabs.addTab(double_page, "重复登记")
        self._doubles: list[tuple[DoubleRegistration, PersonCopy]] = []

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        top = QHBoxLayout()
        top.addWidget(settings_box, 1)
        top.addWidget(status_box, 1)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.tabs, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(auto_sync_ms)
        self.timer.timeout.connect(self.auto_sync)
        self.timer.start()

        url, _token = server_settings(ws)
        self.url_edit.setText(url)
        self.refresh()

    # ------------------------------------------------------------------ state on screen

    def refresh(self) -> None:
        """Re-read status, conflicts and refused changes (local database only: fast)."""
        status = sync_status(self.ws)
        self._show_status(status)
        self._fill_filters()
        self.reload_conflicts()
        self._show_rejected(list_rejected(self.ws))
        self._show_doubles(find_double_registrations(self.ws, self.actor))
        self._update_buttons()

    def _show_status(self, status: SyncStatus) -> None:
        self.last_label.setText(status.last_success or NEVER)
        self.pending_label.setText(str(status.pending))
        self.conflict_label.setText(str(status.conflicts))
        self.rejected_label.setText(str(status.rejected))
        if not self.running:
            if not status.configured:
                self.message_label.setText("请先填写县服务器地址和同步令牌。")
            elif status.last_error:
                self.message_label.setText(f"上次同步未完成：{status.last_error}")
            else:
                self.message_label.setText(status.last_report)
        self.clock_label.setText(status.clock_warning)
        self.clock_label.setVisible(bool(status.clock_warning))
        # The tab titles count what the status counts (one service function, sync_status).
        self.tabs.setTabText(0, f"冲突（{status.conflicts}）")
        self.tabs.setTabText(1, f"未被接受的修改（{status.rejected}）")
        self.status = status

    def _fill_filters(self) -> None:
        for box, items, first in ((self.field_filter, conflict_fields(self.ws), "全部字段"),
                                  (self.station_filter, conflict_stations(self.ws), "全部站点")):
            current = box.currentData()
            box.blockSignals(True)
            box.clear()
            box.addItem(first, "")
            for value, label in items:
                box.addItem(label if label == value else f"{label}（{value}）" if box is self.station_filter
                            else label, value)
            index = box.findData(current)
            box.setCurrentIndex(max(0, index))
            box.blockSignals(False)

    def conflict_filter(self) -> ConflictFilter:
        days = self.date_filter.currentData()
        since = date.today() - timedelta(days=days) if days is not None else None
        return ConflictFilter(person=self.person_filter.text(), field=self.field_filter.currentData() or "",
                              station=self.station_filter.currentData() or "", since=since)

    def reload_conflicts(self) -> None:
        key, ascending = self._conflict_sort
        ids = conflict_ids(self.ws, self.conflict_filter(), sort=key, ascending=ascending)
        self.conflict_model.set_ids(ids)
        total = self.status.conflicts if hasattr(self, "status") else len(ids)
        self.conflict_count_label.setText(f"显示 {len(ids)} 条（共 {total} 条待处理）")
        self._update_buttons()

    def _header_clicked(self, section: int) -> None:
        column = CONFLICT_COLUMNS[section]
        key = column.sort_by()
        if not key:
            return
        current, ascending = self._conflict_sort
        self._sort_conflicts(key, not ascending if current == key else True)

    def _sort_conflicts(self, key: str, ascending: bool) -> None:
        self._conflict_sort = (key, ascending)
        self.reload_conflicts()

    def _show_rejected(self, rejected: list[RejectedView]) -> None:
        table = self.rejected_table
        table.setRowCount(len(rejected))
        for row, r in enumerate(rejected):
            values = [r.table_label, r.record, r.op, r.fields, r.message,
                      r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else ""]
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(value))

    def _update_buttons(self) -> None:
        count = len(self.selected_conflict_ids())
        self.keep_button.setEnabled(count > 0)
        self.take_button.setEnabled(count > 0)
        self.keep_button.setText(f"保留本地（{count} 条）" if count > 1 else "保留本地")
        self.take_button.setText(f"采用服务器（{count} 条）" if count > 1 else "采用服务器")
        self.open_button.setEnabled(count == 1 and bool(self._selected_values().get("resident_id")))
        if hasattr(self, "merge_button"):
            self.merge_button.setEnabled(bool(self.double_table.selectionModel().selectedRows()))
        self.sync_button.setEnabled(not self.running)
        self.sync_button.setText("同步中…" if self.running else "立即同步")

    def selected_conflict_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.conflict_table.selectionModel().selectedRows())
        return [int(i) for i in (self.conflict_model.id_at(r) for r in rows) if i is not None]

    def selected_conflict(self) -> int | None:
        ids = self.selected_conflict_ids()
        return ids[0] if ids else None

    def _selected_values(self) -> dict:
        rows = self.conflict_table.selectionModel().selectedRows()
        return self.conflict_model.row_values(rows[0].row()) if len(rows) == 1 else {}

    # ------------------------------------------------------------------ actions

    def save_settings(self) -> None:
        try:
            set_server(self.ws, self.actor, self.url_edit.text(), self.token_edit.text())
        except DomainError as error:
            QMessageBox.warning(self, "同步设置", error.message)
            return
        self.token_edit.clear()
        self.refresh()
        self.message_label.setText("已保存。")
        self.tasks.notify_changed("sync_settings")  # the status bar follows at once

    def auto_sync(self) -> None:
        if not self.running and sync_status(self.ws).configured:
            self.sync_now()

    def sync_now(self) -> None:
        if self.running:
            return
        if not sync_status(self.ws).configured:
            self.message_label.setText("请先填写县服务器地址和同步令牌。")
            return
        self.running = True
        self._cancel.clear()
        self.progress.setValue(0)
        self.progress.setFormat("正在连接县服务器…")
        self.message_label.setText("正在同步…")
        self._update_buttons()
        ws, bridge, cancel, factory = self.ws, self._bridge, self._cancel, self.client_factory

        def work() -> SyncReport:
            # Runs on the network thread: services only, no widget.
            client = factory(ws) if factory is not None else None
            try:
                return run_sync(ws, client=client, cancel=cancel,
                                progress=lambda done, total, message: bridge.progress.emit(done, total, message))
            finally:
                if client is not None:
                    client.close()

        self.tasks.run_network(work, self._on_synced, self._on_failed, name="sync")

    def cancel(self) -> None:
        self._cancel.set()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        percent = 100 if total <= 0 else max(0, min(100, round(100 * done / total)))
        self.progress.setValue(percent)
        self.progress.setFormat(f"{message} %p%")

    def _on_synced(self, report: SyncReport) -> None:
        self.running = False
        self.progress.setValue(100)
        self.progress.setFormat("同步完成")
        self.refresh()
        self.message_label.setText(f"同步完成：{report.summary()}")
        self.synced.emit(report, "")

    def _on_failed(self, error: BaseException) -> None:
        self.running = False
        self.progress.setFormat("同步未完成")
        message = error.message if isinstance(error, DomainError) else "同步时出现意外错误，详情见日志。"
        if not isinstance(error, DomainError):
            logger.error("sync failed", exc_info=(type(error), error, error.__traceback__))
        self.refresh()
        self.message_label.setText(f"同步未完成：{message}")
        self.synced.emit(None, message)

    def _resolve(self, choice: str) -> None:
        ids = self.selected_conflict_ids()
        if not ids:
            return
        ws, actor = self.ws, self.actor
        self.tasks.run_write(lambda: resolve_conflicts(ws, actor, ids, choice), self._on_resolved,
                             lambda error: QMessageBox.warning(self, "处理冲突", str(error)), name="resolve_conflict")

    def _on_resolved(self, result: ResolveResult) -> None:
        self.refresh()
        if result.changed:
            # The value changed since the conflict was found: the list now shows the newer one.
            message = ConflictChanged(result.changed, result.current_display).message
            if result.resolved:
                message = f"已处理 {result.resolved} 条。" + message
            self.message_label.setText(message)
            QMessageBox.information(self, "处理冲突", message)
        else:
            self.message_label.setText(f"已处理 {result.resolved} 条冲突。")

    def _show_doubles(self, groups: list[DoubleRegistration]) -> None:
        self._doubles = [(group, person) for group in groups for person in group.people]
        table = self.double_table
        table.setRowCount(len(self._doubles))
        for row, (group, person) in enumerate(self._doubles):
            suggested = "建议保留" if person is group.people[0] else ""
            values = [group.id_number_masked, person.name, person.village_code, person.household_no,
                      str(person.linked), suggested]
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(value))
        self.tabs.setTabText(2, f"重复登记（{len(groups)}）")

    def merge_selected(self) -> None:
        rows = self.double_table.selectionModel().selectedRows()
        if not rows:
            return
        group, keep = self._doubles[rows[0].row()]
        drop = [p.resident_id for p in group.people if p.resident_id != keep.resident_id]
        ws, actor = self.ws, self.actor

        def work() -> int:
            return sum(merge_people(ws, actor, keep.resident_id, other) for other in drop)

        self.tasks.run_write(work, lambda moved: (self.refresh(), self.message_label.setText(
            f"已合并：保留 {keep.name}，转入 {moved} 条记录。下次同步时上传。")),
            lambda error: QMessageBox.warning(self, "合并重复登记", str(error)), name="merge_people")

    def open_record(self) -> None:
        """The person the selected conflict belongs to: their history (who changed what, when)."""
        values = self._selected_values()
        resident_id = values.get("resident_id")
        if not resident_id:
            return
        from ..dialogs.history_dialog import HistoryDialog

        self.record_dialog = HistoryDialog(self.ws, self.actor, self.tasks, resident_id,
                                           values.get("person", ""), parent=self)
        self.record_dialog.show()

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self._cancel.set()
        super().closeEvent(event)
