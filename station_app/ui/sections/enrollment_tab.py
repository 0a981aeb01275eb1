"""年度参保: a benefit year's list of residents with their status, bulk marking, the unpaid list and a new year.

The strips around the list are in ``enrollment_bars``; the 未缴清单 is ``dialogs/unpaid_list``."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDialog, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QTableView, QVBoxLayout, QWidget

from station_app.domain.enums import EnrollmentStatus
from station_app.domain.money import yuan
from station_app.services import enrollment as svc
from station_app.services.enrollment import EnrollmentFilters, YearInfo

from ..common import ProgressRelay, error_text
from ..dialogs.payment_dialog import NoteDialog, PaymentDialog, SubmitDialog, SubsidyDialog
from ..dialogs.unpaid_list import UnpaidListDialog
from ..models.lazy_table import Column
from ..reveal import RevealButton, RevealController, RevealTableModel
from ..tasks import TaskManager
from ..views import apply_widths, enable_sorting, setup_table
from . import PageContext
from .enrollment_bars import ActionBar, FilterBar, StatusLine, YearBar

logger = logging.getLogger(__name__)

#: Who and 参保状态 first: on a 1366×768 screen ~8 columns show, and the status used to be
#: cut off at the right edge behind 村/组/户号. The village column is hidden for a village user.
COLUMNS = (
    Column("name", "姓名", width=76),
    Column("status", "参保状态", width=100),
    Column("sex", "性别", width=46),
    Column("age", "年龄", align_right=True, width=50),
    Column("group", "组", width=60),
    Column("village", "村", width=80),
    Column("head_name", "户主", width=70),
    Column("relation", "关系", width=56, sort_key="relation"),
    Column("due_yuan", "应缴(元)", align_right=True, width=76, sort_key=None),
    Column("paid_yuan", "实缴(元)", align_right=True, width=76),
    Column("paid_date", "缴费日期", width=96),
    Column("benefit_start", "待遇起始", width=96, sort_key=None),
    Column("channel", "渠道", width=90),
    # Masked on screen (PIPL minimum necessary; the model masks, 「显示」 reveals one resident for a
    # minute, audited), as in 居民档案; search still matches the full values.
    Column("phone", "电话", width=110),
    Column("id_number", "身份证号", width=170),
    Column("household_no", "户号", width=110),
    Column("groups", "人员类别", width=120),
    Column("subsidy_category", "资助类别", width=190),
    Column("subsidy_yuan", "资助(元)", align_right=True, width=76),
    Column("resident_status", "居民状态", width=70),
    Column("note", "备注", width=140, sort_key=None),
)
#: Rows read per page as the list scrolls: a page is read on the UI thread when first painted, and
#: 200 rows took ~60 ms on the 60,000-resident demo under load; ~25 rows show at a time.
PAGE_SIZE = 60
STATUS_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "status")
VILLAGE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.key == "village")
STATUS_COLOURS = {
    EnrollmentStatus.PAID.value: "#1b7f3b", EnrollmentStatus.SUBSIDISED.value: "#1b6f8f",
    EnrollmentStatus.OTHER_CHANNEL.value: "#4b5b6b", EnrollmentStatus.NOT_REQUIRED.value: "#8a96a3",
    EnrollmentStatus.UNPAID.value: "#b3261e", svc.NO_RECORD: "#b3261e",
    EnrollmentStatus.TO_VERIFY.value: "#8a5a00",
}

class EnrollmentTableModel(RevealTableModel):
    """The lazy model, ID numbers and phones masked, the status cell coloured (red for those who still owe)."""

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid() and index.column() == STATUS_COLUMN:
            colour = STATUS_COLOURS.get(self.row_values(index.row()).get("status_code"))
            return QBrush(QColor(colour)) if colour else None
        return super().data(index, role)


def bulk_text(result: svc.BulkResult, verb: str) -> str:
    """"已标记 120 人（已缴费 100，资助参保 20）；跳过 3 人（已参保 2 人、已死亡或迁出 1 人）"."""
    parts = "，".join(f"{EnrollmentStatus(s).label} {n:,}" for s, n in result.by_status.items())
    text = f"{verb} {result.total_written:,} 人" + (f"（{parts}）" if parts and len(result.by_status) > 1 else "")
    if result.skipped_total:
        text += f"；跳过 {result.skipped_total:,} 人（{result.skipped_text()}）"
    return text + "。"


class EnrollmentTab(QWidget):
    """The year's list; embedded as "年度参保" in the residents page, or shown alone.

    ``today`` pins the date (tests, demos); by default the real date is read on each use.
    """

    #: Emitted after any save (so a page that embeds the tab can refresh what it shows).
    changed = Signal()
    #: Emitted when the list has (re)loaded, with the number of rows.
    loaded = Signal(int)

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._today = today
        self.year: int | None = None
        self.info: YearInfo | None = None
        self.summary: svc.FilterSummary | None = None
        self._sort: tuple[str | None, bool] = (None, True)
        self._generation = 0
        self._busy = False
        self.active_dialog: QDialog | None = None
        #: Asked before long or sweeping actions; replaced in tests.
        self.confirm: Callable[[str, str], bool] = self._ask
        #: Asks where to save an export; replaced in tests.
        self.ask_save_path: Callable[[str, str], str] = self._ask_path
        self.last_export: Path | None = None
        self._relay = ProgressRelay(self)

        self.year_bar = YearBar()
        self.filter_bar = FilterBar(svc.filter_places(ctx.ws, ctx.actor))
        self.places = self.filter_bar.places
        self.reveal = RevealController(ctx, self)
        self.reveal.failed.connect(lambda text: self._set_message(text, error=True))
        self.model = EnrollmentTableModel(COLUMNS, self._fetch_rows, self.reveal, page_size=PAGE_SIZE, parent=self)
        self.model.on_sort = self.sort_by
        self.table = QTableView()
        self.table.setModel(self.model)
        setup_table(self.table, row_height=30, multi_select=True)
        apply_widths(self.table, COLUMNS)
        self.table.setColumnHidden(VILLAGE_COLUMN, len(self.places) <= 1)
        enable_sorting(self.table)
        self.action_bar = ActionBar(may_manage_year=svc.may_manage_year(ctx.actor))
        self.reveal_button = RevealButton(self.reveal, self.table, self.model.resident_at)
        self.action_bar.add_reveal(self.reveal_button)
        self.status_line = StatusLine()
        # The strips' widgets, by the names the rest of the app and the tests use.
        for part, names in ((self.year_bar, ("year_combo", "banner", "kpi_label", "kpi_detail")),
                            (self.filter_bar, ("village_combo", "group_combo", "status_combo", "special_combo",
                                               "search_edit", "reset_button")),
                            (self.action_bar, ("paid_button", "subsidy_button", "more_button", "other_action",
                                               "not_required_action", "confirm_action", "unpaid_action",
                                               "apply_button", "new_year_button", "unpaid_list_button",
                                               "export_button", "selection_buttons")),
                            (self.status_line, ("count_label", "message", "progress"))):
            for name in names:
                setattr(self, name, getattr(part, name))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(10)
        layout.addWidget(self.year_bar)
        layout.addWidget(self.filter_bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.action_bar)
        layout.addWidget(self.status_line)

        self._relay.progress.connect(self.status_line.on_progress)
        self.year_combo.currentIndexChanged.connect(self._year_changed)
        self.filter_bar.changed.connect(self.reload)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.mark_paid())
        self.paid_button.clicked.connect(self.mark_paid)
        self.subsidy_button.clicked.connect(self.set_subsidised)
        self.other_action.triggered.connect(self.set_other_channel)
        self.not_required_action.triggered.connect(self.set_not_required)
        self.unpaid_action.triggered.connect(self.set_unpaid)
        self.confirm_action.triggered.connect(self.confirm_other_channel)
        self.apply_button.clicked.connect(self.apply_subsidies)
        self.new_year_button.clicked.connect(self.start_new_year)
        self.unpaid_list_button.clicked.connect(self.show_unpaid_list)
        self.export_button.clicked.connect(self.export_ledger)

        self._selection_changed()
        self.load_years()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self._today or date.today()

    @property
    def tasks(self) -> TaskManager:
        return self.ctx.tasks

    def filters(self) -> EnrollmentFilters:
        return self.filter_bar.filters()

    def set_filters(self, *, village_code: str | None = None, group_code: str | None = None,
                    status: str | None = None, special_group: str | None = None, text: str = "") -> None:
        """Narrow the list from outside (the residents page, the 工作台)."""
        self.filter_bar.set_filters(village_code=village_code, group_code=group_code, status=status,
                                    special_group=special_group, text=text)

    def selected_ids(self) -> list[str]:
        ids: list[str] = []
        selection = self.table.selectionModel().selection()
        for span in selection:  # ranges: cheap even when 10,000 rows are selected
            for row in range(span.top(), span.bottom() + 1):
                row_id = self.model.id_at(row)
                if row_id is not None:
                    ids.append(row_id)
        return list(dict.fromkeys(ids))

    def select_ids(self, ids: list[str]) -> None:
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for row_id in ids:
            row = self.model.row_of(row_id)
            if row is not None:
                selection.select(self.model.index(row, 0), self.model.index(row, last))
        self.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _fetch_rows(self, ids):
        if self.year is None:
            return {}
        rows = svc.enrollment_rows(self.ctx.ws, ids, self.year, today=self.today)
        for rid, row in rows.items():
            row["resident_id"] = rid  # whose ID number and phone 「显示」 reveals
        return rows

    def _set_message(self, text: str, *, error: bool = False) -> None:
        self.status_line.set_message(text, error=error)

    def _failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self._set_message(error_text(error), error=True)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.status_line.set_busy(busy, text)
        self._selection_changed()

    @staticmethod
    def _ask(title: str, text: str) -> bool:
        answer = QMessageBox.question(None, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_path(self, title: str, default_name: str) -> str:
        path, _filter = QFileDialog.getSaveFileName(self, title, str(Path.home() / default_name), "Excel 文件 (*.xlsx)")
        return path

    # -- years and loading -----------------------------------------------------------------

    def load_years(self, select: int | None = None) -> None:
        years = svc.enrollment_years(self.ctx.ws)
        wanted = select or self.year or svc.default_year(self.ctx.ws, self.today)
        self.year_bar.set_years(years, wanted)
        if not years:
            self.year = None
            self.year_bar.show_no_years()
            self.model.set_ids([])
            return
        self._year_changed()

    def set_year(self, year: int) -> None:
        index = self.year_combo.findData(year)
        if index >= 0:
            self.year_combo.setCurrentIndex(index)

    def _year_changed(self) -> None:
        year = self.year_combo.currentData()
        if year is None:
            return
        self.year = int(year)
        ws, actor, today = self.ctx.ws, self.ctx.actor, self.today
        self.tasks.run_read(lambda: svc.year_info(ws, year, actor=actor, today=today), self._show_info,
                            self._failed, name="enrollment_year_info", owner=self)
        self.reload()

    def _show_info(self, info: YearInfo) -> None:
        if info.year != self.year:
            return
        self.info = info
        self.year_bar.show_info(info)

    def reset_filters(self) -> None:
        self.filter_bar.reset()

    def sort_by(self, key: str, ascending: bool) -> None:
        self._sort = (key, ascending)
        self.reload()

    def reload(self) -> None:
        """Reload the id list and the KPI for the current year, filters and sort (off the UI thread)."""
        if self.year is None:
            return
        self._generation += 1
        generation = self._generation
        ws, actor, year, filters = self.ctx.ws, self.ctx.actor, self.year, self.filters()
        key, ascending = self._sort
        self.count_label.setText("加载中…")
        self.tasks.run_read(lambda: svc.enrollment_ids(ws, actor, year, filters, key, ascending),
                            lambda ids: self._show_ids(generation, ids), self._failed,
                            name="enrollment_ids", owner=self)
        self.refresh_kpi()

    def refresh_kpi(self) -> None:
        if self.year is None:
            return
        generation = self._generation
        ws, actor, year, filters = self.ctx.ws, self.ctx.actor, self.year, self.filters()
        self.tasks.run_read(lambda: svc.filter_summary(ws, actor, year, filters),
                            lambda s: self._show_summary(generation, s), self._failed,
                            name="enrollment_summary", owner=self)

    def _show_ids(self, generation: int, ids: list[str]) -> None:
        if generation != self._generation:
            return  # a newer filter has been asked for meanwhile
        self.model.set_ids(ids)
        self._selection_changed()
        self.loaded.emit(len(ids))

    def _show_summary(self, generation: int, summary: svc.FilterSummary) -> None:
        if generation != self._generation:
            return
        self.summary = summary
        self.year_bar.show_summary(summary)

    def _selection_changed(self, *_args) -> None:
        selected = len(self.selected_ids()) if self.model.rowCount() else 0
        self.count_label.setText(f"共 {self.model.rowCount():,} 人 · 已选 {selected:,} 人")
        self.action_bar.enable_for(selected=selected, busy=self._busy, has_year=self.year is not None)

    def _after_write(self, ids: list[str], text: str) -> None:
        """Show what changed: rows in place when the list keeps them, else a reload; the KPI always."""
        self._set_busy(False)
        self._set_message(text)
        key, _asc = self._sort
        if self.filters().status or key in ("status", "paid_date", "paid_yuan", "subsidy_yuan", "channel",
                                             "subsidy_category"):
            self.reload()
        else:
            self.model.refresh_ids(ids)
            self.refresh_kpi()
        self.tasks.run_read(lambda: svc.year_info(self.ctx.ws, self.year, actor=self.ctx.actor, today=self.today),
                            self._show_info, None, name="enrollment_year_info", owner=self)
        self.changed.emit()

    def _open(self, dialog: SubmitDialog, on_saved: Callable[[Any], None]) -> SubmitDialog:
        self.active_dialog = dialog
        dialog.accepted.connect(lambda: on_saved(dialog.result_value))
        dialog.finished.connect(lambda _r: setattr(self, "active_dialog", None))
        dialog.open()
        return dialog

    def _need_info(self) -> YearInfo | None:
        if self.year is None:
            return None
        if self.info is None or self.info.year != self.year:
            self.info = svc.year_info(self.ctx.ws, self.year, actor=self.ctx.actor, today=self.today)
        return self.info

    # -- status actions --------------------------------------------------------------------

    def mark_paid(self) -> SubmitDialog | None:
        ids = self.selected_ids()
        info = self._need_info()
        if not ids or info is None:
            return None
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准，不能登记缴费。", error=True)
            return None
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, info.year, self.today, self._relay
        due = None
        if len(ids) == 1:
            row = self.model.row_of(ids[0])
            values = self.model.row_values(row) if row is not None else {}
            if values.get("due_yuan"):
                due = int(round(float(values["due_yuan"]) * 100))

        def submit(v: dict[str, Any]):
            if len(ids) == 1:
                status = svc.set_paid(ws, actor, ids[0], year, paid_on=v["paid_on"], channel=v["channel"],
                                      amount_fen=v["amount_fen"], today=today)
                return f"已登记为{EnrollmentStatus(status).label}。"
            result = svc.mark_paid(ws, actor, ids, year, paid_on=v["paid_on"], channel=v["channel"], today=today,
                                   progress=relay.progress.emit)
            return bulk_text(result, "已登记缴费")

        name = ""
        if len(ids) == 1:
            row = self.model.row_of(ids[0])
            name = self.model.row_values(row).get("name", "") if row is not None else ""
        dialog = PaymentDialog(self.tasks, submit, count=len(ids), info=info, today=today, due_fen=due, name=name,
                               parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def set_subsidised(self) -> SubmitDialog | None:
        ids = self.selected_ids()
        info = self._need_info()
        if len(ids) != 1 or info is None:
            return None
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准，不能登记资助参保。", error=True)
            return None
        resident_id = ids[0]
        ws, actor, year, today = self.ctx.ws, self.ctx.actor, info.year, self.today
        suggestion = svc.suggest_for(ws, resident_id, year)
        row = self.model.row_of(resident_id)
        name = self.model.row_values(row).get("name", "") if row is not None else ""

        def submit(v: dict[str, Any]):
            svc.set_subsidised(ws, actor, resident_id, year, category=v["category"], subsidy_fen=v["subsidy_fen"],
                               paid_on=v["paid_on"], channel=v["channel"], today=today)
            return f"已登记{name}为资助参保（{v['category']}，资助 {yuan(v['subsidy_fen'])} 元）。"

        dialog = SubsidyDialog(self.tasks, submit, name=name, info=info, today=today,
                               category=suggestion.category if suggestion else "",
                               subsidy_fen=suggestion.subsidy_fen if suggestion else None,
                               categories=svc.subsidy_categories(ws, year), parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def _note_action(self, status: str, title: str, label: str, choices: tuple[str, ...], hint: str) -> SubmitDialog | None:
        ids = self.selected_ids()
        if not ids or self.year is None:
            return None
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, self.year, self.today, self._relay
        who = "1 人" if len(ids) == 1 else f"{len(ids):,} 人"

        def submit(v: dict[str, Any]):
            change = svc.StatusChange(status, note=v["note"])
            if len(ids) == 1:
                svc.set_enrollment(ws, actor, ids[0], year, change, today=today)
                return f"已登记为{EnrollmentStatus(status).label}。"
            result = svc.set_enrollment_many(ws, actor, ids, year, change, today=today, progress=relay.progress.emit)
            return bulk_text(result, f"已登记{EnrollmentStatus(status).label}")

        dialog = NoteDialog(self.tasks, submit, title=title, heading=f"{year} 年度{title}：{who}", label=label,
                            choices=choices, hint=hint, parent=self)
        return self._open(dialog, lambda text: self._after_write(ids, text))

    def set_other_channel(self) -> SubmitDialog | None:
        return self._note_action(EnrollmentStatus.OTHER_CHANNEL.value, "其他渠道参保", "参保渠道",
                                 svc.OTHER_CHANNEL_CHOICES, "已通过职工医保、外地或部队等渠道参保，计入参保率。")

    def set_not_required(self) -> SubmitDialog | None:
        return self._note_action(EnrollmentStatus.NOT_REQUIRED.value, "无需参保", "原因", svc.NOT_REQUIRED_REASONS,
                                 "不计入应参保人数（如死亡、迁出）。")

    def confirm_other_channel(self) -> None:
        """待核实 → 其他渠道参保 (issue 17.3): the selected people, or every 待核实 of the year."""
        if self.year is None:
            return
        ids = self.selected_ids() or None
        scope = f"选中的 {len(ids):,} 人中" if ids else "本年度全部"
        if not self.confirm("确认其他渠道参保", f"将{scope}待核实的人员确认为其他渠道参保（保留原参保渠道）？"):
            return
        ws, actor, year = self.ctx.ws, self.ctx.actor, self.year
        self._set_busy(True, "保存中…")

        def done(result: svc.BulkResult) -> None:
            self._after_write(ids or [], bulk_text(result, "已确认为其他渠道参保"))
            if not ids:
                self.reload()
        self.tasks.run_write(lambda: svc.confirm_other_channel(ws, actor, ids, year), done,
                             self._failed, name="enrollment_confirm_other_channel", owner=self)

    def set_unpaid(self) -> None:
        ids = self.selected_ids()
        if not ids or self.year is None:
            return
        if not self.confirm("改为未缴费", f"将选中的 {len(ids):,} 人改为未缴费，清除其缴费日期、金额和渠道？"):
            return
        ws, actor, year, today, relay = self.ctx.ws, self.ctx.actor, self.year, self.today, self._relay
        change = svc.StatusChange(EnrollmentStatus.UNPAID.value)

        def work():
            if len(ids) == 1:
                svc.set_enrollment(ws, actor, ids[0], year, change, today=today)
                return "已改为未缴费。"
            return bulk_text(svc.set_enrollment_many(ws, actor, ids, year, change, today=today,
                                                     progress=relay.progress.emit), "已改为未缴费")

        self._set_busy(True, "保存中…")
        self.tasks.run_write(work, lambda text: self._after_write(ids, text), self._failed,
                             name="enrollment_unpaid", owner=self)

    def apply_subsidies(self) -> None:
        if self.year is None:
            return
        ids = self.selected_ids()
        scope = f"选中的 {len(ids):,} 人" if ids else f"当前列表的 {self.model.rowCount():,} 人"
        if not ids:
            ids = self.model.ids()
            if not ids:
                return
            if not self.confirm("套用资助建议", f"按县医保局资助规则，为{scope}中未缴费的特殊人群填入资助？\n"
                                              "全额资助的登记为资助参保；定额资助的保持未缴费，应缴金额相应减少。"):
                return
        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, self.year, self._relay
        self._set_busy(True, "套用资助建议…")
        self.tasks.run_write(lambda: svc.apply_suggested_subsidies(ws, actor, year, ids, progress=relay.progress.emit),
                             lambda r: self._after_write(ids, bulk_text(r, "已套用资助建议")), self._failed,
                             name="enrollment_apply_subsidies", owner=self)

    # -- a new year ------------------------------------------------------------------------

    def start_new_year(self) -> None:
        info = self._need_info()
        if info is None:
            return
        if not info.has_setting:
            self._set_message(f"县医保局尚未下发 {info.year} 年度缴费标准（个人缴费、征缴期），不能开始新年度。"
                              "请先同步或载入县级参考数据。", error=True)
            return
        missing, existing = svc.new_year_plan(self.ctx.ws, self.ctx.actor, info.year)
        if missing == 0:
            self._set_message(f"{info.year} 年度参保记录已齐全（{existing:,} 人），没有需要新建的。")
            return
        text = (f"为 {missing:,} 名尚无 {info.year} 年度记录的在册居民建立参保记录？\n\n"
                f"· 记为“未缴费”；符合全额资助规则的（如特困人员）直接记为“资助参保”，定额资助的填入资助金额。\n"
                f"· 已有记录的 {existing:,} 人和以前年度的记录都不变。\n· 可重复执行，不会重复建立。")
        if not self.confirm("开始新年度", text):
            return
        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, info.year, self._relay
        self._set_busy(True, "开始新年度…")
        self.tasks.run_write(lambda: svc.start_new_year(ws, actor, year, progress=relay.progress.emit),
                             self._new_year_done, self._failed, name="enrollment_new_year", owner=self)

    def _new_year_done(self, result: svc.NewYearResult) -> None:
        self._set_busy(False)
        self.info = None
        self.load_years(select=result.year)
        self._set_message(f"{result.text}（用时 {result.seconds:.1f} 秒）")
        self.changed.emit()

    # -- unpaid list and export ------------------------------------------------------------

    def show_unpaid_list(self) -> UnpaidListDialog | None:
        if self.year is None:
            return None
        f = self.filters()
        dialog = UnpaidListDialog(self.ctx, self.year, village_code=f.village_code, group_code=f.group_code,
                                  today=self.today, ask_save_path=self.ask_save_path, parent=self)
        self.active_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "active_dialog", None))
        dialog.open()
        return dialog

    def export_ledger(self) -> None:
        if self.year is None:
            return
        village = self.filters().village_code
        path = self.ask_save_path("导出参保台账", f"{self.year}年度参保台账.xlsx")
        if not path:
            return
        from station_app.services import exports

        ws, actor, year, relay = self.ctx.ws, self.ctx.actor, self.year, self._relay
        self.export_button.setEnabled(False)
        self.progress.setVisible(True)
        self.tasks.run_read(lambda: exports.export_enrollment(ws, actor, path, year=year, village_code=village,
                                                              progress=relay.progress.emit),
                            self._export_done, self._export_failed, name="export_enrollment", owner=self)

    def _export_done(self, result) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self.last_export = result.path
        self._set_message(f"已导出 {result.rows:,} 行：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self.export_button.setEnabled(True)
        self.progress.setVisible(False)
        self._set_message(error_text(error), error=True)


# ================================================================================= standalone page


class EnrollmentPage(QWidget):
    """The tab on its own, with a page title (when no residents page embeds it)."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, today: date | None = None):
        super().__init__(parent)
        title = QLabel("年度参保")
        title.setObjectName("pageTitle")
        subtitle = QLabel("按待遇年度登记缴费、资助参保和其他渠道参保；未缴清单按组、按户列出联系电话")
        subtitle.setObjectName("pageSubtitle")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)
        self.tab = EnrollmentTab(ctx, self, today=today)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 12)
        layout.addLayout(header)
        layout.addWidget(self.tab, 1)


def make_enrollment_page(ctx: PageContext) -> QWidget:
    """Section factory for the standalone page (``SECTIONS`` entry "enrollment" until the residents page embeds the tab)."""
    return EnrollmentPage(ctx)
