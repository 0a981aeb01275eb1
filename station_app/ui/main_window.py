"""The main window: section navigation on the left, the section's page on the right, a status bar."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QScrollArea,
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
#: Writes within this many ms of each other refresh the status bar once.
SYNC_COALESCE_MS = 150
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


class PageScroll(QScrollArea):
    """Holds a page; its size hints never push the main window wider or taller.

    The page fills the viewport and scrolls only below its minimum size. (QScrollArea's own
    widgetResizable gives a page with word-wrapped labels its *preferred* height-for-width,
    which put the 居民档案 buttons below the edge of a 1366×768 screen.)
    """

    def __init__(self, page: QWidget):
        super().__init__()
        self.page = page
        self.setWidget(page)
        self.setWidgetResizable(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        page.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(200, 200)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(800, 600)

    def fit_page(self) -> None:
        need = self.page.minimumSizeHint().expandedTo(self.page.minimumSize())
        view = self.maximumViewportSize()
        width = max(view.width(), need.width())
        height = max(view.height(), need.height())
        if width > view.width():  # a horizontal bar takes room from the height
            height = max(view.height() - self.horizontalScrollBar().sizeHint().height(), need.height())
        if height > view.height():
            width = max(view.width() - self.verticalScrollBar().sizeHint().width(), need.width())
        if self.page.size() != QSize(width, height):
            self.page.resize(width, height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.fit_page()
        super().resizeEvent(event)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.page and event.type() == QEvent.Type.LayoutRequest:
            self.fit_page()
        return False


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

        # One source for the status bar and the 同步 page (sync_status), re-read when something
        # was written (a save, a sync, the server settings) — not on a 60 s timer. Several
        # writes in a row are coalesced into one read.
        self._sync_timer = QTimer(self)
        self._sync_timer.setSingleShot(True)
        self._sync_timer.setInterval(SYNC_COALESCE_MS)
        self._sync_timer.timeout.connect(self.refresh_sync_status)
        tasks.data_changed.connect(self._data_changed)
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
            opener = getattr(page, "open_list", None)
            if opener is not None:
                opener.connect(self.open_list)
            # In a scroll area: a page wider than the window scrolls instead of widening the
            # window (it grew from 1180 to ~1320 px after visiting 公示).
            self._holders[section.key].layout().addWidget(PageScroll(page))
            self._pages[section.key] = page
        self.stack.setCurrentWidget(self._holders[section.key])

    def open_list(self, key: str, village_code: str | None = None) -> QWidget | None:
        """The list behind a 工作台 figure: 未缴 → 未缴清单, 续药提醒 → its list, and so on."""
        from station_app.services.enrollment import GROUP_FILTER_HARDSHIP

        if key in ("enrollment", "hardship", "unpaid"):
            tab = self.show_section("enrollment").show_enrollment()
            tab.set_filters(village_code=village_code,
                            special_group=GROUP_FILTER_HARDSHIP if key == "hardship" else None)
            return tab.show_unpaid_list() if key == "unpaid" else tab
        if key in ("usage", "refills"):
            page = self.show_section("chronic")
            page.show_tab(key)
            return page
        if key == "residents":
            page = self.show_section("enrollment")
            page.tabs.setCurrentIndex(0)
            registry = page.registry
            if village_code:
                index = registry.village_combo.findData(village_code)
                if index >= 0:
                    registry.village_combo.setCurrentIndex(index)
            return registry
        section = {"assistance": "assistance", "services": "service_log", "sync": "sync"}.get(key)
        return self.show_section(section) if section else None

    # -- status bar -------------------------------------------------------------------------

    def _data_changed(self, _what: str) -> None:
        if not self._sync_timer.isActive():
            self._sync_timer.start()

    def refresh_sync_status(self) -> None:
        ws = self.ws
        self.tasks.run_read(lambda: sync_status(ws), self._show_sync_status, self._pending_failed,
                            name="sync_status", owner=self)

    def _show_sync_status(self, status) -> None:
        self.sync_label.setText(sync_status_text(status.pending, status.configured, conflicts=status.conflicts,
                                                 last_success=status.last_success))
        page = self._pages.get("sync")
        if page is not None and page.isVisible() and not getattr(page, "running", False):
            page.refresh()  # the 同步 page reads the same sync_status: both show the same counts

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
