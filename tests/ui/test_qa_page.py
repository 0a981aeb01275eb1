"""政策问答 and 村广播 in the 政策 section, with real widgets."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import Qt

from station_app.services import policy_qa
from station_app.ui.sections import PageContext
from station_app.ui.sections.qa_page import BroadcastPanel, LogAnswerDialog, QaPage
from tests.conftest import VILLAGE_A, require_tool
from tests.services.enrollment.town import build_town


@pytest.fixture
def ctx(township_ws, tasks):
    ws, admin = township_ws
    build_town(ws, admin)
    return PageContext(ws, admin, tasks)


def test_search_filters_by_pinyin_and_enter_only_filters(qtbot, ctx):
    page = QaPage(ctx)
    qtbot.addWidget(page)
    assert page.list.count() >= 3  # premium, subsidies, the 慢特病 catalogue of the small county
    page.search.setText("mxb")
    qtbot.keyClick(page.search, Qt.Key.Key_Return)
    assert page.list.count() == 1 and "门诊慢特病" in page.list.item(0).text()
    assert "高血压" in page.answer.toPlainText()
    page.search.setText("qqqzzz")
    page.apply_filter()
    assert page.list.count() == 0 and "没有找到" in page.answer.toPlainText()
    assert not page.log_button.isEnabled()


def test_logging_an_answer_needs_an_explicit_person(qtbot, ctx):
    page = QaPage(ctx)
    qtbot.addWidget(page)
    item = page.current
    dialog = LogAnswerDialog(ctx, item, page)
    qtbot.addWidget(dialog)
    dialog.ok_button.click()
    assert "选择提问的居民" in dialog.message.text()
    dialog.picker.edit.setText("zxl")
    dialog.picker.search_now()
    qtbot.waitUntil(lambda: bool(dialog.picker.hits), timeout=30_000)
    dialog.picker.choose(dialog.picker.hits[0])
    dialog.ok_button.click()
    assert dialog.result() == 1
    counts = policy_qa.questions_by_topic(ctx.ws, ctx.actor, since=date(2000, 1, 1))
    assert counts == [(item.topic, 1)]


def test_broadcast_panel_makes_a_file_off_the_ui_thread(qtbot, ctx, tmp_path):
    require_tool("espeak-ng", "espeak-ng")
    panel = BroadcastPanel(ctx)
    qtbot.addWidget(panel)
    panel.folder.setText(str(tmp_path))
    panel.kind.setCurrentIndex(panel.kind.findData("unpaid"))
    panel.village.setCurrentIndex(panel.village.findData(VILLAGE_A))
    with qtbot.waitSignal(panel.made, timeout=120_000) as blocker:
        panel.make_button.click()
    result = blocker.args[0]
    assert result.wav_path.exists() and result.wav_path.parent == tmp_path
    assert "本村还有" in panel.script.toPlainText()
    assert "已生成" in panel.status.text()


def test_a_custom_script_naming_a_villager_shows_the_refusal(qtbot, ctx, tmp_path):
    panel = BroadcastPanel(ctx)
    qtbot.addWidget(panel)
    out = tmp_path / "broadcasts"
    panel.folder.setText(str(out))
    panel.kind.setCurrentIndex(panel.kind.findData("custom"))
    panel.custom.setPlainText("请赵六来卫生室")
    panel.make_button.click()
    qtbot.waitUntil(lambda: "不能点名" in panel.status.text(), timeout=30_000)
    assert not out.exists() or not list(out.iterdir())


def test_questions_by_topic_reach_the_dashboard(qtbot, township_ws, tasks, ui_settings):
    from station_app.ui.app import build_main_window

    ws, admin = township_ws
    town = build_town(ws, admin)
    items = policy_qa.qa_items(ws)
    chronic = next(i for i in items if i.topic == "门诊慢特病")
    for who in ("张大山", "赵六"):
        policy_qa.log_answer(ws, town.doctor(VILLAGE_A), chronic, resident_id=town[who])
    window = build_main_window(ws, admin, tasks, ui_settings)
    qtbot.addWidget(window)
    page = window.page("dashboard")
    qtbot.waitUntil(lambda: page.dashboard is not None, timeout=30_000)
    assert page.dashboard.question_topics == [("门诊慢特病", 2)]
    assert "答疑主题：门诊慢特病 2" in page.service_card.detail.text()


def test_the_notices_page_opens_the_broadcast_panel(qtbot, ctx):
    from station_app.ui.sections.notices_page import NoticesPage

    page = NoticesPage(ctx.ws, ctx.actor, tasks=ctx.tasks)
    qtbot.addWidget(page)
    qtbot.mouseClick(page.broadcast_button, Qt.MouseButton.LeftButton)
    dialog = page.findChild(type(page.open_broadcast()))
    qtbot.addWidget(dialog)
    assert dialog.panel.village.count() >= 1 and dialog.panel.make_button.text() == "生成广播"


def test_in_the_policy_section_the_list_waits_for_its_tab_then_loads(qtbot, ctx, monkeypatch):
    """Built beside the 政策 page's first paint, the list's first build stalled it (issue 10); it is
    built when its tab is shown, and at the latest shortly after, even in a window never shown."""
    from station_app.ui.sections import qa_page

    monkeypatch.setattr(qa_page, "QA_DEFERRED_LOAD_MS", 60_000)
    page = QaPage(ctx, load_when_shown=True)
    qtbot.addWidget(page)
    assert page.items == [] and page.list.count() == 0  # nothing built yet
    with qtbot.waitSignal(page.loaded, timeout=30_000):
        page.show()
    assert page.list.count() >= 3

    monkeypatch.setattr(qa_page, "QA_DEFERRED_LOAD_MS", 10)
    hidden = QaPage(ctx, load_when_shown=True)
    qtbot.addWidget(hidden)
    with qtbot.waitSignal(hidden.loaded, timeout=30_000):
        pass
    assert hidden.list.count() >= 3 and not hidden.isVisible()
