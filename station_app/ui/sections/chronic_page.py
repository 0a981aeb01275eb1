"""慢病档案: the card list with its lifecycle, the monthly usage grid with 卡月使用率, and the refill reminder list."""

from __future__ import annotations

import logging
from datetime import date
from html import escape
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QMessageBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain import chronic as rules
from station_app.domain.enums import CardStatus
from station_app.services import chronic as svc
from station_app.services import exports, outreach

from ..dialogs.chronic_apply import CardApplyDialog
from ..dialogs.chronic_step import CardStepDialog
from ..dialogs.outreach_outcome import OutcomeDialog
from ..dialogs.service_widgets import error_text, export_dir, run_export
from ..views import apply_widths, enable_sorting, setup_table
from ..models.lazy_table import Column
from ..reveal import RevealButton, RevealController, RevealTableModel
from . import PageContext
from ..common import SEARCH_DELAY_MS
from ..dialogs.unpaid_print import PRINT_POINT_SIZE
from ..pdf_process import write_html_pdf

logger = logging.getLogger(__name__)

ALL = ""
LOADING = "加载中…"

STATUS_COLOURS = {
    CardStatus.APPLIED.value: "#8a4b00", CardStatus.ASSESSED.value: "#1b6f8f", CardStatus.ISSUED.value: "#1b7f3b",
    CardStatus.REFUSED.value: "#b3261e", CardStatus.CANCELLED.value: "#8a96a3",
}
OVERDUE = "#b3261e"
SOON = "#8a4b00"


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else ""


CARD_COLUMNS = (
    Column("name", "姓名", width=80),
    Column("id_number", "身份证号", width=176, sort_key=None),
    Column("village", "村", width=80),
    Column("group", "组", width=56),
    Column("disease", "病种", width=190),
    Column("status", "状态", width=70),
    Column("applied_date", "申请日期", width=104),
    Column("assessed_date", "认定日期", width=104),
    Column("issued_date", "发卡日期", width=104),
    Column("card_no", "卡号", width=124),
    Column("benefit_start", "待遇起始", width=104),
    Column("refill_due", "断药日期", width=104, tooltip="上次取药日期 + 供药天数"),
    Column("review_due", "复审到期", width=104, sort_key=None, tooltip="县医保局规定的复审周期"),
    Column("note", "未通过 / 注销 / 暂停原因", width=200, sort_key=None),
)
STATUS_COLUMN = next(i for i, c in enumerate(CARD_COLUMNS) if c.key == "status")


