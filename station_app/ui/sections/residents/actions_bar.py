"""The 居民档案 actions under the list, the status line and the progress of long work."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from station_app.domain.enums import ResidentStatus
from station_app.services.registry import ResidentDetail

from .search_bar import hint_label


class ActionsBar(QWidget):
    """The buttons (enabled for what is selected), a message line and a progress bar.

    The buttons' clicks are connected by the tab that owns the actions."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.overview_button = QPushButton("一站式")
        self.overview_button.setToolTip("这位居民的家庭、各年度参保、慢病卡、医疗救助和近期服务，及缴费、代购药、"
                                        "申请慢病卡、打印参保凭证（在列表中按回车或双击也可打开）")
        self.new_household_button = QPushButton("新增户")
        self.new_household_button.setObjectName("primary")
        self.new_member_button = QPushButton("新增成员")
        self.edit_button = QPushButton("编辑")
        self.move_button = QPushButton("迁入其他户")
        self.died_button = QPushButton("标记死亡")
        self.moved_out_button = QPushButton("标记迁出")
        self.scan_button = QPushButton("查重")
        self.scan_button.setToolTip("查找身份证号相同、或姓名和出生日期都相同的居民")
        self.history_button = QPushButton("历史")
        self.export_button = QPushButton("导出")
        self.export_button.setToolTip("把当前列表（按现在的筛选和排序）导出为 Excel")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(260)
        self.message = hint_label("")
        self.message.setWordWrap(True)

        actions = QHBoxLayout()
        actions.setSpacing(8)
        for button in (self.overview_button, self.new_household_button, self.new_member_button, self.edit_button,
                       self.move_button, self.died_button, self.moved_out_button):
            actions.addWidget(button)
        actions.addStretch(1)
        for button in (self.scan_button, self.history_button, self.export_button):
            actions.addWidget(button)
        status_row = QHBoxLayout()
        status_row.addWidget(self.message, 1)
        status_row.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(actions)
        layout.addLayout(status_row)

    def update_for(self, detail: ResidentDetail | None, *, selected: bool, has_villages: bool) -> None:
        """Enable what applies: ``detail`` is the shown record of the selected resident (or None)."""
        registered = detail is not None and detail.status == ResidentStatus.REGISTERED.value
        self.new_household_button.setEnabled(has_villages)
        self.new_member_button.setEnabled(detail is not None and detail.household_id is not None)
        for button in (self.overview_button, self.edit_button, self.history_button):
            button.setEnabled(selected)
        for button in (self.move_button, self.died_button, self.moved_out_button):
            button.setEnabled(registered)

    # -- long work ----------------------------------------------------------------------------

    def start_progress(self, text: str) -> None:
        self.message.setText(text)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)

    def on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{message}  %p%")

    def stop_progress(self) -> None:
        self.progress.setVisible(False)
