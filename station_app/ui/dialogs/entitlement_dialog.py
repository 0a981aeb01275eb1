"""应享尽享: 医疗救助落实率 by village, the 待落实 work list, and 高额费用预警 for the township clerk."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station_app.domain import entitlement as ent
from station_app.domain.assistance import fen_text
from station_app.domain.enums import HospitalLevel
from station_app.services import entitlement as svc

from .assistance_case import CaseDialog
from .service_widgets import error_text


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()


class EntitlementDialog(QDialog):
    """Three tabs over one year; every write goes through ``services.entitlement`` / ``assistance``."""

    def __init__(self, ctx, year: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.year = year or date.today().year
        self.setWindowTitle(f"应享尽享（{self.year} 年）")
        self.resize(980, 620)
        self.pending: list[svc.PendingRow] = []
        self.flags: list[svc.BurdenFlag] = []
        self.figures: svc.YearEntitlements | None = None

        self.summary = QLabel("正在计算……")
        self.summary.setWordWrap(True)
        self.summary.setToolTip("医疗救助落实率 = 本年有应救助结算的一至三类救助对象中，每笔应救助都已发放的人数 ÷ 人数；\n"
                                "金额落实率 = 已发放（不超过应救助额）÷ 按县救助规则计算的应救助额。定义见 docs/FIGURES.md。")
        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.tabs = QTabWidget()

        self.villages = _table(["村", "应享人数", "已落实人数", "落实率", "应救助（元）", "已发放（元）", "金额落实率",
                                "待落实笔数"])
        self.tabs.addTab(self.villages, "落实率（按村）")

        pending_tab = QWidget()
        self.pending_table = _table(["姓名", "身份证号", "村", "类别", "结算", "医院等级", "政策范围内自付（元）",
                                     "按规则应救助（元）"])
        self.open_button = QPushButton("登记救助申请")
        self.open_button.setObjectName("primary")
        self.na_button = QPushButton("标记不适用…")
        self.open_button.clicked.connect(self.open_case)
        self.na_button.clicked.connect(self.not_applicable)
        layout = QVBoxLayout(pending_tab)
        layout.addWidget(self.pending_table)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.na_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.tabs.addTab(pending_tab, "待落实")

        flag_tab = QWidget()
        self.flag_table = _table(["姓名", "身份证号", "村", "本年政策范围内自付（元）", "预警标准（元）", "结算笔数",
                                  "最大一笔医院", "研判结果", "原因", "研判人"])
        self.monitor_button = QPushButton("纳入监测")
        self.skip_button = QPushButton("不纳入…")
        self.monitor_button.clicked.connect(lambda: self.decide("monitor"))
        self.skip_button.clicked.connect(lambda: self.decide("not_monitor"))
        layout = QVBoxLayout(flag_tab)
        layout.addWidget(QLabel("本年度政策范围内个人自付累计超过县定标准的居民：请乡镇医保专干研判是否纳入防返贫监测。"))
        layout.addWidget(self.flag_table)
        row = QHBoxLayout()
        row.addWidget(self.monitor_button)
        row.addWidget(self.skip_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.tabs.addTab(flag_tab, "高额费用预警")

        close = QPushButton("关闭")
        close.clicked.connect(self.accept)
        outer = QVBoxLayout(self)
        outer.addWidget(self.summary)
        outer.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(close)
        outer.addLayout(bottom)
        self.reload()

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        ws, actor, year = self.ctx.ws, self.ctx.actor, self.year

        def load() -> tuple[Any, Any, Any]:
            return (svc.year_entitlements(ws, actor, year), svc.pending_list(ws, actor, year),
                    svc.burden_flags(ws, actor, year))

        self.ctx.tasks.run_read(load, self._loaded, lambda e: self._say(f"加载失败：{error_text(e)}"),
                                name="entitlements", owner=self)

    def _loaded(self, result) -> None:
        self.figures, self.pending, self.flags = result
        total = self.figures.total
        self.summary.setText(
            f"{self.year} 年医疗救助落实率 {self.figures.rate.percent_text}（应享 {total.people} 人，已落实 "
            f"{total.people_paid} 人）；金额落实率 {self.figures.amount_rate.percent_text}（应救助 "
            f"{fen_text(total.entitled_fen)} 元，已发放 {fen_text(total.paid_fen)} 元）；待落实 {total.pending} 笔、"
            f"{fen_text(total.pending_fen)} 元；高额费用预警 {len(self.flags)} 人。")
        _fill(self.villages, [[v.village_name, str(v.people), str(v.people_paid), v.rate.percent_text,
                               fen_text(v.entitled_fen), fen_text(v.paid_fen), v.amount_rate.percent_text, str(v.pending)]
                              for v in list(self.figures.villages.values()) + [total]])
        _fill(self.pending_table, [[p.name, p.id_number_masked, p.village_name, ent.SHORT_LABELS.get(p.due.subject_class, ""), p.what,
                                    HospitalLevel(p.due.hospital_level).label
                                    if p.due.hospital_level in HospitalLevel._value2member_map_ else p.due.hospital_level,
                                    fen_text(p.due.policy_self_pay_fen), fen_text(p.due.entitled_fen)]
                                   for p in self.pending])
        _fill(self.flag_table, [[f.name, f.id_number_masked, f.village_name, fen_text(f.burden_fen),
                                 fen_text(f.threshold_fen), str(f.settlements), f.largest_hospital, f.outcome_label,
                                 f.reason, f.decided_by] for f in self.flags])

    def _say(self, text: str) -> None:
        self.message.setText(text)

    # -- actions ----------------------------------------------------------------------------

    def _selected(self, table: QTableWidget, items: list) -> Any:
        rows = table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(items):
            self._say("请先在列表中选中一行。")
            return None
        return items[rows[0].row()]

    def _write(self, fn: Callable[[], Any], done: str) -> None:
        def finished(_value: Any) -> None:
            self._say(done)
            self.reload()

        self.ctx.tasks.run_write(fn, finished, lambda e: self._say(error_text(e)), name="entitlement_write", owner=self)

    def open_case(self) -> None:
        item = self._selected(self.pending_table, self.pending)
        if item is None:
            return
        try:
            data = svc.settlement_case_input(self.ctx.ws, self.ctx.actor, item.due.settlement_id)
        except Exception as error:  # noqa: BLE001 - shown to the user
            self._say(error_text(error))
            return
        dialog = CaseDialog(self.ctx, parent=self)
        dialog.fill_input(data)
        dialog.use_suggestion()
        if dialog.exec():
            self._say(f"已为 {item.name} 登记救助申请。")
            self.reload()

    def not_applicable(self) -> None:
        item = self._selected(self.pending_table, self.pending)
        if item is None:
            return
        reason, ok = QInputDialog.getText(self, "标记不适用", f"{item.name} {item.what}：不适用的原因")
        if ok:
            ws, actor, sid = self.ctx.ws, self.ctx.actor, item.due.settlement_id
            self._write(lambda: svc.mark_not_applicable(ws, actor, sid, reason), f"已标记 {item.name} 的结算为不适用。")

    def decide(self, outcome: str) -> None:
        flag = self._selected(self.flag_table, self.flags)
        if flag is None:
            return
        reason = ""
        if outcome == "not_monitor":
            reason, ok = QInputDialog.getText(self, "不纳入监测", f"{flag.name}：不纳入监测的原因")
            if not ok:
                return
        ws, actor = self.ctx.ws, self.ctx.actor
        self._write(lambda: svc.decide_burden_flag(ws, actor, flag.resident_id, flag.year, outcome=outcome,
                                                   reason=reason),
                    f"已记录 {flag.name} 的研判结果：{svc.OUTCOMES[outcome]}。")