class CardTableModel(RevealTableModel):
    """The lazy card list, with the status coloured by stage; ID numbers masked until 「显示」."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and index.column() == STATUS_COLUMN:
            colour = STATUS_COLOURS.get(self.row_values(index.row()).get("status_code"))
            return QBrush(QColor(colour)) if colour else None
        return super().data(index, role)


def _combo(items: list[tuple[str, str]], first: str | None = "全部") -> QComboBox:
    box = QComboBox()
    box.setMinimumWidth(110)
    if first is not None:
        box.addItem(first, ALL)
    for value, label in items:
        box.addItem(label, value)
    return box


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def _set_error(label: QLabel, text: str, error: bool) -> None:
    label.setText(text)
    name = "error" if error else "hint"
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


# --------------------------------------------------------------------------- tab 1: cards


class CardListTab(QWidget):
    """慢病卡: filters, lifecycle buttons, the lazy list, export."""

    changed = Signal()  # a card was written: other tabs reload when shown

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        ws, actor = ctx.ws, ctx.actor
        self.is_clerk = actor.role in rules.CLERK_ROLES
        self.sort: tuple[str | None, bool] = (None, True)
        self._loading = False
        self._pending_reload = False
        self._select_after_load: str | None = None

        self.village = _combo(svc.village_choices(ws, actor))
        self.status = _combo(CardStatus.choices() + [(svc.REVIEW_DUE_FILTER, "复审到期（30 天内）")])
        self.disease = _combo([(d.code, d.name) for d in svc.disease_choices(ws)])
        self.disease.setMinimumWidth(180)
        self.search = QLineEdit()
        self.search.setPlaceholderText("姓名 / 拼音首字母 / 身份证号")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self.search_timer.start())
        for box in (self.village, self.status, self.disease):
            box.currentIndexChanged.connect(self.reload)
        self.count = _hint(LOADING)
        filters = QHBoxLayout()
        for label, widget in (("村", self.village), ("状态", self.status), ("病种", self.disease)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.count)

        self.new_button = QPushButton("新申请")
        self.new_button.setObjectName("primary")
        self.edit_button = QPushButton("修改")
        self.assess_button = QPushButton("认定")
        self.issue_button = QPushButton("发卡")
        self.refuse_button = QPushButton("未通过")
        self.cancel_button = QPushButton("注销")
        self.refill_button = QPushButton("登记取药")
        self.review_button = QPushButton("复审…")
        self.review_button.setToolTip("复审通过：下次复审按县医保局周期顺延；未通过：注销，原因“复审未通过”")
        self.follow_button = QPushButton("年度参保核对")
        self.follow_button.setToolTip("本年度未参保的持卡人，按县医保局规定暂停（或注销）慢病卡，原因“参保中断”；\n"
                                      "已重新参保的恢复。")
        self.export_button = QPushButton("导出 Excel")
        self.new_button.clicked.connect(self.new_card)
        self.edit_button.clicked.connect(self.edit_card)
        self.assess_button.clicked.connect(lambda: self.step("assess"))
        self.issue_button.clicked.connect(lambda: self.step("issue"))
        self.refuse_button.clicked.connect(lambda: self.step("refuse"))
        self.cancel_button.clicked.connect(lambda: self.step("cancel"))
        self.refill_button.clicked.connect(lambda: self.step("refill"))
        self.review_button.clicked.connect(self.review)
        self.follow_button.clicked.connect(self.follow_enrollment)
        self.export_button.clicked.connect(self.export)
        if not self.is_clerk:
            for button in (self.assess_button, self.issue_button, self.refuse_button):
                button.setToolTip("认定、发卡由乡镇医保专干办理")
        self.reveal = RevealController(ctx, self)
        self.model = CardTableModel(CARD_COLUMNS, lambda ids: svc.card_rows(ws, ids), self.reveal, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.reveal_button = RevealButton(self.reveal, self.table, self.model.resident_at)
        self.reveal.failed.connect(lambda text: _set_error(self.message, text, True))
        actions = QHBoxLayout()
        for button in (self.new_button, self.edit_button, self.assess_button, self.issue_button, self.refuse_button,
                       self.cancel_button, self.refill_button, self.review_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.reveal_button)
        if self.is_clerk:
            actions.addWidget(self.follow_button)
        actions.addWidget(self.export_button)

        setup_table(self.table)
        enable_sorting(self.table)
        self.model.on_sort = self._sorted  # after enabling: Qt sorts once on enabling, unasked
        apply_widths(self.table, CARD_COLUMNS)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.table.doubleClicked.connect(lambda _i: self.edit_card())
        self.message = _hint("")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        self._update_buttons()

    # -- loading ----------------------------------------------------------------------------

    def filters(self) -> svc.CardFilters:
        return svc.CardFilters(village_code=self.village.currentData() or None, status=self.status.currentData() or None,
                               disease_code=self.disease.currentData() or None, text=self.search.text())

    def _sorted(self, key: str, ascending: bool) -> None:
        self.sort = (key, ascending)
        self.reload()

    def reload(self) -> None:
        if self._loading:
            self._pending_reload = True
            return
        self._loading = True
        self.count.setText(LOADING)
        ws, actor, filters, (key, asc) = self.ctx.ws, self.ctx.actor, self.filters(), self.sort
        self.ctx.tasks.run_read(lambda: svc.card_ids(ws, actor, filters, key, asc), self._loaded, self._failed,
                                name="card_ids", owner=self)

    def _loaded(self, ids: list[str]) -> None:
        self._loading = False
        selected = self._select_after_load or self.selected_id()
        self._select_after_load = None
        self.model.set_ids(ids)
        self.count.setText(f"共 {len(ids):,} 张")
        if selected:
            self.select(selected)
        self._update_buttons()
        if self._pending_reload:
            self._pending_reload = False
            self.reload()

    def _failed(self, error: BaseException) -> None:
        self._loading = False
        self.count.setText("")
        _set_error(self.message, f"加载失败：{error_text(error)}", True)

    # -- selection --------------------------------------------------------------------------

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def selected_id(self) -> str | None:
        row = self.selected_row()
        return self.model.id_at(row) if row is not None else None

    def select(self, card_id: str) -> bool:
        row = self.model.row_of(card_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _update_buttons(self) -> None:
        row = self.selected_row()
        status = self.model.row_values(row).get("status_code") if row is not None else None
        steps = rules.allowed_steps(status) if status else frozenset()
        self.edit_button.setEnabled(status is not None)
        self.assess_button.setEnabled(self.is_clerk and CardStatus.ASSESSED in steps)
        self.issue_button.setEnabled(self.is_clerk and CardStatus.ISSUED in steps)
        self.refuse_button.setEnabled(self.is_clerk and CardStatus.REFUSED in steps)
        self.cancel_button.setEnabled(CardStatus.CANCELLED in steps)
        self.refill_button.setEnabled(status == CardStatus.ISSUED.value)
        self.review_button.setEnabled(self.is_clerk and status == CardStatus.ISSUED.value)

    # -- actions ----------------------------------------------------------------------------

    def _after_write(self, card_id: str | None, text: str) -> None:
        _set_error(self.message, text, False)
        self.changed.emit()
        self._select_after_load = card_id
        self.reload()

    def new_card(self) -> None:
        dialog = CardApplyDialog(self.ctx, parent=self)
        if dialog.exec():
            self._after_write(dialog.result_value, "已登记慢病卡申请。")

    def _detail(self) -> svc.CardDetail | None:
        card_id = self.selected_id()
        if card_id is None:
            return None
        try:
            return svc.card_detail(self.ctx.ws, self.ctx.actor, card_id)
        except Exception as error:  # noqa: BLE001 - shown, not lost
            _set_error(self.message, error_text(error), True)
            return None

    def edit_card(self) -> None:
        detail = self._detail()
        if detail is None:
            return
        dialog = CardApplyDialog(self.ctx, detail, parent=self)
        if dialog.exec():
            self._after_write(detail.id, f"已保存 {detail.resident_name} 的慢病卡。")

    def step(self, step: str) -> None:
        detail = self._detail()
        if detail is None:
            return
        dialog = CardStepDialog(self.ctx, detail, step, parent=self)
        if dialog.exec():
            done = {"assess": "已认定", "issue": "已发卡", "refuse": "已登记未通过", "cancel": "已注销",
                    "refill": "已登记取药"}[step]
            extra = ""
            if step == "issue" and isinstance(dialog.result_value, date):
                extra = f"，{dialog.result_value.isoformat()} 起享受待遇"
            self._after_write(detail.id, f"{detail.resident_name}（{detail.disease_name}）{done}{extra}。")

    def review(self) -> None:
        """复审 of the selected card (issue 17.4): passed, or not (注销, 复审未通过)."""
        detail = self._detail()
        if detail is None:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "慢病卡复审",
                          f"{detail.resident_name}（{detail.disease_name}）复审结论：", parent=self)
        passed = box.addButton("复审通过", QMessageBox.ButtonRole.AcceptRole)
        failed = box.addButton("复审未通过（注销）", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("取消", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() not in (passed, failed):
            return
        ok = box.clickedButton() is passed
        ws, actor, card_id = self.ctx.ws, self.ctx.actor, detail.id

        def done(due) -> None:
            text = f"复审通过，下次复审 {due.isoformat()}。" if ok and due else (
                "复审通过。" if ok else "复审未通过，慢病卡已注销。")
            self._after_write(card_id, f"{detail.resident_name}（{detail.disease_name}）{text}")
        self.ctx.tasks.run_write(lambda: svc.review_card(ws, actor, card_id, passed=ok), done,
                                 lambda e: _set_error(self.message, error_text(e), True),
                                 name="chronic_review", owner=self)

    def follow_enrollment(self) -> None:
        year = date.today().year
        answer = QMessageBox.question(self, "年度参保核对",
                                      f"按 {year} 年度参保情况核对慢病卡：未参保的持卡人按县医保局规定暂停（或注销），"
                                      "已重新参保的恢复。继续？")
        if answer != QMessageBox.StandardButton.Yes:
            return
        ws, actor = self.ctx.ws, self.ctx.actor
        self.ctx.tasks.run_write(lambda: svc.follow_enrollment(ws, actor, year),
                                 lambda r: self._after_write(None, f"{year} 年度参保核对完成：{r.text}。"),
                                 lambda e: _set_error(self.message, error_text(e), True),
                                 name="chronic_follow_enrollment", owner=self)

    def export(self) -> None:
        ws, actor, village = self.ctx.ws, self.ctx.actor, self.village.currentData() or None
        run_export(self, self.ctx, f"门诊慢特病卡台账_{date.today().isoformat()}.xlsx",
                   lambda path, progress: exports.export_cards(ws, actor, path, village_code=village,
                                                               progress=progress))


# --------------------------------------------------------------------------- tab 2: usage grid


FIXED = ("姓名", "病种", "卡号")
RATE_ROW = 0


class UsageGridModel(QAbstractTableModel):
    """Row 0 is the month's 卡月使用率; below it one row per card, a check box per month in force."""

    toggled = Signal(str, str, bool)  # card id, month, used

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid: svc.UsageGrid | None = None

    @property
    def months(self) -> list[str]:
        return self.grid.months if self.grid else []

    def set_grid(self, grid: svc.UsageGrid) -> None:
        self.beginResetModel()
        self.grid = grid
        self.endResetModel()

    def set_rates(self, rates: list[rules.MonthlyUsage]) -> None:
        if self.grid is None:
            return
        self.grid.rates = rates
        self.dataChanged.emit(self.index(RATE_ROW, 0), self.index(RATE_ROW, self.columnCount() - 1))
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, len(FIXED), self.columnCount() - 1)

    def rate_of(self, month: str) -> rules.MonthlyUsage | None:
        if self.grid is None:
            return None
        return next((r for r in self.grid.rates if r.month == month), None)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.grid is None else len(self.grid.rows) + 1

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(FIXED) + len(self.months)

    def month_at(self, column: int) -> str | None:
        i = column - len(FIXED)
        return self.months[i] if 0 <= i < len(self.months) else None

    def row_at(self, row: int) -> svc.UsageRow | None:
        if self.grid is None or row == RATE_ROW:
            return None
        i = row - 1
        return self.grid.rows[i] if 0 <= i < len(self.grid.rows) else None

    def cell(self, row: int, column: int) -> bool | None:
        card, month = self.row_at(row), self.month_at(column)
        return card.cells.get(month) if card is not None and month is not None else None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal:
            month = self.month_at(section)
            if role == Qt.ItemDataRole.DisplayRole:
                if month is None:
                    return FIXED[section] if section < len(FIXED) else None
                first = rules.parse_month(month)
                return f"{first.year}年\n{first.month}月"
            if role == Qt.ItemDataRole.ToolTipRole and month:
                rate = self.rate_of(month)
                return f"{month} 卡月使用率 {rate.rate.percent_text}（{rate.used}/{rate.holders}）" if rate else None
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return "" if section == RATE_ROW else str(section)
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.row() != RATE_ROW and self.month_at(index.column()) and self.cell(index.row(), index.column()) is None:
            return Qt.ItemFlag.NoItemFlags  # not in force that month: nothing to mark
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.grid is None:
            return None
        row, column = index.row(), index.column()
        month = self.month_at(column)
        if row == RATE_ROW:
            rate = self.rate_of(month) if month else None
            if role == Qt.ItemDataRole.DisplayRole:
                if column == 0:
                    return "卡月使用率"
                return rate.rate.percent_text if rate else ""
            if role == Qt.ItemDataRole.ToolTipRole and rate:
                return f"{month}：用卡 {rate.used} 人 / 持卡 {rate.holders} 人"
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.BackgroundRole:
                return QBrush(QColor("#e8f1f8"))
            if role == Qt.ItemDataRole.TextAlignmentRole and month:
                return int(Qt.AlignmentFlag.AlignCenter)
            return None
        card = self.row_at(row)
        if card is None:
            return None
        if month is None:
            if role == Qt.ItemDataRole.DisplayRole:
                return (card.resident_name, card.disease_name, card.card_no)[column]
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{card.resident_name} · {card.village_name} · {card.disease_name} · {card.card_no}"
            return None
        value = card.cells.get(month)
        if role == Qt.ItemDataRole.CheckStateRole and value is not None:
            return Qt.CheckState.Checked if value else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.BackgroundRole and value is None:
            return QBrush(QColor("#eef2f6"))
        if role == Qt.ItemDataRole.ToolTipRole:
            if value is None:
                return f"{month} 该卡不在有效期内"
            return f"{card.resident_name} {month}：{'已用卡' if value else '未用卡'}（点击切换）"
        return None

    def set_cell(self, row: int, column: int, used: bool) -> None:
        card, month = self.row_at(row), self.month_at(column)
        if card is None or month is None or card.cells.get(month) is None:
            return
        card.cells[month] = used
        index = self.index(row, column)
        self.dataChanged.emit(index, index)

    def toggle(self, row: int, column: int) -> None:
        """A click on a month cell flips it at once and asks the page to save it."""
        value = self.cell(row, column)
        card, month = self.row_at(row), self.month_at(column)
        if value is None or card is None or month is None:
            return
        self.set_cell(row, column, not value)
        self.toggled.emit(card.card_id, month, not value)


