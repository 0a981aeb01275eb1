"""Issue 10.4: Chinese everywhere — Qt's own buttons, the 操作日志, and every page and dialog."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTabWidget,
    QAbstractItemView,
)
from sqlalchemy import select

from station_app.ui.sections import SECTIONS
from tests.ui.counter.catalogue import dialogs, show

#: Latin a user may see: units and names that are Latin in Chinese use too.
ALLOWED = {"PDF", "Excel", "APP", "ID", "USB", "CSV", "Ctrl", "Shift", "xlsx", "zs", "http", "https", "A4", "A3", "Tab",
           "Enter", "X", "QQ", "WiFi", "IT", "yyyy", "MM", "dd"}
#: A Latin word on its own — not part of a code with digits or a dash (卡号 MT2026…, 610921103-ZX).
LATIN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z]+(?![A-Za-z0-9_\-])")


def latin_words(text: str) -> set[str]:
    # Upper-case runs are codes and abbreviations (YBZP, ID, PDF); lower-case words are English.
    return {w for w in LATIN.findall(text or "") if w not in ALLOWED and not w.isupper()}


def visible_texts(root) -> list[str]:
    """Every string a user can read on ``root`` right now: labels, buttons, tabs, headers, first table rows."""
    texts: list[str] = [root.windowTitle()]
    for widget in root.findChildren(QLabel):
        if widget.isVisible():
            texts.append(widget.text())
    for widget in root.findChildren(QAbstractButton):
        if widget.isVisible():
            texts += [widget.text(), widget.toolTip()]
    for widget in root.findChildren(QGroupBox):
        if widget.isVisible():
            texts.append(widget.title())
    for widget in root.findChildren(QTabWidget):
        if widget.isVisible():
            texts += [widget.tabText(i) for i in range(widget.count())]
    for widget in root.findChildren(QComboBox):
        if widget.isVisible():
            texts += [widget.itemText(i) for i in range(min(widget.count(), 40))]
    for widget in root.findChildren(QLineEdit):
        if widget.isVisible():
            texts.append(widget.placeholderText())
    for view in root.findChildren(QAbstractItemView):
        model = view.model()
        if not view.isVisible() or model is None:
            continue
        try:
            columns = model.columnCount(QModelIndex())
        except TypeError:  # a Qt-internal model (a completer's) keeps it private
            continue
        for column in range(columns):
            texts.append(str(model.headerData(column, Qt.Orientation.Horizontal) or ""))
            for row in range(min(model.rowCount(QModelIndex()), 5)):
                texts.append(str(model.index(row, column).data() or ""))
    return texts


def _latin_on(root) -> dict[str, set[str]]:
    found = {}
    for text in visible_texts(root):
        words = latin_words(text)
        if words:
            found[text[:60]] = words
    return found


def test_qt_standard_buttons_read_in_chinese(qapp):
    box = QMessageBox(QMessageBox.Icon.Question, "确认", "删除？",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    texts = {box.button(b).text().replace("&", "") for b in (QMessageBox.StandardButton.Yes,
                                                             QMessageBox.StandardButton.No)}
    assert all(t.startswith(("是", "否")) for t in texts), texts  # was Yes / No
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    assert buttons.button(QDialogButtonBox.StandardButton.Ok).text().replace("&", "").startswith("确定")
    assert buttons.button(QDialogButtonBox.StandardButton.Cancel).text().replace("&", "").startswith("取消")


def test_the_installer_carries_qt_chinese_catalogue():
    spec = (Path(__file__).resolve().parents[3] / "installer" / "station_app.spec").read_text(encoding="utf-8")
    assert "qtbase_zh_CN" in spec and "qt_translations" in spec


def test_the_audit_log_shows_actions_tables_fields_and_values_in_chinese(qtbot, demo, window_for):
    from station_app.services import enrollment
    from station_app.store.models import Enrollment

    with demo.ws.read() as session:
        resident_id, year = session.execute(select(Enrollment.resident_id, Enrollment.year).where(
            Enrollment.status == "unpaid", Enrollment.village_code == demo.doctor.place_code)
            .order_by(Enrollment.year.desc())).first()
    info = enrollment.year_info(demo.ws, year, actor=demo.doctor)
    enrollment.set_paid(demo.ws, demo.doctor, resident_id, year, paid_on=info.deadline or date.today(),
                        channel="tax_app", amount_fen=None, today=info.deadline or date.today())
    window = window_for(demo.admin)
    page = window.show_section("settings")
    tabs = page.findChild(QTabWidget)
    tabs.setCurrentIndex(tabs.count() - 1)  # 操作日志
    page.search_audit(0)
    model = page.audit_model
    rows = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]
    paid = next(r for r in rows if r[2] == "登记参保：已缴费")  # was "enrollment_paid"
    assert paid[3].startswith("参保")  # the table, not "enrollment"
    assert "状态：未缴费 → 已缴费" in paid[4] and "缴费渠道：（空） → 税务APP" in paid[4]
    assert re.search(r"实缴：[^；]* → [\d,]+\.\d\d 元", paid[4])  # amounts in 元, not amount_fen
    from station_app.store.models import User

    with demo.ws.read() as session:  # account names (cy01, admin) are identifiers people type
        accounts = set(session.scalars(select(User.username)))
    for row in rows:
        assert not latin_words(" ".join(str(x) for x in row[:4])) - accounts, row  # who, what, which table
        if row[2] != "更新参考数据":  # the county's own reference texts are shown as the county wrote them
            assert not latin_words(str(row[4])) - accounts, row
    for combo in (page.table_filter, page.action_filter):
        items = [combo.itemText(i) for i in range(combo.count())]
        assert not any(latin_words(t) for t in items), items


def test_every_action_table_and_field_has_a_chinese_label():
    from station_app.services import audit
    from station_app.store.models import Base

    root = Path(__file__).resolve().parents[3] / "station_app"
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    actions = set(re.findall(r"unit_of_work\([^,()]+, \"([a-z_]+)\"", source))
    actions |= set(re.findall(r"_audit\(session, [^,]+, \"([a-z_]+)\"", source))
    assert actions and {a for a in actions if audit.action_label(a) == a} == set()
    for table in Base.metadata.sorted_tables:
        assert table.name in audit.TABLE_LABELS, table.name
        for column in table.columns:
            if column.name not in ("id", "before_json", "after_json", "fields_json", "op_id", "batch_id", "hlc",
                                   "seq", "op", "base_version", "attempts", "last_error", "created_at", "state",
                                   "local_value", "remote_value", "local_hlc", "remote_hlc", "detected_at",
                                   "resolution", "resolved_by", "resolved_at", "field", "table_name", "row_id",
                                   "at", "station_code", "action", "summary", "password_hash"):
                assert column.name in audit.FIELD_LABELS, f"{table.name}.{column.name}"


def test_no_latin_word_on_any_page_or_dialog(qtbot, demo, sync_tasks, window_for):
    found: dict[str, dict] = {}
    for actor in (demo.clerk, demo.doctor):
        window = window_for(actor)
        for section in SECTIONS:
            page = window.show_section(section.key)
            tabs = page.findChildren(QTabWidget)
            for tab_widget in tabs:
                for i in range(tab_widget.count()):
                    tab_widget.setCurrentIndex(i)
                    QApplication.processEvents()
                    latin = _latin_on(page)
                    if latin:
                        found[f"{section.title}/{tab_widget.tabText(i)}"] = latin
            QApplication.processEvents()
            latin = _latin_on(page)
            if latin:
                found[section.title] = latin
        found.update({f"状态栏": _latin_on(window.statusBar())} if _latin_on(window.statusBar()) else {})
        window.close()
    window = window_for(demo.clerk)
    for name, factory in dialogs(demo, sync_tasks, window):
        dialog = factory()
        qtbot.addWidget(dialog)
        show(qtbot, dialog)
        latin = _latin_on(dialog)
        if latin:
            found[name] = latin
        dialog.reject()
    assert found == {}
