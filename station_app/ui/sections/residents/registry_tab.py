"""居民档案: the coordinator of the search bar, the results table, the detail panel and the
actions bar — it loads the list and the selected record off the UI thread and runs the actions."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QFrame, QScrollArea, QSplitter, QVBoxLayout, QWidget

from station_app.domain.enums import ResidentStatus
from station_app.domain.errors import DomainError
from station_app.services import registry
from station_app.services.registry import HouseholdView, RegistryChoices, RegistryFilter, ResidentDetail
from station_app.services.reveal import reveal_resident
from station_app.services.resident_summary import ResidentBenefits, resident_benefits

from ...common import ProgressRelay, error_text
from ...dialogs.duplicates_dialog import DuplicatesDialog
from ...dialogs.history_dialog import HistoryDialog
from ...dialogs.resident_overview import ResidentOverviewDialog
from ...dialogs.resident_dialog import (
    MODE_EDIT,
    MODE_HOUSEHOLD,
    MODE_MEMBER,
    HouseholdDialog,
    MoveDialog,
    ResidentDialog,
    StatusDialog,
)
from .. import PageContext
from .actions_bar import ActionsBar
from .detail_panel import DetailPanel
from .results import ResultsTable
from .search_bar import SearchBar

logger = logging.getLogger(__name__)

LOAD_FAILED = "加载失败，请重试；问题已记录在日志中。"


class RegistryTab(QWidget):
    """居民档案: the whole registry as one lazy list; every query runs off the UI thread."""

    #: Emitted on the main thread when a (re)load has put the ids in the model: the row count.
    loaded = Signal(int)
    #: Emitted after any save from this tab.
    changed = Signal()

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.choices: RegistryChoices = registry.filter_choices(ctx.ws, ctx.actor)
        self.year: int | None = self.choices.current_year
        self._sort: tuple[str, bool] = ("default", True)
        self._generation = 0
        self._detail_generation = 0
        self._selected: str | None = None
        self._just_saved: str | None = None
        self.active_dialog = None
        self.last_export: Path | None = None
        self.last_groups: list[registry.DuplicateGroup] | None = None
        #: Asks where to save an export; replaced in tests.
        self.ask_save_path: Callable[[str, str], str] = self._ask_path

        self.search_bar = SearchBar(self.choices)
        self.table = ResultsTable(self._fetch_rows, single_village=len(self.choices.villages) <= 1)
        self.model = self.table.rows_model
        self.model.on_sort = self.sort_by
        self.table.set_year(self.year)
        self.panel = DetailPanel()
        self.actions = ActionsBar()
        self._expose_parts()
        self._relay = ProgressRelay(self)
        self._relay.progress.connect(self.actions.on_progress)
        self._connect()

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setWidget(self.panel)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([880, 310])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self.search_bar)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.actions)

        focus = QShortcut(QKeySequence.StandardKey.Find, self)
        focus.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        focus.activated.connect(lambda: (self.search_edit.setFocus(), self.search_edit.selectAll()))
        self._update_buttons()
        self.refresh()

    def _expose_parts(self) -> None:
        """The parts' widgets under the tab's own names (the main window, tests and dialogs use them)."""
        bar, actions = self.search_bar, self.actions
        self.search_edit, self.count_label, self.hint_label = bar.search_edit, bar.count_label, bar.hint_label
        self.village_combo, self.group_combo, self.status_combo = bar.village_combo, bar.group_combo, bar.status_combo
        self.special_combo, self.year_combo, self.enrollment_combo = (bar.special_combo, bar.year_combo,
                                                                      bar.enrollment_combo)
        self.reset_button = bar.reset_button
        self.overview_button = actions.overview_button
        self.new_household_button, self.new_member_button = actions.new_household_button, actions.new_member_button
        self.edit_button, self.move_button = actions.edit_button, actions.move_button
        self.died_button, self.moved_out_button = actions.died_button, actions.moved_out_button
        self.scan_button, self.history_button = actions.scan_button, actions.history_button
        self.export_button, self.message, self.progress = actions.export_button, actions.message, actions.progress

    def _connect(self) -> None:
        bar, actions, panel = self.search_bar, self.actions, self.panel
        bar.changed.connect(self.refresh)
        bar.entered.connect(self._search_enter)
        bar.year_changed.connect(self._year_changed)
        self.table.current_changed.connect(self._row_changed)
        self.table.activated_resident.connect(self.open_overview)  # Enter or a double-click on a row
        panel.member_chosen.connect(self.show_resident)
        panel.edit_household.connect(self.edit_household)
        panel.restore.connect(lambda: self.change_status(ResidentStatus.REGISTERED.value))
        panel.reveal_requested.connect(self.reveal_selected)
        actions.overview_button.clicked.connect(lambda: self.open_overview())
        actions.new_household_button.clicked.connect(self.new_household)
        actions.new_member_button.clicked.connect(self.new_member)
        actions.edit_button.clicked.connect(self.edit_resident)
        actions.move_button.clicked.connect(self.move_resident)
        actions.died_button.clicked.connect(lambda: self.change_status(ResidentStatus.DIED.value))
        actions.moved_out_button.clicked.connect(lambda: self.change_status(ResidentStatus.MOVED_OUT.value))
        actions.scan_button.clicked.connect(self.scan_duplicates)
        actions.history_button.clicked.connect(self.show_history)
        actions.export_button.clicked.connect(self.export)

    # -- filters and loading ------------------------------------------------------------------

    def filters(self) -> RegistryFilter:
        return self.search_bar.filters()

    def filters_text(self) -> str:
        """The filters in words, for the export's title block."""
        return self.search_bar.filters_text()

    def reset_filters(self) -> None:
        self.search_bar.reset()

    def set_search(self, text: str) -> None:
        """Type into the search box and search at once (used by 查重 and tests)."""
        self.search_bar.set_search(text)

    def _year_changed(self, year: int | None) -> None:
        self.year = year
        self.table.set_year(year)
        self.refresh()

    def _search_enter(self) -> None:
        if self.model.rowCount() and not self._selected:
            self._select_row(0)
        self.table.setFocus()

    def sort_by(self, key: str, ascending: bool) -> None:
        self._sort = (key, ascending)
        self.refresh()

    def refresh(self) -> None:
        """Reload the ids for the current filters and order; the visible rows follow lazily."""
        self._generation += 1
        generation = self._generation
        ws, actor, flt = self.ctx.ws, self.ctx.actor, self.filters()
        key, ascending = self._sort
        self.count_label.setText("查找中…")
        self.ctx.tasks.run_read(lambda: registry.resident_ids(ws, actor, flt, key, ascending),
                                lambda ids: self._loaded(generation, ids), self._load_failed,
                                name="resident_ids", owner=self)

    def _loaded(self, generation: int, ids: list[str]) -> None:
        if generation != self._generation:
            return  # an older search answered after a newer one was asked
        keep = self._selected
        self.model.set_ids(ids)
        searching = self.search_bar.searching()
        self.count_label.setText(f"找到 {len(ids):,} 人" if searching or self._any_filter() else f"共 {len(ids):,} 人")
        row = self.model.row_of(keep) if keep else None
        just_saved, self._just_saved = self._just_saved, None
        if row is not None:
            self._select_row(row)
        elif keep and keep == just_saved:
            # Saved (a new member) but outside the search/filter: keep them in the panel, so
            # 编辑 / 新增成员 stay usable instead of greying out with nothing selected.
            self.message.setText(self.message.text() + "（不在当前搜索结果中，右侧仍显示该居民）")
        elif keep:  # the selected resident is not in the new list
            self._selected = None
            self.panel.clear()
        self._update_buttons()
        self.loaded.emit(len(ids))

    def _any_filter(self) -> bool:
        return self.search_bar.any_filter()

    def _load_failed(self, error: BaseException) -> None:
        self.count_label.setText("")
        self.message.setText(error_text(error, LOAD_FAILED))

    def _fetch_rows(self, ids) -> dict[str, dict[str, Any]]:
        # Runs on the UI thread when the view paints a page it has not seen: one query of
        # ≤ 200 rows by primary key (a few ms).
        return registry.resident_rows(self.ctx.ws, ids, year=self.year)

    # -- selection and the panel --------------------------------------------------------------

    def current_id(self) -> str | None:
        return self._selected

    def current_row_values(self) -> dict[str, Any]:
        row = self.model.row_of(self._selected) if self._selected else None
        return self.model.row_values(row) if row is not None else {}

    def _row_changed(self, resident_id: str | None) -> None:
        if resident_id != self._selected:
            self._selected = resident_id
            self._load_detail()
        self._update_buttons()

    def show_resident(self, resident_id: str) -> None:
        """Select a resident in the list if listed; show their record in the panel either way."""
        row = self.model.row_of(resident_id)
        if row is not None:
            self._select_row(row)
        else:
            self._selected = resident_id
            self._load_detail()
            self._update_buttons()

    def _select_row(self, row: int) -> None:
        self.table.select_row(row)  # → _row_changed, which loads the panel if it is another resident

    def _load_detail(self) -> None:
        self._detail_generation += 1
        generation = self._detail_generation
        resident_id = self._selected
        if resident_id is None:
            self.panel.clear()
            return
        ws, actor = self.ctx.ws, self.ctx.actor

        def load() -> tuple[ResidentDetail, HouseholdView | None, ResidentBenefits]:
            detail = registry.resident_detail(ws, actor, resident_id)
            household = registry.household_view(ws, actor, detail.household_id) if detail.household_id else None
            return detail, household, resident_benefits(ws, actor, resident_id)

        self.ctx.tasks.run_read(load, lambda result: self._show_detail(generation, *result),
                                lambda error: self.message.setText(error_text(error, LOAD_FAILED)),
                                name="resident_detail", owner=self)

    def _show_detail(self, generation: int, detail: ResidentDetail, household: HouseholdView | None,
                     benefits: ResidentBenefits | None = None) -> None:
        if generation == self._detail_generation:
            self.panel.show_resident(detail, household)
            self.panel.show_benefits(benefits, self.year)
            self._update_buttons()

    def _update_buttons(self) -> None:
        detail = self.panel.resident if self.panel.resident and self.panel.resident.id == self._selected else None
        self.actions.update_for(detail, selected=self._selected is not None, has_villages=bool(self.choices.villages))

    # -- actions ------------------------------------------------------------------------------

    def _open(self, dialog, on_saved: Callable[[Any], None]) -> Any:
        self.active_dialog = dialog
        dialog.accepted.connect(lambda: on_saved(dialog.result_value))
        dialog.open()
        return dialog

    def _saved(self, resident_id: str | None, message: str) -> None:
        self.message.setText(message)
        if resident_id:
            self._selected = resident_id
            self._just_saved = resident_id
        self.refresh()
        self._load_detail()
        self.changed.emit()

    def new_household(self) -> ResidentDialog:
        village = self.village_combo.currentData() or (self.current_row_values().get("village_code"))
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_HOUSEHOLD,
                                village_code=village, parent=self)
        group = self.group_combo.currentData()
        if group:
            dialog.set_group(group)
        return self._open(dialog, lambda ids: self._saved(ids[1], "已登记新户。"))

    def new_member(self) -> ResidentDialog | None:
        detail = self.panel.resident
        if detail is None or not detail.household_id:
            return None
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_MEMBER,
                                village_code=detail.village_code, household_id=detail.household_id, parent=self)
        dialog.set_group(detail.group_code)
        return self._open(dialog, lambda rid: self._saved(rid, "已添加家庭成员。"))

    def edit_resident(self) -> ResidentDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = ResidentDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, self.choices, mode=MODE_EDIT,
                                detail=detail, parent=self)
        return self._open(dialog, lambda rid: self._saved(rid, "已保存修改。"))

    def edit_household(self) -> HouseholdDialog | None:
        household = self.panel.household
        if household is None:
            return None
        groups = self.choices.groups.get(household.village_code, [])
        dialog = HouseholdDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, household, groups, parent=self)
        return self._open(dialog, lambda _hid: self._saved(self._selected, "已保存户信息。"))

    def move_resident(self) -> MoveDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = MoveDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail, parent=self)
        return self._open(dialog, lambda rid: self._saved(rid, "已迁入新户。"))

    def change_status(self, status: str) -> StatusDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = StatusDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail, status, parent=self)
        done = "已恢复在册。" if status == ResidentStatus.REGISTERED.value else f"已标记{ResidentStatus(status).label}。"
        return self._open(dialog, lambda rid: self._saved(rid, done))

    def open_overview(self, resident_id: str | None = None) -> ResidentOverviewDialog | None:
        """居民一站式 of the selected resident (or ``resident_id``): everything about them and the next actions."""
        resident_id = resident_id or self._selected
        if resident_id is None:
            self.message.setText("请先在列表中选择一位居民。")
            return None
        dialog = ResidentOverviewDialog(self.ctx, resident_id, parent=self)
        dialog.changed.connect(self._overview_saved)
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def _overview_saved(self) -> None:
        """A payment, a 代购药 or a card application from 一站式: the 参保 column and panel follow."""
        self.refresh()
        self._load_detail()
        self.changed.emit()

    def show_history(self) -> HistoryDialog | None:
        detail = self._detail_for_action()
        if detail is None:
            return None
        dialog = HistoryDialog(self.ctx.ws, self.ctx.actor, self.ctx.tasks, detail.id, detail.name, parent=self)
        self.active_dialog = dialog
        dialog.open()
        return dialog

    def reveal_selected(self) -> None:
        """「显示」: the selected resident's full ID number and phone, audited, for a minute."""
        detail = self._detail_for_action()
        if detail is None:
            return
        ws, actor, panel = self.ctx.ws, self.ctx.actor, self.panel
        self.ctx.tasks.run_write(lambda: reveal_resident(ws, actor, detail.id), panel.reveal,
                                 lambda error: self.message.setText(error_text(error, LOAD_FAILED)), name="reveal", owner=self)

    def _detail_for_action(self) -> ResidentDetail | None:
        detail = self.panel.resident
        if detail is None or detail.id != self._selected:
            self.message.setText("请先在列表中选择一位居民。")
            return None
        return detail

    # -- long work ----------------------------------------------------------------------------

    def scan_duplicates(self) -> None:
        ws, actor, relay = self.ctx.ws, self.ctx.actor, self._relay
        self.scan_button.setEnabled(False)
        self.actions.start_progress("正在查重…")
        self.ctx.tasks.run_read(lambda: registry.duplicate_scan(ws, actor, relay.progress.emit),
                                self._scanned, self._scan_failed, name="duplicate_scan", owner=self)

    def _scanned(self, groups: list[registry.DuplicateGroup]) -> None:
        self.actions.stop_progress()
        self.scan_button.setEnabled(True)
        self.last_groups = groups
        self.message.setText(f"查重完成：{len(groups)} 组疑似重复。" if groups else "查重完成：没有发现疑似重复。")
        dialog = DuplicatesDialog(groups, parent=self)
        dialog.locate.connect(self.set_search)
        self.active_dialog = dialog
        dialog.open()

    def _scan_failed(self, error: BaseException) -> None:
        self.actions.stop_progress()
        self.scan_button.setEnabled(True)
        self.message.setText(error_text(error, LOAD_FAILED))

    def _ask_path(self, title: str, suggested: str) -> str:
        from ...dialogs.export_confirm import confirm_personal_export

        go_on, self._export_password = confirm_personal_export(self)  # personal data: say so, offer a password
        if not go_on:
            return ""
        path, _filter = QFileDialog.getSaveFileName(self, title, suggested, "Excel 文件 (*.xlsx)")
        return path

    def export(self) -> None:
        ids = self.model.ids()
        if not ids:
            self.message.setText("列表为空，没有可导出的居民。")
            return
        suggested = str(Path.home() / f"居民档案-{date.today():%Y%m%d}.xlsx")
        path = self.ask_save_path("导出居民档案", suggested)
        if not path:
            return
        ws, actor, relay, year, text = self.ctx.ws, self.ctx.actor, self._relay, self.year, self.filters_text()
        password, self._export_password = getattr(self, "_export_password", None), None
        self.export_button.setEnabled(False)
        self.actions.start_progress("正在导出…")
        self.ctx.tasks.run_read(
            lambda: registry.export_list(ws, actor, ids, path, title="居民档案", filters_text=text, year=year,
                                         progress=relay.progress.emit, password=password),
            self._exported, self._export_failed, name="export_registry", owner=self)

    def _exported(self, result: registry.ListExport) -> None:
        self.actions.stop_progress()
        self.export_button.setEnabled(True)
        self.last_export = result.path
        self.message.setText(f"已导出 {result.rows:,} 人：{result.path}")

    def _export_failed(self, error: BaseException) -> None:
        self.actions.stop_progress()
        self.export_button.setEnabled(True)
        self.message.setText(error.message if isinstance(error, DomainError) else "导出失败；问题已记录在日志中。")
