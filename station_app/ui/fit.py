"""Fitting on a 1366×768 clinic screen: long forms scroll, dialogs never outgrow the work area.

A Windows taskbar leaves ~1366×728 of a 1366×768 screen; 1280×720 laptops leave less. A form
taller than that used to push its 保存/取消 buttons below the screen edge (新增户 was 857 px).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication, QFrame, QLayout, QScrollArea, QWidget

#: The smallest work area the app is made for (1280×720 screen minus a taskbar).
MIN_WORK_AREA = QSize(1280, 680)
#: What a dialog may take of the work area, leaving its title bar and a margin visible.
DIALOG_SHARE = 0.92


def work_area(widget: QWidget | None = None) -> QSize:
    """The available screen size, but never assumed larger than the 1366×728 the app is made for."""
    screen = widget.screen() if widget is not None else QApplication.primaryScreen()
    if screen is None:
        return QSize(1366, 728)
    available = screen.availableGeometry().size()
    return available.boundedTo(QSize(1366, 728))


class FormScroll(QScrollArea):
    """A form body that scrolls when the screen is too short; as tall as its content otherwise."""

    def __init__(self, body: QWidget | QLayout, *, max_height: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        if isinstance(body, QLayout):
            holder = QWidget()
            holder.setLayout(body)
            body = holder
        self.body = body
        self.max_height = max_height
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setObjectName("formScroll")
        body.setObjectName(body.objectName() or "formBody")
        self.setStyleSheet("QScrollArea#formScroll, QWidget#formBody { background: transparent; }")

    def _cap(self) -> int:
        if self.max_height is not None:
            return self.max_height
        # Room for the dialog's title, subtitle, message line and buttons (~170 px at 11 pt).
        return max(200, int(work_area(self).height() * DIALOG_SHARE) - 170)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = self.body.sizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(hint.width() + bar, min(hint.height(), self._cap()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = self.body.minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(hint.width() + bar, min(hint.height(), 160))


def fit_dialog(dialog: QWidget) -> None:
    """Shrink a dialog that would not fit the work area (before it is shown)."""
    area = work_area(dialog)
    limit = QSize(int(area.width() * 0.96), int(area.height() * DIALOG_SHARE))
    hint = dialog.sizeHint().expandedTo(dialog.minimumSizeHint())
    size = hint.boundedTo(limit)
    if dialog.size() != size and (dialog.width() > limit.width() or dialog.height() > limit.height()
                                  or not dialog.isVisible()):
        dialog.resize(size)


def fit_size(widget: QWidget, width: int, height: int) -> None:
    """``resize(width, height)``, but never beyond the work area (less the title bar)."""
    area = work_area(widget)
    widget.resize(min(width, int(area.width() * 0.96)), min(height, area.height() - 40))
