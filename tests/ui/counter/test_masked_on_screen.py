"""Issue 15, on screen minimum necessary: every page's lists show ID numbers and phones masked;
「显示」 reveals one resident's for a minute, writes an audit entry, and masks them again."""

from __future__ import annotations

import re

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTabWidget, QTreeWidget
from sqlalchemy import func, select

from station_app.services.reveal import REVEAL_SECONDS
from station_app.store.models import AuditEntry
from station_app.ui.sections import SECTIONS

#: A whole ID number (18 characters, the last may be X) or a whole mobile number, not inside a longer run.
FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
FULL_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")
ROWS = 300  # rows read from each list (the lazy lists page 200 at a time)


def _tree_texts(tree: QTreeWidget) -> list[str]:
    texts, stack = [], [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack and len(texts) < ROWS * 10:
        item = stack.pop()
        texts += [item.text(c) for c in range(tree.columnCount())]
        stack += [item.child(i) for i in range(item.childCount())]
    return texts


def screen_texts(root) -> list[str]:
    """What a user can read on ``root``: labels and the cells of every visible list (first rows)."""
    texts = [w.text() for w in root.findChildren(QLabel) if w.isVisible()]
    for view in root.findChildren(QAbstractItemView):
        if not view.isVisible():
            continue
        if isinstance(view, QTreeWidget):
            texts += _tree_texts(view)
            continue
        model = view.model()
        try:
            rows, columns = model.rowCount(QModelIndex()), model.columnCount(QModelIndex())
        except (TypeError, AttributeError):  # a Qt-internal model keeps it private
            continue
        for row in range(min(rows, ROWS)):
            for column in range(columns):
                index = model.index(row, column)
                texts += [str(index.data() or ""), str(index.data(Qt.ItemDataRole.ToolTipRole) or "")]
    return texts


def leaks(root) -> list[str]:
    return [t for t in screen_texts(root) if FULL_ID.search(t) or FULL_PHONE.search(t)]


def _visit_tabs(qtbot, page):
    """Every tab of the page in turn (a tab loads when shown), yielding after each is shown."""
    tabs = [w for w in page.findChildren(QTabWidget)]
    yield
    for widget in tabs:
        for i in range(widget.count()):
            widget.setCurrentIndex(i)
            qtbot.wait(0)
            yield


def _reveals(ws) -> int:
    with ws.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reveal"))


def test_no_page_shows_a_whole_id_number_or_phone(qtbot, demo, window_for):
    from station_app.store.models import User

    with demo.ws.read() as session:  # the staff's own work phones (用户管理) are not villagers' data
        staff = {p for p in session.scalars(select(User.phone)) if p}
    window = window_for(demo.clerk)
    found = {}
    for section in SECTIONS:
        page = window.show_section(section.key)
        for _ in _visit_tabs(qtbot, page):
            bad = [t for t in leaks(page) if not any(p in t for p in staff)]
            if bad:
                found[section.title] = bad[:3]
    assert not found, found


def _check_reveal(qtbot, demo, list_widget, table, model, reveal, button, column: int):
    """Select the first row, 「显示」: the full value appears (audited), then the timer masks it again."""
    assert model.rowCount() > 0
    table.selectRow(0)
    assert button.isEnabled()
    before_text = str(model.index(0, column).data() or "")
    assert "*" in before_text and not leaks(list_widget)
    audits = _reveals(demo.ws)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: reveal.revealed is not None, timeout=30_000)
    shown = str(model.index(0, column).data() or "")
    assert "*" not in shown and (FULL_ID.search(shown) or FULL_PHONE.search(shown)), shown
    assert _reveals(demo.ws) == audits + 1
    assert reveal.timer.isActive() and reveal.timer.interval() == REVEAL_SECONDS * 1000
    # Only the chosen person: the other rows stay masked.
    others = [str(model.index(r, column).data() or "") for r in range(1, min(model.rowCount(), 50))]
    assert not any(FULL_ID.search(t) or FULL_PHONE.search(t) for t in others if t != shown)
    reveal.timer.timeout.emit()  # the minute is up
    assert str(model.index(0, column).data() or "") == before_text
    assert not leaks(list_widget)


def test_reveal_one_record_for_a_minute_on_each_list(qtbot, demo, window_for):
    from station_app.ui.sections.chronic_page import CARD_COLUMNS, COL_PHONE
    from station_app.ui.sections.assistance_page import CASE_COLUMNS
    from station_app.ui.sections.service_log_page import SERVICE_COLUMNS

    window = window_for(demo.clerk)
    chronic = window.show_section("chronic")
    cards = chronic.cards
    qtbot.waitUntil(lambda: cards.model.rowCount() > 0, timeout=30_000)
    id_column = next(i for i, c in enumerate(CARD_COLUMNS) if c.key == "id_number")
    _check_reveal(qtbot, demo, cards, cards.table, cards.model, cards.reveal, cards.reveal_button, id_column)

    chronic.show_tab("refills")
    refills = chronic.refills
    qtbot.waitUntil(lambda: refills.model.rowCount() > 0, timeout=30_000)
    with_phone = next(i for i, r in enumerate(refills.model.rows) if r.phone)
    refills.model.set_rows([refills.model.rows[with_phone]], refills.model.outcomes)
    _check_reveal(qtbot, demo, refills, refills.table, refills.model, refills.reveal, refills.reveal_button, COL_PHONE)

    assistance = window.show_section("assistance")
    qtbot.waitUntil(lambda: assistance.model.rowCount() > 0, timeout=30_000)
    id_column = next(i for i, c in enumerate(CASE_COLUMNS) if c.key == "id_number")
    _check_reveal(qtbot, demo, assistance, assistance.table, assistance.model, assistance.reveal,
                  assistance.reveal_button, id_column)

    services = window.show_section("service_log").list
    qtbot.waitUntil(lambda: services.model.rowCount() > 0, timeout=30_000)
    phone_column = next(i for i, c in enumerate(SERVICE_COLUMNS) if c.key == "phone")
    first_with_phone = next(r for r in range(services.model.rowCount()) if services.model.index(r, phone_column).data())
    services.model.set_ids([services.model.id_at(first_with_phone)])
    _check_reveal(qtbot, demo, services, services.table, services.model, services.reveal,
                  services.reveal_button, phone_column)


def test_a_reveal_out_of_scope_is_refused_and_shown(qtbot, demo, window_for):
    from station_app.services.chronic import card_ids, CardFilters

    window = window_for(demo.doctor)
    cards = window.show_section("chronic").cards
    qtbot.waitUntil(lambda: cards.model.rowCount() > 0, timeout=30_000)
    # A resident of another village (the clerk sees them; the doctor may not reveal them).
    other = next(cid for cid in card_ids(demo.ws, demo.clerk, CardFilters())
                 if cards.model.row_of(cid) is None)
    from station_app.services.chronic import card_detail

    outsider = card_detail(demo.ws, demo.clerk, other).resident_id
    audits = _reveals(demo.ws)
    cards.reveal.reveal(outsider)
    qtbot.waitUntil(lambda: bool(cards.message.text()), timeout=30_000)
    assert cards.reveal.revealed is None and _reveals(demo.ws) == audits
