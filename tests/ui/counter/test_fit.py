"""Issue 10.1 and 10.9: every page and dialog usable on a 1366×768 (and 1280×720) screen; the window never grows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractButton, QApplication, QDialog, QScrollArea

from station_app.ui.sections import SECTIONS
from tests.ui.counter.catalogue import dialogs, show

WORK_AREAS = {"1366x768": (1366, 728), "1280x720": (1280, 680)}


def _inside_scroll(widget, root) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, QScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def _clipped_buttons(root) -> list[str]:
    """Visible push buttons of ``root`` (not inside a scrolling body) that are not wholly on it."""
    bad = []
    area = root.rect()
    for button in root.findChildren(QAbstractButton):
        if not button.isVisible() or _inside_scroll(button, root) or not button.text():
            continue
        rect = QRect(button.mapTo(root, button.rect().topLeft()), button.size())
        if not area.contains(rect) or button.visibleRegion().boundingRect().size() != button.size():
            bad.append(button.text())
    return bad


@pytest.mark.parametrize("area", WORK_AREAS)
def test_every_page_shows_its_buttons_in_the_work_area(qtbot, demo, window_for, area):
    width, height = WORK_AREAS[area]
    for actor in (demo.clerk, demo.doctor):
        window = window_for(actor, (width, height - 30))  # the title bar takes ~30 px
        for section in SECTIONS:
            page = window.show_section(section.key)
            QApplication.processEvents()
            holder = page.parentWidget().parentWidget()  # the PageScroll's viewport → the scroll area
            assert page.minimumSizeHint().width() <= holder.width(), (section.title, actor.role)
            assert page.minimumSizeHint().height() <= holder.height(), (section.title, actor.role)
            assert _clipped_buttons(page) == [], (section.title, actor.role)
        window.close()


def test_the_window_does_not_widen_after_visiting_every_page(qtbot, demo, window_for):
    """It grew from 1180 to ~1320 px after 公示 (a page's minimum width pushed it)."""
    window = window_for(demo.clerk, (1180, 678))
    size = window.size()
    for section in SECTIONS:
        window.show_section(section.key)
        QApplication.processEvents()
        assert window.size() == size, section.title
    residents = window.show_section("enrollment")
    residents.show_enrollment()
    QApplication.processEvents()
    assert window.size() == size


def test_every_dialog_keeps_its_buttons_on_a_1366x768_screen(qtbot, demo, sync_tasks, window_for):
    window = window_for(demo.clerk)
    checked = []
    for name, factory in dialogs(demo, sync_tasks, window):
        dialog = factory()
        assert isinstance(dialog, QDialog), name
        qtbot.addWidget(dialog)
        show(qtbot, dialog)
        QApplication.processEvents()
        need = dialog.minimumSizeHint()
        assert need.width() <= 1280 and need.height() <= 680, (name, need)  # fits even 1280×720
        assert dialog.height() <= 728 - 30 and dialog.width() <= 1366, (name, dialog.size())  # + title bar
        assert _clipped_buttons(dialog) == [], name
        checked.append(name)
        dialog.reject()
        dialog.close()
    assert {"居民档案.new_household", "救助申请", "慢病卡申请", "年度参保.show_unpaid_list", "居民一站式",
            "居民一站式.持卡人"} <= set(checked)


def test_the_new_household_form_scrolls_instead_of_running_off_screen(qtbot, demo, window_for):
    """新增户 was 857 px tall: 保存/取消 and 责任人电话 were below a 1366×768 screen's edge."""
    window = window_for(demo.clerk)
    registry = window.show_section("enrollment").registry
    dialog = registry.new_household()
    qtbot.addWidget(dialog)
    show(qtbot, dialog)
    assert dialog.height() <= 728 - 30
    assert dialog.scroll.body.sizeHint().height() > dialog.scroll.viewport().height() or dialog.height() < 700
    # The last field is reachable by scrolling, and the buttons never move.
    dialog.scroll.ensureWidgetVisible(dialog.helper_phone_edit)
    assert dialog.helper_phone_edit.visibleRegion().boundingRect().height() > 0
    assert _clipped_buttons(dialog) == []


def test_the_detail_panel_shows_the_whole_masked_id_number(qtbot, demo, window_for):
    """At 1366×768 the 「显示」 button beside the ID cut it to "610921*****" (an ID cannot wrap)."""
    window = window_for(demo.clerk)
    registry = window.show_section("enrollment").registry
    registry._select_row(0)
    label = registry.panel.fields["id_number"]
    qtbot.waitUntil(lambda: "*" in label.text(), timeout=30_000)
    QApplication.processEvents()
    assert len(label.text()) == 18
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()
