"""居民一站式: one resident at the counter — household, 参保 by year, 慢病卡, 医疗救助, recent services —
with the next actions beside them (收缴费 / 登记代购药 / 申请慢病卡 / 打印参保凭证).

Everything is read in one background task (services.resident_overview); the actions open the
existing dialogs or call the existing services, and the view reloads after each. ID numbers and
phones are masked as in the 居民档案 list; the printed 凭证 is masked as a notice is.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import EnrollmentStatus, SpecialGroup
from station_app.domain.money import yuan
from station_app.services import chronic, enrollment
from station_app.services.resident_overview import (
    ResidentOverview,
    date_text,
    money_text,
    resident_overview,
    resident_slip,
)
from station_app.services.reveal import masked_id, masked_phone

from ..common import error_text
from ..fit import FormScroll, fit_dialog, fit_size

GREY = QColor("#8a96a3")
RED = QColor("#b3261e")
GREEN = QColor("#1b7f3b")
LOADING = "正在读取…"
#: Rows a section's table shows before it scrolls (most people have one or two of each).
VISIBLE_ROWS = 3
#: The dialog's size on a 1366×768 screen (smaller screens: the work area less a margin).
SIZE = (1240, 660)


class Section(QFrame):
    """A titled table of one kind of record (参保, 慢病卡, …) with a line when it is empty."""

    def __init__(self, title: str, headers: Sequence[str], empty: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.title = QLabel(title)
        self.title.setObjectName("cardCaption")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.extra = QLabel("")
        self.extra.setObjectName("hint")
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(list(headers))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)  # long notes elide
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.empty = QLabel(empty)
        self.empty.setObjectName("hint")
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.extra)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.table)
        layout.addWidget(self.empty)
        layout.addStretch(1)  # a taller neighbour in the grid leaves room below, not above
        self.set_rows([])

    def set_rows(self, rows: list[list[str]], colours: list[QColor | None] | None = None,
                 bold_row: int | None = None, visible: int = VISIBLE_ROWS) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            colour = colours[r] if colours else None
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if colour is not None:
                    item.setForeground(QBrush(colour))
                if r == bold_row:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        shown = min(max(len(rows), 1), visible)
        height = self.table.horizontalHeader().sizeHint().height() + shown * 26 + 4
        self.table.setFixedHeight(height)
        self.table.setVisible(bool(rows))
        self.empty.setVisible(not rows)

    def texts(self) -> list[list[str]]:
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]


class ResidentOverviewDialog(QDialog):
    """One person, everything; the actions the signed-in user may take now, nothing else."""

    #: Emitted after an action saved something (the registry list reloads its 参保 column).
    changed = Signal()

    def __init__(self, ctx, resident_id: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.resident_id = resident_id
        self.overview: ResidentOverview | None = None
        self.active_dialog: QDialog | None = None
        self.last_slip: Path | None = None
        self._generation = 0
        self.setWindowTitle("居民一站式")
        self.setMinimumWidth(980)

        self.name = QLabel(LOADING)
        self.name.setObjectName("dialogTitle")
        self.badge = QLabel("")
        self.basic = QLabel("")
        self.basic.setWordWrap(True)
        self.basic.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.household = QLabel("")
        self.household.setObjectName("hint")
        self.household.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.name)
        top.addSpacing(10)
        top.addWidget(self.badge)
        top.addStretch(1)

        self.members = Section("家庭成员", ("姓名", "关系", "性别", "年龄", "本年度参保", "状态"), "未登记家庭")
        self.enrollment = Section("参保", ("年度", "状态", "个人缴费", "渠道", "缴费日期", "待遇起始", "资助 / 说明"),
                                  "没有参保记录")
        self.cards = Section("慢病卡", ("病种", "状态", "待遇起始", "本年用卡", "下次取药"), "没有慢病卡")
        self.cases = Section("医疗救助", ("申请日期", "类型", "状态", "救助金额", "发放日期"), "没有医疗救助")
        self.services = Section("近期服务", ("日期", "服务", "医生", "说明"), "没有服务记录")
        body = QWidget()
        grid = QGridLayout(body)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(10)
        grid.addWidget(self.enrollment, 0, 0)
        grid.addWidget(self.cards, 1, 0)
        grid.addWidget(self.cases, 2, 0)
        grid.addWidget(self.members, 0, 1)
        grid.addWidget(self.services, 1, 1, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(3, 1)
        self.scroll = FormScroll(body)  # a short screen scrolls the records; the actions stay

        # -- the next actions (shown only when the signed-in user can take them) -----------------
        self.collect_button = QPushButton("收缴费…")
        self.collect_button.setObjectName("primary")
        self.medicine_button = QPushButton("登记代购药")
        self.card_button = QPushButton("申请慢病卡…")
        self.print_button = QPushButton("打印参保凭证")
        self.print_button.setToolTip("生成一页参保缴费凭证及待遇查询单（脱敏，与公示一致），可打印交给居民")
        self.close_button = QPushButton("关闭")
        self.collect_button.clicked.connect(self.collect)
        self.medicine_button.clicked.connect(self.buy_medicine)
        self.card_button.clicked.connect(self.apply_card)
        self.print_button.clicked.connect(self.print_slip)
        self.close_button.clicked.connect(self.reject)
        for button in (self.collect_button, self.medicine_button, self.card_button, self.print_button,
                       self.close_button):
            button.setAutoDefault(False)
            button.hide()
        self.close_button.show()
        actions = QHBoxLayout()
        actions.setSpacing(8)
        for button in (self.collect_button, self.medicine_button, self.card_button, self.print_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.close_button)
        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        status = QHBoxLayout()
        status.addWidget(self.message, 1)
        status.addWidget(self.progress)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 14)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.basic)
        layout.addWidget(self.household)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(status)
        layout.addLayout(actions)
        fit_size(self, *SIZE)  # its full size from the start: the records arrive after it is shown
        self.reload()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        fit_dialog(self)
        super().showEvent(event)

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the whole view again in the background (after an action, or on open)."""
        self._generation += 1
        generation = self._generation
        ws, actor, rid = self.ctx.ws, self.ctx.actor, self.resident_id
        self.ctx.tasks.run_read(lambda: resident_overview(ws, actor, rid),
                                lambda overview: self._show(generation, overview),
                                lambda error: self._failed(generation, error), name="resident_overview", owner=self)

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self.name.setText("读取失败")
            self.message.setText(error_text(error, "读取失败，请重试；问题已记录在日志中。"))

    def _show(self, generation: int, o: ResidentOverview) -> None:
        if generation != self._generation:
            return
        self.overview = o
        d = o.detail
        self.setWindowTitle(f"居民一站式 — {d.name}")
        self.name.setText(d.name)
        self.badge.setText(d.status_label + (f"（{d.status_date:%Y-%m-%d}）" if d.status_date else ""))
        self.badge.setStyleSheet(f"color:{(GREEN if o.registered else GREY).name()}; font-weight:bold;")
        groups = "、".join(SpecialGroup(code).label for code in d.special_groups) or "普通居民"
        self.basic.setText(
            f"{'男' if d.sex == 'M' else '女'} · {o.age} 岁（{d.birth_date:%Y-%m-%d}）　身份证号 {masked_id(d.id_number)}"
            f"　电话 {masked_phone(d.phone) or '—'}　{d.village}{d.group}　人员类别：{groups}")
        h = o.household
        if h is None:
            self.household.setText("家庭：未登记")
        else:
            helper = f"　包帮责任人：{h.helper_name}" if h.helper_name else ""
            self.household.setText(f"户编号 {h.household_no}　户主 {h.head_name or '（无）'}　户类别：{h.category_label}"
                                   f"　地址：{h.address or '—'}{helper}")
        self._show_records(o)
        self._show_actions(o)

    def _show_records(self, o: ResidentOverview) -> None:
        year = o.year
        self.members.table.setHorizontalHeaderItem(4, QTableWidgetItem(f"{year} 参保" if year else "本年度参保"))
        members = o.household.members if o.household else []
        self.members.set_rows(
            [[m.name, m.relation, m.sex, "" if m.age is None else str(m.age), o.member_enrollment.get(m.id, "—"),
              m.status] for m in members],
            [GREY if m.status_code != "registered" else None for m in members],
            bold_row=next((i for i, m in enumerate(members) if m.id == o.detail.id), None), visible=5)
        self.members.extra.setText(f"共 {len(members)} 人" if members else "")
        self.enrollment.set_rows(
            [[str(r.year), r.status_label, money_text(r.paid_fen), r.channel or "—", date_text(r.paid_date),
              date_text(r.benefit_start),
              (f"{money_text(r.subsidy_fen)}（{r.subsidy_category}）" if r.subsidy_category else money_text(r.subsidy_fen))
              if r.subsidy_fen else (r.other_channel_note or "—")] for r in o.enrollment],
            [GREEN if EnrollmentStatus(r.status).is_covered else RED if r.status == "unpaid" else None
             for r in o.enrollment])
        current = o.year_row()
        if year is None:
            self.enrollment.extra.setText("")
        elif current is None or current.status in ("unpaid", "to_verify"):
            due = f"，应缴 {yuan(o.due_fen)} 元" if o.due_fen is not None else ""
            label = current.status_label if current else "未登记"
            self.enrollment.extra.setText(f"{year} 年度{label}{due}")
            self.enrollment.extra.setStyleSheet(f"color:{RED.name()};")
        else:
            self.enrollment.extra.setText(f"{year} 年度{current.status_label}")
            self.enrollment.extra.setStyleSheet(f"color:{GREEN.name()};")
        self.cards.set_rows(
            [[c.disease, c.status_label, date_text(c.benefit_start),
              f"{c.months_used}/{c.months_held} 个月" if c.benefit_start else "—",
              date_text(c.next_refill) + ("（已到期）" if c.refill_overdue else "")] for c in o.cards],
            [RED if c.refill_overdue else (None if c.issued else GREY) for c in o.cards])
        paid = o.assistance_paid_fen
        self.cases.extra.setText(f"已发放合计 {yuan(paid, thousands=True)} 元" if paid else "")
        self.cases.set_rows([[date_text(c.applied_date), c.type_name, c.status_label, money_text(c.assistance_fen),
                              date_text(c.paid_date)] for c in o.cases])
        self.services.set_rows([[date_text(s.service_date), s.kind, s.doctor, s.note] for s in o.services], visible=6)

    def _show_actions(self, o: ResidentOverview) -> None:
        a = o.actions
        self.collect_button.setVisible(a.collect)
        if a.collect and o.year is not None:
            self.collect_button.setText(f"收缴费（{o.year} 年度）…")
        self.medicine_button.setVisible(a.buy_medicine)
        issued = o.issued_cards
        if len(issued) > 1:  # which card: a menu of the issued ones
            menu = QMenu(self.medicine_button)
            for card in issued:
                menu.addAction(f"{card.disease}（{card.card_no or '无卡号'}）",
                               lambda card_id=card.id, name=card.disease: self._buy(card_id, name))
            self.medicine_button.setMenu(menu)
        else:
            self.medicine_button.setMenu(None)
        self.card_button.setVisible(a.apply_card)
        self.print_button.setVisible(a.print_slip)

    # -- actions ----------------------------------------------------------------------------

    def _open(self, dialog: QDialog, on_saved: Callable[[Any], None]) -> QDialog:
        self.active_dialog = dialog
        dialog.accepted.connect(lambda: on_saved(getattr(dialog, "result_value", None)))
        dialog.open()
        return dialog

    def _saved(self, text: str) -> None:
        self.message.setText(text)
        self.reload()
        self.changed.emit()

    def collect(self) -> QDialog | None:
        """收缴费: the 年度参保 tab's 标记已缴费 for this one person and the benefit year."""
        from .payment_dialog import PaymentDialog

        o = self.overview
        if o is None or not o.actions.collect or o.year_info is None:
            return None
        ws, actor, rid, info, today = self.ctx.ws, self.ctx.actor, o.detail.id, o.year_info, date.today()

        def submit(v: dict[str, Any]) -> str:
            status = enrollment.set_paid(ws, actor, rid, info.year, paid_on=v["paid_on"], channel=v["channel"],
                                         amount_fen=v["amount_fen"], today=today)
            return f"已登记 {info.year} 年度{EnrollmentStatus(status).label}。"

        dialog = PaymentDialog(self.ctx.tasks, submit, count=1, info=info, today=today, due_fen=o.due_fen,
                               name=o.detail.name, parent=self)
        return self._open(dialog, lambda text: self._saved(text or "已登记缴费。"))

    def buy_medicine(self) -> None:
        """登记代购药 on the one issued card (with several, the button's menu picks the card)."""
        o = self.overview
        if o is None or not o.actions.buy_medicine:
            return
        issued = o.issued_cards
        if len(issued) == 1:
            self._buy(issued[0].id, issued[0].disease)
        else:
            self.medicine_button.showMenu()

    def _buy(self, card_id: str, disease: str) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        self.medicine_button.setEnabled(False)
        self.ctx.tasks.run_write(lambda: chronic.buy_medicine(ws, actor, card_id),
                                 lambda _id: (self.medicine_button.setEnabled(True),
                                              self._saved(f"已登记代购药（{disease}）。")),
                                 self._action_failed, name="overview_buy_medicine", owner=self)

    def apply_card(self) -> QDialog | None:
        """申请慢病卡 for this person (the picker is fixed to them)."""
        from .chronic_apply import CardApplyDialog

        o = self.overview
        if o is None or not o.actions.apply_card:
            return None
        dialog = CardApplyDialog(self.ctx, parent=self)
        dialog.picker.set_fixed(o.hit)
        return self._open(dialog, lambda _card_id: self._saved("已登记慢病卡申请，待乡镇医保专干认定。"))

    def print_slip(self) -> None:
        """The 参保缴费凭证/待遇查询单 laid out and written to a PDF in the background, then opened
        in the system viewer, where it is printed."""
        from station_app.notices.render import count_pages, render_pdf

        from .service_widgets import export_dir

        o = self.overview
        if o is None:
            return
        ws, actor, rid = self.ctx.ws, self.ctx.actor, o.detail.id
        path = export_dir() / f"参保凭证-{date.today():%Y%m%d}-{rid[:8]}.pdf"
        self.print_button.setEnabled(False)
        self.progress.show()
        self.message.setText("正在生成参保凭证…")

        def work() -> tuple[Path, int]:
            doc = resident_slip(ws, actor, rid, fits=lambda d: count_pages(d, "A4") == 1)
            result = render_pdf(doc, "A4", path)
            return path, result.pages

        self.ctx.tasks.run_read(work, self._printed, self._print_failed, name="resident_slip", owner=self)

    def _printed(self, result: tuple[Path, int]) -> None:
        path, pages = result
        self.print_button.setEnabled(True)
        self.progress.hide()
        self.last_slip = path
        self.message.setText(f"参保凭证已生成（{pages} 页）：{path}")
        self.open_file(path)

    def _print_failed(self, error: BaseException) -> None:
        self.print_button.setEnabled(True)
        self.progress.hide()
        self.message.setText(error_text(error))

    def _action_failed(self, error: BaseException) -> None:
        self.medicine_button.setEnabled(True)
        self.message.setText(error_text(error))

    @staticmethod
    def open_file(path: Path) -> None:
        """Open the PDF in the system viewer, where it is printed (replaced in tests)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
