"""The strips around the 年度参保 list, one job each: the year with its deadline and 参保率, the
filters, the action buttons, and the status line under the list."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QMenu, QProgressBar, QPushButton, QVBoxLayout, QWidget

from station_app.domain.enums import EnrollmentStatus, SpecialGroup
from station_app.services import enrollment as svc
from station_app.services.enrollment import EnrollmentFilters, YearInfo

from ..common import SEARCH_DELAY_MS

ALL = ""

BANNER_STYLES = {
    "open": "background:#fff4e0; color:#8a4b00; border:1px solid #f0c27a;",
    "urgent": "background:#fde8e6; color:#b3261e; border:1px solid #eea49c;",
    "closed": "background:#eef2f6; color:#5a6b7b; border:1px solid #d5dde5;",
    "before": "background:#e8f1f8; color:#2f6f9f; border:1px solid #b6d0e4;",
    "unset": "background:#eef2f6; color:#5a6b7b; border:1px solid #d5dde5;",
}
#: Days left at which the countdown turns red.
URGENT_DAYS = 15


def _bigger_bold(label: QLabel) -> None:
    font = label.font()
    font.setPointSize(font.pointSize() + 3)
    font.setBold(True)
    label.setFont(font)


def _row(widget: QWidget, spacing: int) -> QHBoxLayout:
    row = QHBoxLayout(widget)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(spacing)
    return row


class YearBar(QWidget):
    """待遇年度 chooser, the deadline banner (countdown, red near the end) and the 参保率 of the list."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.year_combo = QComboBox()
        self.year_combo.setMinimumWidth(120)
        self.banner = QLabel("")
        self.banner.setObjectName("deadlineBanner")
        self.banner.setWordWrap(True)
        _bigger_bold(self.banner)
        self.kpi_label = QLabel("")
        self.kpi_label.setObjectName("kpiLabel")
        _bigger_bold(self.kpi_label)
        self.kpi_label.setStyleSheet("color:#2f6f9f;")
        self.kpi_detail = QLabel("")
        self.kpi_detail.setObjectName("hint")
        top = _row(self, 12)
        top.addWidget(QLabel("待遇年度"))
        top.addWidget(self.year_combo)
        top.addWidget(self.banner, 1)
        kpi_box = QVBoxLayout()
        kpi_box.setSpacing(0)
        kpi_box.addWidget(self.kpi_label, 0, Qt.AlignmentFlag.AlignRight)
        kpi_box.addWidget(self.kpi_detail, 0, Qt.AlignmentFlag.AlignRight)
        top.addLayout(kpi_box)

    def set_years(self, years: list[int], wanted: int | None) -> None:
        """Fill the chooser without signals and select ``wanted`` (else the first)."""
        self.year_combo.blockSignals(True)
        self.year_combo.clear()
        for y in years:
            self.year_combo.addItem(f"{y} 年度", y)
        index = self.year_combo.findData(wanted)
        self.year_combo.setCurrentIndex(index if index >= 0 else 0)
        self.year_combo.blockSignals(False)

    def show_no_years(self) -> None:
        self.banner.setText("县医保局尚未下发缴费年度，请先载入县级参考数据。")
        self.style_banner("unset")

    def style_banner(self, phase: str) -> None:
        self.banner.setStyleSheet(f"QLabel {{ {BANNER_STYLES[phase]} border-radius:6px; padding:6px 12px; }}")

    def show_info(self, info: YearInfo) -> None:
        text = info.banner_text
        if info.has_setting and info.records == 0:
            text += "　｜　本年度尚未开始：点“开始新年度”为在册居民建立记录"
        self.banner.setText(text)
        phase = info.phase
        if phase == "open" and info.days_left is not None and info.days_left <= URGENT_DAYS:
            phase = "urgent"
        self.style_banner(phase)

    def show_summary(self, summary: svc.FilterSummary) -> None:
        r = summary.ratio
        self.kpi_label.setText(f"参保率 {r.percent_text}")
        self.kpi_detail.setText(f"已参保 {r.numerator:,} / 应参保 {r.denominator:,} · 未缴 {summary.unpaid:,} 人")


