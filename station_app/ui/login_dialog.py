"""Sign-in dialog: station name on top, username and password; a refusal is shown inline."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QHBoxLayout,
)

from station_app.domain.errors import DomainError
from station_app.services.auth import login
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from .tasks import TaskManager

logger = logging.getLogger(__name__)


def unlock_and_login(db_path: Path, username: str, password: str) -> tuple[Workspace, Actor]:
    """The encrypted database opens with the user's password, then the usual sign-in checks run."""
    ws = Workspace.open(db_path, username=username, password=password)
    try:
        return ws, login(ws, username, password)
    except BaseException:
        ws.close()
        raise


class LoginDialog(QDialog):
    """Accepted with ``actor`` set once the service lets the user in.

    Without a workspace (``ws=None``, the database is encrypted and locked) the same form
    unlocks ``db_path`` with the user's password first; ``ws`` is set once it opens.
    """

    def __init__(self, ws: Workspace | None, tasks: TaskManager, *, username: str = "", parent=None,
                 db_path: Path | None = None):
        super().__init__(parent)
        self.ws = ws
        self.db_path = db_path
        self.tasks = tasks
        self.actor: Actor | None = None
        self.setWindowTitle("登录 — 村级医保服务站")
        self.setMinimumWidth(440)

        title = QLabel("村级医保服务站")
        title.setObjectName("dialogTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.station_label = QLabel(ws.station.name if ws is not None and ws.station else
                                    ("数据已加密，登录即解锁" if ws is None else "本站尚未设置"))
        self.station_label.setObjectName("pageSubtitle")
        self.station_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.username_edit = QLineEdit(username)
        self.username_edit.setPlaceholderText("用户名")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("密码")
        form = QFormLayout()
        form.setVerticalSpacing(12)
        form.addRow("用户名", self.username_edit)
        form.addRow("密码", self.password_edit)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.login_button = QPushButton("登录")
        self.login_button.setDefault(True)  # Enter anywhere in the dialog signs in
        self.login_button.clicked.connect(self.submit)
        cancel = QPushButton("退出")
        cancel.setAutoDefault(False)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.login_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 24)
        layout.setSpacing(14)
        layout.addWidget(title)
        layout.addWidget(self.station_label)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

        (self.password_edit if username else self.username_edit).setFocus()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def submit(self) -> None:
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not username:
            self.show_error("请输入用户名。")
            self.username_edit.setFocus()
            return
        if not password:
            self.show_error("请输入密码。")
            self.password_edit.setFocus()
            return
        self.error_label.hide()
        self.login_button.setEnabled(False)
        self.login_button.setText("正在登录…")
        if self.ws is None:  # argon2 unwrap and opening the file: off the UI thread too
            db_path = self.db_path
            self.tasks.run_write(lambda: unlock_and_login(db_path, username, password),
                                 self._unlocked, self._refused, name="unlock", owner=self)
            return
        # Password hashing and the failed-attempt counter are a (small) database write.
        self.tasks.run_write(lambda: login(self.ws, username, password),
                             self._signed_in, self._refused, name="login", owner=self)

    def _unlocked(self, result: tuple[Workspace, Actor]) -> None:
        self.ws = result[0]
        self._signed_in(result[1])

    def _signed_in(self, actor: Actor) -> None:
        self.actor = actor
        logger.info("user %s signed in", actor.username)
        self.accept()

    def _refused(self, error: BaseException) -> None:
        self.login_button.setEnabled(True)
        self.login_button.setText("登录")
        if not isinstance(error, DomainError):
            self.show_error("登录时出错，请稍后重试；问题已记录在日志中。")
            return
        self.show_error(error.message)
        self.password_edit.selectAll()
        self.password_edit.setFocus()
