"""同步: the county server's address and token, last sync, pending changes, conflicts to review,
refused changes, a progress bar and 立即同步. Sync runs on the network thread; a timer syncs
every few minutes while the server answers. Nothing here waits on the network."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.errors import DomainError
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace
from station_app.sync.client import SyncClient
from station_app.sync.conflicts import ConflictView, RejectedView, keep_mine, list_conflicts, list_rejected, take_theirs
from station_app.sync.engine import SyncReport, run_sync
from station_app.sync.settings import SyncStatus, server_settings, set_server, sync_status

from ..tasks import TaskManager

logger = logging.getLogger(__name__)

#: Automatic sync interval; a failed attempt just waits for the next tick.
AUTO_SYNC_MS = 5 * 60 * 1000
NEVER = "从未"


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
        self._conflicts: list[ConflictView] = []
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

        # -- conflicts and refused changes
        self.conflict_table = QTableWidget(0, 6)
        self.conflict_table.setHorizontalHeaderLabels(["类别", "记录", "字段", "本站的值", "县服务器的值", "发现时间"])
        self.conflict_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.conflict_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.conflict_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.conflict_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.conflict_table.itemSelectionChanged.connect(self._update_buttons)
        self.keep_button = QPushButton("保留本地")
        self.keep_button.setToolTip("用本站的值覆盖，下次同步后所有站点都采用本站的值")
        self.keep_button.clicked.connect(lambda: self._resolve("mine"))
        self.take_button = QPushButton("采用服务器")
        self.take_button.setToolTip("采用县服务器上的值（其他站点的修改）")
        self.take_button.clicked.connect(lambda: self._resolve("theirs"))
        conflict_page = QWidget()
        conflict_layout = QVBoxLayout(conflict_page)
        conflict_layout.addWidget(QLabel("同一项被两个站点同时修改时，较晚的修改生效，另一个值保留在这里供核对："))
        conflict_layout.addWidget(self.conflict_table, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.take_button)
        conflict_layout.addLayout(buttons)

        self.rejected_table = QTableWidget(0, 4)
        self.rejected_table.setHorizontalHeaderLabels(["类别", "操作", "原因", "时间"])
        self.rejected_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rejected_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        rejected_page = QWidget()
        rejected_layout = QVBoxLayout(rejected_page)
        rejected_layout.addWidget(QLabel("县服务器未接受的修改（不会阻塞其他修改上传）："))
        rejected_layout.addWidget(self.rejected_table, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(conflict_page, "冲突")
        self.tabs.addTab(rejected_page, "未被接受的修改")

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
        self._show_conflicts(list_conflicts(self.ws))
        self._show_rejected(list_rejected(self.ws))
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
        self.status = status

    def _show_conflicts(self, conflicts: list[ConflictView]) -> None:
        self._conflicts = conflicts
        table = self.conflict_table
        table.setRowCount(len(conflicts))
        for row, c in enumerate(conflicts):
            values = [c.table_label, c.row_label, c.field_label, c.local_display, c.remote_display,
                      c.detected_at.strftime("%Y-%m-%d %H:%M") if c.detected_at else ""]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                table.setItem(row, column, item)
        self.tabs.setTabText(0, f"冲突（{len(conflicts)}）")

    def _show_rejected(self, rejected: list[RejectedView]) -> None:
        table = self.rejected_table
        table.setRowCount(len(rejected))
        for row, r in enumerate(rejected):
            values = [r.table_label, r.op, r.message, r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else ""]
            for column, value in enumerate(values):
                table.setItem(row, column, QTableWidgetItem(value))
        self.tabs.setTabText(1, f"未被接受的修改（{len(rejected)}）")

    def _update_buttons(self) -> None:
        selected = self.selected_conflict() is not None
        self.keep_button.setEnabled(selected)
        self.take_button.setEnabled(selected)
        self.sync_button.setEnabled(not self.running)
        self.sync_button.setText("同步中…" if self.running else "立即同步")

    def selected_conflict(self) -> ConflictView | None:
        rows = self.conflict_table.selectionModel().selectedRows()
        if not rows:
            return None
        index = rows[0].row()
        return self._conflicts[index] if 0 <= index < len(self._conflicts) else None

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
        conflict = self.selected_conflict()
        if conflict is None:
            return
        ws, actor = self.ws, self.actor
        action = keep_mine if choice == "mine" else take_theirs
        self.tasks.run_write(lambda: action(ws, actor, conflict.id), lambda _v: self.refresh(),
                             lambda error: QMessageBox.warning(self, "处理冲突", str(error)), name="resolve_conflict")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.timer.stop()
        self._cancel.set()
        super().closeEvent(event)