class FilterBar(QWidget):
    """村 / 组 / 状态 / 人员类别 and the search field; ``changed`` fires once per change (typing paced)."""

    changed = Signal()

    def __init__(self, places: list, parent: QWidget | None = None):
        super().__init__(parent)
        self.places = places
        self.village_combo = QComboBox()
        self.village_combo.setMinimumWidth(120)
        if len(places) != 1:
            self.village_combo.addItem("全部村", ALL)
        for code, name, _groups in places:
            self.village_combo.addItem(name, code)
        self.village_combo.setEnabled(len(places) > 1)
        self.group_combo = QComboBox()
        self.group_combo.setMinimumWidth(90)
        self.status_combo = QComboBox()
        self.status_combo.addItem("全部状态", ALL)
        for code, label in EnrollmentStatus.choices():
            self.status_combo.addItem(label, code)
        self.status_combo.addItem(svc.NO_RECORD_LABEL, svc.NO_RECORD)
        self.special_combo = QComboBox()
        self.special_combo.addItem("全部人员", ALL)
        self.special_combo.addItem("困难群众", svc.GROUP_FILTER_HARDSHIP)
        self.special_combo.addItem("任一特殊人群", svc.GROUP_FILTER_ANY)
        self.special_combo.addItem("普通居民", svc.GROUP_FILTER_NONE)
        for code, label in SpecialGroup.choices():
            self.special_combo.addItem(label, code)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("姓名 / 拼音首字母 / 身份证号 / 电话")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(150)
        for combo in self.combos:
            # Sized to a few characters, not to the longest item (孤儿/事实无人抚养儿童).
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(5)
        self.reset_button = QPushButton("清除筛选")
        row = _row(self, 8)
        for label, widget in (("村", self.village_combo), ("组", self.group_combo), ("状态", self.status_combo),
                              ("人员类别", self.special_combo)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addSpacing(8)
        row.addWidget(self.search_edit, 1)
        row.addWidget(self.reset_button)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.changed)
        self.village_combo.currentIndexChanged.connect(self._village_changed)
        for combo in (self.group_combo, self.status_combo, self.special_combo):
            combo.currentIndexChanged.connect(self.changed)
        self.search_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.reset_button.clicked.connect(self.reset)
        self._fill_groups()

    @property
    def combos(self) -> tuple[QComboBox, ...]:
        return self.village_combo, self.group_combo, self.status_combo, self.special_combo

    def filters(self) -> EnrollmentFilters:
        return EnrollmentFilters(
            village_code=self.village_combo.currentData() or None,
            group_code=self.group_combo.currentData() or None,
            status=self.status_combo.currentData() or None,
            special_group=self.special_combo.currentData() or None,
            text=self.search_edit.text().strip())

    def set_filters(self, *, village_code: str | None = None, group_code: str | None = None,
                    status: str | None = None, special_group: str | None = None, text: str = "") -> None:
        """Set every filter at once, then fire ``changed`` once."""
        widgets = (*self.combos, self.search_edit)
        for w in widgets:
            w.blockSignals(True)
        try:
            self._select_data(self.village_combo, village_code or ALL)
            self._fill_groups()
            self._select_data(self.group_combo, group_code or ALL)
            self._select_data(self.status_combo, status or ALL)
            self._select_data(self.special_combo, special_group or ALL)
            self.search_edit.setText(text)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.changed.emit()

    def reset(self) -> None:
        self.set_filters(village_code=self.places[0][0] if len(self.places) == 1 else None)

    @staticmethod
    def _select_data(combo: QComboBox, data: str) -> None:
        index = combo.findData(data)
        combo.setCurrentIndex(index if index >= 0 else 0)

    def _village_changed(self) -> None:
        self.group_combo.blockSignals(True)
        self._fill_groups()
        self.group_combo.blockSignals(False)
        self.changed.emit()

    def _fill_groups(self) -> None:
        village = self.village_combo.currentData()
        self.group_combo.clear()
        self.group_combo.addItem("全部组", ALL)
        for code, _name, groups in self.places:
            if code == village:
                for group_code, group_name in groups:
                    self.group_combo.addItem(group_name, group_code)
        self.group_combo.setEnabled(self.group_combo.count() > 1)


