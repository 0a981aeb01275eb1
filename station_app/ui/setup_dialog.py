"""First-run set-up: this database's station and its administrator; faults shown inline, nothing saved."""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from station_app.domain.enums import StationScope
from station_app.domain.errors import DomainError
from station_app.services.auth import setup_station
from station_app.services.workspace import Workspace

from .tasks import TaskManager

logger = logging.getLogger(__name__)

_PLACE_CODE = re.compile(r"^[0-9]{6,12}$")
_SCOPE_TEXT = {StationScope.VILLAGE: "村", StationScope.TOWNSHIP: "乡镇"}


def check_form(*, code: str, name: str, place_code: str, username: str, password: str,
               password_again: str) -> tuple[str, str] | None:
    """The first fault in what was typed: (field, Chinese sentence); None when it may be saved.

    The service checks the username and password strength again; these are the checks only
    the form can make (empty fields, the two passwords, the station code's shape).
    """
    if not code:
        return "code", "请输入站点编码。"
    if len(code) > 32 or any(c.isspace() for c in code):
        return "code", "站点编码不能含空格，最多 32 个字符。"
    if not name:
        return "name", "请输入站点名称。"
    if len(name) > 80:
        return "name", "站点名称最多 80 个字。"
    if not _PLACE_CODE.match(place_code):
        return "place_code", "所属地区编码应为 6–12 位数字（行政区划代码）。"
    if not username:
        return "username", "请输入管理员用户名。"
    if not password:
        return "password", "请输入密码。"
    if password != password_again:
        return "password_again", "两次输入的密码不一致，请重新输入。"
    return None


class SetupDialog(QDialog):
    """Accepted once ``setup_station`` has saved the station and its administrator."""

    def __init__(self, ws: Workspace, tasks: TaskManager, parent=None):
        super().__init__(parent)
        self.ws = ws
        self.tasks = tasks
        self.setWindowTitle("首次使用设置 — 村级医保服务站")
        self.setMinimumWidth(560)

        title = QLabel("欢迎使用村级医保服务站")
        title.setObjectName("dialogTitle")
        hint = QLabel("首次使用，请填写本站信息并设置管理员账户。\n村医和乡镇医保专干的账户，之后由管理员在“设置”中添加。")
        hint.setObjectName("hint")
        hint.setWordWrap(True)

        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("县医保局分配的站点编码")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("例如：群英村医保服务工作站")
        self.scope_combo = QComboBox()
        for scope in StationScope:
            self.scope_combo.addItem(f"{_SCOPE_TEXT[scope]}（{scope.label}）", scope.value)
        self.place_edit = QLineEdit()
        self.place_edit.setPlaceholderText("本村或本乡镇的行政区划代码，12 位数字")
        self.username_edit = QLineEdit("admin")
        self.display_name_edit = QLineEdit("管理员")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_again_edit = QLineEdit()
        self.password_again_edit.setEchoMode(QLineEdit.EchoMode.Password)

        form = QFormLayout()
        form.setVerticalSpacing(10)
        form.setHorizontalSpacing(16)
        form.addRow("站点编码", self.code_edit)
        form.addRow("站点名称", self.name_edit)
        form.addRow("站点类型", self.scope_combo)
        form.addRow("所属地区编码", self.place_edit)
        form.addRow("管理员用户名", self.username_edit)
        form.addRow("管理员姓名", self.display_name_edit)
        form.addRow("密码", self.password_edit)
        form.addRow("再次输入密码", self.password_again_edit)

        # The second way: the county registered this station already and handed out a token.
        county_hint = QLabel("或者：县医保局已在控制台登记本站并发放了令牌——填写县服务器地址和令牌，"
                             "站点信息、地名、本站数据和管理员账户都从县里下载。")
        county_hint.setObjectName("hint")
        county_hint.setWordWrap(True)
        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("县服务器地址，如 https://yb.example.gov.cn")
        self.token_edit = QLineEdit()
        self.token_edit.setPlaceholderText("县医保局发放的同步令牌")
        self.county_button = QPushButton("从县服务器设置")
        self.county_button.setAutoDefault(False)
        self.county_button.clicked.connect(self.submit_from_county)
        county_form = QFormLayout()
        county_form.setHorizontalSpacing(16)
        county_form.addRow("县服务器", self.server_edit)
        county_form.addRow("同步令牌", self.token_edit)
        county_row = QHBoxLayout()
        county_row.addStretch(1)
        county_row.addWidget(self.county_button)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        self.save_button = QPushButton("保存并开始使用")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.submit)
        cancel = QPushButton("退出")
        cancel.setAutoDefault(False)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 20)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(county_hint)
        layout.addLayout(county_form)
        layout.addLayout(county_row)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)
        self.code_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_error(self, message: str, field: str | None = None) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        edit = {"code": self.code_edit, "name": self.name_edit, "place_code": self.place_edit,
                "username": self.username_edit, "password": self.password_edit,
                "password_again": self.password_again_edit, "server_url": self.server_edit,
            "token": self.token_edit}.get(field or "")
        if edit is not None:
            edit.setFocus()
            edit.selectAll()

    def submit(self) -> None:
        values = dict(
            code=self.code_edit.text().strip(), name=self.name_edit.text().strip(),
            place_code=self.place_edit.text().strip(), username=self.username_edit.text().strip(),
            password=self.password_edit.text(), password_again=self.password_again_edit.text())
        problem = check_form(**values)
        if problem:
            field, message = problem
            self.show_error(message, field)
            return
        self.error_label.hide()
        self.save_button.setEnabled(False)
        scope = self.scope_combo.currentData()
        display_name = self.display_name_edit.text().strip() or "管理员"
        self.tasks.run_write(
            lambda: setup_station(self.ws, code=values["code"], name=values["name"], scope=scope,
                                  place_code=values["place_code"], admin_username=values["username"],
                                  admin_password=values["password"], admin_display_name=display_name),
            self._saved, self._failed, name="setup_station", owner=self)

    def submit_from_county(self) -> None:
        server, token = self.server_edit.text().strip(), self.token_edit.text().strip()
        if not server or not token:
            self.show_error("请填写县服务器地址和同步令牌。", "server_url" if not server else "token")
            return
        from station_app.sync.provision import provision

        self.error_label.hide()
        self.save_button.setEnabled(False)
        self.county_button.setEnabled(False)
        username, password = self.username_edit.text().strip(), self.password_edit.text()
        # The form's administrator is used only when the county sent none (and a password was typed).
        self.tasks.run_write(lambda: provision(self.ws, server, token, admin_username=username if password else "",
                                               admin_password=password), self._saved, self._failed,
                             name="provision_station", owner=self)

    def _saved(self, _actor) -> None:
        logger.info("station set up")
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.county_button.setEnabled(True)
        if isinstance(error, DomainError):
            self.show_error(error.message, error.field)
        else:
            self.show_error("保存时出错，未保存任何内容；问题已记录在日志中。")
