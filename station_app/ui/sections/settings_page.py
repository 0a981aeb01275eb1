"""设置: users (admins), backups with 立即备份 / 恢复, the audit trail viewer and 安全 (the county
server's certificate, the recovery key: security_tab.py); plus the daily backup timer."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app import paths
from station_app.domain.enums import Role
from station_app.domain.errors import DomainError, ValidationError
from station_app.services import backup, users
from station_app.services.audit import AuditFilter, AuditPage, AuditRow, audit_choices, query_audit
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from ..tasks import TaskManager

logger = logging.getLogger(__name__)

AUDIT_PAGE_SIZE = 200
DAILY_CHECK_MS = 60 * 60 * 1000  # hourly: a PC left on overnight still gets the next day's copy


# -- table models -------------------------------------------------------------------------------


class _ListModel(QAbstractTableModel):
    """A read-only table over a list of records; subclasses name the columns and cell texts."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._items: list = []

    def set_items(self, items: list) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def item(self, row: int):
        return self._items[row]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.text(self._items[index.row()], index.column())
        return None

    def text(self, item, column: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class UsersModel(_ListModel):
    HEADERS = ("用户名", "姓名", "角色", "所属地", "电话", "状态", "最近登录")

    def text(self, u: users.UserInfo, column: int) -> str:
        state = "已停用" if not u.active else ("已锁定" if u.is_locked() else "正常")
        return (u.username, u.display_name, u.role_label, u.place_name, u.phone, state,
                f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "")[column]


class BackupsModel(_ListModel):
    HEADERS = ("时间", "类型", "大小", "文件")

    def text(self, b: backup.BackupInfo, column: int) -> str:
        return (f"{b.created:%Y-%m-%d %H:%M:%S}", b.label, b.size_text, b.path.name)[column]


class AuditTableModel(_ListModel):
    """One page of the audit trail: 时间, 用户, 操作, 对象, 改前 → 改后."""

    HEADERS = ("时间", "用户", "操作", "对象", "内容（改前 → 改后）")
    COL_AT, COL_USER, COL_ACTION, COL_TARGET, COL_DETAIL = range(5)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.page: AuditPage | None = None

    def set_page(self, page: AuditPage) -> None:
        self.page = page
        self.set_items(page.rows)

    def text(self, row: AuditRow, column: int) -> str:
        # The record's id is no word for a person: the table's name only (the id is in the tooltip).
        user = "系统" if row.username == "system" else row.username
        return (f"{row.at:%Y-%m-%d %H:%M:%S}", user, row.action_label, row.table_label, row.detail)[column]


def _table_view(model: QAbstractTableModel, stretch: int) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().setVisible(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


def _error_text(error: BaseException, what: str) -> str:
    if isinstance(error, DomainError):
        return error.message
    logger.error("%s failed", what, exc_info=error)
    return f"{what}时出现意外错误，详情已记录在日志中。"


# -- small dialogs ------------------------------------------------------------------------------


class _FormDialog(QDialog):
    """A form with 确定/取消 whose check runs before accepting; faults show inline."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(420)
        self.form = QFormLayout()
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("确定")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        buttons.accepted.connect(self._try_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def password_field(self, label: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow(label, edit)
        return edit

    def check(self) -> str | None:
        return None

    def _try_accept(self) -> None:
        fault = self.check()
        if fault:
            self.error.setText(fault)
            return
        self.accept()


class PasswordDialog(_FormDialog):
    """New password twice (and the old one when users change their own)."""

    def __init__(self, title: str, *, ask_old: bool, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.old_edit = self.password_field("原密码：") if ask_old else None
        self.new_edit = self.password_field("新密码：")
        self.again_edit = self.password_field("再输入一次：")

    def check(self) -> str | None:
        if self.old_edit is not None and not self.old_edit.text():
            return "请输入原密码。"
        if not self.new_edit.text():
            return "请输入新密码。"
        if self.new_edit.text() != self.again_edit.text():
            return "两次输入的新密码不一致。"
        return None


class AddUserDialog(_FormDialog):
    def __init__(self, ws: Workspace, parent: QWidget | None = None):
        super().__init__("添加用户", parent)
        self.ws = ws
        self.username_edit = QLineEdit()
        self.username_edit.setPlaceholderText("字母或数字，如 cy01")
        self.name_edit = QLineEdit()
        self.role_combo = QComboBox()
        for role in Role:
            self.role_combo.addItem(role.label, role.value)
        self.place_combo = QComboBox()
        self.phone_edit = QLineEdit()
        self.form.addRow("用户名：", self.username_edit)
        self.form.addRow("姓名：", self.name_edit)
        self.form.addRow("角色：", self.role_combo)
        self.form.addRow("所属村/乡镇：", self.place_combo)
        self.form.addRow("电话：", self.phone_edit)
        self.password_edit = self.password_field("初始密码：")
        self.again_edit = self.password_field("再输入一次：")
        self.role_combo.currentIndexChanged.connect(self._fill_places)
        self._fill_places()

    def _fill_places(self) -> None:
        self.place_combo.clear()
        for code, name in users.place_choices(self.ws, self.role_combo.currentData()):
            self.place_combo.addItem(name, code)

    def check(self) -> str | None:
        if not self.username_edit.text().strip():
            return "请输入用户名。"
        if not self.name_edit.text().strip():
            return "请输入姓名。"
        if self.place_combo.currentData() is None:
            return "请选择所属村或乡镇。"
        if self.password_edit.text() != self.again_edit.text():
            return "两次输入的密码不一致。"
        return None

    def values(self) -> dict:
        return dict(username=self.username_edit.text().strip(), display_name=self.name_edit.text().strip(),
                    role=self.role_combo.currentData(), place_code=self.place_combo.currentData(),
                    phone=self.phone_edit.text().strip(), password=self.password_edit.text())


# -- the page -----------------------------------------------------------------------------------


class SettingsPage(QWidget):
    """Tabs 用户 / 备份与恢复 / 操作日志 / 安全. Restore closes the workspace and emits ``restored``."""

    #: Emitted with the new Workspace after a restore: the shell must rebuild on it (re-login).
    restored = Signal(object)
    #: Emitted with a short Chinese sentence after each action (for a status bar).
    message = Signal(str)

    def __init__(self, ws: Workspace, actor: Actor, parent: QWidget | None = None, *,
                 tasks: TaskManager | None = None, backups_dir: Path | None = None):
        super().__init__(parent)
        self.ws = ws
        self.actor = actor
        self.tasks = tasks or TaskManager(parent=self)
        self.backups_dir = backups_dir
        self.is_admin = actor.role == Role.ADMIN.value

        title = QLabel("设置")
        title.setObjectName("pageTitle")
        self.state_label = QLabel("")
        self.state_label.setObjectName("hint")
        self.state_label.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._users_tab(), "用户")
        self.tabs.addTab(self._backups_tab(), "备份与恢复")
        self.tabs.addTab(self._audit_tab(), "操作日志")
        from .security_tab import SecurityTab

        self.security_tab = SecurityTab(ws, actor, self.tasks, self)
        self.security_tab.message.connect(lambda text, error: self._say(text, error=error))
        self.tabs.addTab(self.security_tab, "安全")
        self.kiosk_window = None
        if self.is_admin:  # only an administrator turns this PC into the villagers' kiosk
            self.tabs.addTab(self._kiosk_tab(), "自助查询")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 28)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.state_label)
        self.refresh_users()
        self.refresh_backups()
        self._load_audit_choices()
        self.search_audit()

    def _kiosk_tab(self) -> QWidget:
        from PySide6.QtWidgets import QPushButton

        page = QWidget()
        box = QVBoxLayout(page)
        text = QLabel("把这台电脑变成村民的自助查询机：全屏显示，村民输入姓名和身份证号后 6 位查看本户参保、"
                      "慢病卡和医疗救助情况（脱敏）。退出时点右下角“管理员”，输入管理员或医保专干的密码。"
                      "也可以用命令 station-app kiosk 直接启动。")
        text.setWordWrap(True)
        self.kiosk_button = QPushButton("启动自助查询机")
        self.kiosk_button.clicked.connect(self.start_kiosk)
        box.addWidget(text)
        box.addWidget(self.kiosk_button)
        box.addStretch(1)
        return page

    def start_kiosk(self, *, full_screen: bool = True):
        from PySide6.QtCore import Qt

        from ..kiosk import KioskWindow

        self.kiosk_window = KioskWindow(self.ws)
        self.kiosk_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        if full_screen:
            self.kiosk_window.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
            self.kiosk_window.showFullScreen()
        else:
            self.kiosk_window.show()
        self._say("自助查询机已启动；管理员密码退出后回到这里。")
        return self.kiosk_window

    def _say(self, text: str, *, error: bool = False) -> None:
        self.state_label.setText(text)
        name = "error" if error else "hint"
        if self.state_label.objectName() != name:
            self.state_label.setObjectName(name)
            self.state_label.style().unpolish(self.state_label)
            self.state_label.style().polish(self.state_label)
        if not error:
            self.message.emit(text)

    def _failed(self, what: str):
        return lambda error: self._say(_error_text(error, what), error=True)

    # -- users ------------------------------------------------------------------------------

    def _users_tab(self) -> QWidget:
        tab = QWidget()
        self.users_model = UsersModel(self)
        self.users_view = _table_view(self.users_model, 3)
        self.add_user_button = QPushButton("添加用户…")
        self.reset_button = QPushButton("重置密码…")
        self.toggle_button = QPushButton("停用 / 启用")
        self.unlock_button = QPushButton("解除锁定")
        self.own_password_button = QPushButton("修改我的密码…")
        self.add_user_button.clicked.connect(self.add_user)
        self.reset_button.clicked.connect(self.reset_password)
        self.toggle_button.clicked.connect(self.toggle_active)
        self.unlock_button.clicked.connect(self.unlock_user)
        self.own_password_button.clicked.connect(self.change_own_password)
        buttons = QHBoxLayout()
        for button in (self.add_user_button, self.reset_button, self.toggle_button, self.unlock_button):
            button.setVisible(self.is_admin)  # the service refuses anyway; don't offer what fails
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.own_password_button)
        layout = QVBoxLayout(tab)
        if not self.is_admin:
            note = QLabel("只有管理员可以管理用户。您可以在这里修改自己的密码。")
            note.setObjectName("hint")
            layout.addWidget(note)
        layout.addWidget(self.users_view, 1)
        layout.addLayout(buttons)
        return tab

    def refresh_users(self) -> None:
        ws, actor = self.ws, self.actor
        self.tasks.run_read(lambda: users.list_users(ws, actor), self.users_model.set_items,
                            self._failed("读取用户"), name="list_users")

    def selected_user(self) -> users.UserInfo | None:
        rows = self.users_view.selectionModel().selectedRows()
        return self.users_model.item(rows[0].row()) if rows else None

    def add_user(self) -> None:
        dialog = AddUserDialog(self.ws, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.run_add_user(dialog.values())

    def run_add_user(self, values: dict) -> None:
        ws, actor = self.ws, self.actor
        self.tasks.run_write(lambda: users.add_user(ws, actor, **values),
                             lambda _r: (self._say(f"已添加用户 {values['username']}。"), self.refresh_users()),
                             self._failed("添加用户"), name="add_user")

    def _need_user(self) -> users.UserInfo | None:
        user = self.selected_user()
        if user is None:
            self._say("请先在列表中选中一个用户。", error=True)
        return user

    def reset_password(self) -> None:
        user = self._need_user()
        if user is None:
            return
        dialog = PasswordDialog(f"重置 {user.display_name} 的密码", ask_old=False, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.run_reset_password(user.username, dialog.new_edit.text())

    def run_reset_password(self, username: str, password: str) -> None:
        ws, actor = self.ws, self.actor
        self.tasks.run_write(lambda: users.reset_password(ws, actor, username, password),
                             lambda _r: (self._say(f"已重置 {username} 的密码并解除锁定。"), self.refresh_users()),
                             self._failed("重置密码"), name="reset_password")

    def toggle_active(self) -> None:
        user = self._need_user()
        if user is None:
            return
        ws, actor, active = self.ws, self.actor, not user.active
        verb = "启用" if active else "停用"
        self.tasks.run_write(lambda: users.set_active(ws, actor, user.username, active),
                             lambda _r: (self._say(f"已{verb}用户 {user.username}。"), self.refresh_users()),
                             self._failed(f"{verb}用户"), name="set_active")

    def unlock_user(self) -> None:
        user = self._need_user()
        if user is None:
            return
        ws, actor = self.ws, self.actor
        self.tasks.run_write(lambda: users.unlock(ws, actor, user.username),
                             lambda _r: (self._say(f"已解除 {user.username} 的锁定。"), self.refresh_users()),
                             self._failed("解除锁定"), name="unlock")

    def change_own_password(self) -> None:
        dialog = PasswordDialog("修改我的密码", ask_old=True, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            ws, actor = self.ws, self.actor
            old, new = dialog.old_edit.text(), dialog.new_edit.text()
            self.tasks.run_write(lambda: users.change_password(ws, actor, old, new),
                                 lambda _r: self._say("密码已修改，下次登录请使用新密码。"),
                                 self._failed("修改密码"), name="change_password")

    # -- backups ----------------------------------------------------------------------------

    def _backups_tab(self) -> QWidget:
        tab = QWidget()
        self.backups_model = BackupsModel(self)
        self.backups_view = _table_view(self.backups_model, 3)
        self.backup_button = QPushButton("立即备份")
        self.backup_button.setObjectName("primary")
        self.restore_button = QPushButton("恢复所选备份…")
        self.restore_file_button = QPushButton("从文件恢复…")
        self.folder_button = QPushButton("打开备份文件夹")
        self.backup_button.clicked.connect(self.backup_now)
        self.restore_button.clicked.connect(self.restore_selected)
        self.restore_file_button.clicked.connect(self.restore_from_file)
        self.folder_button.clicked.connect(self.open_folder)
        for button in (self.restore_button, self.restore_file_button):
            button.setVisible(self.is_admin)
        note = QLabel("每天第一次打开程序时自动备份；保留最近 7 天每天一份、最近 4 周每周一份。"
                      "导入花名册和升级前也会自动备份。恢复前会先检查备份文件是否完整，并把当前数据库另存一份。")
        note.setObjectName("hint")
        note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.backup_button)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.restore_file_button)
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        layout = QVBoxLayout(tab)
        layout.addWidget(note)
        layout.addWidget(self.backups_view, 1)
        layout.addLayout(buttons)
        return tab

    def _folder(self) -> Path:
        return self.backups_dir or paths.backups_dir()

    def refresh_backups(self) -> None:
        folder, stem = self._folder(), (self.ws.db_path.stem if self.ws.db_path else "station")
        self.tasks.run_read(lambda: backup.list_backups(folder, stem), self.backups_model.set_items,
                            self._failed("读取备份列表"), name="list_backups")

    def backup_now(self) -> None:
        ws, folder = self.ws, self._folder()

        def work():
            info = backup.backup_workspace(ws, backup.MANUAL, folder)
            if info is None:
                raise ValidationError("内存数据库不能备份。")
            backup.verify_backup(info.path)
            return info

        self.backup_button.setEnabled(False)
        self.tasks.run_write(work, self._backed_up, self._backup_failed, name="backup_now")

    def _backed_up(self, info: backup.BackupInfo) -> None:
        self.backup_button.setEnabled(True)
        self._say(f"已备份（{info.size_text}，完整性检查通过）：{info.path.name}")
        self.refresh_backups()

    def _backup_failed(self, error: BaseException) -> None:
        self.backup_button.setEnabled(True)
        self._say(_error_text(error, "备份"), error=True)

    def selected_backup(self) -> backup.BackupInfo | None:
        rows = self.backups_view.selectionModel().selectedRows()
        return self.backups_model.item(rows[0].row()) if rows else None

    def restore_selected(self) -> None:
        chosen = self.selected_backup()
        if chosen is None:
            self._say("请先在列表中选中要恢复的备份。", error=True)
            return
        self.confirm_restore(chosen.path, f"{chosen.label}（{chosen.created:%Y-%m-%d %H:%M}）")

    def restore_from_file(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "选择备份文件", str(self._folder()), "数据库备份 (*.db)")
        if path:
            self.confirm_restore(Path(path), Path(path).name)

    def confirm_restore(self, path: Path, label: str) -> None:
        answer = QMessageBox.question(
            self, "恢复备份",
            f"确定用“{label}”恢复数据库吗？\n\n此后录入的内容将不在恢复后的数据库中"
            "（当前数据库会先另存为“恢复前备份”，可以再恢复回来）。恢复后需要重新登录。",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.run_restore(path)

    def run_restore(self, path: Path) -> None:
        """Verify, copy the current file, close, restore, reopen — on the write thread."""
        ws, folder = self.ws, self._folder()
        self._say("正在检查备份并恢复…")
        self.setEnabled(False)
        self.tasks.run_write(lambda: backup.restore_workspace(ws, Path(path), folder), self._restored,
                             self._restore_failed, name="restore_backup")

    def _restored(self, new_ws: Workspace) -> None:
        self.setEnabled(True)
        self.ws = new_ws
        self._say("已从备份恢复，请重新登录。")
        self.refresh_backups()
        self.restored.emit(new_ws)

    def _restore_failed(self, error: BaseException) -> None:
        self.setEnabled(True)
        if isinstance(error, backup.RestoreError):
            self.ws = error.workspace  # reopened, unchanged
            self.restored.emit(error.workspace)
        self._say(_error_text(error, "恢复"), error=True)

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._folder())))

    # -- audit ------------------------------------------------------------------------------

    def _audit_tab(self) -> QWidget:
        tab = QWidget()
        self.audit_model = AuditTableModel(self)
        self.audit_view = _table_view(self.audit_model, AuditTableModel.COL_DETAIL)
        self.audit_view.setWordWrap(False)
        self.user_filter = QComboBox()
        self.table_filter = QComboBox()
        self.action_filter = QComboBox()
        self.use_dates = QCheckBox("日期：")
        self.since_edit = QDateEdit(QDate.currentDate().addDays(-30))
        self.until_edit = QDateEdit(QDate.currentDate())
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("内容包含…")
        self.search_button = QPushButton("查询")
        self.search_button.clicked.connect(lambda: self.search_audit(0))
        self.text_filter.returnPressed.connect(lambda: self.search_audit(0))
        filters = QHBoxLayout()
        for label, widget in (("用户：", self.user_filter), ("数据：", self.table_filter),
                              ("操作：", self.action_filter)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.use_dates)
        filters.addWidget(self.since_edit)
        filters.addWidget(QLabel("至"))
        filters.addWidget(self.until_edit)
        filters.addWidget(self.text_filter, 1)
        filters.addWidget(self.search_button)
        self.prev_button = QPushButton("上一页")
        self.next_button = QPushButton("下一页")
        self.page_label = QLabel("")
        self.prev_button.clicked.connect(lambda: self.search_audit(self._audit_page - 1))
        self.next_button.clicked.connect(lambda: self.search_audit(self._audit_page + 1))
        pager = QHBoxLayout()
        pager.addWidget(self.page_label)
        pager.addStretch(1)
        pager.addWidget(self.prev_button)
        pager.addWidget(self.next_button)
        layout = QVBoxLayout(tab)
        layout.addLayout(filters)
        layout.addWidget(self.audit_view, 1)
        layout.addLayout(pager)
        self._audit_page = 0
        return tab

    def _load_audit_choices(self) -> None:
        ws, actor = self.ws, self.actor
        self.tasks.run_read(lambda: audit_choices(ws, actor), self._fill_choices, self._failed("读取筛选项"),
                            name="audit_choices")

    def _fill_choices(self, choices) -> None:
        for combo, items in ((self.user_filter, [(u, "系统" if u == "system" else u) for u in choices.usernames]),
                             (self.table_filter, choices.tables), (self.action_filter, choices.actions)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("全部", None)
            for value, label in items:
                combo.addItem(label, value)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)

    def audit_filter(self) -> AuditFilter:
        since = until = None
        if self.use_dates.isChecked():
            since = self.since_edit.date().toPython()
            until = self.until_edit.date().toPython()
        return AuditFilter(username=self.user_filter.currentData(), table_name=self.table_filter.currentData(),
                           action=self.action_filter.currentData(), since=since, until=until,
                           text=self.text_filter.text().strip() or None)

    def search_audit(self, page: int = 0) -> None:
        ws, actor, flt = self.ws, self.actor, self.audit_filter()
        page = max(0, page)
        self.tasks.run_read(lambda: query_audit(ws, actor, flt, page=page, page_size=AUDIT_PAGE_SIZE),
                            self._show_audit, self._failed("查询操作日志"), name="query_audit")

    def _show_audit(self, page: AuditPage) -> None:
        self._audit_page = page.page
        self.audit_model.set_page(page)
        self.audit_view.resizeColumnsToContents()
        self.page_label.setText(f"第 {page.page + 1}/{page.pages} 页，共 {page.total} 条")
        self.prev_button.setEnabled(page.page > 0)
        self.next_button.setEnabled(page.page + 1 < page.pages)


def settings_section(ctx) -> SettingsPage:
    """Factory for ``ui.sections.SECTIONS`` (a PageContext in, the page out)."""
    return SettingsPage(ctx.ws, ctx.actor, tasks=ctx.tasks)


# -- the daily backup ----------------------------------------------------------------------------


class DailyBackupTimer(QObject):
    """At start and then hourly: the day's backup on the write thread, skipped if it exists."""

    done = Signal(object)  # BackupInfo or None

    def __init__(self, ws: Workspace, tasks: TaskManager, parent: QObject | None = None, *,
                 backups_dir: Path | None = None, interval_ms: int = DAILY_CHECK_MS):
        super().__init__(parent)
        self.ws = ws
        self.tasks = tasks
        self.backups_dir = backups_dir
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        self.check()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def check(self) -> None:
        if self.ws.db_path is None:
            return
        db, folder = self.ws.db_path, self.backups_dir
        self.tasks.run_write(lambda: backup.ensure_daily_backup(db, folder), self.done.emit,
                             lambda error: logger.warning("daily backup failed: %s", error),
                             name="daily_backup")

