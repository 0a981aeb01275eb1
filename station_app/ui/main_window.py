"""The main window: section navigation on the left, the section's page on the right, a status bar."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from station_app.domain.enums import Role
from station_app.services.changes import Actor
from station_app.sync.settings import sync_status
from station_app.services.workspace import Workspace

from .sections import SECTIONS, PageContext, Section, find_section
from .tasks import TaskManager

logger = logging.getLogger(__name__)

GEOMETRY_KEY = "main_window/geometry"
SYNC_REFRESH_MS = 60_000
NAV_ITEM_HEIGHT = 46


def role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role


def sync_status_text(pending: int | None, server_configured: bool = False, *, conflicts: int = 0,
                     last_success: str = "") -> str:
    """Right side of the status bar: server configured?, pending changes, conflicts to review."""
    server = (f"上次成功 {last_success}" if last_success else "已配置县服务器") if server_configured else "未配置县服务器"
    count = "…" if pending is None else f"{pending:,}"
    text = f"同步：{server} · 待上传 {count} 条"
    return text + (f" · 冲突 {conflicts} 条待处理" if conflicts else "")


class MainWindow(QMainWindow):
    #: A page swapped the database underneath (restore from backup): the app rebuilds the
    #: window on the new workspace and asks for sign-in again.
    workspace_replaced = Signal(object)

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager, settings: QSettings,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.ws = ws
        self.actor = actor
        self.tasks = tasks
        self.settings = settings
        self.context = PageContext(ws, actor, tasks)
        station_name = ws.station.name if ws.station else "未设置站点"
        self.setWindowTitle(
            f"村级医保服务站 — {station_name} — {actor.display_name}（{role_label(actor.role)}）")

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setIconSize(QSize(22, 22))
        self.nav.setFixedWidth(176)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setSpacing(1)
        self.stack = QStackedWidget()
        self._pages: dict[str, QWidget] = {}
        self._holders: dict[str, QWidget] = {}
        for index, section in enumerate(SECTIONS):
            item = QListWidgetItem(self.style().standardIcon(section.icon), section.title)
            item.setData(Qt.ItemDataRole.UserRole, section.key)
            item.setToolTip(f"{section.title}（Ctrl+{index + 1}）")
            item.setSizeHint(QSize(0, NAV_ITEM_HEIGHT))  # large targets; QSS min-height does not size rows
            self.nav.addItem(item)
            # Pages are built on first visit: startup pays only for the 工作台.
            holder = QWidget()
            holder.setLayout(QHBoxLayout())
            holder.layout().setContentsMargins(0, 0, 0, 0)
            self._holders[section.key] = holder
            self.stack.addWidget(holder)
            if index < 9:
                shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
                shortcut.activated.connect(lambda key=section.key: self.show_section(key))
        self.nav.currentRowChanged.connect(self._on_nav_row)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.user_label = QLabel(f"当前用户：{actor.display_name}（{role_label(actor.role)}） · {station_name}")
        self.sync_label = QLabel(sync_status_text(None))
        self.statusBar().addWidget(self.user_label, 1)
        self.statusBar().addPermanentWidget(self.sync_label)
        self.statusBar().setSizeGripEnabled(False)

        self._restore_geometry()
        self.show_section(SECTIONS[0].key)

        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(SYNC_REFRESH_MS)
        self._sync_timer.timeout.connect(self.refresh_sync_status)
        self._sync_timer.start()
        self.refresh_sync_status()

    # -- sections ---------------------------------------------------------------------------

    def show_section(self, name: str) -> QWidget:
        """Switch to a section by key ("enrollment") or title ("居民参保"); returns its page."""
        section = find_section(name)
        row = SECTIONS.index(section)
        if self.nav.currentRow() != row:
            self.nav.setCurrentRow(row)  # → _on_nav_row
        else:
            self._activate(section)
        return self._pages[section.key]

    def current_section(self) -> str:
        return SECTIONS[self.stack.currentIndex()].key

    def page(self, name: str) -> QWidget | None:
        """The page of a section if it has been built."""
        return self._pages.get(find_section(name).key)

    def _on_nav_row(self, row: int) -> None:
        if 0 <= row < len(SECTIONS):
            self._activate(SECTIONS[row])

    def _activate(self, section: Section) -> None:
        if section.key not in self._pages:
            page = section.factory(self.context)
            replaced = getattr(page, "restored", None)
            if replaced is not None:
                replaced.connect(self.workspace_replaced.emit)
            self._holders[section.key].layout().addWidget(page)
            self._pages[section.key] = page
        self.stack.setCurrentWidget(self._holders[section.key])

    # -- status bar -------------------------------------------------------------------------

    def refresh_sync_status(self) -> None:
        ws = self.ws
        self.tasks.run_read(lambda: sync_status(ws), self._show_sync_status, self._pending_failed,
                            name="sync_status", owner=self)

    def _show_sync_status(self, status) -> None:
        self.sync_label.setText(sync_status_text(status.pending, status.configured, conflicts=status.conflicts,
                                                 last_success=status.last_success))

    def _pending_failed(self, error: BaseException) -> None:
        logger.warning("could not count pending changes: %s", error)
        self.sync_label.setText("同步：状态未知")

    # -- geometry ---------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value(GEOMETRY_KEY)
        if geometry is not None and self.restoreGeometry(geometry):
            return
        # First start: generous, but inside a 1366×768 clinic screen with its taskbar.
        available = self.screen().availableGeometry()
        self.resize(min(1180, available.width() - 40), min(720, available.height() - 60))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.settings.sync()
        self._sync_timer.stop()
        super().closeEvent(event)
