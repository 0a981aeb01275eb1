"""查重 results: groups of suspected duplicate residents; a double click shows the group in the list."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.services.registry import DuplicateGroup
from station_app.services.reveal import masked_id

from ..fit import fit_size

ROLE = Qt.ItemDataRole.UserRole
HEADERS = ("姓名", "性别", "出生日期", "身份证号", "村", "组", "户编号", "状态")


def search_text_for(group: DuplicateGroup) -> str:
    """What to type in the search box to list a group's members together."""
    first = group.members[0]
    return first.id_number if group.kind == "id_number" else first.name


class DuplicatesDialog(QDialog):
    """Lists the groups; ``locate`` asks the page to show a group's residents in the list."""

    locate = Signal(str)

    def __init__(self, groups: list[DuplicateGroup], parent: QWidget | None = None):
        super().__init__(parent)
        self.groups = groups
        self.setWindowTitle("查重结果")
        fit_size(self, 980, 520)
        heading = QLabel("疑似重复登记的居民")
        heading.setObjectName("dialogTitle")
        by_id = sum(1 for g in groups if g.kind == "id_number")
        summary = QLabel(
            f"共 {len(groups)} 组：身份证号相同 {by_id} 组，姓名和出生日期相同 {len(groups) - by_id} 组。"
            "请逐组核对；确属同一人的，保留一条，另一条标记“迁出”并在备注中说明。"
            if groups else "没有发现疑似重复登记的居民。")
        summary.setObjectName("hint")
        summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(HEADERS)
        self.tree.setAlternatingRowColors(True)
        for i, width in enumerate((150, 50, 100, 190, 90, 70, 110)):
            self.tree.setColumnWidth(i, width)
        for group in groups:
            # On screen, minimum necessary: the shared ID number masked too; 「在列表中查看」 finds
            # the group by the full number, and the detail panel's 「显示」 reveals one (audited).
            key = masked_id(group.key) if group.kind == "id_number" else group.key
            parent_item = QTreeWidgetItem([f"{group.kind_label}：{key}（{len(group.members)} 人）"])
            parent_item.setFirstColumnSpanned(True)
            parent_item.setData(0, ROLE, search_text_for(group))
            self.tree.addTopLevelItem(parent_item)
            parent_item.setFirstColumnSpanned(True)
            for m in group.members:
                child = QTreeWidgetItem([m.name, m.sex, m.birth_date.isoformat(), masked_id(m.id_number), m.village,
                                         m.group, m.household_no, m.status])
                child.setData(0, ROLE, search_text_for(group))
                parent_item.addChild(child)
            parent_item.setExpanded(True)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._locate(item))
        show = QPushButton("在列表中查看")
        show.clicked.connect(lambda: self._locate(self.tree.currentItem()))
        close = QPushButton("关闭")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("双击一组可在居民列表中查看该组人员。"))
        buttons.addStretch(1)
        buttons.addWidget(show)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(heading)
        layout.addWidget(summary)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)

    def _locate(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.locate.emit(item.data(0, ROLE))
