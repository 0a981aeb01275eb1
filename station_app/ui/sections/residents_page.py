"""居民参保: the 居民档案 tab (search as you type, filters, the lazy list, household panel) and the 年度参保 tab."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import EnrollmentStatus, ResidentStatus, SpecialGroup
from station_app.domain.errors import DomainError
from station_app.services import registry
from station_app.services.registry import HouseholdView, RegistryChoices, RegistryFilter, ResidentDetail
from station_app.services.reveal import REVEAL_SECONDS, masked_id, masked_phone, reveal_resident
from station_app.services.resident_summary import ResidentBenefits, resident_benefits

from ..dialogs.duplicates_dialog import DuplicatesDialog
from ..dialogs.history_dialog import HistoryDialog
from ..dialogs.resident_dialog import (
    MODE_EDIT,
    MODE_HOUSEHOLD,
    MODE_MEMBER,
    HouseholdDialog,
    MoveDialog,
    ResidentDialog,
    StatusDialog,
)
from ..models.lazy_table import Column, LazyTableModel
from ..views import apply_widths, enable_sorting, setup_table
from . import PageContext
from ..common import ProgressRelay, SEARCH_DELAY_MS, error_text

logger = logging.getLogger(__name__)

ALL = ""
#: Debounce of the search box: a keystroke waits this long for the next before searching.
SEARCH_PLACEHOLDER = "搜索：姓名、拼音首字母（张三 → zs）、全拼、身份证号任意几位、电话"
GREY = QColor("#8a96a3")
LOAD_FAILED = "加载失败，请重试；问题已记录在日志中。"

#: Key columns first: on a 1366×768 screen beside the detail panel only ~7 columns show, and
#: the year's 参保 is what the counter asks about (it used to be cut off at the right).
COLUMNS = (
    Column("name", "姓名", width=78),
    Column("sex", "性别", width=46),
    Column("age", "年龄", align_right=True, width=48),
    Column("enrollment", "参保", width=100),
    Column("id_number", "身份证号", format=masked_id, width=172),  # masked: 「显示」 in the detail panel
    Column("group", "组", width=50),
    Column("village", "村", width=70),
    Column("status", "状态", width=50),
    Column("household_no", "户编号", width=100),
    Column("relation", "关系", width=56),
    Column("phone", "联系电话", format=masked_phone, width=112),
    Column("special_groups", "人员类别", width=150),
)
ENROLLMENT_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "enrollment")
VILLAGE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "village")
ENROLLMENT_COLOURS = {
    EnrollmentStatus.PAID.value: "#1b7f3b", EnrollmentStatus.SUBSIDISED.value: "#1b6f8f",
    EnrollmentStatus.UNPAID.value: "#b3261e",
}


class RegistryModel(LazyTableModel):
    """Residents who died or moved out in grey; the year's enrollment status in its colour."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            values = self.row_values(index.row())
            if values.get("status_code", ResidentStatus.REGISTERED.value) != ResidentStatus.REGISTERED.value:
                return QBrush(GREY)
            if index.column() == ENROLLMENT_COLUMN:
                colour = ENROLLMENT_COLOURS.get(values.get("enrollment_code") or EnrollmentStatus.UNPAID.value)
                return QBrush(QColor(colour)) if colour else None
            return None
        return super().data(index, role)


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    return label


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
        for i, (key, title) in enumerate((("basic", "性别 / 年龄"), ("id_number", "身份证号"), ("phone", "联系电话"),
                                          ("place", "村 / 组"), ("relation", "与户主关系"),
                                          ("special_groups", "人员类别"), ("note", "备注"),
                                          ("enrollment", "参保"), ("cards", "慢病卡"), ("cases", "医疗救助"))):
            value = QLabel("")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = value
            grid.addWidget(_label(title), i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, i, 1)
        grid.setColumnStretch(1, 1)
        # PIPL minimum necessary: masked until 「显示」, which reveals this one record for a minute.
        self.reveal_button = QPushButton("显示")
        self.reveal_button.setToolTip(f"显示完整身份证号和电话（{REVEAL_SECONDS} 秒，记入操作日志）")
        self.reveal_button.clicked.connect(self.reveal_requested)
        grid.addWidget(self.reveal_button, 1, 2)
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


