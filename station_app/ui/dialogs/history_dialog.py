"""A resident's history from the audit log: when, who, what, before → after, newest first."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.errors import DomainError
from station_app.services import registry
from station_app.services.registry import HistoryEntry

from ..tasks import TaskManager
from ..fit import fit_size

logger = logging.getLogger(__name__)

COLUMNS = ("时间", "操作人", "操作", "对象", "修改内容")
NO_HISTORY = ("没有该居民的修改记录。\n"
              "通过演示数据或花名册批量导入的居民，导入本身记为一条批量记录；此后的每次修改都会列在这里。")


class HistoryDialog(QDialog):
    """Loads ``resident_history`` off the UI thread and lists it; read-only."""

    def __init__(self, ws, actor, tasks: TaskManager, resident_id: str, title: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"历史记录 — {title}")
        fit_size(self, 900, 480)
        self.entries: list[HistoryEntry] | None = None
        heading = QLabel(f"{title} 的历史记录")
        heading.setObjectName("dialogTitle")
        self.state = QLabel("加载中…")
        self.state.setObjectName("hint")
        self.state.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for i, width in enumerate((150, 130, 90, 110)):
            self.table.setColumnWidth(i, width)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        close = QPushButton("关闭")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(heading)
        layout.addWidget(self.state)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        tasks.run_read(lambda: registry.resident_history(ws, resident_id, actor), self.show_entries,
                       self._failed, name="resident_history", owner=self)

    def show_entries(self, entries: list[HistoryEntry]) -> None:
        self.entries = entries
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            values = (entry.at.strftime("%Y-%m-%d %H:%M"), entry.who, entry.action, entry.subject,
                      "\n".join(c.text for c in entry.changes) or entry.summary)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
        self.state.setText(f"共 {len(entries)} 条，最新的在最上面。身份证号按审计日志的规定只显示前 6 位和后 4 位。"
                           if entries else NO_HISTORY)

    def _failed(self, error: BaseException) -> None:
        self.state.setObjectName("error")
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        self.state.setText(error.message if isinstance(error, DomainError) else "读取历史记录失败；问题已记录在日志中。")
