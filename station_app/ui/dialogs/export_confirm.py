"""Before an export of personal data: say what the file holds and offer a password (on by default)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from station_app.services.export_protection import MIN_EXPORT_PASSWORD, PERSONAL_DATA_NOTICE


class PersonalExportDialog(QDialog):
    """Accepted with ``password`` (None: no password) once the user has read the notice."""

    def __init__(self, parent: QWidget | None = None, *, full_ids: bool = True):
        super().__init__(parent)
        self.setWindowTitle("导出个人信息")
        self.password: str | None = None
        notice = QLabel(PERSONAL_DATA_NOTICE)
        notice.setWordWrap(True)
        self.protect = QCheckBox("为文件设置打开密码（推荐；打开文件时需输入）")
        self.protect.setChecked(full_ids)  # on by default when the file carries full ID numbers
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(f"至少 {MIN_EXPORT_PASSWORD} 位")
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("打开密码", self.password_edit)
        form.addRow("再输入一次", self.repeat_edit)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("继续导出")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        self.protect.toggled.connect(self.password_edit.setEnabled)
        self.protect.toggled.connect(self.repeat_edit.setEnabled)
        self.password_edit.setEnabled(full_ids)
        self.repeat_edit.setEnabled(full_ids)
        layout = QVBoxLayout(self)
        layout.addWidget(notice)
        layout.addWidget(self.protect)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def submit(self) -> None:
        if not self.protect.isChecked():
            self.password = None
            self.accept()
            return
        password = self.password_edit.text()
        if len(password) < MIN_EXPORT_PASSWORD:
            self.error_label.setText(f"打开密码至少需要 {MIN_EXPORT_PASSWORD} 位。")
        elif password != self.repeat_edit.text():
            self.error_label.setText("两次输入的密码不一致。")
        else:
            self.password = password
            self.accept()
            return
        self.error_label.show()


def confirm_personal_export(parent: QWidget | None, *, full_ids: bool = True) -> tuple[bool, str | None]:
    """(go on?, password or None)."""
    dialog = PersonalExportDialog(parent, full_ids=full_ids)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False, None
    return True, dialog.password
