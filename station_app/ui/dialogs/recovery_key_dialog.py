"""A database recovery key, shown once: large, with what to do with it, 打印 and a tick to close.

Shown after set-up, after an administrator's first sign-in on a database without one, and when an
administrator makes a new one (设置 → 安全). It is never stored in clear anywhere, so closing
the dialog is the end of it: the close button waits for 「我已抄写或打印」.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station_app.services.recovery import RECOVERY_KEY_WARNING


class RecoveryKeyDialog(QDialog):
    def __init__(self, recovery: str, *, new: bool = False, station_name: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.recovery = recovery
        self.station_name = station_name
        self.new = new
        self.setWindowTitle("新的数据库恢复密钥" if new else "数据库恢复密钥")
        self.setMinimumWidth(520)
        intro = QLabel("已生成新的恢复密钥，原恢复密钥从现在起作废。" if new
                       else "本站数据已加密保存。下面是数据库的恢复密钥：")
        intro.setWordWrap(True)
        self.key_label = QLabel(recovery)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(max(font.pointSize(), 10) + 8)
        font.setWeight(QFont.Weight.Bold)
        self.key_label.setFont(font)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning = QLabel(RECOVERY_KEY_WARNING)
        self.warning.setObjectName("warning")
        self.warning.setStyleSheet("color: #b00020;")
        self.warning.setWordWrap(True)
        self.confirm = QCheckBox("我已抄写或打印恢复密钥，并会妥善保管")
        self.print_button = QPushButton("打印…")
        self.print_button.clicked.connect(self.print_key)
        self.close_button = QPushButton("关闭")
        self.close_button.setObjectName("primary")
        self.close_button.setEnabled(False)
        self.confirm.toggled.connect(self.close_button.setEnabled)
        self.close_button.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.print_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.key_label)
        layout.addWidget(self.warning)
        layout.addWidget(self.confirm)
        layout.addLayout(buttons)

    def reject(self) -> None:  # Esc / the window's ✕: only once the key is written down
        if self.confirm.isChecked():
            super().reject()

    def document(self) -> QTextDocument:
        """The printed sheet: station, key, the warning."""
        station = f"<p>站点：{html.escape(self.station_name)}</p>" if self.station_name else ""
        document = QTextDocument()
        document.setHtml(f"<h2>医保工作站数据库恢复密钥</h2>{station}"
                         f"<p style='font-size:24pt; font-family:monospace'><b>{html.escape(self.recovery)}</b></p>"
                         f"<p>{html.escape(RECOVERY_KEY_WARNING)}</p>")
        return document

    def print_key(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle("打印恢复密钥")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.document().print_(printer)
