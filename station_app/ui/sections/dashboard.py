"""工作台: the four 4134 goals at a glance, loaded off the UI thread from services.dashboard."""

from __future__ import annotations

import logging

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.chronic import MonthlyUsage
from station_app.domain.enums import Role, ServiceKind, SpecialGroup
from station_app.domain.errors import DomainError
from station_app.domain.kpi import Ratio
from station_app.services.chronic import village_choices
from station_app.services.dashboard import Dashboard, load_dashboard, narrowed_to_village
from station_app.services.overview import Overview, station_overview

from . import PageContext

logger = logging.getLogger(__name__)

LOADING_TEXT = "加载中…"
#: Seed 003: 沈丘 raised the monthly card use rate from 51% to 80% — an achieved figure, not a
#: target: the chart draws a target line only when the county sets one (rule ``targets``).
USAGE_TARGET = None
GOOD, BAD = "#2e7d32", "#c62828"


def _count(n: int) -> str:
    return f"{n:,}"


class FigureCard(QFrame):
    """One figure: a caption, a big value and a line of detail; a click opens the list behind it."""

    clicked = Signal()

    def __init__(self, caption: str, parent: QWidget | None = None, *, link: str = ""):
        super().__init__(parent)
        self.setObjectName("card")
        self.link = link
        if link:
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.setToolTip(f"点击查看：{link}")
        self.setMinimumSize(200, 118)
        self.caption = QLabel(caption)
        self.caption.setObjectName("cardCaption")
        self.value = QLabel("…")
        self.value.setObjectName("cardValue")
        self.detail = QLabel("")
        self.detail.setObjectName("cardCaption")
        self.detail.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 14, 20, 14)
        layout.setSpacing(4)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.link and event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.link and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)

    def set(self, value: str, detail: str = "", caption: str | None = None, *, colour: str | None = None) -> None:
        self.value.setText(value)
        self.detail.setText(detail)
        if caption is not None:
            self.caption.setText(caption)
        self.value.setStyleSheet(f"color: {colour};" if colour else "")


