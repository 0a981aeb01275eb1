"""居民参保: the section with the 居民档案 tab (``residents/``) and the 年度参保 tab (built on first visit)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from ..common import SEARCH_DELAY_MS  # noqa: F401  (the search pace, imported from here by tests)
from . import PageContext
from .residents.registry_tab import RegistryTab
from .residents.results import COLUMNS, ENROLLMENT_COLUMN  # noqa: F401  (the list's columns)

__all__ = ["COLUMNS", "ENROLLMENT_COLUMN", "RegistryTab", "ResidentsPage", "make_residents_page"]


class ResidentsPage(QWidget):
    """The 居民参保 section: 居民档案 and 年度参保 (the latter built on first visit)."""

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        title = QLabel("居民参保")
        title.setObjectName("pageTitle")
        subtitle = QLabel("居民档案：全乡镇居民一张表，输入姓名、拼音首字母、身份证号或电话即查；年度参保：按年度登记缴费")
        subtitle.setObjectName("pageSubtitle")
        subtitle.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)

        self.tabs = QTabWidget()
        self.registry = RegistryTab(ctx)
        self.tabs.addTab(self.registry, "居民档案")
        self.enrollment: QWidget | None = None
        holder = QWidget()
        holder.setLayout(QVBoxLayout())
        holder.layout().setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(holder, "年度参保")
        self.tabs.currentChanged.connect(self._tab_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 12)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)

    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self.show_enrollment()

    def show_enrollment(self) -> QWidget:
        """Switch to 年度参保, building it on first use (its list is not loaded before then)."""
        if self.enrollment is None:
            from .enrollment_tab import EnrollmentTab  # imported on first visit: start-up stays lean

            self.enrollment = EnrollmentTab(self.ctx)
            self.tabs.widget(1).layout().addWidget(self.enrollment)
            # Payments change the registry's 参保 column; registry edits change the year's list.
            self.enrollment.changed.connect(self.registry.refresh)
            self.registry.changed.connect(self.enrollment.reload)
        if self.tabs.currentIndex() != 1:
            self.tabs.setCurrentIndex(1)
        return self.enrollment


def make_residents_page(ctx: PageContext) -> QWidget:
    """Section factory for ``SECTIONS`` entry "enrollment" (居民参保)."""
    return ResidentsPage(ctx)
