"""公示: choose a notice, preview / print / export / issue it, and the archive with reprints and 异议.

Data is prepared and PDFs are drawn in worker tasks (services and ``notices.render`` touch no
widget); print preview and printing paint on the main thread because the printer dialogs live
there. Every write (issue, objection, settings) goes through ``services.notices``.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, timezone
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtGui import QPixmap
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QScrollArea
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import NoticeKind
from station_app.notices.data import DISCLOSURE, LAYOUTS, MAX_PERIOD_DAYS, PAPERS, NoticeDocument
from station_app.services import notices as svc
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from ..tasks import TaskManager
from ..common import ProgressRelay, error_text

logger = logging.getLogger(__name__)


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


def paint_on_printer(doc: NoticeDocument, paper: str, printer: QPrinter) -> int:
    from station_app.notices.render import paint

    return paint(doc, paper, printer)


def make_printer(paper: str) -> QPrinter:
    from station_app.notices.render import page_layout

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setPageLayout(page_layout(paper))
    return printer


# --------------------------------------------------------------------------- archive table model


class NoticeArchiveModel(QAbstractTableModel):
    """Archived notices, newest first (the order the service returns)."""

    COL_ISSUED, COL_KIND, COL_TITLE, COL_PERIOD, COL_STATE, COL_PAGES, COL_BY, COL_OBJECTIONS = range(8)
    HEADERS = ("发布时间", "类型", "标题", "公示期", "状态", "页数", "发布人", "异议")
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[svc.ArchivedNotice] = []
        self.today = date.today()

    def set_rows(self, rows: list[svc.ArchivedNotice]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.today = date.today()
        self.endResetModel()

    def row_at(self, row: int) -> svc.ArchivedNotice | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        n = self.row_at(index.row())
        if n is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_ISSUED:  # stored in UTC, shown in local time
                return n.issued_at.replace(tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
            if col == self.COL_KIND:
                return n.kind_label
            if col == self.COL_TITLE:
                return n.title
            if col == self.COL_PERIOD:
                return f"{n.period_start:%m-%d} 至 {n.period_end:%m-%d}"
            if col == self.COL_STATE:
                return n.state(self.today)
            if col == self.COL_PAGES:
                return str(n.pages)
            if col == self.COL_BY:
                return n.issued_by_name
            if col == self.COL_OBJECTIONS:
                if not n.objections:
                    return "无"
                return f"{n.objections} 条（{n.open_objections} 条待处理）" if n.open_objections else f"{n.objections} 条"
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_TITLE:
            lines = [n.title, f"SHA-256：{n.sha256}", str(n.pdf_path)]
            if n.replaces_id:
                lines.append(f"替代上一版：{n.change_reason}")
            if n.disclosure:
                lines.append(f"病种和困难类别：{DISCLOSURE.get(n.disclosure, n.disclosure)}")
            return "\n".join(lines)
        if role == self.SORT_ROLE:
            return n.issued_at
        return None


# --------------------------------------------------------------------------- dialogs


class ObjectionDialog(QDialog):
    """异议登记: the notice's objections, a new one, and the outcome of the selected one."""

    def __init__(self, ws: Workspace, actor: Actor, notice: svc.ArchivedNotice, tasks: TaskManager,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.ws, self.actor, self.notice, self.tasks = ws, actor, notice, tasks
        self.setWindowTitle("异议登记")
        self.resize(760, 560)
        self.objections: list[svc.Objection] = []
        head = QLabel(f"{notice.title}\n公示期：{notice.period_start:%Y-%m-%d} 至 {notice.period_end:%Y-%m-%d}")
        head.setObjectName("dialogTitle")
        head.setWordWrap(True)
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        from PySide6.QtGui import QStandardItemModel

        self.model = QStandardItemModel(0, 5, self)
        self.model.setHorizontalHeaderLabels(["受理日期", "反映人", "异议内容", "处理结果", "处理日期"])
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        new_box = QGroupBox("登记新的异议")
        form = QFormLayout(new_box)
        today = date.today()
        self.received = QDateEdit(_qdate(min(today, notice.period_end)))
        self.received.setCalendarPopup(True)
        self.received.setDisplayFormat("yyyy-MM-dd")
        self.raised_by = QLineEdit()
        self.raised_by.setPlaceholderText("可不填（匿名）；只在本站保存，列表中脱敏显示，不会公示")
        self.content = QPlainTextEdit()
        self.content.setPlaceholderText("异议内容")
        self.content.setFixedHeight(70)
        self.outcome_new = QLineEdit()
        self.outcome_new.setPlaceholderText("已核实处理的，可同时填写处理结果")
        form.addRow("受理日期", self.received)
        form.addRow("反映人", self.raised_by)
        form.addRow("异议内容", self.content)
        form.addRow("处理结果", self.outcome_new)
        self.add_button = QPushButton("登记异议")
        self.add_button.clicked.connect(self.add_objection)
        form.addRow("", self.add_button)

        outcome_box = QGroupBox("为选中的异议填写处理结果")
        outcome_row = QHBoxLayout(outcome_box)
        self.outcome = QLineEdit()
        self.outcome.setPlaceholderText("核实情况和处理意见")
        self.outcome_button = QPushButton("保存处理结果")
        self.outcome_button.clicked.connect(self.save_outcome)
        outcome_row.addWidget(self.outcome, 1)
        outcome_row.addWidget(self.outcome_button)

        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setText("关闭")
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(self.table, 1)
        layout.addWidget(outcome_box)
        layout.addWidget(new_box)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        ws, actor, nid = self.ws, self.actor, self.notice.id
        self.tasks.run_read(lambda: svc.list_objections(ws, actor, nid), self._show, self._fail,
                            name="list_objections")

    def _show(self, objections: list[svc.Objection]) -> None:
        from PySide6.QtGui import QStandardItem

        self.objections = objections
        self.model.removeRows(0, self.model.rowCount())
        for o in objections:
            content = f"{o.content}（针对{o.earlier_version}）" if o.earlier_version else o.content
            cells = [f"{o.received_date:%Y-%m-%d}", o.raised_by_masked, content, o.outcome or "（待处理）",
                     f"{o.outcome_date:%Y-%m-%d}" if o.outcome_date else ""]
            self.model.appendRow([QStandardItem(c) for c in cells])

    def _fail(self, error: BaseException) -> None:
        self.message.setText(error_text(error))

    def add_objection(self) -> None:
        ws, actor, nid = self.ws, self.actor, self.notice.id
        received, raised_by = _pydate(self.received.date()), self.raised_by.text()
        content, outcome = self.content.toPlainText(), self.outcome_new.text()
        self.message.setText("")

        def done(_oid: str) -> None:
            self.content.clear()
            self.raised_by.clear()
            self.outcome_new.clear()
            self.message.setText("")
            self.reload()

        self.tasks.run_write(lambda: svc.record_objection(ws, actor, nid, received_date=received, content=content,
                                                          raised_by=raised_by, outcome=outcome),
                             done, self._fail, name="record_objection")

    def save_outcome(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.message.setText("请先在上面的列表中选中一条异议。")
            return
        objection = self.objections[rows[0].row()]
        ws, actor, text = self.ws, self.actor, self.outcome.text()
        self.tasks.run_write(lambda: svc.record_outcome(ws, actor, objection.id, outcome=text),
                             lambda _r: (self.outcome.clear(), self.reload()), self._fail,
                             name="objection_outcome")


class NoticePreviewDialog(QDialog):
    """Pages drawn in a worker (PNG bytes), shown one at a time: nothing heavy on the UI thread."""

    print_requested = Signal()

    def __init__(self, title: str, pages: list[bytes], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"预览 — {title}")
        self.resize(900, 1000)
        self.pages = pages
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(True)
        self.page = QSpinBox()
        self.page.setRange(1, max(1, len(pages)))
        self.page.setPrefix("第 ")
        self.page.setSuffix(f" 页 / 共 {len(pages)} 页")
        self.page.valueChanged.connect(self.show_page)
        previous, following = QPushButton("上一页"), QPushButton("下一页")
        previous.clicked.connect(lambda: self.page.setValue(self.page.value() - 1))
        following.clicked.connect(lambda: self.page.setValue(self.page.value() + 1))
        print_button = QPushButton("打印…")
        print_button.clicked.connect(self.print_requested.emit)
        close = QPushButton("关闭")
        close.clicked.connect(self.reject)
        bar = QHBoxLayout()
        for w in (previous, self.page, following):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(print_button)
        bar.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(bar)
        self.show_page(1)

    def show_page(self, number: int) -> None:
        if not self.pages:
            self.image.setText("（没有页面）")
            return
        pixmap = QPixmap()
        pixmap.loadFromData(self.pages[number - 1], "PNG")
        self.image.setPixmap(pixmap)


class NoticeSettingsDialog(QDialog):
    """公示设置: masking, ID display, 公示期, supervision phone, paper, enrollment layout, disclosure."""

    def __init__(self, settings: svc.NoticeSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("公示设置")
        self.masking = QCheckBox("姓名、身份证号脱敏（建议始终开启）")
        self.masking.setChecked(settings.masking_enabled)
        self.id_mode = QComboBox()
        self.id_mode.addItem("显示前6位和后4位", "partial")
        self.id_mode.addItem("完全隐藏", "hidden")
        self.id_mode.setCurrentIndex(max(0, self.id_mode.findData(settings.id_mode)))
        self.days = QSpinBox()
        self.days.setRange(1, MAX_PERIOD_DAYS)
        self.days.setSuffix(" 天")
        self.days.setValue(settings.period_days)
        self.phone = QLineEdit(settings.supervision_phone)
        self.phone.setPlaceholderText("不填则用站点电话")
        self.paper = QComboBox()
        for code, label in PAPERS.items():
            self.paper.addItem(label, code)
        self.paper.setCurrentIndex(max(0, self.paper.findData(settings.paper)))
        self.disclosure = QComboBox()
        for code, label in DISCLOSURE.items():
            self.disclosure.addItem(label, code)
        self.disclosure.setCurrentIndex(max(0, self.disclosure.findData(settings.disclosure)))
        self.disclosure.setToolTip("县级设置（只有管理员可改）：慢病卡和医疗救助公示上病种、困难类别显示到什么程度。"
                                   "按最少必要原则默认不公示。")
        self.layout_choice = QComboBox()
        for code, label in LAYOUTS.items():
            self.layout_choice.addItem(label, code)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(settings.layout)))
        form = QFormLayout()
        form.addRow("", self.masking)
        form.addRow("身份证号", self.id_mode)
        form.addRow("公示期", self.days)
        form.addRow("监督电话", self.phone)
        form.addRow("默认纸张", self.paper)
        form.addRow("参保公示版式", self.layout_choice)
        form.addRow("病种和困难类别", self.disclosure)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("保存")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("取消")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def value(self) -> svc.NoticeSettings:
        return svc.NoticeSettings(self.masking.isChecked(), self.id_mode.currentData(), self.days.value(),
                                  self.phone.text(), self.paper.currentData(), self.disclosure.currentData(),
                                  self.layout_choice.currentData())


# --------------------------------------------------------------------------- the page


class NoticeChooser(QWidget):
    """Village / group / year / paper / start date: what the preview, print, export and issue use."""

    changed = Signal()

    def __init__(self, villages: list[svc.VillageChoice], settings: svc.NoticeSettings, *, with_kind: bool = True,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.villages = villages
        self.settings = settings
        self.kind = QComboBox(self)
        self.kind.setVisible(with_kind)
        for kind in NoticeKind:
            self.kind.addItem(kind.label, kind.value)
        self.village = QComboBox()
        for v in villages:
            self.village.addItem(v.name, v.code)
        self.group = QComboBox()
        self.year = QSpinBox()
        self.year.setRange(2000, 2100)
        self.paper = QComboBox()
        for code, label in PAPERS.items():
            self.paper.addItem(label, code)
        self.start = QDateEdit(QDate.currentDate())
        self.start.setCalendarPopup(True)
        self.start.setDisplayFormat("yyyy-MM-dd")
        self.days = QSpinBox()
        self.days.setRange(1, MAX_PERIOD_DAYS)
        self.days.setSuffix(" 天")
        self.days.setValue(settings.period_days)
        self.layout_choice = QComboBox()
        for code, label in LAYOUTS.items():
            self.layout_choice.addItem(label.split("（")[0], code)
            self.layout_choice.setItemData(self.layout_choice.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        self.layout_choice.setCurrentIndex(max(0, self.layout_choice.findData(settings.layout)))
        self.allow_empty = QCheckBox("无记录时也生成")
        self.allow_empty.setToolTip("该年度没有记录时，默认拒绝生成（以免误导）；勾选后生成「本年度无…」的公示。")
        self.disclosure_label = QLabel()
        self.disclosure_label.setObjectName("hint")
        self.village.currentIndexChanged.connect(self._fill_groups)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.layout_choice.currentIndexChanged.connect(self._layout_changed)
        # Two rows of fields: one row of eight was wider than a 1280-px screen (issue 10).
        form = QGridLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(8)
        pairs = [("村", self.village), ("组", self.group), ("年度", self.year), ("版式", self.layout_choice),
                 ("纸张", self.paper), ("公示开始", self.start), ("公示期", self.days)]
        if with_kind:
            pairs.insert(0, ("公示类型", self.kind))
        self._layout_label = None
        per_row = (len(pairs) + 1) // 2
        for i, (label, widget) in enumerate(pairs):
            row, column = divmod(i, per_row)
            text = QLabel(label)
            if widget is self.layout_choice:
                self._layout_label = text
            form.addWidget(text, row, column * 2, Qt.AlignmentFlag.AlignRight)
            form.addWidget(widget, row, column * 2 + 1)
        extras = QHBoxLayout()
        extras.addWidget(self.allow_empty)
        extras.addWidget(self.disclosure_label)
        extras.addStretch(1)
        form.addLayout(extras, 2, 0, 1, per_row * 2 + 1)
        form.setColumnStretch(per_row * 2, 1)
        self._fill_groups()
        self._kind_changed()

    def _fill_groups(self) -> None:
        self.group.clear()
        self.group.addItem("全村", None)
        index = self.village.currentIndex()
        if 0 <= index < len(self.villages):
            for code, name in self.villages[index].groups:
                self.group.addItem(name, code)

    def _kind_changed(self) -> None:
        kind = self.kind.currentData() or "enrollment"
        is_roster = kind == NoticeKind.ENROLLMENT.value
        self.layout_choice.setVisible(is_roster)
        if self._layout_label is not None:
            self._layout_label.setVisible(is_roster)
        shows = kind in (NoticeKind.CHRONIC.value, NoticeKind.ASSISTANCE.value)
        self.disclosure_label.setVisible(shows)
        self.disclosure_label.setText(f"病种和困难类别：{DISCLOSURE.get(self.settings.disclosure, '')}（县级设置）")
        paper = self.settings.paper_for(kind, self.layout_choice.currentData())
        self.paper.setCurrentIndex(max(0, self.paper.findData(paper)))
        self.year.setValue(svc.default_year(kind))
        self.changed.emit()

    def _layout_changed(self) -> None:
        kind = self.kind.currentData() or "enrollment"
        paper = self.settings.paper_for(kind, self.layout_choice.currentData())
        self.paper.setCurrentIndex(max(0, self.paper.findData(paper)))
        self.changed.emit()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))

    def values(self) -> dict[str, Any]:
        return dict(kind=self.kind.currentData(), village_code=self.village.currentData(),
                    group_code=self.group.currentData(), year=self.year.value(), paper=self.paper.currentData(),
                    period_start=_pydate(self.start.date()), period_days=self.days.value(),
                    layout=self.layout_choice.currentData(), allow_empty=self.allow_empty.isChecked())


class NoticeActions:
    """Preview / print / export shared by the 公示 and 政策 pages; dialogs are overridable for tests."""

    ws: Workspace
    actor: Actor
    tasks: TaskManager
    status: QLabel

    def prepare_then(self, values: dict[str, Any], then: Callable[[NoticeDocument], None]) -> None:
        ws, actor = self.ws, self.actor
        v = dict(values)
        self.status.setText("正在准备公示内容…")
        self.tasks.run_read(
            lambda: svc.prepare_notice(ws, actor, v["kind"], v["village_code"], v["year"],
                                       group_code=v["group_code"], period_start=v["period_start"],
                                       period_days=v["period_days"], layout=v.get("layout"),
                                       allow_empty=bool(v.get("allow_empty"))),
            lambda doc: (self.status.setText(""), then(doc)), self.show_error, name="prepare_notice")

    def preview_document(self, doc: NoticeDocument, paper: str) -> None:
        """Pages are drawn to images in a worker (a 4,000-person roster froze the window for
        seconds when the print preview painted it on the UI thread); then shown page by page."""
        from station_app.notices.render import render_preview

        relay = getattr(self, "_relay", None)
        emit = relay.progress.emit if relay is not None else None
        self.status.setText("正在生成预览…")
        start = getattr(self, "_start_busy", None)
        cancel = start("正在生成预览…") if start is not None else None

        def work() -> list[bytes]:
            return render_preview(doc, paper, progress=emit, cancel=cancel)

        def done(pages: list[bytes]) -> None:
            end = getattr(self, "_end_busy", None)
            if end is not None:
                end()
            self.status.setText(f"预览：{doc.title}（{len(pages)} 页）")
            dialog = NoticePreviewDialog(doc.title, pages, self)  # type: ignore[arg-type]
            dialog.print_requested.connect(lambda: self.print_document(doc, paper))
            self.exec_dialog(dialog)

        def failed(error: BaseException) -> None:
            end = getattr(self, "_end_busy", None)
            if end is not None:
                end()
            if type(error).__name__ == "RenderCancelled":
                self.status.setText("已取消预览。")
                return
            self.show_error(error)

        self.tasks.run_read(work, done, failed, name="preview_notice")

    def print_document(self, doc: NoticeDocument, paper: str) -> None:
        printer = make_printer(paper)
        dialog = QPrintDialog(printer, self)  # type: ignore[arg-type]
        dialog.setWindowTitle(f"打印 — {doc.title}")
        if self.exec_dialog(dialog) == QDialog.DialogCode.Accepted:
            pages = paint_on_printer(doc, paper, printer)
            self.status.setText(f"已发送到打印机：{doc.title}（{pages} 页）")

    # Seams for tests: dialogs that would block.
    def exec_dialog(self, dialog: QDialog) -> int:
        return dialog.exec()

    def ask_save_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "导出 PDF", suggested, "PDF 文件 (*.pdf)")  # type: ignore[arg-type]
        return path

    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "请确认", text)  # type: ignore[arg-type]
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, error: BaseException) -> None:
        text = error_text(error)
        self.status.setText(text)
        QMessageBox.warning(self, "公示", text)  # type: ignore[arg-type]


