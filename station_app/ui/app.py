"""Start the desktop app: fonts, crash dialog, open the database, first-run set-up, sign-in, main window.

Environment:
    STATION_APP_AUTOLOGIN=username:password — sign in without the login dialog. Only for
    screenshots and demos; honoured only when set, and a wrong password falls back to the
    dialog with the service's message shown.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QLibraryInfo, QLocale, QSettings, QTranslator
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from station_app import paths
from station_app.domain.errors import DomainError
from station_app.log import redact
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from .main_window import MainWindow
from .sections import warm_page_imports_when_quiet
from .style import BASE_POINT_SIZE, FONT_FAMILY, STYLESHEET
from .tasks import TaskManager, log_error

logger = logging.getLogger(__name__)

AUTOLOGIN_ENV = "STATION_APP_AUTOLOGIN"
APP_TITLE = "村级医保服务站"


# -- application --------------------------------------------------------------------------------


def install_fonts(app: QApplication) -> str | None:
    """Register the bundled fonts and make Noto Sans SC the application font.

    A Windows XP-era clinic PC may have no CJK font Qt can use; bundling one means Chinese
    never renders as boxes. Returns the family used, or None when the bundle is missing.
    """
    families: set[str] = set()
    for path in paths.font_files():
        font_id = QFontDatabase.addApplicationFont(str(path))
        if font_id < 0:
            logger.warning("could not load font %s", path.name)
            continue
        families.update(QFontDatabase.applicationFontFamilies(font_id))
    family = FONT_FAMILY if FONT_FAMILY in families else None
    if family is None:
        logger.warning("bundled font %s not found; using the system font", FONT_FAMILY)
    font = QFont(family) if family else QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    return family


#: Qt's own catalogues: standard buttons (是/否/确定/取消), print and file dialogs, context menus.
QT_CATALOGUES = ("qtbase_zh_CN",)


def qt_translation_dirs() -> list[Path]:
    """Where Qt's .qm files are: PySide6's folder, or beside the frozen bundle (installer spec)."""
    return [Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)),
            paths.bundle_dir() / "qt_translations"]


def install_translations(app: QApplication) -> list[str]:
    """Load Qt's zh_CN catalogues once per application; returns the ones loaded.

    Without them QMessageBox shows Yes/No/OK and the print preview English tooltips.
    """
    QLocale.setDefault(QLocale(QLocale.Language.Chinese, QLocale.Country.China))
    loaded: list[str] = getattr(app, "_station_translations", None) or []
    if loaded:
        return [t.objectName() for t in loaded]
    for name in QT_CATALOGUES:
        for folder in qt_translation_dirs():
            translator = QTranslator(app)
            if translator.load(name, str(folder)):
                translator.setObjectName(name)
                app.installTranslator(translator)
                loaded.append(translator)
                break
        else:
            logger.warning("Qt translation %s not found; standard buttons stay in English", name)
    app._station_translations = loaded  # keep the translators alive with the app
    return [t.objectName() for t in loaded]


#: How long a thread running Python may keep the GIL while another thread waits for it.
#: Python's default is 5 ms. Each paint calls back into Python many times (models' data(),
#: event filters, timers), and each callback waits up to this long while a worker thread is busy
#: in Python: the 政策 page's first paint, beside the 政策问答 list being built, took 364 ms at
#: 5 ms and 146 ms at 1 ms (bench/bench_ui_stall.py). Workers lose a little throughput to the
#: extra hand-overs; a window that answers matters more at the counter.
UI_SWITCH_INTERVAL_S = 0.001


def create_application(argv: list[str] | None = None) -> QApplication:
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(paths.APP_NAME)
    app.setOrganizationName(paths.APP_AUTHOR)
    install_translations(app)
    install_fonts(app)
    app.setStyleSheet(STYLESHEET)
    return app


def ui_settings() -> QSettings:
    """Window geometry and similar UI state, kept in the user's data folder (not the registry)."""
    return QSettings(str(paths.data_dir() / "ui.ini"), QSettings.Format.IniFormat)


# -- crashes ------------------------------------------------------------------------------------

_showing_error = False


def error_message(exc: BaseException) -> str:
    """The text a user sees for an exception nobody handled."""
    if isinstance(exc, DomainError):
        return exc.message
    return ("程序遇到了意外错误，刚才的操作可能没有完成。\n"
            f"错误详情已记录在日志文件夹：{paths.logs_dir()}\n\n"
            "您可以继续使用；如果问题反复出现，请联系乡镇医保专干或技术支持。")


def _excepthook(exc_type, exc, tb) -> None:
    global _showing_error
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log_error(logger, "unhandled exception", exc.with_traceback(tb))
    app = QApplication.instance()
    if app is None or threading.current_thread() is not threading.main_thread() or _showing_error:
        return  # never touch a widget off the main thread; never stack dialogs
    _showing_error = True
    try:
        box = QMessageBox(QMessageBox.Icon.Critical, "出错了", error_message(exc))
        if not isinstance(exc, DomainError):
            details = "".join(traceback.format_exception(exc_type, exc, tb))
            box.setDetailedText(redact(details))  # an ID number in a message stays masked
        box.exec()
    finally:
        _showing_error = False


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        log_error(logger, f"unhandled exception in thread {getattr(args.thread, 'name', '?')}",
                  args.exc_value.with_traceback(args.exc_traceback))


