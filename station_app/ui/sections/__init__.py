"""The main window's sections: their order, titles, icons and the page each one shows."""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable

from PySide6.QtWidgets import QStyle, QWidget

from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from ..tasks import TaskManager

SP = QStyle.StandardPixmap


@dataclass(frozen=True)
class PageContext:
    """What a page needs to do its work; pages call services, never the database."""

    ws: Workspace
    actor: Actor
    tasks: TaskManager


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    icon: QStyle.StandardPixmap
    factory: Callable[[PageContext], QWidget]


def _dashboard(ctx: PageContext) -> QWidget:
    from .dashboard import DashboardPage

    return DashboardPage(ctx)


def _notices(ctx: PageContext) -> QWidget:
    from .notices_page import NoticesPage

    return NoticesPage(ctx.ws, ctx.actor, tasks=ctx.tasks)


def _policy(ctx: PageContext) -> QWidget:
    from PySide6.QtWidgets import QTabWidget

    from .policy_page import PolicyPage
    from .qa_page import BroadcastPanel, QaPage

    tabs = QTabWidget()
    tabs.addTab(PolicyPage(ctx.ws, ctx.actor, tasks=ctx.tasks), "政策文件")
    tabs.addTab(QaPage(ctx, load_when_shown=True), "政策问答")
    tabs.addTab(BroadcastPanel(ctx), "村广播")
    return tabs


def _settings(ctx: PageContext) -> QWidget:
    from .settings_page import settings_section

    return settings_section(ctx)


def _residents(ctx: PageContext) -> QWidget:
    from .residents_page import make_residents_page

    return make_residents_page(ctx)  # 居民档案 + 年度参保 tabs


def _chronic(ctx: PageContext) -> QWidget:
    from .chronic_page import ChronicPage

    return ChronicPage(ctx)


def _assistance(ctx: PageContext) -> QWidget:
    from .assistance_page import AssistancePage

    return AssistancePage(ctx)


def _service_log(ctx: PageContext) -> QWidget:
    from .service_log_page import ServiceLogPage

    return ServiceLogPage(ctx)


def _sync(ctx: PageContext) -> QWidget:
    from .sync_page import SyncPage

    return SyncPage(ctx.ws, ctx.actor, tasks=ctx.tasks)


#: In navigation order; Ctrl+1 … Ctrl+9 follow it.
SECTIONS: tuple[Section, ...] = (
    Section("dashboard", "工作台", SP.SP_DirHomeIcon, _dashboard),
    Section("enrollment", "居民参保", SP.SP_FileDialogDetailedView, _residents),
    Section("chronic", "慢病档案", SP.SP_FileDialogContentsView, _chronic),
    Section("assistance", "医疗救助", SP.SP_DialogHelpButton, _assistance),
    Section("service_log", "服务记录", SP.SP_FileDialogListView, _service_log),
    Section("notices", "公示", SP.SP_FileIcon, _notices),
    Section("policy", "政策", SP.SP_FileDialogInfoView, _policy),
    Section("sync", "同步", SP.SP_BrowserReload, _sync),
    Section("settings", "设置", SP.SP_ComputerIcon, _settings),
)

SECTION_BY_KEY = {s.key: s for s in SECTIONS}


def find_section(name: str) -> Section:
    """A section by its key ("enrollment") or its title ("居民参保")."""
    for section in SECTIONS:
        if name in (section.key, section.title):
            return section
    raise KeyError(name)


#: The modules behind the pages (imported lazily by the factories above). Imported on a worker
#: thread once the window is up, a page's first open only builds its widgets: the imports took
#: 200–330 ms of the UI thread on first open (同步 pulls in requests/urllib3).
PAGE_MODULES = ("residents_page", "chronic_page", "assistance_page", "service_log_page", "notices_page",
                "policy_page", "qa_page", "sync_page", "settings_page")

logger = logging.getLogger(__name__)


def warm_page_imports() -> threading.Thread:
    """Import every page's module in the background; the interpreter switches threads every few
    milliseconds, so the window stays responsive while this runs."""
    def work() -> None:
        for name in PAGE_MODULES:
            try:
                importlib.import_module(f"{__name__}.{name}")
            except Exception:  # noqa: BLE001 - the page itself reports the error when it is opened
                logger.exception("预加载页面模块失败：%s", name)
        # The modules live as long as the app: keep full collections from walking them again.
        gc.freeze()

    thread = threading.Thread(target=work, name="warm-page-imports", daemon=True)
    thread.start()
    return thread


#: How long after the window is first shown the warm-up waits before it checks whether start-up is
#: quiet: the first paint of the window and the 工作台 (~100 ms) ran beside the imports and each
#: Python callback of that paint waited for the importing thread (stalls up to 269 ms measured).
WARM_UP_DELAY_MS = 300


def warm_page_imports_when_quiet(window: QWidget, tasks: TaskManager) -> None:
    """Start ``warm_page_imports`` once the window has painted and its start-up tasks delivered."""
    from PySide6.QtCore import QTimer

    state = {"started": False}

    def try_start() -> None:
        if state["started"] or tasks.pending_count:
            return  # busy_changed tries again once the tasks are done
        state["started"] = True
        tasks.busy_changed.disconnect(on_busy_changed)
        warm_page_imports()

    def on_busy_changed(pending: int) -> None:
        if not pending:  # the last result is being shown now: let it paint first
            QTimer.singleShot(WARM_UP_DELAY_MS // 3, window, try_start)

    def after_first_paint() -> None:
        tasks.busy_changed.connect(on_busy_changed)
        try_start()

    QTimer.singleShot(WARM_UP_DELAY_MS, window, after_first_paint)
