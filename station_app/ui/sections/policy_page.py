"""政策: the county's policy texts (reference data, read-only here) and the 医保惠民政策 poster."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import NoticeKind
from station_app.services import notices as svc
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace

from ..tasks import TaskManager
from .notices_page import NoticeActions, NoticeChooser


class PolicyListModel(QAbstractListModel):
    """One line per policy: category and title."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[svc.PolicyView] = []

    def set_rows(self, rows: list[svc.PolicyView]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> svc.PolicyView | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        p = self.row_at(index.row())
        if p is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"【{p.category}】{p.title}" if p.category else p.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return p.doc_no or None
        return None


def policy_html(p: svc.PolicyView) -> str:
    paragraphs = "".join(f"<p style='text-indent:2em; line-height:150%'>{html.escape(line)}</p>"
                         for line in p.body.splitlines() if line.strip())
    meta = " · ".join(x for x in (p.category, f"{p.year}年度" if p.year else "", p.doc_no) if x)
    return (f"<h2>{html.escape(p.title)}</h2><p style='color:#5a6b7b'>{html.escape(meta)}</p>"
            f"{paragraphs or '<p>（无正文）</p>'}")


class PolicyPage(QWidget, NoticeActions):
    """The list of county policies with their text; 打印海报 prints the policy notice for a village."""

    def __init__(self, ws: Workspace, actor: Actor, parent: QWidget | None = None, *,
                 tasks: TaskManager | None = None):
        super().__init__(parent)
        self.ws, self.actor = ws, actor
        self.tasks = tasks or TaskManager(parent=self)
        settings = svc.get_settings(ws)
        villages = svc.notice_villages(ws, actor)

        title = QLabel("医保惠民政策")
        title.setObjectName("pageTitle")
        subtitle = QLabel("由县医保局下发（只读），可按村打印成公示海报，做到应知尽知")
        subtitle.setObjectName("pageSubtitle")
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(subtitle, 1, Qt.AlignmentFlag.AlignBottom)

        self.model = PolicyListModel(self)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setWordWrap(True)
        self.list.selectionModel().currentChanged.connect(lambda cur, _prev: self.show_policy(cur.row()))
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        splitter = QSplitter()
        splitter.addWidget(self.list)
        splitter.addWidget(self.text)
        splitter.setStretchFactor(1, 2)

        self.chooser = NoticeChooser(villages, settings, with_kind=False)
        self.chooser.set_kind(NoticeKind.POLICY.value)
        self.chooser.year.valueChanged.connect(self.refresh)
        self.poster_button = QPushButton("打印海报…")
        self.preview_button = QPushButton("预览海报")
        self.poster_button.clicked.connect(self.print_poster)
        self.preview_button.clicked.connect(self.preview_poster)
        for b in (self.poster_button, self.preview_button):
            b.setEnabled(bool(villages))
        self.status = QLabel("")
        self.status.setObjectName("hint")
        bottom = QHBoxLayout()
        bottom.addWidget(self.chooser, 1)
        bottom.addWidget(self.preview_button)
        bottom.addWidget(self.poster_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        ws, year = self.ws, self.chooser.year.value()
        self.tasks.run_read(lambda: svc.list_policies(ws, year), self._show, self.show_error, name="list_policies")

    def _show(self, rows: list[svc.PolicyView]) -> None:
        self.model.set_rows(rows)
        if rows:
            self.list.setCurrentIndex(self.model.index(0))
            self.show_policy(0)
            self.status.setText(f"共 {len(rows)} 项政策。")
        else:
            self.text.setHtml("<p>县医保局尚未下发本年度政策。</p>")
            self.status.setText("")

    def show_policy(self, row: int) -> None:
        policy = self.model.row_at(row)
        if policy is not None:
            self.text.setHtml(policy_html(policy))

    def _values(self) -> dict[str, Any]:
        values = self.chooser.values()
        values["kind"] = NoticeKind.POLICY.value
        return values

    def print_poster(self) -> None:
        values = self._values()
        self.prepare_then(values, lambda doc: self.print_document(doc, values["paper"]))

    def preview_poster(self) -> None:
        values = self._values()
        self.prepare_then(values, lambda doc: self.preview_document(doc, values["paper"]))