class ActionBar(QWidget):
    """The buttons under the list: writes on the selection, year-level work (township only), lists."""

    def __init__(self, *, may_manage_year: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.paid_button = QPushButton("标记已缴费…")
        self.subsidy_button = QPushButton("设置资助参保…")
        # Rarer statuses live in one menu so the row fits a 1366-pixel clinic screen.
        self.more_button = QPushButton("其他状态")
        more = QMenu(self.more_button)
        self.other_action = more.addAction("其他渠道参保（职工医保、外地参保、军人…）…")
        self.not_required_action = more.addAction("无需参保（死亡、迁出…）…")
        self.confirm_action = more.addAction("待核实确认为其他渠道参保")
        self.confirm_action.setToolTip("上年其他渠道参保、本年度待核实的人员：核实仍在其他渠道参保后确认（选中的，或当前年度全部）。")
        more.addSeparator()
        self.unpaid_action = more.addAction("改为未缴费")
        self.more_button.setMenu(more)
        self.apply_button = QPushButton("套用资助建议")
        self.apply_button.setToolTip("按县医保局资助规则，为未缴费的特殊人群填入资助类别和金额；全额资助的直接登记为资助参保。\n"
                                     "先选中人员则只处理选中的，否则处理当前列表。")
        self.new_year_button = QPushButton("开始新年度…")
        self.new_year_button.setToolTip("为本年度还没有参保记录的在册居民建立记录（未缴费，符合全额资助的登记为资助参保）；\n"
                                        "以前年度的记录不变；可重复执行，不会重复建立。")
        self.unpaid_list_button = QPushButton("未缴清单…")
        self.export_button = QPushButton("导出台账…")
        self.selection_buttons = (self.paid_button, self.subsidy_button, self.more_button)
        row = self._row = _row(self, 8)
        for b in self.selection_buttons:
            row.addWidget(b)
        row.addSpacing(12)
        row.addWidget(self.apply_button)
        row.addStretch(1)
        for b in (self.new_year_button, self.unpaid_list_button, self.export_button):
            row.addWidget(b)
        # Year-level bulk operations are the township's (the service refuses a 村医 anyway):
        # a village doctor never sees a button that can only fail.
        for button in (self.apply_button, self.new_year_button):
            button.setVisible(may_manage_year)

    def add_reveal(self, button: QPushButton) -> None:
        """「显示」 (one resident's full ID number and phone) after the selection's buttons."""
        self._row.insertWidget(len(self.selection_buttons), button)

    def enable_for(self, *, selected: int, busy: bool, has_year: bool) -> None:
        ready = not busy and has_year
        for b in self.selection_buttons:
            b.setEnabled(selected > 0 and ready)
        self.subsidy_button.setEnabled(selected == 1 and ready)
        for b in (self.apply_button, self.new_year_button):
            b.setEnabled(not busy)


class StatusLine(QWidget):
    """共 n 人 · 已选 m 人, the last message (or error) and a progress bar for long work."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.count_label = QLabel("")
        self.count_label.setObjectName("hint")
        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(320)
        row = _row(self, 6)
        row.addWidget(self.count_label)
        row.addSpacing(16)
        row.addWidget(self.message, 1)
        row.addWidget(self.progress)

    def set_message(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        name = "error" if error else "hint"
        if self.message.objectName() != name:
            self.message.setObjectName(name)
            self.message.style().unpolish(self.message)
            self.message.style().polish(self.message)

    def set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat(text)

    def on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{message} %p%")