class UsageChart(QWidget):
    """卡月使用率 of the last 12 months as bars, with the 80% goal drawn across."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.months: list[MonthlyUsage] = []
        #: The county's 卡月使用率 target, or None (no line, no "目标").
        self.target: float | None = USAGE_TARGET
        self.setMinimumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(640, 230)

    def set_months(self, months: list[MonthlyUsage]) -> None:
        self.months = list(months)
        tips = [f"{m.month}：{m.used}/{m.holders} 人（{m.rate.percent_text}）" for m in self.months]
        self.setToolTip("\n".join(tips))
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        left, right, top, bottom = 44, 12, 22, metrics.height() + 10
        plot = QRectF(left, top, max(10, self.width() - left - right), max(10, self.height() - top - bottom))
        grid = QPen(QColor("#d9dee5"))
        painter.setPen(grid)
        for pct in (0, 25, 50, 75, 100):
            y = plot.bottom() - plot.height() * pct / 100
            painter.drawLine(plot.left(), y, plot.right(), y)
            painter.setPen(QColor("#6b7785"))
            painter.drawText(QRectF(0, y - 9, left - 6, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{pct}%")
            painter.setPen(grid)
        if not self.months:
            painter.setPen(QColor("#6b7785"))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "暂无用卡记录")
            return
        slot = plot.width() / len(self.months)
        for i, month in enumerate(self.months):
            value = month.rate.value
            x = plot.left() + i * slot + slot * 0.18
            width = slot * 0.64
            if value is not None:
                height = plot.height() * value
                colour = QColor(GOOD if self.target is not None and value >= self.target else "#3b78b8")
                painter.fillRect(QRectF(x, plot.bottom() - height, width, height), colour)
                painter.setPen(QColor("#1f2933"))
                painter.drawText(QRectF(x - 8, plot.bottom() - height - 18, width + 16, 16),
                                 Qt.AlignmentFlag.AlignCenter, f"{value * 100:.0f}%")
            painter.setPen(QColor("#4a5560"))
            painter.drawText(QRectF(plot.left() + i * slot, plot.bottom() + 4, slot, metrics.height()),
                             Qt.AlignmentFlag.AlignCenter, f"{int(month.month[5:])}月")
        if self.target is None:
            return
        goal_y = plot.bottom() - plot.height() * self.target
        painter.setPen(QPen(QColor(BAD), 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(plot.left(), goal_y, plot.right(), goal_y)
        # Label at the left end: the latest months (right) are the ones nearest the goal.
        painter.drawText(QRectF(plot.left() + 4, goal_y - 18, 120, 16), Qt.AlignmentFlag.AlignLeft,
                         f"县定目标 {self.target * 100:.0f}%")


def _rate_item(texts: list[str], ratio: Ratio, target: float | None = None) -> QTreeWidgetItem:
    item = QTreeWidgetItem(texts + [ratio.percent_text, f"{_count(ratio.numerator)} / {_count(ratio.denominator)}"])
    item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if target is not None and ratio.denominator and not ratio.meets(target):
        item.setForeground(1, QColor(BAD))
    return item


def _rate_tree(headers: list[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(True)
    tree.setUniformRowHeights(True)
    tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    tree.setMinimumHeight(260)
    return tree


class DashboardPage(QWidget):
    """Shows "加载中…" until the dashboard task delivers, then the figures."""

    #: Emitted with the Overview once the station's counts are on screen (first step).
    counts_shown = Signal(object)
    #: Emitted on the main thread with the Dashboard once the KPIs are on screen.
    loaded = Signal(object)
    #: A figure card was clicked: (list key, village code or None). The main window opens it.
    open_list = Signal(str, object)

    #: card attribute → (caption, list key, what the click opens). New figures add a line here.
    CARDS = (
        ("rate_card", "参保率", "enrollment", "年度参保名单"),
        ("hardship_card", "困难群众参保率", "hardship", "困难群众参保名单"),
        ("unpaid_card", "未缴费", "unpaid", "未缴清单"),
        ("usage_card", "卡月使用率", "usage", "慢病卡用卡情况"),
        ("assistance_card", "医疗救助落实率", "assistance", "医疗救助案件"),
        ("reminder_card", "本周续药提醒", "refills", "续药提醒名单"),
        ("service_card", "本月服务", "services", "服务记录"),
        ("pending_card", "待上传变更", "sync", "同步"),
        ("villages_card", "行政村", "residents", "居民档案"),
        ("households_card", "户数", "residents", "居民档案"),
        ("residents_card", "在册居民", "residents", "居民档案"),
    )

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.overview = None
        self.dashboard: Dashboard | None = None

        title = QLabel("工作台")
        title.setObjectName("pageTitle")
        station = ctx.ws.station
        self.subtitle = QLabel(station.name if station else "")
        self.subtitle.setObjectName("pageSubtitle")
        self.state_label = QLabel(LOADING_TEXT)
        self.state_label.setObjectName("hint")
        self.refresh_button = QPushButton("刷新")
        self.refresh_button.clicked.connect(self.refresh)
        # A clerk drills down by village; a 村医 has one village and sees only its figures.
        self.village_combo = QComboBox()
        self.village_combo.addItem("全乡镇", None)
        for code, name in village_choices(ctx.ws, ctx.actor):
            self.village_combo.addItem(name, code)
        self.single_village = self.village_combo.count() <= 2 and ctx.actor.role != Role.ADMIN.value
        self.village_combo.setVisible(not self.single_village)
        self.village_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        heading = QVBoxLayout()
        heading.setSpacing(4)
        heading.addWidget(title)
        heading.addWidget(self.subtitle)
        header = QHBoxLayout()
        header.addLayout(heading, 1)
        header.addWidget(self.state_label)
        header.addSpacing(12)
        header.addWidget(self.village_combo)
        header.addWidget(self.refresh_button)

        # 应保尽保 · 应办尽办 · 应享尽享, then the station's size.
        grid = QGridLayout()
        grid.setSpacing(14)
        self.cards: dict[str, FigureCard] = {}
        for i, (attr, caption, key, what) in enumerate(self.CARDS):
            card = FigureCard(caption, link=what)
            card.clicked.connect(lambda key=key: self.open_list.emit(key, self.village_code))
            setattr(self, attr, card)
            self.cards[attr] = card
            grid.addWidget(card, i // 4, i % 4)

        chart_title = QLabel("卡月使用率（近 12 个月）")
        chart_title.setObjectName("sectionTitle")
        self.usage_chart = UsageChart()
        self.village_tree = _rate_tree(["村 / 组", "参保率", "已参保 / 应参保"])
        self.group_tree = _rate_tree(["人员类别", "参保率", "已参保 / 应参保"])
        tables = QHBoxLayout()
        tables.setSpacing(14)
        for caption, tree in (("各村、组参保率（低者在前）", self.village_tree), ("特殊人群参保率", self.group_tree)):
            box = QVBoxLayout()
            label = QLabel(caption)
            label.setObjectName("sectionTitle")
            box.addWidget(label)
            box.addWidget(tree)
            tables.addLayout(box, 1)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(32, 0, 32, 28)
        body_layout.setSpacing(16)
        body_layout.addLayout(grid)
        body_layout.addWidget(chart_title)
        body_layout.addWidget(self.usage_chart)
        body_layout.addLayout(tables)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self.village_tree.itemDoubleClicked.connect(self._drill_down)
        self.village_tree.setToolTip("双击一个村，查看该村的工作台")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(32, 28, 32, 8)
        top_layout.addLayout(header)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(top)
        layout.addWidget(scroll, 1)

        self.refresh()

    @property
    def is_loading(self) -> bool:
        return self.state_label.text() == LOADING_TEXT

    def _set_state(self, text: str, *, error: bool = False) -> None:
        self.state_label.setText(text)
        name = "error" if error else "hint"
        if self.state_label.objectName() != name:
            self.state_label.setObjectName(name)
            self.state_label.style().unpolish(self.state_label)
            self.state_label.style().polish(self.state_label)

    @property
    def village_code(self) -> str | None:
        """The village drilled into (or a 村医's own village); None for the whole township."""
        if self.single_village:
            return None  # the actor's scope is already that village
        return self.village_combo.currentData()

    def drill_into(self, village_code: str | None) -> None:
        index = self.village_combo.findData(village_code)
        self.village_combo.setCurrentIndex(max(0, index))

    def _drill_down(self, item: QTreeWidgetItem, _column: int) -> None:
        code = item.data(0, Qt.ItemDataRole.UserRole)
        if code and not self.single_village:
            self.drill_into(code)

    def refresh(self) -> None:
        """Two tasks: the counts of the actor's scope (tens of ms), and the KPIs (~0.5 s at 60k)."""
        self._set_state(LOADING_TEXT)
        self.refresh_button.setEnabled(False)
        ws, actor, village = self.ctx.ws, self.ctx.actor, self.village_code
        self.ctx.tasks.run_read(
            lambda: station_overview(ws, with_enrollment=False, actor=narrowed_to_village(ws, actor, village)),
            self._show_overview, self._failed, name="station_overview", owner=self)
        self.ctx.tasks.run_read(
            lambda: load_dashboard(ws, actor, village_code=village) if village else load_dashboard(ws, actor),
            self._show, self._failed, name="dashboard", owner=self)

    # -- showing ----------------------------------------------------------------------------

    def _show_overview(self, overview: Overview) -> None:
        self.overview = overview
        self.subtitle.setText(" · ".join(p for p in (overview.place_name, overview.station_name) if p))
        self.villages_card.setVisible(overview.village_count != 1)  # a village's own board: no "1 个村"
        self.villages_card.set(_count(overview.village_count), "本站服务的行政村")
        self.households_card.set(_count(overview.household_count), "登记在册的户")
        self.residents_card.set(_count(overview.registered_residents), "状态为“在册”的居民")
        self.pending_card.set(_count(overview.pending_outbox), "尚未上传到县医保服务器的修改")
        self.counts_shown.emit(overview)

    def _show(self, board: Dashboard) -> None:
        self.dashboard = board
        self._show_enrollment(board)
        self._show_benefits(board)
        self.usage_chart.target = board.target("card_usage_rate")
        self.usage_chart.set_months(board.usage)
        self._set_state("")
        self.refresh_button.setEnabled(True)
        self.loaded.emit(board)

    def _show_enrollment(self, board: Dashboard) -> None:
        kpis, year = board.kpis, board.year
        self.village_tree.clear()
        self.group_tree.clear()
        if year is None or kpis is None:
            for card in (self.rate_card, self.hardship_card, self.unpaid_card):
                card.set("—", "县医保局尚未下发缴费年度")
            return
        caption = f"参保率（{year} 年度）"
        if not kpis.overall.denominator:
            self.rate_card.set("—", f"{year} 年度尚无参保登记", caption=caption)
        else:
            in_force = ""
            if board.in_force_kpis is not None and board.in_force_year:
                rate = board.in_force_kpis.overall
                in_force = f"；{board.in_force_year} 年度（当前待遇年度）{rate.percent_text}"
            self.rate_card.set(kpis.overall.percent_text,
                               f"已参保 {_count(kpis.overall.numerator)} 人 / 应参保 {_count(kpis.overall.denominator)} 人"
                               + in_force, caption=caption)
        hardship = kpis.hardship
        goal = board.target("hardship_enrollment_rate")
        if goal is None:
            self.hardship_card.set(hardship.percent_text,
                                   f"{_count(hardship.numerator)} / {_count(hardship.denominator)} 人")
        else:
            met = hardship.meets(goal) if hardship.denominator else True
            self.hardship_card.set(hardship.percent_text, f"县定目标 {goal * 100:.0f}%" + (
                "，已达到" if met else f"，尚差 {hardship.denominator - hardship.numerator} 人"),
                colour=None if met else BAD)
        info = board.year_info
        deadline = info.deadline_text if info and info.deadline_text else ""
        contacted = f"已联系 {_count(board.unpaid_contacted)} 人" if board.unpaid_contacted else "尚未记录联系结果"
        self.unpaid_card.set(f"{_count(board.unpaid)} 人", " · ".join(p for p in (deadline, contacted) if p),
                             colour=BAD if board.unpaid and info and info.days_left is not None and 0 <= info.days_left <= 30 else None)
        villages = sorted(kpis.by_village, key=lambda p: (p.ratio.value if p.ratio.value is not None else 2, p.name))
        groups_by_village: dict[str, list] = {}
        for group in kpis.by_group:
            groups_by_village.setdefault(group.village_code, []).append(group)
        for village in villages:
            item = _rate_item([village.name], village.ratio)
            item.setData(0, Qt.ItemDataRole.UserRole, village.code)
            for group in sorted(groups_by_village.get(village.code, []), key=lambda g: g.code):
                item.addChild(_rate_item([group.name], group.ratio))
            self.village_tree.addTopLevelItem(item)
        hardship_item = _rate_item(["困难群众（合计）"], kpis.hardship, 1.0)
        self.group_tree.addTopLevelItem(hardship_item)
        for code, ratio in sorted(kpis.by_special_group.items(), key=lambda kv: kv[0]):
            try:
                label = SpecialGroup(code).label
            except ValueError:
                label = code
            self.group_tree.addTopLevelItem(_rate_item([label], ratio, 1.0))

    def _show_benefits(self, board: Dashboard) -> None:
        # The headline is the last complete month; the current month shows as 本月至今, so the
        # 1st of a month no longer reads 0.0%.
        complete, current = board.last_complete_month, board.month_to_date
        so_far = (f"本月至今 {current.rate.percent_text}（{current.used}/{current.holders} 人）"
                  if current is not None and current.holders else "")
        if complete is None:
            self.usage_card.set(current.rate.percent_text if current and current.holders else "—",
                                so_far or "暂无在用慢病卡", caption="卡月使用率（本月至今）" if so_far else "卡月使用率")
        else:
            goal = board.target("card_usage_rate")
            new = f"；新增卡 本月 {board.figures.new_cards.month_count} 张" if board.figures else ""
            self.usage_card.set(complete.rate.percent_text,
                                f"{complete.month}：用卡 {complete.used} 人 / 持卡 {complete.holders} 人{new}"
                                + (f"\n{so_far}" if so_far else ""),
                                caption=f"卡月使用率（{int(complete.month[5:])}月）",
                                colour=GOOD if goal is not None and complete.rate.meets(goal) else None)
        figures = board.fulfilment
        total = figures.total
        handled = (f"；本月办理救助 {board.figures.assistance_handled.month_count} 人次"
                   if board.figures else "")
        self.assistance_card.set(figures.rate.percent_text,
                                 f"{figures.year} 年：应享 {total.people} 人，已落实 {total.people_paid} 人；"
                                 f"金额 {figures.amount_rate.percent_text}；待落实 {total.pending} 笔{handled}")
        overdue = f"，其中已断药 {board.reminders_overdue} 人" if board.reminders_overdue else ""
        contacted = (f" · 已联系 {_count(board.refill_contacted)} 人" if board.refill_contacted
                     else " · 尚未记录联系结果" if board.reminders_due else "")
        self.reminder_card.set(f"{board.reminders_due} 人", f"7 天内药品用完{overdue}{contacted}",
                               colour=BAD if board.reminders_overdue else None)
        totals = board.services.totals
        parts = [f"{kind.label} {totals.get(kind.value, 0)}" for kind in
                 (ServiceKind.HOME_VISIT, ServiceKind.MEDICINE, ServiceKind.QUESTION, ServiceKind.ERRAND)]
        # 提醒 calls are not the same work as 代购药/答疑: counted apart (issue 17.6).
        asked = "；答疑主题：" + " · ".join(f"{topic} {n}" for topic, n in board.question_topics[:4]) \
            if board.question_topics else ""
        self.service_card.set(f"{board.work_services} 次",
                              " · ".join(parts) + f"（另有提醒电话 {board.reminder_calls} 次）{asked}")

    def _failed(self, error: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        if isinstance(error, DomainError):
            self._set_state(f"加载失败：{error.message}", error=True)
        else:
            logger.error("dashboard failed: %s", error)
            self._set_state("加载失败，请点“刷新”重试；问题已记录在日志中。", error=True)
