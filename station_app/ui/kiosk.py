"""The self-query kiosk window: full screen, large type, touch-friendly, no way out but an admin's.

A villager types 姓名 and the last 6 characters of the ID number (on-screen keypad, keyboard,
or a USB ID-card reader that types the whole number — its last 6 are taken) and sees their
own household, masked. After 60 s without a touch it returns to the start screen and forgets
what was shown. Five misses lock it for a minute (services.kiosk).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.errors import DomainError
from station_app.services import kiosk as service
from station_app.services.workspace import Workspace

logger = logging.getLogger(__name__)

KIOSK_STYLE = """
QWidget#kiosk { background: #f4f8fb; }
QLabel#kioskTitle { font-size: 34pt; font-weight: bold; color: #0b5394; }
QLabel#kioskHint { font-size: 20pt; color: #333; }
QLabel#kioskError { font-size: 20pt; color: #b00020; }
QLineEdit#kioskField { font-size: 30pt; padding: 8px; min-height: 64px; }
QPushButton#key { font-size: 26pt; min-width: 110px; min-height: 62px; }
QPushButton#bigButton { font-size: 28pt; min-height: 72px; padding: 0 40px; background: #0b5394; color: white; }
QPushButton#adminButton { font-size: 11pt; color: #777; background: transparent; border: none; }
QLabel#kioskResult { font-size: 20pt; }
QScrollBar:vertical { width: 40px; }
"""


class _IdleWatcher(QObject):
    """Any touch, click or key anywhere in the app restarts the idle countdown."""

    def __init__(self, on_activity, parent: QObject):
        super().__init__(parent)
        self._on_activity = on_activity

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress, QEvent.Type.TouchBegin):
            self._on_activity()
        return False


class AdminExitDialog(QDialog):
    """An administrator's (or clerk's) own user name and password: the kiosk's only way out."""

    def __init__(self, ws: Workspace, parent: QWidget | None = None):
        super().__init__(parent)
        self.ws = ws
        self.setWindowTitle("退出自助查询")
        form = QFormLayout(self)
        self.username = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel("")
        self.error.setObjectName("error")
        form.addRow("管理员用户名", self.username)
        form.addRow("密码", self.password)
        form.addRow(self.error)
        buttons = QDialogButtonBox()
        buttons.addButton("退出自助查询", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("取消", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _check(self) -> None:
        try:
            service.verify_admin(self.ws, self.username.text(), self.password.text())
        except DomainError as error:
            self.error.setText(error.message)
            self.password.clear()
            return
        self.accept()


class KioskWindow(QWidget):
    """Start screen ⇄ result screen; the lock and the idle reset live here as timers."""

    looked_up = Signal(object)  # HouseholdView
    refused = Signal(str)  # the message shown
    reset_to_start = Signal()

    def __init__(self, ws: Workspace, *, session: service.KioskSession | None = None,
                 idle_ms: int = service.IDLE_SECONDS * 1000, parent: QWidget | None = None):
        super().__init__(parent)
        self.ws = ws
        self.session = session or service.KioskSession(ws)
        self._may_close = False
        self.setObjectName("kiosk")
        self.setWindowTitle("医保自助查询")
        self.setStyleSheet(KIOSK_STYLE)
        self.view: service.HouseholdView | None = None

        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_start())
        self.stack.addWidget(self._build_result())
        outer = QVBoxLayout(self)
        outer.addWidget(self.stack, 1)
        corner = QHBoxLayout()
        corner.addStretch(1)
        self.admin_button = QPushButton("管理员")
        self.admin_button.setObjectName("adminButton")
        self.admin_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.admin_button.clicked.connect(self.ask_exit)
        corner.addWidget(self.admin_button)
        outer.addLayout(corner)

        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(idle_ms)
        self.idle_timer.timeout.connect(self.reset)
        self.lock_timer = QTimer(self)
        self.lock_timer.setInterval(1000)
        self.lock_timer.timeout.connect(self._tick_lock)
        self._watcher = _IdleWatcher(self._activity, self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self._watcher)

    # -- screens --------------------------------------------------------------------------

    def _build_start(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setSpacing(18)
        title = QLabel("医保自助查询")
        title.setObjectName("kioskTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("请输入您的姓名和身份证号码后 6 位，查看本户参保、慢病卡和医疗救助情况")
        hint.setObjectName("kioskHint")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        layout.addWidget(hint)

        fields = QGridLayout()
        fields.setVerticalSpacing(24)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("kioskField")
        self.name_edit.setPlaceholderText("姓名")
        self.name_edit.setMaxLength(20)
        self.last6_edit = QLineEdit()
        self.last6_edit.setObjectName("kioskField")
        self.last6_edit.setPlaceholderText("身份证号后 6 位")
        # An ID-card reader types all 18 characters: accept them, keep the last 6.
        self.last6_edit.setMaxLength(18)
        self.last6_edit.setValidator(QRegularExpressionValidator(QRegularExpression("[0-9Xx]{0,18}"), self))
        self.last6_edit.returnPressed.connect(self.search)
        self.name_edit.returnPressed.connect(self.last6_edit.setFocus)
        name_label, last6_label = QLabel("姓名"), QLabel("身份证号后 6 位")
        for label in (name_label, last6_label):
            label.setObjectName("kioskHint")
        fields.addWidget(name_label, 0, 0)
        fields.addWidget(self.name_edit, 0, 1)
        fields.addWidget(last6_label, 1, 0)
        fields.addWidget(self.last6_edit, 1, 1)

        keypad = QGridLayout()
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "X", "0", "⌫"]
        self.keys: dict[str, QPushButton] = {}
        for index, key in enumerate(keys):
            button = QPushButton(key)
            button.setObjectName("key")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, k=key: self.press(k))
            keypad.addWidget(button, index // 3, index % 3)
            self.keys[key] = button
        clear = QPushButton("清空")
        clear.setObjectName("key")
        clear.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        clear.clicked.connect(self.last6_edit.clear)
        keypad.addWidget(clear, 4, 0, 1, 3)

        self.message = QLabel("")
        self.message.setObjectName("kioskError")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.search_button = QPushButton("查询")
        self.search_button.setObjectName("bigButton")
        self.search_button.clicked.connect(self.search)

        # Fields and the button on the left, the keypad on the right: fits 1366×768 (and 1280×720).
        left = QVBoxLayout()
        left.addLayout(fields)
        left.addWidget(self.message)
        left.addWidget(self.search_button)
        left.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addSpacing(30)
        body.addLayout(keypad, 2)
        layout.addLayout(body)
        layout.addStretch(1)
        return page

    def _build_result(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.result_title = QLabel("")
        self.result_title.setObjectName("kioskTitle")
        self.result_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.result_title)
        self.result = QLabel("")
        self.result.setObjectName("kioskResult")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.result)
        layout.addWidget(scroll, 1)
        self.idle_hint = QLabel(f"{service.IDLE_SECONDS} 秒无操作将自动返回首页，不留下您的信息")
        self.idle_hint.setObjectName("kioskHint")
        self.idle_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.idle_hint)
        self.back_button = QPushButton("返回首页")
        self.back_button.setObjectName("bigButton")
        self.back_button.clicked.connect(self.reset)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.back_button)
        row.addStretch(1)
        layout.addLayout(row)
        return page

    # -- actions --------------------------------------------------------------------------

    def press(self, key: str) -> None:
        if key == "⌫":
            self.last6_edit.backspace()
        else:
            self.last6_edit.insert(key)

    def search(self) -> None:
        digits = self.last6_edit.text().strip().upper()
        last6 = digits[-6:] if len(digits) == 18 else digits
        try:
            view = self.session.lookup(self.name_edit.text(), last6)
        except service.KioskLock as lock:
            self._locked(lock.seconds)
            self.refused.emit(self.message.text())
            return
        except DomainError as error:
            self.message.setText(error.message)
            self.last6_edit.clear()
            self.refused.emit(error.message)
            return
        self.show_household(view)

    def show_household(self, view: service.HouseholdView) -> None:
        self.view = view
        asker = next((m for m in view.members if m.is_asker), view.members[0])
        self.result_title.setText(f"{view.village_name} · {asker.masked_name} 户")
        self.result.setText(household_html(view))
        self.name_edit.clear()
        self.last6_edit.clear()
        self.message.clear()
        self.stack.setCurrentIndex(1)
        self.idle_timer.start()
        self.looked_up.emit(view)

    def reset(self) -> None:
        """Back to the start screen; nothing of the last villager stays on screen."""
        self.view = None
        self.result.clear()
        self.result_title.clear()
        self.name_edit.clear()
        self.last6_edit.clear()
        if not self.session.seconds_locked():
            self.message.clear()
        self.stack.setCurrentIndex(0)
        self.idle_timer.stop()
        self.name_edit.setFocus()
        self.reset_to_start.emit()

    def _activity(self) -> None:
        if self.stack.currentIndex() == 1 or self.name_edit.text() or self.last6_edit.text():
            self.idle_timer.start()

    def _locked(self, seconds: int) -> None:
        self._set_inputs_enabled(False)
        self.message.setText(f"查询失败次数过多，请 {seconds} 秒后再试。")
        self.lock_timer.start()

    def _tick_lock(self) -> None:
        left = self.session.seconds_locked()
        if left:
            self.message.setText(f"查询失败次数过多，请 {left} 秒后再试。")
            return
        self.lock_timer.stop()
        self.message.clear()
        self._set_inputs_enabled(True)

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.name_edit, self.last6_edit, self.search_button, *self.keys.values()):
            widget.setEnabled(enabled)

    @property
    def is_locked(self) -> bool:
        return not self.search_button.isEnabled()

    # -- no way out -----------------------------------------------------------------------

    def ask_exit(self) -> bool:
        dialog = AdminExitDialog(self.ws, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._may_close = True
            self.close()
            return True
        return False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self._may_close:
            app = QApplication.instance()
            if app is not None:
                app.removeEventFilter(self._watcher)
            event.accept()
        else:
            event.ignore()  # Alt+F4 and the window manager's close do nothing

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() == Qt.Key.Key_Escape:
            event.accept()  # no escape
            return
        super().keyPressEvent(event)


def _esc(text: str) -> str:
    return html.escape(text or "")


def household_html(view: service.HouseholdView) -> str:
    """The household as large, plain rich text (masked names and IDs only)."""
    parts = []
    for member in view.members:
        who = f"{_esc(member.masked_name)}（{_esc(member.relation)}）　{_esc(member.masked_id)}"
        parts.append(f"<h2 style='margin-top:14px'>{who}</h2>")
        for line in member.years:
            colour = "#1b7f3b" if line.covered else "#b00020"
            extra = "，".join(x for x in (line.paid_text, line.deadline_text) if x)
            parts.append(f"<p>{line.year} 年度参保：<b style='color:{colour}'>{_esc(line.status)}</b>"
                         + (f"　{_esc(extra)}" if extra else "") + "</p>")
        for card in member.cards:
            parts.append(f"<p>门诊慢特病卡：<b>{_esc(card.status)}</b>（{_esc(card.since)} 起），"
                         f"今年已使用 {card.months_used} 个月（共 {card.months_so_far} 个月）</p>")
        if not member.cards:
            parts.append("<p>门诊慢特病卡：无</p>")
        for aid in member.aid:
            parts.append(f"<p>医疗救助：{_esc(aid.day)} {_esc(aid.status)} {_esc(aid.amount_text)}</p>")
    if view.policies:
        parts.append("<h2 style='margin-top:20px'>与您家有关的政策</h2>")
        for title, text in view.policies:
            parts.append(f"<p><b>{_esc(title)}</b>：{_esc(text)}</p>")
    parts.append("<p style='color:#555'>如有疑问，请咨询村医或拨打 12393 医保服务热线。</p>")
    return "".join(parts)


def run_kiosk(db_path, *, windowed: bool = False) -> int:
    """`station-app kiosk`: the kiosk full screen on the station's database."""
    from station_app.services.workspace import DatabaseLocked

    from .app import create_application, install_excepthook, open_workspace, unlock_database
    from .tasks import TaskManager

    app = create_application()
    install_excepthook()
    try:
        ws = open_workspace(db_path)
    except DatabaseLocked:  # encrypted: a staff member signs in once to unlock, then leaves the kiosk running
        ws, _actor = unlock_database(Path(db_path), TaskManager())
    if ws is None:
        return 1
    try:
        if not ws.is_set_up:
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.critical(None, "医保自助查询", "本站尚未完成设置，请先在服务站程序中完成首次设置。")
            return 1
        window = KioskWindow(ws)
        window.setFont(QFont(app.font().family(), 16))
        if windowed:
            window.resize(1366, 768)
            window.show()
        else:
            window.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
            window.showFullScreen()
        app.setQuitOnLastWindowClosed(True)
        return app.exec()
    finally:
        ws.close()