def install_excepthook() -> None:
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


# -- windows ------------------------------------------------------------------------------------


def build_main_window(ws: Workspace, actor: Actor, tasks: TaskManager | None = None,
                      settings: QSettings | None = None) -> MainWindow:
    """The main window for a signed-in user (also used by tests and the startup bench)."""
    window = MainWindow(ws, actor, tasks or TaskManager(), settings or ui_settings())
    # Everything loaded so far (modules, classes, Qt wrappers, the window) lives as long as the
    # app: move it out of the collector's way. A full collection walked it all on the UI thread;
    # on the 60,000-resident demo the one after opening the township 未缴清单 froze the window ~0.3 s.
    gc.freeze()
    warm_page_imports_when_quiet(window, window.tasks)
    return window


def open_workspace(db_path: Path) -> Workspace | None:
    """Open and migrate the database; on failure explain in Chinese and return None.

    An encrypted database that needs a password raises DatabaseLocked: the sign-in unlocks it.
    """
    from station_app.services.workspace import DatabaseLocked

    try:
        return Workspace.open(db_path)
    except DatabaseLocked:
        raise
    except Exception as error:  # noqa: BLE001 - anything here means the app cannot start
        log_error(logger, f"could not open database {db_path}", error)
        reason = error.message if isinstance(error, DomainError) else redact(str(error)) or type(error).__name__
        QMessageBox.critical(
            None, f"{APP_TITLE} — 无法打开数据库",
            f"无法打开或升级数据库文件：\n{db_path}\n\n原因：{reason}\n\n"
            f"升级前会自动备份原数据库，备份在：\n{paths.backups_dir()}\n\n"
            "请不要删除该文件，并联系乡镇医保专干或技术支持。")
        return None


def _autologin(ws: Workspace) -> tuple[Actor | None, str]:
    value = os.environ.get(AUTOLOGIN_ENV, "")
    if ":" not in value:
        return None, ""
    from station_app.services.auth import login

    username, password = value.split(":", 1)
    try:
        return login(ws, username, password), username
    except DomainError as error:
        logger.warning("autologin failed: %s", error.message)
        return None, username


def run_gui(db_path: Path) -> int:
    """The desktop app from start to quit; returns the process exit code."""
    from station_app.services.workspace import DatabaseLocked

    app = create_application()
    install_excepthook()
    tasks = TaskManager()
    try:
        ws = open_workspace(Path(db_path))
    except DatabaseLocked:
        ws, actor = unlock_database(Path(db_path), tasks)
        if ws is None:
            return 0
        os.environ.pop(AUTOLOGIN_ENV, None)
        return _run_signed_in(app, ws, tasks, actor)
    if ws is None:
        return 1
    return _run_signed_in(app, ws, tasks, None)


def unlock_database(db_path: Path, tasks: TaskManager) -> tuple[Workspace | None, Actor | None]:
    """Sign-in on a locked (encrypted) database: the password unlocks it and signs in at once."""
    from .login_dialog import LoginDialog, unlock_and_login

    value = os.environ.get(AUTOLOGIN_ENV, "")
    username = ""
    if ":" in value:
        username, password = value.split(":", 1)
        try:
            return unlock_and_login(db_path, username, password)
        except DomainError as error:
            logger.warning("autologin failed: %s", error.message)
    dialog = LoginDialog(None, tasks, username=username, db_path=db_path)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.actor is None:
        if dialog.ws is not None:
            dialog.ws.close()
        return None, None
    return dialog.ws, dialog.actor


def show_recovery_key(ws: Workspace, parent=None) -> None:
    """A recovery key made at set-up or an admin's first sign-in: shown once, to write down."""
    from .dialogs.recovery_key_dialog import RecoveryKeyDialog

    recovery, ws.pending_recovery_key = ws.pending_recovery_key, None
    if not recovery:
        return
    RecoveryKeyDialog(recovery, station_name=ws.station.name if ws.station else "", parent=parent).exec()


def _run_signed_in(app, ws: Workspace, tasks: TaskManager, actor: Actor | None) -> int:
    try:
        if not ws.is_set_up:
            from .setup_dialog import SetupDialog

            if SetupDialog(ws, tasks).exec() != QDialog.DialogCode.Accepted:
                return 0
        show_recovery_key(ws)
        while True:
            username = ""
            if actor is None:
                actor, username = _autologin(ws)
            if actor is None:
                from .login_dialog import LoginDialog

                dialog = LoginDialog(ws, tasks, username=username)
                if dialog.exec() != QDialog.DialogCode.Accepted or dialog.actor is None:
                    return 0
                actor = dialog.actor
            show_recovery_key(ws)
            window = build_main_window(ws, actor, tasks)
            replacement: list[Workspace] = []
            window.workspace_replaced.connect(lambda new_ws: (replacement.append(new_ws), window.close()))
            from .sections.settings_page import DailyBackupTimer

            backups = DailyBackupTimer(ws, tasks, parent=window)
            backups.start()  # a backup at start (if today's is missing), then hourly checks
            window.show()
            code = app.exec()
            backups.stop()
            if not replacement:
                return code
            ws = replacement[-1]  # restored from a backup: the old workspace is closed
            actor = None
            os.environ.pop(AUTOLOGIN_ENV, None)  # after a restore a person signs in again
    finally:
        tasks.wait_for_done()  # a save in flight finishes before the file closes
        ws.close()