class RegistryTab(QWidget):
    """居民档案: the whole registry as one lazy list; every query runs off the UI thread."""

    #: Emitted on the main thread when a (re)load has put the ids in the model: the row count.
    loaded = Signal(int)
    #: Emitted after any save from this tab.
    changed = Signal()

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.choices: RegistryChoices = registry.filter_choices(ctx.ws, ctx.actor)
        self.year: int | None = self.choices.current_year
        self._sort: tuple[str, bool] = ("default", True)
        self._generation = 0
        self._detail_generation = 0
        self._selected: str | None = None
        self._just_saved: str | None = None
        self.active_dialog = None
        self.last_export: Path | None = None
        self.last_groups: list[registry.DuplicateGroup] | None = None
        #: Asks where to save an export; replaced in tests.
        self.ask_save_path: Callable[[str, str], str] = self._ask_path
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self._on_progress)

        # -- search ---------------------------------------------------------------------------
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumHeight(38)
        search_font = self.search_edit.font()
        search_font.setPointSize(search_font.pointSize() + 1)
        self.search_edit.setFont(search_font)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search_edit.textChanged.connect(self._search_changed)
        self.search_edit.returnPressed.connect(self._search_enter)
        self.count_label = QLabel("加载中…")
        count_font = self.count_label.font()
        count_font.setBold(True)
        self.count_label.setFont(count_font)
        self.hint_label = _label("")
        search_row = QHBoxLayout()
        search_row.setSpacing(12)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.hint_label)
        search_row.addWidget(self.count_label)

        # -- filters --------------------------------------------------------------------------
        self.village_combo = QComboBox()
        if len(self.choices.villages) != 1:
            self.village_combo.addItem("全部村", ALL)
        for code, name in self.choices.villages:
            self.village_combo.addItem(name, code)
        self.village_combo.setEnabled(len(self.choices.villages) > 1)
        self.group_combo = QComboBox()
        self.status_combo = QComboBox()
        self.status_combo.addItem("全部状态", ALL)
        for code, label in ResidentStatus.choices():
            self.status_combo.addItem(label, code)
        self.special_combo = QComboBox()
        self.special_combo.addItem("全部人员", ALL)
        self.special_combo.addItem("困难群众", registry.ANY_HARDSHIP)
        self.special_combo.addItem("任一特殊人群", registry.ANY_SPECIAL)
        self.special_combo.addItem("普通居民", registry.NO_SPECIAL)
        for code, label in SpecialGroup.choices():
            self.special_combo.addItem(label, code)
        self.year_combo = QComboBox()
        for year in self.choices.years:
            self.year_combo.addItem(f"{year} 年度", year)
        if self.year is not None:
            self.year_combo.setCurrentIndex(max(0, self.year_combo.findData(self.year)))
        self.enrollment_combo = QComboBox()
        self.enrollment_combo.addItem("全部", ALL)
        for code, label in EnrollmentStatus.choices():
            self.enrollment_combo.addItem(label, code)
        self.enrollment_combo.addItem(registry.NOT_RECORDED_LABEL, registry.NOT_RECORDED)
        for combo in (self.village_combo, self.group_combo, self.status_combo, self.special_combo,
                      self.year_combo, self.enrollment_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(5)
        self.reset_button = QPushButton("清除筛选")
        self.reset_button.clicked.connect(self.reset_filters)
        filters = QHBoxLayout()
        filters.setSpacing(8)
        for text, widget in (("村", self.village_combo), ("组", self.group_combo), ("状态", self.status_combo),
                             ("人员类别", self.special_combo), ("参保", self.year_combo)):
            filters.addWidget(QLabel(text))
            filters.addWidget(widget)
        filters.addWidget(self.enrollment_combo)
        filters.addStretch(1)
        filters.addWidget(self.reset_button)
        self._fill_groups()
        self.village_combo.currentIndexChanged.connect(self._village_changed)
        for combo in (self.group_combo, self.status_combo, self.special_combo, self.enrollment_combo):
            combo.currentIndexChanged.connect(self.refresh)
        self.year_combo.currentIndexChanged.connect(self._year_changed)

        # -- the list and the panel -----------------------------------------------------------
        self.model = RegistryModel(COLUMNS, self._fetch_rows, parent=self)
        self.model.on_sort = self.sort_by
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_table(self.table, row_height=30)
        apply_widths(self.table, COLUMNS)
        # A village doctor's list has one village: its column only takes room from 参保.
        self.table.setColumnHidden(VILLAGE_COLUMN, len(self.choices.villages) <= 1)
        self._set_enrollment_title()
        # No indicator: the default order (village, group, household, head first) is no column's.
        enable_sorting(self.table)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.table.doubleClicked.connect(lambda _index: self.edit_resident())

        self.panel = DetailPanel()
        self.panel.member_chosen.connect(self.show_resident)
        self.panel.edit_household.connect(self.edit_household)
        self.panel.restore.connect(lambda: self.change_status(ResidentStatus.REGISTERED.value))
        self.panel.reveal_requested.connect(self.reveal_selected)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setWidget(self.panel)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([880, 310])

        # -- actions --------------------------------------------------------------------------
        self.new_household_button = QPushButton("新增户")
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
        self.new_household_button.setObjectName("primary")
        self.new_household_button.clicked.connect(self.new_household)
        self.new_member_button.clicked.connect(self.new_member)
        self.edit_button.clicked.connect(self.edit_resident)
        self.move_button.clicked.connect(self.move_resident)
        self.died_button.clicked.connect(lambda: self.change_status(ResidentStatus.DIED.value))
        self.moved_out_button.clicked.connect(lambda: self.change_status(ResidentStatus.MOVED_OUT.value))
        self.scan_button.clicked.connect(self.scan_duplicates)
        self.history_button.clicked.connect(self.show_history)
        self.export_button.clicked.connect(self.export)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(260)
        self.message = _label("")
        self.message.setWordWrap(True)
        actions = QHBoxLayout()
        actions.setSpacing(8)
        for button in (self.new_household_button, self.new_member_button, self.edit_button, self.move_button,
                       self.died_button, self.moved_out_button):
            actions.addWidget(button)
        actions.addStretch(1)
        for button in (self.scan_button, self.history_button, self.export_button):
            actions.addWidget(button)

        status_row = QHBoxLayout()
        status_row.addWidget(self.message, 1)
        status_row.addWidget(self.progress)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(search_row)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(actions)
        layout.addLayout(status_row)

        focus = QShortcut(QKeySequence.StandardKey.Find, self)
        focus.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        focus.activated.connect(lambda: (self.search_edit.setFocus(), self.search_edit.selectAll()))
        self._update_buttons()
        self.refresh()

    # -- filters and loading ------------------------------------------------------------------

    def filters(self) -> RegistryFilter:
        return RegistryFilter(
            village_code=self.village_combo.currentData() or None,
            group_code=self.group_combo.currentData() or None,
            status=self.status_combo.currentData() or None,
            special_group=self.special_combo.currentData() or None,
            enrollment_year=self.year_combo.currentData(),
            enrollment_status=self.enrollment_combo.currentData() or None,
            search=self.search_edit.text())

    def filters_text(self) -> str:
        """The filters in words, for the export's title block."""
        parts = []
        for title, combo in (("村", self.village_combo), ("组", self.group_combo), ("状态", self.status_combo),
                             ("人员类别", self.special_combo)):
            if combo.currentData():
                parts.append(f"{title}：{combo.currentText()}")
        if self.enrollment_combo.currentData():
            parts.append(f"{self.year_combo.currentText()}：{self.enrollment_combo.currentText()}")
        if self.search_edit.text().strip():
            parts.append(f"搜索：{self.search_edit.text().strip()}")
        return "　".join(parts)

    def _fill_groups(self) -> None:
        village = self.village_combo.currentData()
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem("全部组", ALL)
        for code, name in self.choices.groups.get(village or "", []):
            self.group_combo.addItem(name, code)
        self.group_combo.setEnabled(bool(village))
        self.group_combo.blockSignals(False)

    def _village_changed(self) -> None:
        self._fill_groups()
        self.refresh()

    def _year_changed(self) -> None:
        self.year = self.year_combo.currentData()
        self._set_enrollment_title()
        self.refresh()

    def _set_enrollment_title(self) -> None:
        title = f"{self.year} 参保" if self.year else "参保"
        self.model.columns[ENROLLMENT_COLUMN] = Column("enrollment", title, width=100)
        self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, ENROLLMENT_COLUMN, ENROLLMENT_COLUMN)

    def reset_filters(self) -> None:
        for combo in (self.village_combo, self.status_combo, self.special_combo, self.enrollment_combo):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self._fill_groups()
        self.search_edit.blockSignals(True)
        self.search_edit.clear()
        self.search_edit.blockSignals(False)
        self.refresh()

    def set_search(self, text: str) -> None:
        """Type into the search box and search at once (used by 查重 and tests)."""
        self.search_edit.setText(text)
        self._search_timer.stop()
        self.refresh()

    def _search_changed(self, text: str) -> None:
        self.hint_label.setText(registry.search_hint(text))
        self._search_timer.start()

    def _search_enter(self) -> None:
        if self._search_timer.isActive():
            self._search_timer.stop()
            self.refresh()
        if self.model.rowCount() and not self._selected:
            self._select_row(0)
        self.table.setFocus()

    def sort_by(self, key: str, ascending: bool) -> None:
        self._sort = (key, ascending)
        self.refresh()

    def refresh(self) -> None:
        """Reload the ids for the current filters and order; the visible rows follow lazily."""
        self._generation += 1
        generation = self._generation
        ws, actor, flt = self.ctx.ws, self.ctx.actor, self.filters()
        key, ascending = self._sort
        self.count_label.setText("查找中…")
        self.ctx.tasks.run_read(lambda: registry.resident_ids(ws, actor, flt, key, ascending),
                                lambda ids: self._loaded(generation, ids), self._load_failed,
                                name="resident_ids", owner=self)

    def _loaded(self, generation: int, ids: list[str]) -> None:
        if generation != self._generation:
            return  # an older search answered after a newer one was asked
        keep = self._selected
        self.model.set_ids(ids)
        searching = bool(registry.parse_search(self.search_edit.text()))
        self.count_label.setText(f"找到 {len(ids):,} 人" if searching or self._any_filter() else f"共 {len(ids):,} 人")
        row = self.model.row_of(keep) if keep else None
        just_saved, self._just_saved = self._just_saved, None
        if row is not None:
            self._select_row(row)
        elif keep and keep == just_saved:
            # Saved (a new member) but outside the search/filter: keep them in the panel, so
            # 编辑 / 新增成员 stay usable instead of greying out with nothing selected.
            self.message.setText(self.message.text() + "（不在当前搜索结果中，右侧仍显示该居民）")
        elif keep:  # the selected resident is not in the new list
            self._selected = None
            self.panel.clear()
        self._update_buttons()
        self.loaded.emit(len(ids))

    def _any_filter(self) -> bool:
        flt = self.filters()
        return any((flt.village_code, flt.group_code, flt.status, flt.special_group, flt.enrollment_status))

    def _load_failed(self, error: BaseException) -> None:
        self.count_label.setText("")
        self.message.setText(error_text(error, LOAD_FAILED))

    def _fetch_rows(self, ids) -> dict[str, dict[str, Any]]:
        # Runs on the UI thread when the view paints a page it has not seen: one query of
        # ≤ 200 rows by primary key (a few ms).
        return registry.resident_rows(self.ctx.ws, ids, year=self.year)

    # -- selection and the panel --------------------------------------------------------------

    def current_id(self) -> str | None:
        return self._selected

    def current_row_values(self) -> dict[str, Any]:
        row = self.model.row_of(self._selected) if self._selected else None
        return self.model.row_values(row) if row is not None else {}

    def _row_changed(self, current, _previous) -> None:
        resident_id = self.model.id_at(current.row()) if current.isValid() else None
        if resident_id != self._selected:
            self._selected = resident_id
            self._load_detail()
        self._update_buttons()

    def show_resident(self, resident_id: str) -> None:
        """Select a resident in the list if listed; show their record in the panel either way."""
        row = self.model.row_of(resident_id)
        if row is not None:
            self._select_row(row)
        else:
            self._selected = resident_id
            self._load_detail()
            self._update_buttons()

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)  # → _row_changed, which loads the panel if it is another resident
        self.table.selectRow(row)
        self.table.scrollTo(index)

    def _load_detail(self) -> None:
        self._detail_generation += 1
        generation = self._detail_generation
        resident_id = self._selected
        if resident_id is None:
            self.panel.clear()
            return
        ws, actor = self.ctx.ws, self.ctx.actor

        def load() -> tuple[ResidentDetail, HouseholdView | None, ResidentBenefits]:
            detail = registry.resident_detail(ws, actor, resident_id)
            household = registry.household_view(ws, actor, detail.household_id) if detail.household_id else None
            return detail, household, resident_benefits(ws, actor, resident_id)

        self.ctx.tasks.run_read(load, lambda result: self._show_detail(generation, *result),
                                lambda error: self.message.setText(error_text(error, LOAD_FAILED)),
                                name="resident_detail", owner=self)

    def _show_detail(self, generation: int, detail: ResidentDetail, household: HouseholdView | None,
                     benefits: ResidentBenefits | None = None) -> None:
        if generation == self._detail_generation:
            self.panel.show_resident(detail, household)
            self.panel.show_benefits(benefits, self.year)
            self._update_buttons()

    def _update_buttons(self) -> None:
        detail = self.panel.resident if self.panel.resident and self.panel.resident.id == self._selected else None
        selected = self._selected is not None
        registered = detail is not None and detail.status == ResidentStatus.REGISTERED.value
        self.new_household_button.setEnabled(bool(self.choices.villages))
        self.new_member_button.setEnabled(detail is not None and detail.household_id is not None)
        for button in (self.edit_button, self.history_button):
            button.setEnabled(selected)
        for button in (self.move_button, self.died_button, self.moved_out_button):
            button.setEnabled(registered)

    # -- actions ------------------------------------------------------------------------------

    def _open(self, dialog, on_saved: Callable[[Any], None]) -> Any:
        self.active_dialog = dialog
        dialog.accepted.connect(lambda: on_saved(dialog.result_value))
        dialog.open()
        return dialog

    def _saved(self, resident_id: str | None, message: str) -> None:
        self.message.setText(message)
        if resident_id:
            self._selected = resident_id
            self._just_saved = resident_id
        self.refresh()
        self._load_detail()
        self.changed.emit()

    def new_household(self) -> ResidentDialog:
        village = self.village_combo.currentData() or (self.current_row_values().get("village_code"))
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_HOUSEHOLD,
                                village_code=village, parent=self)
        group = self.group_combo.currentData()
        if group:
            dialog.set_group(group)
        return self._open(dialog, lambda ids: self._saved(ids[1], "已登记新户。"))

    def new_member(self) -> ResidentDialog | None:
        detail = self.panel.resident
        if detail is None or not detail.household_id:
            return None
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_MEMBER,
                                village_code=detail.village_code, household_id=detail.household_id, parent=self)
        dialog.set_group(detail.group_code)
        return self._open(dialog, lambda rid: self._saved(rid, "已添加家庭成员。"))

    def edit_resident(self) -> ResidentDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_EDIT,
                                detail=detail, parent=self)
        return self._open(dialog, lambda rid: self._saved(rid, "已保存修改。"))

    def edit_household(self) -> HouseholdDialog | None:
        household = self.panel.household
        if household is None:
            return None
        groups = self.choices.groups.get(household.village_code, [])
        dialog = HouseholdDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, household, groups, parent=self)
        return self._open(dialog, lambda _hid: self._saved(self._selected, "已保存户信息。"))

    def move_resident(self) -> MoveDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = MoveDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail, parent=self)
        return self._open(dialog, lambda rid: self._saved(rid, "已迁入新户。"))

    def change_status(self, status: str) -> StatusDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = StatusDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail, status, parent=self)
        done = "已恢复在册。" if status == ResidentStatus.REGISTERED.value else f"已标记{ResidentStatus(status).label}。"
        return self._open(dialog, lambda rid: self._saved(rid, done))

    def show_history(self) -> HistoryDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = HistoryDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail.id, detail.name, parent=self)
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def reveal_selected(self) -> None:
        """「显示」: the selected resident's full ID number and phone, audited, for a minute."""
        detail = self._detail_for_action()
        if detail is None:
            return
        ws, actor, panel = self.ctx.ws, self.ctx.actor, self.panel
        self.ctx.tasks.run_write(lambda: reveal_resident(ws, actor, detail.id), panel.reveal,
                                 lambda error: self.message.setText(error_text(error, LOAD_FAILED)), name="reveal", owner=self)

    def _detail_for_action(self) -> ResidentDetail | None:
        detail = self.panel.resident
        if detail is None or detail.id != self._selected:
            self.message.setText("请先在列表中选择一位居民。")
            return None
        return detail

    # -- long work ----------------------------------------------------------------------------

    def _start_progress(self, text: str) -> None:
        self.message.setText(text)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{message}  %p%")

    def _stop_progress(self) -> None:
        self.progress.setVisible(False)

    def scan_duplicates(self) -> None:
        ws, actor, relay = self.ctx.ws, self.ctx.actor, self._relay
        self.scan_button.setEnabled(False)
        self._start_progress("正在查重…")
        self.ctx.tasks.run_read(lambda: registry.duplicate_scan(ws, actor, relay.progress.emit),
                                self._scanned, self._scan_failed, name="duplicate_scan", owner=self)

    def _scanned(self, groups: list[registry.DuplicateGroup]) -> None:
        self._stop_progress()
        self.scan_button.setEnabled(True)
        self.last_groups = groups
        self.message.setText(f"查重完成：{len(groups)} 组疑似重复。" if groups else "查重完成：没有发现疑似重复。")
        dialog = DuplicatesDialog(groups, parent=self)
        dialog.locate.connect(self.set_search)
        self.active_dialog = dialog
        dialog.open()

    def _scan_failed(self, error: BaseException) -> None:
        self._stop_progress()
        self.scan_button.setEnabled(True)
        self.message.setText(error_text(error, LOAD_FAILED))

    def _ask_path(self, title: str, suggested: str) -> str:
        from ..dialogs.export_confirm import confirm_personal_export

        go_on, self._export_password = confirm_personal_export(self)  # personal data: say so, offer a password
        if not go_on:
            return ""
        path, _filter = QFileDialog.getSaveFileName(self, title, suggested, "Excel 文件 (*.xlsx)")
        return path

    def export(self) -> None:
        ids = self.model.ids()
        if not ids:
            self.message.setText("列表为空，没有可导出的居民。")
            return
        suggested = str(Path.home() / f"居民档案-{date.today():%Y%m%d}.xlsx")
        path = self.ask_save_path("导出居民档案", suggested)
        if not path:
            return
        ws, actor, relay, year, text = self.ctx.ws, self.ctx.actor, self._relay, self.year, self.filters_text()
        password, self._export_password = getattr(self, "_export_password", None), None
        self.export_button.setEnabled(False)
        self._start_progress("正在导出…")
        self.ctx.tasks.run_read(
            lambda: registry.export_list(ws, actor, ids, path, title="居民档案", filters_text=text, year=year,
                                         progress=relay.progress.emit, password=password),
            self._exported, self._export_failed, name="export_registry", owner=self)

    def _exported(self, result: registry.ListExport) -> None:
        self._stop_progress()
        self.export_button.setEnabled(True)
        self.last_export = result.path
        self.message.setText(f"已导出 {result.rows:,} 人：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self._stop_progress()
        self.export_button.setEnabled(True)
        self.message.setText(error.message if isinstance(error, DomainError) else "导出失败；问题已记录在日志中。")


class ResidentsPage(QWidget):
    """The 居民参保 section: 居民档案 and 年度参保 (the latter built on first visit)."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        title = QLabel("居民参保")
        title.setObjectName("pageTitle")
        subtitle = QLabel("居民档案：全乡镇居民一张表，输入姓名、拼音首字母、身份证号或电话即查；年度参保：按年度登记缴费")
        subtitle.setObjectName("pageSubtitle")
        subtitle.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)

        self.tabs = QTabWidget()
        self.registry = RegistryTab(ctx)
        self.tabs.addTab(self.registry, "居民档案")
        self.enrollment: QWidget | None = None
        holder = QWidget()
        holder.setLayout(QVBoxLayout())
        holder.layout().setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(holder, "年度参保")
        self.tabs.currentChanged.connect(self._tab_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 12)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)

    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self.show_enrollment()

    def show_enrollment(self) -> QWidget:
        """Switch to 年度参保, building it on first use (its list is not loaded before then)."""
        if self.enrollment is None:
            from .enrollment_tab import EnrollmentTab  # imported on first visit: start-up stays lean

            self.enrollment = EnrollmentTab(self.ctx)
            self.tabs.widget(1).layout().addWidget(self.enrollment)
            # Payments change the registry's 参保 column; registry edits change the year's list.
            self.enrollment.changed.connect(self.registry.refresh)
            self.registry.changed.connect(self.enrollment.reload)
        if self.tabs.currentIndex() != 1:
            self.tabs.setCurrentIndex(1)
        return self.enrollment


def make_residents_page(ctx: PageContext) -> QWidget:
    """Section factory for ``SECTIONS`` entry "enrollment" (居民参保)."""
    return ResidentsPage(ctx)
