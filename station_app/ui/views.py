"""Shared set-up for the app's list views: one look for every table, one way to sort."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


def setup_table(view: QTableView, *, row_height: int = 32, multi_select: bool = False) -> None:
    """The look every list shares: whole-row selection, roomy rows, no in-place editing."""
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi_select
                          else QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setDefaultSectionSize(row_height)
    view.verticalHeader().setMinimumWidth(44)
    view.horizontalHeader().setHighlightSections(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setWordWrap(False)


def enable_sorting(view: QTableView) -> None:
    """Clickable sort headers with no column marked sorted until the user clicks one."""
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(True)


def apply_widths(view: QTableView, columns) -> None:
    for i, column in enumerate(columns):
        if column.width:
            view.setColumnWidth(i, column.width)
