"""未缴清单: the year's unpaid people by group and household — a work list (call, record the outcome,
mark paid), printed compact, exported to xlsx and to the county's SMS platform."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import EnrollmentStatus
from station_app.domain.money import yuan
from station_app.services import enrollment as svc
from station_app.services.enrollment import YearInfo
from station_app.services.reveal import REVEAL_SECONDS, masked_phone

from ..common import ProgressRelay, error_text
from ..fit import fit_size
from ..reveal import RevealController
from ..sections import PageContext
from .outreach_outcome import OutcomeDialog
from .payment_dialog import PaymentDialog, SubmitDialog
from .unpaid_print import PRINT_POINT_SIZE, print_layout, unpaid_html, write_unpaid_pdf

#: The tree's phone column (masked; a click or 「显示电话」 reveals one person's, audited).
PHONE_COLUMN = 4
REVEAL_TIP = f"点击显示完整号码以便拨打（{REVEAL_SECONDS} 秒，记入操作日志）"
#: Lists up to this many households are put in at once; longer ones in slices of FILL_SLICE_SECONDS.
FILL_AT_ONCE = 300
HOUSEHOLD_ROLE = Qt.ItemDataRole.UserRole + 1
#: A list of up to this many households opens with every member shown (a village's: the doctor
#: works down it calling); a longer one (the township's) at household level.
OPEN_HOUSEHOLDS_UP_TO = 1000
FILL_SLICE_SECONDS = 0.015
#: Said before printing: the printout is the one place the full numbers appear.
PRINT_NOTICE = ("打印稿是打电话催缴用的工作单：为便于拨打，电话号码完整打印（屏幕上仍遮挡），不含身份证号。"
                "请专人保管，用完后销毁，不要张贴。")


class UnpaidListDialog(QDialog):
    """未缴清单: by group and household, with phone numbers; 打印 and 导出 xlsx."""

    loaded = Signal(object)

    def __init__(self, ctx: PageContext, year: int, *, village_code: str | None = None, group_code: str | None = None,
                 today: date | None = None, ask_save_path: Callable[[str, str], str] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx, self.year = ctx, year
        self.village_code, self.group_code = village_code, group_code
        self.today = today or date.today()
        self.data: svc.UnpaidList | None = None
        self.last_export: Path | None = None
        self._ask_save_path = ask_save_path
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self._on_progress)
        self.setWindowTitle(f"{year} 年度未缴费清单")
        # Emptied when closed: a township's list is ~20,000 Python objects, which a kept (hidden)
        # dialog would leave for every later full collection to walk on the UI thread.
        self.finished.connect(self._release)
        fit_size(self, 1080, 680)
        self.heading = QLabel(f"{year} 年度未缴费清单")
        self.heading.setObjectName("dialogTitle")
        self.summary = QLabel("加载中…")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.outcomes: dict[str, Any] = {}
        self.info: YearInfo | None = None
        self.last_pdf: Path | None = None
        self._generation = 0
        #: resident id → (person item, own phone, household phone), for reveal and re-mask.
        self._person_items: dict[str, tuple[QTreeWidgetItem, str, str]] = {}
        #: Households of a long list whose member rows are made when opened (HOUSEHOLD_ROLE indexes it).
        self._lazy_households: list[svc.UnpaidHousehold] = []
        self._tops: list[QTreeWidgetItem] = []
        #: One resident's full phone at a time, for a minute, audited (the shared controller).
        self.reveal = RevealController(ctx, self)
        self.reveal.changed.connect(self._reveal_changed)
        self.reveal.failed.connect(self._reveal_failed)
        self._shown: str | None = None
        #: Asked before printing (the printout carries full phone numbers); replaced in tests.
        self.confirm_print: Callable[[str], bool] = self._ask_print
        self.tree = QTreeWidget()
        self.tree.setColumnCount(9)
        self.tree.setHeaderLabels(["组 / 户 / 姓名", "上次联系", "关系", "年龄", "电话", "应缴(元)", "已缴/在册",
                                   "人员类别", "提示"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        for i, w in enumerate((250, 180, 50, 46, 190, 76, 70, 110, 140)):
            self.tree.setColumnWidth(i, w)
        self.tree.currentItemChanged.connect(lambda *_a: self._update_actions())
        self.tree.itemClicked.connect(self._item_clicked)
        self.tree.itemExpanded.connect(self._expanded)
        # A work list: record each call's outcome, mark paid, send the county's SMS.
        self.outcome_button = QPushButton("记录联系结果…")
        self.paid_button = QPushButton("标记已缴费…")
        self.sms_button = QPushButton("导出短信…")
        self.sms_button.setToolTip("姓名、手机号、短信内容（CSV），供县短信平台群发")
        self.reveal_button = QPushButton("显示电话")
        self.reveal_button.setToolTip(REVEAL_TIP)
        self.reveal_button.clicked.connect(self.reveal_phone)
        self.outcome_button.clicked.connect(self.record_outcome)
        self.paid_button.clicked.connect(self.mark_paid)
        self.sms_button.clicked.connect(self.export_sms)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.print_button = QPushButton("打印…")
        self.export_button = QPushButton("导出Excel…")
        self.close_button = QPushButton("关闭")
        self.print_button.setToolTip(PRINT_NOTICE)
        self.print_button.clicked.connect(self.request_print)
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.reject)
        self.message = QLabel("")
        self.message.setObjectName("hint")
        work = QHBoxLayout()
        work.addWidget(self.reveal_button)
        work.addWidget(self.outcome_button)
        work.addWidget(self.paid_button)
        work.addStretch(1)
        work.addWidget(self.sms_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addWidget(self.heading)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addLayout(work)
        layout.addLayout(buttons)
        self.print_button.setEnabled(False)
        self.reload()

    def reload(self) -> None:
        from station_app.services import outreach

        ws, actor, year, today = self.ctx.ws, self.ctx.actor, self.year, self.today
        village_code, group_code = self.village_code, self.group_code

        def load():
            data = svc.unpaid_list(ws, actor, year, village_code=village_code, group_code=group_code, today=today)
            outcomes = outreach.latest_outcomes(ws, actor, "unpaid", year=year)
            return data, outcomes, svc.year_info(ws, year, actor=actor, today=today)

        self._update_actions()
        self.ctx.tasks.run_read(load, lambda r: self._show(*r), self._failed, name="unpaid_list", owner=self)

    # -- the work list ---------------------------------------------------------------------

    def current_member(self) -> tuple[str, str] | None:
        """(resident id, name) of the selected person row."""
        item = self.tree.currentItem()
        rid = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        return (rid, item.text(0)) if rid else None

    def _update_actions(self) -> None:
        chosen = self.current_member() is not None
        self.reveal_button.setEnabled(chosen)
        self.outcome_button.setEnabled(chosen)
        self.paid_button.setEnabled(chosen and self.info is not None and self.info.has_setting)

    def record_outcome(self) -> "OutcomeDialog | None":
        member = self.current_member()
        if member is None:
            return None
        dialog = OutcomeDialog(self.ctx, member[0], member[1], list_kind="unpaid", year=self.year, parent=self)
        dialog.accepted.connect(lambda: (self.message.setText(f"已记录 {member[1]} 的联系结果。"), self.reload()))
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def mark_paid(self) -> "SubmitDialog | None":
        member = self.current_member()
        if member is None or self.info is None:
            return None
        from station_app.services import outreach

        rid, name = member
        ws, actor, year, today, info = self.ctx.ws, self.ctx.actor, self.year, self.today, self.info

        def submit(v: dict[str, Any]) -> str:
            status = svc.set_paid(ws, actor, rid, year, paid_on=v["paid_on"], channel=v["channel"],
                                  amount_fen=v["amount_fen"], today=today)
            outreach.record_outcome(ws, actor, rid, list_kind="unpaid", year=year, result="paid", on=today)
            return f"已登记 {name} 为{EnrollmentStatus(status).label}。"

        dialog = PaymentDialog(self.ctx.tasks, submit, count=1, info=info, today=today, name=name, parent=self)
        dialog.accepted.connect(lambda: (self.message.setText(dialog.result_value or "已登记缴费。"), self.reload()))
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def sms_people(self) -> list[tuple[str, str, int | None]]:
        if self.data is None:
            return []
        people = []
        for group in self.data.groups:
            for h in group.households:
                for m in h.unpaid:
                    people.append((m.name, m.phone or h.phone, m.due_fen))
        return people

    def export_sms(self) -> None:
        from station_app.services import outreach

        if self.data is None:
            return
        ask = self._ask_save_path or self._default_ask_csv
        path = ask("导出短信名单", f"{self.year}年度缴费提醒短信.csv")
        if not path:
            return
        rows = outreach.sms_rows(self.sms_people(), year=self.year, deadline=self.data.deadline)
        count = outreach.write_sms_csv(Path(path), rows)
        self.last_export = Path(path)
        self.message.setText(f"已导出 {count:,} 条短信（无手机号的 {len(self.sms_people()) - count:,} 人未列入）：{path}")

    def _default_ask_csv(self, title: str, name: str) -> str:
        path, _f = QFileDialog.getSaveFileName(self, title, str(Path.home() / name), "CSV 文件 (*.csv)")
        return path

    def _failed(self, error: BaseException) -> None:
        self.summary.setText(error_text(error))

    def _show(self, data: svc.UnpaidList, outcomes: dict[str, Any] | None = None,
              info: YearInfo | None = None) -> None:
        """Fill the tree; a township's ~12,000 rows go in slices so the window keeps painting.

        ``data`` is set (and ``loaded`` emitted) once every row is in.
        """
        self.outcomes = outcomes or {}
        self.info = info
        self._generation += 1
        contacted = sum(1 for g in data.groups for h in g.households for m in h.unpaid if m.resident_id in self.outcomes)
        deadline = f"缴费截止 {data.deadline:%Y-%m-%d}，{data.deadline_text}。" if data.deadline else ""
        flagged = f"★ {data.flagged:,} 户只有老人和小孩缴了费，年轻人未缴。" if data.flagged else ""
        self.summary.setText(f"未缴 {data.households:,} 户 {data.people:,} 人，分布在 {len(data.groups)} 个组；"
                             f"已联系 {contacted:,} 人。{deadline}{flagged}")
        self.tree.clear()
        self._person_items = {}
        self._lazy_households = []
        rows = self._fill_rows(data)
        if data.households <= FILL_AT_ONCE:
            for _ in rows:
                pass
            self._filled(data)
        else:
            self._fill_slice(self._generation, rows, data)

    def _release(self, _result: int = 0) -> None:
        self._generation += 1  # a fill still in slices stops
        self.tree.clear()
        self._person_items = {}
        self._lazy_households = []
        self.reveal.remask()
        self.data = None

    def _fill_slice(self, generation: int, rows, data: svc.UnpaidList) -> None:
        if generation != self._generation or not shiboken6.isValid(self):
            return  # reloaded (or closed) meanwhile
        deadline = time.perf_counter() + FILL_SLICE_SECONDS
        for _ in rows:
            if time.perf_counter() > deadline:
                QTimer.singleShot(0, lambda: self._fill_slice(generation, rows, data))
                return
        self._filled(data)

    def _filled(self, data: svc.UnpaidList) -> None:
        self.data = data
        self.print_button.setEnabled(bool(data.groups))
        self.sms_button.setEnabled(bool(data.groups))
        self._update_actions()
        self.loaded.emit(data)

    def _fill_rows(self, data: svc.UnpaidList):
        """Make the tree's items one household at a time (a generator: the caller decides the pace).

        Items are made detached and put in the tree at once at the end (``_attach``): each insert
        into a shown tree made the view lay out every row again, ~40 ms a slice for a township.
        """
        bold = self.tree.font()
        bold.setBold(True)
        warn = QBrush(QColor("#b3261e"))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        open_households = data.households <= OPEN_HOUSEHOLDS_UP_TO
        self._tops = []
        for group in data.groups:
            top = QTreeWidgetItem([f"{group.title}　未缴 {len(group.households)} 户 {group.people} 人"])
            top.setFont(0, bold)
            self._tops.append(top)
            for h in group.households:
                # Phones masked on screen (PIPL minimum necessary): 「显示电话」 reveals one person's, audited.
                phones = "、".join(masked_phone(p) for p in h.phones)
                item = QTreeWidgetItem([f"{h.household_no}　户主 {h.head_name}", "", "", "", phones,
                                        yuan(sum(m.due_fen or 0 for m in h.unpaid)), f"{h.covered}/{h.members}",
                                        "", "★ 仅老人/小孩已缴" if h.only_old_young_paid else ""])
                item.setTextAlignment(5, right)
                item.setTextAlignment(6, right)
                if h.only_old_young_paid:
                    item.setForeground(8, warn)
                top.addChild(item)
                if open_households:
                    self._add_members(item, h)
                else:
                    # A township's list opens at household level: members are made when a household
                    # is opened (a third of the items, and of the work the collector walks later).
                    item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
                    item.setData(0, HOUSEHOLD_ROLE, len(self._lazy_households))
                    self._lazy_households.append(h)
                yield
        self._attach(open_households)

    def _attach(self, open_households: bool) -> None:
        self.tree.addTopLevelItems(self._tops)
        for top in self._tops:
            top.setFirstColumnSpanned(True)  # only takes once the item is in the tree
        if open_households:
            self.tree.expandAll()
        else:
            self.tree.expandToDepth(0)
        self._tops = []

    def _add_members(self, item: QTreeWidgetItem, h: svc.UnpaidHousehold) -> None:
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for m in h.unpaid:
            # The hint says what differs from a plain 未缴费: no record yet, or a subsidy that lowers the due.
            hint = m.status if m.status != EnrollmentStatus.UNPAID.label else m.subsidy_category
            outcome = self.outcomes.get(m.resident_id)
            child = QTreeWidgetItem([m.name, outcome.text if outcome else "", m.relation,
                                     "" if m.age is None else str(m.age), masked_phone(m.phone),
                                     yuan(m.due_fen), "", m.groups, hint])
            child.setData(0, Qt.ItemDataRole.UserRole, m.resident_id)
            child.setToolTip(PHONE_COLUMN, REVEAL_TIP)
            child.setTextAlignment(3, right)
            child.setTextAlignment(5, right)
            item.addChild(child)
            self._person_items[m.resident_id] = (child, m.phone, h.phone)

    def _expanded(self, item: QTreeWidgetItem) -> None:
        index = item.data(0, HOUSEHOLD_ROLE)
        if index is not None and item.childCount() == 0:
            self._add_members(item, self._lazy_households[index])

    # -- phones: masked, one revealed at a time (audited; the shared RevealController) ----------

    def reveal_phone(self) -> None:
        """「显示电话」: the selected person's full number for REVEAL_SECONDS, recorded in the audit log."""
        member = self.current_member()
        if member is None:
            return
        self.reveal_button.setEnabled(False)
        self.reveal.reveal(member[0])

    def _reveal_changed(self) -> None:
        """Mask the one shown before (if any); show the one revealed now (if any)."""
        self._update_actions()
        if self._shown is not None and self._shown in self._person_items:
            item, own, _household_phone = self._person_items[self._shown]
            item.setText(PHONE_COLUMN, masked_phone(own))
        revealed = self.reveal.revealed
        self._shown = revealed.resident_id if revealed is not None else None
        entry = self._person_items.get(self._shown) if self._shown else None
        if revealed is None or entry is None:
            return
        item, _own, household_phone = entry
        # The number to call: the person's own, else the household's.
        item.setText(PHONE_COLUMN, revealed.phone or (f"{household_phone}（户）" if household_phone else "（无电话）"))
        self.message.setText(f"已显示 {item.text(0)} 的电话（{REVEAL_SECONDS} 秒后重新遮挡，已记入操作日志）。")

    def _reveal_failed(self, text: str) -> None:
        self._update_actions()
        self.message.setText(text)

    def _item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if column == PHONE_COLUMN and item.data(0, Qt.ItemDataRole.UserRole):
            self.reveal_phone()

    def title(self) -> str:
        place = ""
        if self.data and self.data.groups and self.village_code:
            place = self.data.groups[0].village_name
            if self.group_code:
                place += self.data.groups[0].group_name
        return f"{place}{self.year}年度未缴费人员清单"

    def print_document(self) -> QTextDocument:
        doc = QTextDocument()
        font = QFont(self.font())
        font.setPointSize(PRINT_POINT_SIZE)
        doc.setDefaultFont(font)
        if self.data is not None:
            doc.setHtml(unpaid_html(self.data, self.title(), self.outcomes))
        return doc

    def print_document_for(self, printer) -> QTextDocument:
        doc = self.print_document()
        print_layout(doc, printer)
        return doc

    def _ask_print(self, text: str) -> bool:
        answer = QMessageBox.question(self, "打印未缴清单", text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def request_print(self) -> None:
        """打印…: say first that the printout carries full phone numbers (the caller's work sheet)."""
        if self.data is None:
            return
        if self.confirm_print(f"{PRINT_NOTICE}\n\n共 {self.data.people:,} 人。继续生成打印稿？"):
            self.print_preview()

    def print_preview(self) -> None:
        """Write the printout as a PDF in a child process (a township's 8,000 rows took 15 s of
        frozen window in QPrintPreviewDialog, and still 14 s laid out on a worker thread: Qt's
        layout holds the GIL), with progress shown meanwhile; then open it for printing."""
        if self.data is None:
            return
        from .service_widgets import export_dir

        data, title, outcomes = self.data, self.title(), dict(self.outcomes)
        path = export_dir() / f"{title}-{date.today():%Y%m%d}.pdf"
        self.print_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.message.setText("正在后台排版打印稿，可继续操作…")
        self.ctx.tasks.run_read(lambda: write_unpaid_pdf(data, title, outcomes, path), self._printed,
                                self._print_failed, name="unpaid_pdf", owner=self)

    def _printed(self, result: tuple[Path, int]) -> None:
        path, pages = result
        self.print_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_pdf = path
        self.message.setText(f"打印稿已生成（{pages} 页）：{path}")
        self.open_file(path)

    def _print_failed(self, error: BaseException) -> None:
        self.print_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(error_text(error))

    @staticmethod
    def open_file(path: Path) -> None:
        """Open the PDF in the system viewer, where it is printed (replaced in tests)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def export(self) -> None:
        ask = self._ask_save_path or self._default_ask
        path = ask("导出未缴费清单", f"{self.year}年度未缴费清单.xlsx")
        if not path:
            return
        from station_app.services import exports

        ws, actor, year, village, relay = self.ctx.ws, self.ctx.actor, self.year, self.village_code, self._relay
        self.export_button.setEnabled(False)
        self.progress.setVisible(True)
        self.ctx.tasks.run_read(lambda: exports.export_unpaid(ws, actor, path, year=year, village_code=village,
                                                              progress=relay.progress.emit),
                                self._exported, self._export_failed, name="export_unpaid", owner=self)

    def _default_ask(self, title: str, name: str) -> str:
        path, _f = QFileDialog.getSaveFileName(self, title, str(Path.home() / name), "Excel 文件 (*.xlsx)")
        return path

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))

    def _exported(self, result) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_export = result.path
        self.message.setText(f"已导出 {result.rows:,} 行：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(error_text(error))

