"""The 居民档案 search bar: search as you type (debounced) and the filters above the list."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from station_app.domain.enums import EnrollmentStatus, ResidentStatus, SpecialGroup
from station_app.services import registry
from station_app.services.registry import RegistryChoices, RegistryFilter

from ...common import SEARCH_DELAY_MS

ALL = ""
SEARCH_PLACEHOLDER = "搜索：姓名、拼音首字母（张三 → zs）、全拼、身份证号任意几位、电话"


def hint_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    return label


class SearchBar(QWidget):
    """What to list: the search text and the filters. Emits ``changed`` when the list must reload
    (a filter at once, typing after SEARCH_DELAY_MS), ``entered`` on Enter in the search box."""

    changed = Signal()
    entered = Signal()
    #: The 参保 year shown in the list changed (the new year, or None).
    year_changed = Signal(object)

    def __init__(self, choices: RegistryChoices, parent: QWidget | None = None):
        super().__init__(parent)
        self.choices = choices
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumHeight(38)
        search_font = self.search_edit.font()
        search_font.setPointSize(search_font.pointSize() + 1)
        self.search_edit.setFont(search_font)
        #: Debounce of the search box: a keystroke waits this long for the next before searching.
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SEARCH_DELAY_MS)
        self.timer.timeout.connect(self.changed)
        self.search_edit.textChanged.connect(self._search_changed)
        self.search_edit.returnPressed.connect(self._enter)
        self.count_label = QLabel("加载中…")
        count_font = self.count_label.font()
        count_font.setBold(True)
        self.count_label.setFont(count_font)
        self.hint_label = hint_label("")
        search_row = QHBoxLayout()
        search_row.setSpacing(12)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.hint_label)
        search_row.addWidget(self.count_label)

        self.village_combo = QComboBox()
        if len(choices.villages) != 1:
            self.village_combo.addItem("全部村", ALL)
        for code, name in choices.villages:
            self.village_combo.addItem(name, code)
        self.village_combo.setEnabled(len(choices.villages) > 1)
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
        for year in choices.years:
            self.year_combo.addItem(f"{year} 年度", year)
        if choices.current_year is not None:
            self.year_combo.setCurrentIndex(max(0, self.year_combo.findData(choices.current_year)))
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
        self.reset_button.clicked.connect(self.reset)
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
            combo.currentIndexChanged.connect(self.changed)
        self.year_combo.currentIndexChanged.connect(lambda _i: self.year_changed.emit(self.year_combo.currentData()))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(search_row)
        layout.addLayout(filters)

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

    def any_filter(self) -> bool:
        flt = self.filters()
        return any((flt.village_code, flt.group_code, flt.status, flt.special_group, flt.enrollment_status))

    def searching(self) -> bool:
        return bool(registry.parse_search(self.search_edit.text()))

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
        self.changed.emit()

    def reset(self) -> None:
        """清除筛选: every filter back to 全部 and the search box empty; one reload."""
        for combo in (self.village_combo, self.status_combo, self.special_combo, self.enrollment_combo):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self._fill_groups()
        self.search_edit.blockSignals(True)
        self.search_edit.clear()
        self.search_edit.blockSignals(False)
        self.changed.emit()

    def set_search(self, text: str) -> None:
        """Type into the search box and search at once (used by 查重 and tests)."""
        self.search_edit.setText(text)
        self.timer.stop()
        self.changed.emit()

    def _search_changed(self, text: str) -> None:
        self.hint_label.setText(registry.search_hint(text))
        self.timer.start()

    def _enter(self) -> None:
        if self.timer.isActive():  # the typed text is not searched yet: search it now
            self.timer.stop()
            self.changed.emit()
        self.entered.emit()
