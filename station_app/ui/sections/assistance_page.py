"""医疗救助: the case list with its flow (申请 → 审核 → 已发放 / 未通过), 1+N referrals, 救助落实率 and export."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station_app.domain import chronic as chronic_rules
from station_app.domain import assistance as assistance_rules
from station_app.domain.assistance import fen_text
from station_app.domain.enums import AssistanceStatus
from station_app.services import assistance as svc
from station_app.services import exports
from station_app.services.chronic import village_choices

from ..dialogs.assistance_case import CaseDialog
from ..dialogs.assistance_step import CaseStepDialog, ReferralDialog, ReferralOutcomeDialog
from ..dialogs.service_widgets import error_text, run_export
from ..views import apply_widths, enable_sorting, setup_table
from ..models.lazy_table import Column
from ..reveal import RevealButton, RevealController, RevealTableModel
from . import PageContext
from ..common import SEARCH_DELAY_MS

logger = logging.getLogger(__name__)

ALL = ""
LOADING = "加载中…"
A = AssistanceStatus

STATUS_COLOURS = {A.APPLIED.value: "#8a4b00", A.REVIEWED.value: "#1b6f8f", A.PAID.value: "#1b7f3b",
                  A.REFUSED.value: "#b3261e"}


def _wan(fen: int) -> str:
    """Large sums the way a report says them: 225.60 万元."""
    return f"{fen / 1_000_000:,.2f} 万元" if fen >= 1_000_000 else f"{fen_text(fen)} 元"


def _money(value: Any) -> str:
    return fen_text(value) if isinstance(value, int) else ""


# What a clerk scans for first comes first: who, which flow state, how much; the rest scrolls.
CASE_COLUMNS = (
    Column("name", "姓名", width=72),
    Column("village", "村", width=72),
    Column("type", "救助类型", width=120),
    Column("subject", "救助对象类别", width=130),
    Column("status", "状态", width=64),
    Column("total", "总费用(元)", format=_money, align_right=True, width=100),
    Column("assistance", "救助金额(元)", format=_money, align_right=True, width=104),
    Column("self_pay", "个人自付(元)", format=_money, align_right=True, width=104),
    Column("admitted_on", "入院日期", width=96),
    Column("applied_date", "申请日期", width=96),
    Column("paid_date", "发放日期", width=96),
    Column("hospital_level", "医院等级", width=90),
    Column("referrals", "转介", format=lambda n: f"{n} 个部门" if n else "", width=76, sort_key=None),
    Column("id_number", "身份证号", width=172, sort_key=None),
)
STATUS_COLUMN = next(i for i, c in enumerate(CASE_COLUMNS) if c.key == "status")


class CaseTableModel(RevealTableModel):
    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and index.column() == STATUS_COLUMN:
            colour = STATUS_COLOURS.get(self.row_values(index.row()).get("status_code"))
            return QBrush(QColor(colour)) if colour else None
        return super().data(index, role)


def _combo(items, first: str = "全部") -> QComboBox:
    box = QComboBox()
    box.setMinimumWidth(100)
    box.addItem(first, ALL)
    for value, label in items:
        box.addItem(label, value)
    return box


def _set_message(label: QLabel, text: str, error: bool = False) -> None:
    label.setText(text)
    name = "error" if error else "hint"
    if label.objectName() != name:
        label.setObjectName(name)
        label.style().unpolish(label)
        label.style().polish(label)


class AssistancePage(QWidget):
    """The 医疗救助 section."""

    kpis_loaded = Signal(object)  # AssistanceKpis, once shown

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        ws, actor = ctx.ws, ctx.actor
        self.today = today or date.today()
        self.is_clerk = actor.role in chronic_rules.CLERK_ROLES
        self.sort: tuple[str | None, bool] = (None, True)
        self.kpis: svc.AssistanceKpis | None = None
        self._select_after_load: str | None = None

        title = QLabel("医疗救助")
        title.setObjectName("pageTitle")
        self.kpi_label = QLabel(LOADING)
        self.kpi_label.setObjectName("cardValue")
        self.kpi_detail = QLabel("")
        self.kpi_detail.setObjectName("hint")
        self.kpi_detail.setWordWrap(True)
        self.kpi_detail.setToolTip("已审核救助发放率 = 已发放件数 ÷ 审核通过件数（审核 + 已发放）；\n"
                                   "“申请”中的尚未审核、“未通过”的都不计入。按申请日期所在年度统计。\n"
                                   "医疗救助落实率（按县救助规则，含未申请的人）见“应享尽享”。")
        heading = QVBoxLayout()
        heading.addWidget(title)
        heading.addWidget(self.kpi_detail)
        header = QHBoxLayout()
        header.addLayout(heading, 1)
        header.addWidget(self.kpi_label, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.year = QComboBox()
        for year in range(self.today.year, self.today.year - 6, -1):
            self.year.addItem(f"{year} 年", year)
        self.year.addItem("全部年度", 0)
        self.village = _combo(village_choices(ws, actor))
        self.status = _combo(A.choices())
        self.type = _combo(svc.type_choices(ws))
        self.type.setMinimumWidth(150)
        self.search = QLineEdit()
        self.search.setPlaceholderText("姓名 / 拼音首字母 / 身份证号")
        self.search.setClearButtonEnabled(True)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _t: self.search_timer.start())
        self.year.currentIndexChanged.connect(self.reload_all)
        for box in (self.village, self.status, self.type):
            box.currentIndexChanged.connect(self.reload)
        self.village.currentIndexChanged.connect(self.reload_kpis)
        self.count = QLabel("")
        self.count.setObjectName("hint")
        filters = QHBoxLayout()
        for label, widget in (("年度", self.year), ("村", self.village), ("状态", self.status), ("类型", self.type)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.search, 1)
        filters.addWidget(self.count)

        self.new_button = QPushButton("新建申请")
        self.new_button.setObjectName("primary")
        self.edit_button = QPushButton("修改")
        self.review_button = QPushButton("审核通过")
        self.pay_button = QPushButton("登记发放")
        self.refuse_button = QPushButton("未通过")
        self.export_button = QPushButton("导出 Excel")
        self.entitlement_button = QPushButton("应享尽享：落实率 · 待落实 · 高额预警")
        self.entitlement_button.setToolTip("按县救助规则计算：本年应救助而未落实的结算、各村医疗救助落实率、高额费用预警")
        self.entitlement_button.clicked.connect(self.open_entitlements)
        self.new_button.clicked.connect(self.new_case)
        self.edit_button.clicked.connect(self.edit_case)
        self.review_button.clicked.connect(lambda: self.step("review"))
        self.pay_button.clicked.connect(lambda: self.step("pay"))
        self.refuse_button.clicked.connect(lambda: self.step("refuse"))
        self.export_button.clicked.connect(self.export)
        if not self.is_clerk:
            for button in (self.review_button, self.pay_button, self.refuse_button):
                button.setToolTip("审核、发放由乡镇医保专干办理")
        actions = QHBoxLayout()
        for button in (self.new_button, self.edit_button, self.review_button, self.pay_button, self.refuse_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.entitlement_button)
        actions.addWidget(self.export_button)

        self.reveal = RevealController(ctx, self)
        self.model = CaseTableModel(CASE_COLUMNS, lambda ids: svc.case_rows(ws, ids), self.reveal, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.reveal_button = RevealButton(self.reveal, self.table, self.model.resident_at)
        self.reveal.failed.connect(lambda text: _set_message(self.message, text, True))
        actions.insertWidget(actions.indexOf(self.entitlement_button), self.reveal_button)
        setup_table(self.table)
        enable_sorting(self.table)
        self.model.on_sort = self._sorted
        apply_widths(self.table, CASE_COLUMNS)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.doubleClicked.connect(lambda _i: self.edit_case())

        # 1+N referrals of the selected case.
        self.referral_box = QGroupBox("1+N 转介（选中的救助申请）")
        self.case_summary = QLabel("选中一条救助申请后，在此查看和登记转介。")
        self.case_summary.setObjectName("hint")
        self.case_summary.setWordWrap(True)
        self.referral_model = QStandardItemModel(0, 5, self)
        self.referral_model.setHorizontalHeaderLabels(["转介部门", "转介日期", "结果", "结果日期", "金额(元)"])
        self.referral_table = QTableView()
        self.referral_table.setModel(self.referral_model)
        setup_table(self.referral_table, row_height=30)
        self.referral_table.verticalHeader().hide()
        for i, width in enumerate((90, 100, 320, 100, 100)):
            self.referral_table.setColumnWidth(i, width)
        self.referral_table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.referral_table.doubleClicked.connect(lambda _i: self.record_outcome())
        self.add_referral_button = QPushButton("添加转介")
        self.outcome_button = QPushButton("登记结果")
        self.add_referral_button.clicked.connect(self.add_referral)
        self.outcome_button.clicked.connect(self.record_outcome)
        side = QVBoxLayout()
        side.addWidget(self.add_referral_button)
        side.addWidget(self.outcome_button)
        side.addStretch(1)
        panel = QHBoxLayout(self.referral_box)
        left = QVBoxLayout()
        left.addWidget(self.case_summary)
        left.addWidget(self.referral_table, 1)
        panel.addLayout(left, 1)
        panel.addLayout(side)
        self.referrals: list[svc.ReferralInfo] = []

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.referral_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 200])
        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 20)
        layout.setSpacing(8)
        layout.addLayout(header)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        self._shown_once = False
        self._update_buttons()
        self.reload_all()

    # -- loading ----------------------------------------------------------------------------

    def filters(self) -> svc.CaseFilters:
        return svc.CaseFilters(village_code=self.village.currentData() or None, status=self.status.currentData() or None,
                               type_code=self.type.currentData() or None, year=self.year.currentData() or None,
                               text=self.search.text())

    def reload_all(self) -> None:
        self.reload()
        self.reload_kpis()

    def _sorted(self, key: str, ascending: bool) -> None:
        self.sort = (key, ascending)
        self.reload()

    def reload(self) -> None:
        self.count.setText(LOADING)
        ws, actor, filters, (key, asc) = self.ctx.ws, self.ctx.actor, self.filters(), self.sort
        self.ctx.tasks.run_read(lambda: svc.case_ids(ws, actor, filters, key, asc), self._loaded,
                                lambda e: _set_message(self.message, f"加载失败：{error_text(e)}", True),
                                name="case_ids", owner=self)

    def _loaded(self, ids: list[str]) -> None:
        selected = self._select_after_load or self.selected_id()
        self._select_after_load = None
        self.model.set_ids(ids)
        self.count.setText(f"共 {len(ids):,} 件")
        if selected and self.model.row_of(selected) is not None:
            row = self.model.row_of(selected)
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        self._selection_changed()

    def reload_kpis(self) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        year, village = self.year.currentData() or None, self.village.currentData() or None
        self.ctx.tasks.run_read(lambda: svc.assistance_kpis(ws, actor, year, village_code=village), self._show_kpis,
                                lambda e: self.kpi_detail.setText(f"落实率加载失败：{error_text(e)}"),
                                name="assistance_kpis", owner=self)

    def _show_kpis(self, kpis: svc.AssistanceKpis) -> None:
        self.kpis = kpis
        period = f"{kpis.year} 年" if kpis.year else "全部年度"
        self.kpi_label.setText(f"已审核救助发放率 {kpis.payout_rate.percent_text}")
        self.kpi_detail.setText(
            f"{period}：已发放 {kpis.paid:,} 件 / 审核通过 {kpis.approved:,} 件（审核 + 已发放）· "
            f"申请中 {kpis.applied:,} 件 · 未通过 {kpis.refused:,} 件 · 发放救助金 {_wan(kpis.paid_fen)} · "
            f"1+N 转介 {kpis.referrals:,} 次")
        self.kpis_loaded.emit(kpis)

    # -- selection --------------------------------------------------------------------------

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def selected_id(self) -> str | None:
        row = self.selected_row()
        return self.model.id_at(row) if row is not None else None

    def select(self, case_id: str) -> bool:
        row = self.model.row_of(case_id)
        if row is None:
            return False
        self.table.selectRow(row)
        return True

    def _selection_changed(self) -> None:
        self._update_buttons()
        self.load_referrals()

    def _status(self) -> str | None:
        row = self.selected_row()
        return self.model.row_values(row).get("status_code") if row is not None else None

    def _update_buttons(self) -> None:
        status = self._status()
        steps = assistance_rules.allowed_steps(status) if status else frozenset()
        self.edit_button.setEnabled(status is not None)
        self.review_button.setEnabled(self.is_clerk and A.REVIEWED in steps)
        self.pay_button.setEnabled(self.is_clerk and A.PAID in steps)
        self.refuse_button.setEnabled(self.is_clerk and A.REFUSED in steps)
        self.add_referral_button.setEnabled(status is not None and status != A.REFUSED.value)
        self.outcome_button.setEnabled(bool(self.referral_table.selectionModel().selectedRows()))

    def load_referrals(self) -> None:
        case_id = self.selected_id()
        self.referral_model.removeRows(0, self.referral_model.rowCount())
        self.referrals = []
        if case_id is None:
            self.case_summary.setText("选中一条救助申请后，在此查看和登记转介。")
            self._update_buttons()
            return
        row = self.model.row_values(self.selected_row())
        self.case_summary.setText(
            f"{row.get('name', '')} · {row.get('type', '')} · {row.get('hospital', '')}（{row.get('hospital_level', '')}）"
            f" · 总费用 {_money(row.get('total'))} 元 = 基本医保 {_money(row.get('basic'))} + 大病保险 "
            f"{_money(row.get('serious'))} + 救助 {_money(row.get('assistance'))} + 自付 {_money(row.get('self_pay'))}"
            + (f" · 未通过原因：{row.get('refused_reason')}" if row.get("refused_reason") else ""))
        ws, actor = self.ctx.ws, self.ctx.actor
        self.ctx.tasks.run_read(lambda: svc.referrals(ws, actor, case_id), lambda rows: self._show_referrals(case_id, rows),
                                lambda e: _set_message(self.message, error_text(e), True), name="referrals", owner=self)

    def _show_referrals(self, case_id: str, rows: list[svc.ReferralInfo]) -> None:
        if case_id != self.selected_id():
            return
        self.referrals = rows
        self.referral_model.removeRows(0, self.referral_model.rowCount())
        for r in rows:
            cells = [r.agency_label, r.referred_date.isoformat(), r.outcome or "（待反馈）",
                     r.outcome_date.isoformat() if r.outcome_date else "", fen_text(r.amount_fen) if r.amount_fen else ""]
            items = [QStandardItem(text) for text in cells]
            items[4].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if not r.done:
                items[2].setForeground(QBrush(QColor("#8a4b00")))
            self.referral_model.appendRow(items)
        self._update_buttons()

    # -- actions ----------------------------------------------------------------------------

    def _detail(self) -> svc.CaseDetail | None:
        case_id = self.selected_id()
        if case_id is None:
            return None
        try:
            return svc.case_detail(self.ctx.ws, self.ctx.actor, case_id)
        except Exception as error:  # noqa: BLE001 - shown, not lost
            _set_message(self.message, error_text(error), True)
            return None

    def _after_write(self, case_id: str | None, text: str) -> None:
        _set_message(self.message, text)
        self._select_after_load = case_id
        self.reload_all()

    def open_entitlements(self) -> None:
        from ..dialogs.entitlement_dialog import EntitlementDialog

        year = self.year.currentData() or self.today.year
        self.entitlement_dialog = EntitlementDialog(self.ctx, year, parent=self)
        self.entitlement_dialog.exec()
        self.reload_all()

    def new_case(self) -> None:
        dialog = CaseDialog(self.ctx, parent=self)
        if dialog.exec():
            self._after_write(dialog.result_value, "已登记救助申请。")

    def edit_case(self) -> None:
        detail = self._detail()
        if detail is None:
            return
        if detail.status != A.APPLIED.value:
            _set_message(self.message, f"该申请已“{detail.status_label}”，不能再修改。", True)
            return
        dialog = CaseDialog(self.ctx, detail, parent=self)
        if dialog.exec():
            self._after_write(detail.id, f"已保存 {detail.resident_name} 的救助申请。")

    def step(self, step: str) -> None:
        detail = self._detail()
        if detail is None:
            return
        dialog = CaseStepDialog(self.ctx, detail, step, parent=self)
        if dialog.exec():
            done = {"review": "审核通过", "pay": "已登记发放", "refuse": "已登记未通过"}[step]
            self._after_write(detail.id, f"{detail.resident_name} 的救助申请{done}。")

    def add_referral(self) -> None:
        detail = self._detail()
        if detail is None:
            return
        dialog = ReferralDialog(self.ctx, detail, parent=self)
        if dialog.exec():
            self._after_write(detail.id, f"已转介 {detail.resident_name} 的救助申请。")

    def record_outcome(self) -> None:
        rows = self.referral_table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.referrals):
            return
        case_id = self.selected_id()
        dialog = ReferralOutcomeDialog(self.ctx, self.referrals[rows[0].row()], parent=self)
        if dialog.exec():
            _set_message(self.message, "已登记转介结果。")
            self._select_after_load = case_id
            self.load_referrals()
            self.reload_kpis()

    def export(self) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        year, village = self.year.currentData() or None, self.village.currentData() or None
        run_export(self, self.ctx, f"医疗救助台账_{year or '全部'}_{date.today().isoformat()}.xlsx",
                   lambda path, progress: exports.export_assistance(ws, actor, path, year=year, village_code=village,
                                                                    progress=progress))

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._shown_once:
            self.reload_all()
        self._shown_once = True
