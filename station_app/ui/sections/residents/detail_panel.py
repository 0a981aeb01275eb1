"""The 居民档案 detail panel: the selected resident, their 参保/慢病/救助 lines and their household."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import ResidentStatus, SpecialGroup
from station_app.services import registry
from station_app.services.registry import HouseholdView, ResidentDetail
from station_app.services.reveal import REVEAL_SECONDS, masked_id, masked_phone
from station_app.services.resident_summary import ResidentBenefits

from .results import GREY
from .search_bar import hint_label


class DetailPanel(QFrame):
    """The selected resident and their household: members, 三类户, 包帮责任人."""

    member_chosen = Signal(str)
    edit_household = Signal()
    restore = Signal()
    reveal_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setMinimumWidth(290)
        self.name = QLabel("未选择居民")
        self.name.setObjectName("dialogTitle")
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.restore_button = QPushButton("恢复在册")
        self.restore_button.hide()
        self.restore_button.clicked.connect(self.restore)
        self.fields: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(6)
        # PIPL minimum necessary: masked until 「显示」, which reveals this one record for a minute.
        self.reveal_button = QPushButton("显示")
        self.reveal_button.setToolTip(f"显示完整身份证号和电话（{REVEAL_SECONDS} 秒，记入操作日志）")
        self.reveal_button.clicked.connect(self.reveal_requested)
        row = 0
        for key, title in (("basic", "性别 / 年龄"), ("id_number", "身份证号"), ("phone", "联系电话"),
                           ("place", "村 / 组"), ("relation", "与户主关系"),
                           ("special_groups", "人员类别"), ("note", "备注"),
                           ("enrollment", "参保"), ("cards", "慢病卡"), ("cases", "医疗救助")):
            value = QLabel("")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            grid.addWidget(hint_label(title), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
            row += 1
            if key == "phone":
                # Under the ID number and phone, not beside them: an 18-character ID has no place
                # to wrap, and a third column cut it to "610921*****" in the panel at 1366×768.
                grid.addWidget(self.reveal_button, row, 1, Qt.AlignmentFlag.AlignLeft)
                row += 1
        grid.setColumnStretch(1, 1)
        self._remask = QTimer(self)
        self._remask.setSingleShot(True)
        self._remask.timeout.connect(self.remask)

        self.household_title = QLabel("家庭")
        self.household_title.setObjectName("cardCaption")
        font = self.household_title.font()
        font.setBold(True)
        self.household_title.setFont(font)
        self.household_info = QLabel("")
        self.household_info.setWordWrap(True)
        self.category = QLabel("")
        self.category.setWordWrap(True)
        self.helper = QLabel("")
        self.helper.setWordWrap(True)
        self.edit_household_button = QPushButton("编辑户…")
        self.edit_household_button.setToolTip("户类别（三类户）、包帮责任人、地址、电话")
        self.edit_household_button.clicked.connect(self.edit_household)
        self.members = QTableWidget(0, 5)
        self.members.setHorizontalHeaderLabels(("姓名", "关系", "性别", "年龄", "状态"))
        self.members.verticalHeader().hide()
        self.members.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.members.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.members.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.members.verticalHeader().setDefaultSectionSize(28)
        self.members.setMinimumHeight(150)
        self.members.cellDoubleClicked.connect(self._member_clicked)
        self.members.setToolTip("双击成员查看其档案")

        top = QHBoxLayout()
        top.addWidget(self.name, 1)
        top.addWidget(self.restore_button)
        household_head = QHBoxLayout()
        household_head.addWidget(self.household_title, 1)
        household_head.addWidget(self.edit_household_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(grid)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color:#d5dde5;")
        layout.addWidget(line)
        layout.addLayout(household_head)
        layout.addWidget(self.household_info)
        layout.addWidget(self.category)
        layout.addWidget(self.helper)
        layout.addWidget(self.members, 1)
        self.clear()

    def reveal(self, revealed) -> None:
        """Show one record's full ID number and phone; masked again after REVEAL_SECONDS."""
        if self.resident is None or revealed.resident_id != self.resident.id:
            return
        self.fields["id_number"].setText(revealed.id_number)
        self.fields["phone"].setText(revealed.phone or "—")
        self.reveal_button.setEnabled(False)
        self._remask.start(REVEAL_SECONDS * 1000)

    def remask(self) -> None:
        self._remask.stop()
        self.reveal_button.setEnabled(self.resident is not None)
        if self.resident is not None:
            self.fields["id_number"].setText(masked_id(self.resident.id_number))
            self.fields["phone"].setText(masked_phone(self.resident.phone) or "—")

    def clear(self) -> None:
        self._remask.stop()
        self.reveal_button.setEnabled(False)
        self.resident: ResidentDetail | None = None
        self.household: HouseholdView | None = None
        self.name.setText("未选择居民")
        self.status.setText("在左侧列表中选择一位居民")
        self.restore_button.hide()
        for value in self.fields.values():
            value.setText("")
        self.household_title.setText("家庭")
        for label in (self.household_info, self.category, self.helper):
            label.setText("")
        self.members.setRowCount(0)
        self.edit_household_button.setEnabled(False)

    def show_benefits(self, benefits: ResidentBenefits | None, year: int | None) -> None:
        """参保 (the year shown in the list, or the latest), 慢病卡, 救助 — what the counter asks first."""
        if benefits is None:
            for key in ("enrollment", "cards", "cases"):
                self.fields[key].setText("—")
            return
        self.fields["enrollment"].setText(benefits.enrollment_text(year))
        self.fields["cards"].setText(benefits.cards_text())
        self.fields["cases"].setText(benefits.cases_text())

    def show_resident(self, detail: ResidentDetail, household: HouseholdView | None) -> None:
        self.resident, self.household = detail, household
        self.name.setText(detail.name)
        status = detail.status_label + (f"（{detail.status_date:%Y-%m-%d}）" if detail.status_date else "")
        self.status.setText(status)
        self.restore_button.setVisible(detail.status != ResidentStatus.REGISTERED.value)
        age = registry.age_on(detail.birth_date, date.today())
        self.fields["basic"].setText(f"{'男' if detail.sex == 'M' else '女'} · {age} 岁（{detail.birth_date:%Y-%m-%d}）")
        self.remask()  # a new record: masked again
        self.fields["place"].setText(" ".join(p for p in (detail.village, detail.group) if p) or "—")
        relation = next((m.relation for m in (household.members if household else []) if m.id == detail.id), "")
        self.fields["relation"].setText(relation or "—")
        self.fields["special_groups"].setText(
            "、".join(SpecialGroup(code).label for code in detail.special_groups) or "—")
        self.fields["note"].setText(detail.note or "—")
        self.edit_household_button.setEnabled(household is not None)
        if household is None:
            self.household_title.setText("家庭（未登记）")
            for label in (self.household_info, self.category, self.helper):
                label.setText("")
            self.members.setRowCount(0)
            return
        self.household_title.setText(f"家庭　{household.household_no}")
        self.household_info.setText(
            f"户主：{household.head_name or '（无）'}　电话：{household.phone or '—'}\n地址：{household.address or '—'}")
        since = f"（自 {household.category_since:%Y-%m-%d}）" if household.category_since else ""
        self.category.setText(f"户类别：{household.category_label}{since}")
        helper = household.helper_name + (f"　{household.helper_phone}" if household.helper_phone else "")
        self.helper.setText(f"包帮责任人：{helper or '—'}")
        self.members.setRowCount(len(household.members))
        for row, member in enumerate(household.members):
            values = (member.name, member.relation, member.sex, "" if member.age is None else str(member.age),
                      member.status)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, member.id)
                if member.status_code != ResidentStatus.REGISTERED.value:
                    item.setForeground(QBrush(GREY))
                if member.id == detail.id:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.members.setItem(row, column, item)

    def _member_clicked(self, row: int, _column: int) -> None:
        item = self.members.item(row, 0)
        if item is not None:
            self.member_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
