"""工作台: the station's key figures, loaded off the UI thread from services.overview."""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from station_app.domain.errors import DomainError
from station_app.services.overview import Overview, station_overview

from . import PageContext

logger = logging.getLogger(__name__)

LOADING_TEXT = "加载中…"


def _count(n: int) -> str:
    return f"{n:,}"


class FigureCard(QFrame):
    """One figure: a caption, a big value and a line of detail."""

    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setMinimumSize(200, 124)
        self.caption = QLabel(caption)
        self.caption.setObjectName("cardCaption")
        self.value = QLabel("…")
        self.value.setObjectName("cardValue")
        self.detail = QLabel("")
        self.detail.setObjectName("cardCaption")
        self.detail.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.setSpacing(4)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def set(self, value: str, detail: str = "", caption: str | None = None) -> None:
        self.value.setText(value)
        self.detail.setText(detail)
        if caption is not None:
            self.caption.setText(caption)


class DashboardPage(QWidget):
    """Shows "加载中…" until the overview task delivers, then the figures."""

    #: Emitted on the main thread with the Overview once the figures are on screen.
    loaded = Signal(object)

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.overview: Overview | None = None

        title = QLabel("工作台")
        title.setObjectName("pageTitle")
        station = ctx.ws.station
        self.subtitle = QLabel(station.name if station else "")
        self.subtitle.setObjectName("pageSubtitle")
        self.state_label = QLabel(LOADING_TEXT)
        self.state_label.setObjectName("hint")
        self.refresh_button = QPushButton("刷新")
        self.refresh_button.clicked.connect(self.refresh)
        heading = QVBoxLayout()
        heading.setSpacing(4)
        heading.addWidget(title)
        heading.addWidget(self.subtitle)
        header = QHBoxLayout()
        header.addLayout(heading, 1)
        header.addWidget(self.state_label)
        header.addSpacing(12)
        header.addWidget(self.refresh_button)

        self.villages_card = FigureCard("行政村")
        self.households_card = FigureCard("户数")
        self.residents_card = FigureCard("在册居民")
        self.rate_card = FigureCard("参保率")
        self.pending_card = FigureCard("待上传变更")
        grid = QGridLayout()
        grid.setSpacing(16)
        cards = [self.villages_card, self.households_card, self.residents_card,
                 self.rate_card, self.pending_card]
        for i, card in enumerate(cards):
            grid.addWidget(card, i // 3, i % 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 28)
        layout.setSpacing(20)
        layout.addLayout(header)
        layout.addLayout(grid)
        layout.addStretch(1)

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

    def refresh(self) -> None:
        self._set_state(LOADING_TEXT)
        self.refresh_button.setEnabled(False)
        ws = self.ctx.ws
        self.ctx.tasks.run_read(lambda: station_overview(ws), self._show, self._failed,
                                name="station_overview", owner=self)

    def _show(self, overview: Overview) -> None:
        self.overview = overview
        self.subtitle.setText(" · ".join(p for p in (overview.place_name, overview.station_name) if p))
        self.villages_card.set(_count(overview.village_count), "本站服务的行政村")
        self.households_card.set(_count(overview.household_count), "登记在册的户")
        self.residents_card.set(_count(overview.registered_residents), "状态为“在册”的居民")
        if overview.benefit_year is None:
            self.rate_card.set("—", "县医保局尚未下发缴费年度", caption="参保率")
        elif not overview.has_enrollments:
            self.rate_card.set("—", f"{overview.benefit_year} 年度尚无参保登记",
                               caption=f"参保率（{overview.benefit_year} 年度）")
        else:
            self.rate_card.set(overview.enrollment_rate.percent_text,
                               f"已参保 {_count(overview.covered)} 人 / 应参保 {_count(overview.required)} 人",
                               caption=f"参保率（{overview.benefit_year} 年度）")
        self.pending_card.set(_count(overview.pending_outbox), "尚未上传到县医保服务器的修改")
        self._set_state("")
        self.refresh_button.setEnabled(True)
        self.loaded.emit(overview)

    def _failed(self, error: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        if isinstance(error, DomainError):
            self._set_state(f"加载失败：{error.message}", error=True)
        else:
            self._set_state("加载失败，请点“刷新”重试；问题已记录在日志中。", error=True)
