"""设置 → 安全: the county server's certificate (pinned, never verification off) and the recovery key.

- 县服务器证书: what the station trusts for the county server now; a 乡镇医保专干 or an
  administrator pins the county's self-signed certificate from its file, or reads the
  certificate the server presents and pins its fingerprint once they have compared it with the
  one the county printed; or removes the pin (back to the system's trusted certificates).
- 恢复密钥 (administrators): a new recovery key, confirmed with the administrator's password,
  shown once (RecoveryKeyDialog); the old one stops working.

No SQL, no network and no key handling here: sync/settings.py and services/recovery.py do it,
on the task pools.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import Role
from station_app.services.changes import Actor
from station_app.services.recovery import new_recovery_key
from station_app.services.workspace import Workspace
from station_app.sync.settings import (
    CertificateInfo,
    TlsPin,
    clear_tls_pin,
    fetch_server_certificate,
    format_fingerprint,
    pin_certificate_file,
    pin_fingerprint,
    server_settings,
    tls_pin,
)

from ..common import error_text
from ..tasks import TaskManager

NOT_PINNED = "未固定：按系统信任的证书校验县服务器（县里使用自签名证书时，同步会被拒绝）。"


def pin_text(pin: TlsPin) -> str:
    """One or two lines saying what the station trusts for the county server."""
    if pin.kind == "fingerprint":
        return f"已按指纹固定县服务器证书：\n{format_fingerprint(pin.fingerprint)}"
    if pin.kind == "file":
        if pin.certificate is None:
            return "已固定县服务器证书文件（无法读取其内容，请重新固定）。"
        cert = pin.certificate
        return (f"已固定县服务器证书文件（{cert.subject}，有效期至 {cert.not_after}）：\n"
                f"{format_fingerprint(cert.fingerprint)}")
    return NOT_PINNED


class CertificatePinBox(QGroupBox):
    """县服务器证书: show, pin (file / read-and-confirm / typed fingerprint), remove."""

    #: A short sentence after each action (the page's status line).
    message = Signal(str, bool)

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager, parent: QWidget | None = None):
        super().__init__("县服务器证书", parent)
        self.ws = ws
        self.actor = actor
        self.tasks = tasks
        self.pin: TlsPin | None = None
        self.may_configure = actor.role in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value)
        note = QLabel("同步时始终校验县服务器的证书，不能关闭校验。县医保局使用自签名证书时，"
                      "请在这里固定县里提供的证书文件；或读取服务器证书，与县医保局打印提供的指纹逐位核对一致后固定。")
        note.setObjectName("hint")
        note.setWordWrap(True)
        self.state_label = QLabel("")
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_button = QPushButton("从证书文件固定…")
        self.fetch_button = QPushButton("读取服务器证书…")
        self.fingerprint_edit = QLineEdit()
        self.fingerprint_edit.setPlaceholderText("或输入县里提供的 SHA-256 指纹（64 位十六进制，可带冒号）")
        self.fingerprint_button = QPushButton("按指纹固定")
        self.remove_button = QPushButton("取消固定")
        self.file_button.clicked.connect(lambda: self.pin_file())
        self.fetch_button.clicked.connect(self.fetch)
        self.fingerprint_button.clicked.connect(self.pin_typed)
        self.remove_button.clicked.connect(self.remove)
        buttons = QHBoxLayout()
        for button in (self.file_button, self.fetch_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        typed = QHBoxLayout()
        typed.addWidget(self.fingerprint_edit, 1)
        typed.addWidget(self.fingerprint_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.state_label)
        layout.addLayout(buttons)
        layout.addLayout(typed)
        for widget in (self.file_button, self.fetch_button, self.fingerprint_edit, self.fingerprint_button,
                       self.remove_button):
            widget.setVisible(self.may_configure)
        self.refresh()

    # -- reading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        self.tasks.run_read(lambda: tls_pin(self.ws), self._show, self._failed("读取证书设置"),
                            name="tls_pin", owner=self)

    def _show(self, pin: TlsPin) -> None:
        self.pin = pin
        self.state_label.setText(pin_text(pin))
        self.remove_button.setEnabled(pin.pinned)

    def _failed(self, what: str):
        return lambda error: self.message.emit(error_text(error, f"{what}失败，详情已记录在日志中。"), True)

    def _pinned(self, pin: TlsPin) -> None:
        self._show(pin)
        self.fingerprint_edit.clear()
        self.message.emit("已固定县服务器证书，此后每次同步都按它校验。" if pin.pinned
                          else "已取消固定，按系统信任的证书校验县服务器。", False)
        self.tasks.notify_changed("sync_settings")

    # -- pinning ----------------------------------------------------------------------------

    def pin_file(self, path: str | Path | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "选择县医保局提供的证书文件", "",
                                                  "证书文件 (*.pem *.crt *.cer);;所有文件 (*)")
            if not path:
                return
        self.tasks.run_write(lambda: pin_certificate_file(self.ws, self.actor, path), self._pinned,
                             self._failed("固定证书"), name="tls_pin_file", owner=self)

    def fetch(self) -> None:
        """Read the certificate the configured server presents, then ask the person to compare."""
        def work() -> CertificateInfo:
            url, _token = server_settings(self.ws)
            return fetch_server_certificate(url)

        self.message.emit("正在读取县服务器的证书…", False)
        self.tasks.run_network(work, self._fetched, self._failed("读取服务器证书"), name="tls_fetch", owner=self)

    def _fetched(self, info: CertificateInfo) -> None:
        if not self.confirm_certificate(info):
            self.message.emit("未固定：指纹未经核对确认。", False)
            return
        self.tasks.run_write(lambda: pin_fingerprint(self.ws, self.actor, info.fingerprint), self._pinned,
                             self._failed("固定证书"), name="tls_pin_fingerprint", owner=self)

    def confirm_certificate(self, info: CertificateInfo) -> bool:
        """The person compares the fingerprint with the one the county printed (tests replace this)."""
        kind = "自签名证书" if info.self_signed else f"由 {info.issuer} 签发"
        answer = QMessageBox.question(
            self, "核对县服务器证书",
            f"县服务器出示的证书：\n\n{info.subject}（{kind}）\n有效期 {info.not_before} 至 {info.not_after}\n\n"
            f"SHA-256 指纹：\n{format_fingerprint(info.fingerprint)}\n\n"
            "请与县医保局书面提供的指纹逐位核对。完全一致才点“是”固定；不一致说明连接可能被冒充，请点“否”并联系县医保局。",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def pin_typed(self) -> None:
        text = self.fingerprint_edit.text()
        self.tasks.run_write(lambda: pin_fingerprint(self.ws, self.actor, text), self._pinned,
                             self._failed("固定证书"), name="tls_pin_fingerprint", owner=self)

    def remove(self) -> None:
        if not self.confirm_remove():
            return
        self.tasks.run_write(lambda: clear_tls_pin(self.ws, self.actor), self._pinned,
                             self._failed("取消固定"), name="tls_pin_clear", owner=self)

    def confirm_remove(self) -> bool:
        answer = QMessageBox.question(
            self, "取消固定证书",
            "取消后按系统信任的证书校验县服务器；县里使用自签名证书时，同步将被拒绝，直到重新固定。确定取消吗？",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes


class RecoveryKeyBox(QGroupBox):
    """恢复密钥 (administrators): a new one, confirmed with the administrator's password, shown once."""

    message = Signal(str, bool)

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager, parent: QWidget | None = None):
        super().__init__("数据库恢复密钥", parent)
        self.ws = ws
        self.actor = actor
        self.tasks = tasks
        self.dialog = None
        note = QLabel("本站数据库已加密。所有用户的密码都丢失时，只有恢复密钥能打开它。恢复密钥丢失、"
                      "或可能被别人看到时，请生成新的恢复密钥：原恢复密钥立即作废，新密钥只显示一次，请抄写或打印后封存。")
        note.setObjectName("hint")
        note.setWordWrap(True)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("输入您的密码确认")
        self.new_button = QPushButton("生成新的恢复密钥…")
        self.new_button.clicked.connect(self.make_new)
        row = QHBoxLayout()
        row.addWidget(self.password_edit, 1)
        row.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(row)

    def make_new(self) -> None:
        password = self.password_edit.text()
        if not password:
            self.message.emit("请先输入您的密码确认。", True)
            return
        if not self.confirm():
            return
        self.password_edit.clear()
        self.new_button.setEnabled(False)
        self.tasks.run_write(lambda: new_recovery_key(self.ws, self.actor, password), self._made, self._failed,
                             name="recovery_key", owner=self)

    def confirm(self) -> bool:
        answer = QMessageBox.question(
            self, "生成新的恢复密钥",
            "生成后，原来的恢复密钥立即作废（抄写或打印的旧密钥不能再打开数据库）。新密钥只显示一次。确定生成吗？",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _made(self, recovery: str) -> None:
        from ..dialogs.recovery_key_dialog import RecoveryKeyDialog

        self.new_button.setEnabled(True)
        self.message.emit("已生成新的恢复密钥，原恢复密钥已作废。", False)
        self.dialog = RecoveryKeyDialog(recovery, new=True, parent=self,
                                        station_name=self.ws.station.name if self.ws.station else "")
        self.dialog.exec()
        self.dialog = None  # the key is not kept on screen or in memory longer than the dialog

    def _failed(self, error: BaseException) -> None:
        self.new_button.setEnabled(True)
        self.message.emit(error_text(error, "生成恢复密钥失败，详情已记录在日志中。"), True)


class SecurityTab(QWidget):
    """设置 → 安全: the certificate box for clerks and admins, the recovery key for admins."""

    message = Signal(str, bool)

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.certificate_box = CertificatePinBox(ws, actor, tasks, self)
        self.certificate_box.message.connect(self.message)
        layout = QVBoxLayout(self)
        layout.addWidget(self.certificate_box)
        self.recovery_box: RecoveryKeyBox | None = None
        if actor.role == Role.ADMIN.value:
            self.recovery_box = RecoveryKeyBox(ws, actor, tasks, self)
            self.recovery_box.message.connect(self.message)
            layout.addWidget(self.recovery_box)
        layout.addStretch(1)