class BroadcastDialog(QDialog):
    """村广播 beside the notices: the same panel as 政策 → 村广播."""

    def __init__(self, ws: Workspace, actor: Actor, tasks: TaskManager, parent: QWidget | None = None):
        super().__init__(parent)
        from . import PageContext
        from .qa_page import BroadcastPanel

        self.setWindowTitle("生成广播（流动喇叭）")
        self.resize(900, 560)
        self.panel = BroadcastPanel(PageContext(ws, actor, tasks), self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)


class NoticesPage(QWidget, NoticeActions):
    """The 公示 section. ``tasks`` defaults to a private TaskManager (the shell passes its own)."""

    #: Emitted after a notice has been issued (its id).
    issued = Signal(str)

    def __init__(self, ws: Workspace, actor: Actor, parent: QWidget | None = None, *,
                 tasks: TaskManager | None = None):
        super().__init__(parent)
        self.ws, self.actor = ws, actor
        self.tasks = tasks or TaskManager(parent=self)
        self.settings = svc.get_settings(ws)
        self.villages = svc.notice_villages(ws, actor)
        self._cancel = threading.Event()
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self._on_progress)
        self.last_export: Path | None = None

        title = QLabel("公示")
        title.setObjectName("pageTitle")
        subtitle = QLabel("参保、慢病卡、医疗救助、惠民政策四项公示：姓名和身份证号默认脱敏，发布后存档可查")
        subtitle.setObjectName("pageSubtitle")
        self.settings_button = QPushButton("公示设置…")
        self.settings_button.clicked.connect(self.edit_settings)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)
        header.addWidget(self.settings_button)
        # The loudspeaker tells what the board shows (seed 004: 流动喇叭), from the same figures.
        self.broadcast_button = QPushButton("生成广播…")
        self.broadcast_button.clicked.connect(self.open_broadcast)
        header.addWidget(self.broadcast_button)

        self.chooser = NoticeChooser(self.villages, self.settings)
        self.preview_button = QPushButton("预览")
        self.print_button = QPushButton("打印…")
        self.export_button = QPushButton("导出PDF…")
        self.issue_button = QPushButton("发布并存档")
        self.issue_button.setDefault(True)
        self.preview_button.clicked.connect(self.preview)
        self.print_button.clicked.connect(self.print_notice)
        self.export_button.clicked.connect(self.export_pdf)
        self.issue_button.clicked.connect(self.issue)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("取消")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: self._cancel.set())
        self.status = QLabel("" if self.villages else "本站没有可公示的村（请先载入县级参考数据）。")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        actions = QHBoxLayout()
        for b in (self.preview_button, self.print_button, self.export_button, self.issue_button):
            actions.addWidget(b)
        actions.addWidget(self.progress, 1)
        actions.addWidget(self.cancel_button)
        make_box = QGroupBox("制作公示")
        make_layout = QVBoxLayout(make_box)
        make_layout.addWidget(self.chooser)
        make_layout.addLayout(actions)
        make_layout.addWidget(self.status)

        self.model = NoticeArchiveModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header_view = self.table.horizontalHeader()
        header_view.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header_view.setSectionResizeMode(NoticeArchiveModel.COL_TITLE, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _i: self.reprint())
        self.reprint_button = QPushButton("重新打印…")
        self.open_button = QPushButton("打开存档PDF")
        self.objection_button = QPushButton("异议登记…")
        self.refresh_button = QPushButton("刷新")
        self.reprint_button.clicked.connect(self.reprint)
        self.open_button.clicked.connect(self.open_archived)
        self.objection_button.clicked.connect(self.objections)
        self.refresh_button.clicked.connect(self.refresh)
        archive_buttons = QHBoxLayout()
        for b in (self.reprint_button, self.open_button, self.objection_button):
            archive_buttons.addWidget(b)
        archive_buttons.addStretch(1)
        archive_buttons.addWidget(self.refresh_button)
        archive_box = QGroupBox("已发布公示存档（最新在前）")
        archive_layout = QVBoxLayout(archive_box)
        archive_layout.addWidget(self.table, 1)
        archive_layout.addLayout(archive_buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addLayout(header)
        layout.addWidget(make_box)
        layout.addWidget(archive_box, 1)
        for b in (self.preview_button, self.print_button, self.export_button, self.issue_button):
            b.setEnabled(bool(self.villages))
        self.refresh()

    # -- making ----------------------------------------------------------------------------

    def preview(self) -> None:
        values = self.chooser.values()
        self.prepare_then(values, lambda doc: self.preview_document(doc, values["paper"]))

    def print_notice(self) -> None:
        values = self.chooser.values()
        self.prepare_then(values, lambda doc: self.print_document(doc, values["paper"]))

    def export_pdf(self) -> None:
        values = self.chooser.values()
        village = self.chooser.village.currentText()
        kind_label = NoticeKind(values["kind"]).label
        path = self.ask_save_path(f"{village}{values['year']}年度{kind_label}公示.pdf")
        if not path:
            return
        ws, actor = self.ws, self.actor
        relay, cancel = self._relay, self._start_busy("正在生成 PDF…")

        def work() -> tuple[Path, int]:
            doc = svc.prepare_notice(ws, actor, values["kind"], values["village_code"], values["year"],
                                     group_code=values["group_code"], period_start=values["period_start"],
                                     period_days=values["period_days"], layout=values["layout"],
                                     allow_empty=values["allow_empty"])
            _pdf, pages = svc.render_notice(doc, values["paper"], path, progress=relay.progress.emit,
                                            cancel=cancel)
            return Path(path), pages

        def done(result: tuple[Path, int]) -> None:
            self._end_busy()
            self.last_export = result[0]
            self.status.setText(f"已导出：{result[0]}（{result[1]} 页）")

        self.tasks.run_read(work, done, self._busy_failed, name="export_notice")

    def issue(self) -> None:
        values = self.chooser.values()
        kind_label = NoticeKind(values["kind"]).label
        if not self.confirm(f"发布“{self.chooser.village.currentText()}{kind_label}”公示并存档？\n"
                            "发布后存档内容不能修改，张贴期间收到的异议可在存档中登记。"):
            return
        ws, actor = self.ws, self.actor
        relay, cancel = self._relay, self._start_busy("正在发布…")

        def work() -> svc.IssuedNotice:
            return svc.issue_notice(ws, actor, values["kind"], values["village_code"], values["year"],
                                    group_code=values["group_code"], paper=values["paper"],
                                    period_start=values["period_start"], period_days=values["period_days"],
                                    layout=values["layout"], allow_empty=values["allow_empty"],
                                    progress=relay.progress.emit, cancel=cancel)

        def done(issued: svc.IssuedNotice) -> None:
            self._end_busy()
            self.status.setText(f"{issued.message()}：{issued.title}（{issued.pages} 页）")
            self.refresh()
            self.issued.emit(issued.id)

        self.tasks.run_write(work, done, self._busy_failed, name="issue_notice")

    def open_broadcast(self) -> "BroadcastDialog":
        dialog = BroadcastDialog(self.ws, self.actor, self.tasks, self)
        dialog.show()
        return dialog

    def edit_settings(self) -> None:
        dialog = NoticeSettingsDialog(self.settings, self)
        if self.exec_dialog(dialog) != QDialog.DialogCode.Accepted:
            return
        value = dialog.value()
        ws, actor = self.ws, self.actor

        def done(saved: svc.NoticeSettings) -> None:
            self.settings = self.chooser.settings = saved
            self.chooser.days.setValue(saved.period_days)
            self.chooser.layout_choice.setCurrentIndex(max(0, self.chooser.layout_choice.findData(saved.layout)))
            self.chooser._kind_changed()
            self.status.setText("公示设置已保存。")

        self.tasks.run_write(lambda: svc.save_settings(ws, actor, value), done, self.show_error,
                             name="notice_settings")

    # -- busy state ------------------------------------------------------------------------

    def _start_busy(self, text: str) -> Callable[[], bool]:
        self._cancel = threading.Event()
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.status.setText(text)
        for b in (self.preview_button, self.print_button, self.export_button, self.issue_button):
            b.setEnabled(False)
        return self._cancel.is_set

    def _end_busy(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        for b in (self.preview_button, self.print_button, self.export_button, self.issue_button):
            b.setEnabled(bool(self.villages))

    def _busy_failed(self, error: BaseException) -> None:
        self._end_busy()
        if isinstance(error, svc.BatchCancelled):
            self.status.setText("已取消。")
            return
        self.show_error(error)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{message}  %p%")

    # -- archive ---------------------------------------------------------------------------

    def refresh(self) -> None:
        ws, actor = self.ws, self.actor
        self.tasks.run_read(lambda: svc.list_notices(ws, actor), self.model.set_rows, self.show_error,
                            name="list_notices")

    def selected(self) -> svc.ArchivedNotice | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.status.setText("请先在存档列表中选中一份公示。")
            return None
        return self.model.row_at(rows[0].row())

    def reprint(self) -> None:
        """Print again exactly what was posted: the archive is checked (SHA-256) first."""
        notice = self.selected()
        if notice is None:
            return
        ws, actor = self.ws, self.actor

        def work() -> tuple[NoticeDocument, str]:
            svc.reprint_path(ws, actor, notice.id)  # refuses a missing or altered file
            return svc.archived_document(ws, actor, notice.id), notice.paper or "A4"

        self.tasks.run_read(work, lambda r: self.print_document(*r), self.show_error, name="reprint_notice")

    def open_archived(self) -> None:
        notice = self.selected()
        if notice is None:
            return
        ws, actor = self.ws, self.actor
        self.tasks.run_read(lambda: svc.reprint_path(ws, actor, notice.id),
                            lambda path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))),
                            self.show_error, name="open_notice")

    def objections(self) -> None:
        notice = self.selected()
        if notice is None:
            return
        dialog = ObjectionDialog(self.ws, self.actor, notice, self.tasks, self)
        self.exec_dialog(dialog)
        self.refresh()