class CheckDelegate(QStyledItemDelegate):
    """Draws the month's check box in the middle of its cell (the whole cell is the click target)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        state = index.data(Qt.ItemDataRole.CheckStateRole)
        if state is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        widget = option.widget
        style = widget.style() if widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        box = QStyleOptionButton()
        size = style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, None, widget)
        box.rect = QRect(option.rect.center().x() - size // 2, option.rect.center().y() - size // 2, size, size)
        box.state = QStyle.StateFlag.State_Enabled | (
            QStyle.StateFlag.State_On if state == Qt.CheckState.Checked else QStyle.StateFlag.State_Off)
        style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorCheckBox, box, painter, widget)


def _month_choices(today: date, count: int = 36) -> list[str]:
    return list(reversed(rules.months_ending(rules.month_key(today), count)))


class UsageTab(QWidget):
    """用卡情况: a village's cards × 12 months; clicking a month marks it used / not used."""

    changed = Signal()

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        villages = svc.village_choices(ctx.ws, ctx.actor)
        self.village = _combo(villages, first=None)
        self.end_month = QComboBox()
        for month in _month_choices(date.today()):
            first = rules.parse_month(month)
            self.end_month.addItem(f"{first.year}年{first.month}月", month)
        self.village.currentIndexChanged.connect(self.reload)
        self.end_month.currentIndexChanged.connect(self.reload)
        self.summary = _hint(LOADING)
        top = QHBoxLayout()
        top.addWidget(QLabel("村"))
        top.addWidget(self.village)
        top.addWidget(QLabel("截至"))
        top.addWidget(self.end_month)
        top.addWidget(self.summary, 1)
        self.model = UsageGridModel(self)
        self.model.toggled.connect(self._save)
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_table(self.table, row_height=30)
        self.table.setSelectionMode(QTableView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setMinimumHeight(48)
        self.table.setItemDelegate(CheckDelegate(self.table))
        self.table.clicked.connect(lambda index: self.model.toggle(index.row(), index.column()))
        self.message = _hint("勾选表示该月已使用慢病卡（县医保结算数据或本站登记）；灰色格表示该月卡未生效或已注销。")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        self._seq = 0

    def reload(self) -> None:
        village = self.village.currentData()
        if not village:
            self.summary.setText("没有可查看的村")
            return
        self.summary.setText(LOADING)
        self._seq += 1
        seq = self._seq
        ws, actor, end = self.ctx.ws, self.ctx.actor, self.end_month.currentData()
        self.ctx.tasks.run_read(lambda: svc.usage_grid(ws, actor, village_code=village, end_month=end),
                                lambda grid: self._loaded(seq, grid), self._failed, name="usage_grid", owner=self)

    def _loaded(self, seq: int, grid: svc.UsageGrid) -> None:
        if seq != self._seq:
            return
        self.model.set_grid(grid)
        # Sized so 12 months fit beside the card on a 1366-pixel clinic screen.
        for column, width in enumerate((72, 140, 112)):
            self.table.setColumnWidth(column, width)
        for i in range(len(grid.months)):
            self.table.setColumnWidth(len(FIXED) + i, 62)
        self._summarise()

    def _summarise(self) -> None:
        grid = self.model.grid
        if grid is None:
            return
        last = grid.rates[-1] if grid.rates else None
        text = f"{len(grid.rows):,} 张卡"
        if last is not None:
            text += f" · {last.month} 卡月使用率 {last.rate.percent_text}（{last.used}/{last.holders} 人）"
        self.summary.setText(text)

    def _failed(self, error: BaseException) -> None:
        self.summary.setText("")
        _set_error(self.message, f"加载失败：{error_text(error)}", True)

    def _save(self, card_id: str, month: str, used: bool) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        village, months = self.village.currentData(), self.model.months

        def write_then_rates():
            svc.set_usage(ws, actor, card_id, month, used)
            return svc.card_usage_rates(ws, actor, months, village_code=village)

        def saved(rates: list[rules.MonthlyUsage]) -> None:
            self.model.set_rates(rates)
            self._summarise()
            _set_error(self.message, f"已登记 {month} {'已用卡' if used else '未用卡'}。", False)
            self.changed.emit()

        def failed(error: BaseException) -> None:
            self.reload()  # back to what is stored
            _set_error(self.message, error_text(error), True)

        self.ctx.tasks.run_write(write_then_rates, saved, failed, name="set_usage", owner=self)


# --------------------------------------------------------------------------- tab 3: refill reminders


REFILL_HEADERS = ("姓名", "村组", "电话", "病种", "上次取药", "供药", "断药日期", "状态", "上次联系", "操作")
REFILL_WIDTHS = (72, 100, 108, 120, 96, 56, 96, 96, 150, 176)
COL_PHONE, COL_STATE, COL_CONTACT, COL_ACTIONS = 2, 7, 8, 9
ACTIONS = (("medicine", "代购药"), ("remind", "已提醒"))


class RefillModel(QAbstractTableModel):
    """The 续药提醒 rows with each one's latest call or visit since the last refill; phones masked
    until 「显示」."""

    def __init__(self, reveal: RevealController, parent=None):
        super().__init__(parent)
        self.rows: list[svc.RefillDue] = []
        self.outcomes: dict[str, Any] = {}  # card id → OutreachView
        self.reveal = reveal
        reveal.follow(self)

    def set_rows(self, rows: list[svc.RefillDue], outcomes: dict[str, Any] | None = None) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.outcomes = dict(outcomes or {})
        self.endResetModel()

    def resident_at(self, row: int) -> str | None:
        return self.rows[row].resident_id if 0 <= row < len(self.rows) else None

    def contact_text(self, r: svc.RefillDue) -> str:
        view = self.outcomes.get(r.card_id)
        if view is not None:
            return view.text
        return f"已提醒 {r.reminded_on:%m-%d}" if r.reminded_on else ""

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(REFILL_HEADERS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole:
            return REFILL_HEADERS[section] if orientation == Qt.Orientation.Horizontal else str(section + 1)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        r, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (r.name, r.village_name + r.group_name, self.reveal.text("phone", r.resident_id, r.phone),
                    r.disease_name, _date(r.last_refill_date), f"{r.supply_days} 天", _date(r.due_date), r.due_text,
                    self.contact_text(r), "")[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 3:
            return f"{r.disease_name}（卡号 {r.card_no}）"
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_CONTACT:
            return self.contact_text(r) or None
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_STATE:
            return QBrush(QColor(OVERDUE if r.days_left <= 0 else SOON))
        if role == Qt.ItemDataRole.FontRole and col == COL_STATE and r.days_left < 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 5:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ActionDelegate(QStyledItemDelegate):
    """Two buttons in the 操作 cell, drawn (not widgets, so 800 rows cost nothing) and clickable."""

    clicked = Signal(int, str)  # row, action

    WIDTH, GAP = 76, 8

    def button_rects(self, rect: QRect) -> list[QRect]:
        height = min(rect.height() - 6, 28)
        top = rect.top() + (rect.height() - height) // 2
        left = rect.left() + 6
        return [QRect(left + i * (self.WIDTH + self.GAP), top, self.WIDTH, height) for i in range(len(ACTIONS))]

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        widget = option.widget
        style = widget.style() if widget else QApplication.style()
        for rect, (_key, text) in zip(self.button_rects(option.rect), ACTIONS):
            button = QStyleOptionButton()
            button.rect = rect
            button.text = text
            button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
            style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, widget)

    def editorEvent(self, event, model, option, index) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            for rect, (key, _text) in zip(self.button_rects(option.rect), ACTIONS):
                if rect.contains(event.position().toPoint()):
                    self.clicked.emit(index.row(), key)
                    return True
        return False

    def sizeHint(self, option, index):  # noqa: N802
        hint = super().sizeHint(option, index)
        hint.setWidth(len(ACTIONS) * (self.WIDTH + self.GAP) + 12)
        return hint


class RefillTab(QWidget):
    """续药提醒 as a work list: whose medicine runs out within 7 days, overdue first; 代购药 / 已提醒
    in one click, or any outcome (已提醒 / 未接通 / 已取药) with a note; who called and when shows
    on the row next time; an SMS file for the county platform and a compact printout."""

    changed = Signal()

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *,
                 ask_save_path: Callable[[str, str, str], str] | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._ask_save_path = ask_save_path
        self.last_export: Path | None = None
        villages = svc.village_choices(ctx.ws, ctx.actor)
        self.village = _combo(villages, first="全部" if len(villages) > 1 else None)
        self.village.currentIndexChanged.connect(self.reload)
        self.summary = _hint(LOADING)
        self.refresh_button = QPushButton("刷新")
        self.refresh_button.clicked.connect(self.reload)
        self.reveal = RevealController(ctx, self)
        self.model = RefillModel(self.reveal, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        # Not styled "primary": the accent style would hide its disabled state.
        self.medicine_button = QPushButton("代购药")
        self.remind_button = QPushButton("已提醒")
        self.outcome_button = QPushButton("记录结果…")
        self.outcome_button.setToolTip("已提醒 / 未接通 / 已取药（居民自己取了药：从清单中移除），可写说明")
        self.reveal_button = RevealButton(self.reveal, self.table, self.model.resident_at)
        self.sms_button = QPushButton("导出短信…")
        self.sms_button.setToolTip("姓名、手机号、短信内容（CSV），供县短信平台群发")
        self.print_button = QPushButton("打印清单…")
        self.print_button.setToolTip("紧凑排版的 A4 清单（PDF），每行一人，电话不断行")
        self.medicine_button.clicked.connect(lambda: self._selected_action("medicine"))
        self.remind_button.clicked.connect(lambda: self._selected_action("remind"))
        self.outcome_button.clicked.connect(self.record_outcome)
        self.sms_button.clicked.connect(self.export_sms)
        self.print_button.clicked.connect(self.print_list)
        top = QHBoxLayout()
        if self.village.count() > 1:
            top.addWidget(QLabel("村"))
            top.addWidget(self.village)
        top.addWidget(self.summary, 1)
        top.addWidget(self.refresh_button)
        work = QHBoxLayout()
        for button in (self.medicine_button, self.remind_button, self.outcome_button, self.reveal_button):
            work.addWidget(button)
        work.addStretch(1)
        work.addWidget(self.sms_button)
        work.addWidget(self.print_button)
        setup_table(self.table, row_height=36)
        self.delegate = ActionDelegate(self.table)
        self.delegate.clicked.connect(self.act)
        self.table.setItemDelegateForColumn(COL_ACTIONS, self.delegate)
        self.table.verticalHeader().hide()  # every pixel goes to the columns, so 操作 fits on a 1366 screen
        for i, width in enumerate(REFILL_WIDTHS):
            self.table.setColumnWidth(i, width)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.message = _hint("续药提醒：已发卡居民中，按“上次取药日期 + 供药天数”计算，7 天内将断药或已断药的人（已断药的排在前面）。")
        self.reveal.failed.connect(lambda text: _set_error(self.message, text, True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addLayout(top)
        layout.addLayout(work)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        self._update_buttons()

    def reload(self) -> None:
        self.summary.setText(LOADING)
        ws, actor, village = self.ctx.ws, self.ctx.actor, self.village.currentData() or None

        def load():
            rows = svc.refill_reminders(ws, actor, village_code=village)
            return rows, outreach.refill_outcomes(ws, actor, rows)
        self.ctx.tasks.run_read(load, lambda r: self._loaded(*r), self._failed, name="refill_reminders", owner=self)

    def _loaded(self, rows: list[svc.RefillDue], outcomes: dict[str, Any] | None = None) -> None:
        self.model.set_rows(rows, outcomes)
        overdue = sum(1 for r in rows if r.days_left < 0)
        contacted = len({r.resident_id for r in rows if r.card_id in self.model.outcomes})
        self.summary.setText(f"{len(rows):,} 人 7 天内需续药，其中 {overdue:,} 人已断药；已联系 {contacted:,} 人"
                             if rows else "7 天内没有需要续药的人")
        self._update_buttons()

    def _failed(self, error: BaseException) -> None:
        self.summary.setText("")
        _set_error(self.message, f"加载失败：{error_text(error)}", True)

    def _update_buttons(self) -> None:
        has = bool(self.table.selectionModel().selectedRows())
        for button in (self.medicine_button, self.remind_button, self.outcome_button):
            button.setEnabled(has)
        self.sms_button.setEnabled(bool(self.model.rows))
        self.print_button.setEnabled(bool(self.model.rows))

    def selected(self) -> svc.RefillDue | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rows[rows[0].row()] if rows and rows[0].row() < len(self.model.rows) else None

    def _selected_action(self, action: str) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.act(rows[0].row(), action)

    def _saved(self, text: str) -> Callable[[Any], None]:
        def saved(_value: Any) -> None:
            _set_error(self.message, text, False)
            self.changed.emit()
            self.reload()
        return saved

    def act(self, row: int, action: str) -> None:
        if not 0 <= row < len(self.model.rows):
            return
        due = self.model.rows[row]
        ws, actor = self.ctx.ws, self.ctx.actor
        call: Callable[[], Any]
        if action == "medicine":
            call = lambda: svc.buy_medicine(ws, actor, due.card_id)  # noqa: E731
            done = f"已为 {due.name} 登记代购药（{due.disease_name}），已从续药提醒中移除。"
        else:
            call = lambda: outreach.record_refill_outcome(ws, actor, due.card_id, result="reminded")  # noqa: E731
            done = f"已登记提醒 {due.name} 按时取药。"
        self.ctx.tasks.run_write(call, self._saved(done), lambda e: _set_error(self.message, error_text(e), True),
                                 name=f"refill_{action}", owner=self)

    def record_outcome(self) -> OutcomeDialog | None:
        """记录结果… for the selected row: 已提醒 / 未接通 / 已取药 and a note."""
        due = self.selected()
        if due is None:
            return None
        ws, actor = self.ctx.ws, self.ctx.actor
        dialog = OutcomeDialog(
            self.ctx, due.resident_id, f"{due.name}（{due.village_name}{due.group_name}）· {due.disease_name}",
            list_kind="refill", year=None, parent=self,
            submit=lambda result, _promised, note: outreach.record_refill_outcome(ws, actor, due.card_id,
                                                                                 result=result, reason=note))
        dialog.accepted.connect(lambda: self._saved(f"已记录 {due.name} 的联系结果。")(None))
        self.active_dialog = dialog
        dialog.open()
        return dialog

    # -- SMS file and printout ----------------------------------------------------------------

    def _ask(self, title: str, name: str, filter_text: str) -> str:
        if self._ask_save_path is not None:
            return self._ask_save_path(title, name, filter_text)
        path, _f = QFileDialog.getSaveFileName(self, title, str(export_dir() / name), filter_text)
        return path

    def export_sms(self) -> None:
        rows = list(self.model.rows)
        if not rows:
            return
        path = self._ask("导出续药提醒短信", f"续药提醒短信_{date.today().isoformat()}.csv", "CSV 文件 (*.csv)")
        if not path:
            return
        people = len({r.resident_id for r in rows})
        sms = outreach.refill_sms_rows(rows)
        count = outreach.write_sms_csv(Path(path), sms)
        self.last_export = Path(path)
        _set_error(self.message, f"已导出 {count:,} 条短信（无手机号的 {people - count:,} 人未列入）：{path}", False)

    def print_list(self) -> None:
        rows, outcomes = list(self.model.rows), dict(self.model.outcomes)
        if not rows:
            return
        path = self._ask("打印续药提醒清单", f"续药提醒清单_{date.today().isoformat()}.pdf", "PDF 文件 (*.pdf)")
        if not path:
            return
        title = f"续药提醒清单（{date.today().isoformat()}，{self.village.currentText() or '本村'}）"
        html = refill_html(rows, outcomes, title)
        self.print_button.setEnabled(False)

        def done(pages: int) -> None:
            self.print_button.setEnabled(True)
            self.last_export = Path(path)
            _set_error(self.message, f"已生成 {len(rows):,} 行、{pages} 页的清单：{path}", False)

        def failed(error: BaseException) -> None:
            self.print_button.setEnabled(True)
            _set_error(self.message, error_text(error), True)
        self.ctx.tasks.run_read(lambda: write_html_pdf(html, Path(path), point_size=PRINT_POINT_SIZE), done, failed,
                                name="refill_print", owner=self)


def refill_html(rows: list[svc.RefillDue], outcomes: dict[str, Any], title: str) -> str:
    """The compact printout: one line a person, the phone whole (it is a list to call through)."""
    cells = "".join(
        f"<tr><td>{escape(r.name)}</td><td>{escape(r.village_name + r.group_name)}</td>"
        f"<td style='white-space:nowrap'>{escape(r.phone or '')}</td><td>{escape(r.disease_name)}</td>"
        f"<td>{_date(r.due_date)}</td><td>{escape(r.due_text)}</td>"
        f"<td>{escape(outcomes[r.card_id].text) if r.card_id in outcomes else ''}</td><td></td></tr>"
        for r in rows)
    head = "".join(f"<th>{h}</th>" for h in ("姓名", "村组", "电话", "病种", "断药日期", "状态", "上次联系", "本次结果"))
    return (f"<h3>{escape(title)}</h3><table border='1' cellspacing='0' cellpadding='1' width='100%'>"
            f"<thead><tr style='background:#dde7f0'>{head}</tr></thead>{cells}</table>")


# --------------------------------------------------------------------------- the page


class ChronicPage(QWidget):
    """慢病档案 section: three tabs; the shown tab reloads when it is shown again after a change."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        title = QLabel("慢病档案")
        title.setObjectName("pageTitle")
        subtitle = _hint("门诊慢特病卡：申请 → 认定 → 已发卡 / 未通过 → 注销；每月用卡情况与续药提醒")
        self.cards = CardListTab(ctx)
        self.usage = UsageTab(ctx)
        self.refills = RefillTab(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.cards, "慢病卡")
        self.tabs.addTab(self.usage, "用卡情况")
        self.tabs.addTab(self.refills, "续药提醒")
        self._stale = {self.cards: False, self.usage: True, self.refills: True}
        for tab in (self.cards, self.usage, self.refills):
            tab.changed.connect(lambda tab=tab: self._mark_stale(tab))
        self.tabs.currentChanged.connect(self._tab_shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 20)
        layout.setSpacing(6)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addWidget(self.tabs, 1)
        self._shown_once = False
        self.cards.reload()

    def _mark_stale(self, source: QWidget) -> None:
        for tab in self._stale:
            if tab is not source:
                self._stale[tab] = True

    def _tab_shown(self, _index: int) -> None:
        tab = self.tabs.currentWidget()
        if self._stale.get(tab):
            self._stale[tab] = False
            tab.reload()

    def show_tab(self, name: str) -> None:
        """"cards" / "usage" / "refills" (tests and the 工作台's links)."""
        self.tabs.setCurrentWidget(getattr(self, name))

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._shown_once:
            # Back from another section: services, cards or usage may have changed there.
            for tab in self._stale:
                self._stale[tab] = True
            self._tab_shown(self.tabs.currentIndex())
        self._shown_once = True
