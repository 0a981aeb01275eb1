"""The 同步 page: settings, status, 立即同步 off the UI thread, conflicts resolved from the list."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from station_app.store.models import Resident  # noqa: E402
from station_app.sync.client import SyncClient  # noqa: E402
from station_app.sync.conflicts import list_conflicts  # noqa: E402
from station_app.ui.tasks import TaskManager  # noqa: E402

from tests.conftest import VILLAGE_A  # noqa: E402
from .conftest import no_sleep, sync_until_quiet  # noqa: E402
from .helpers import edit, household  # noqa: E402


@pytest.fixture
def page_for(qtbot):
    made = []

    def make(station, tasks=None):
        from station_app.sync.settings import server_settings
        from station_app.ui.sections.sync_page import SyncPage

        def client(ws):
            url, token = server_settings(ws)
            return SyncClient(url, token, sleep=no_sleep, max_attempts=2)

        page = SyncPage(station.ws, station.actor, tasks=tasks or TaskManager.synchronous(), client_factory=client)
        qtbot.addWidget(page)
        made.append(page)
        return page

    yield make
    for page in made:
        page.timer.stop()


def test_sync_now_shows_progress_and_status(sqlite_county, stations, page_for):
    village, = stations(sqlite_county, "VA")
    household(village, VILLAGE_A)
    page = page_for(village)
    assert page.pending_label.text() == "3" and page.last_label.text() == "从未"
    results = []
    page.synced.connect(lambda report, error: results.append((report, error)))
    page.sync_now()
    assert results and results[0][1] == ""
    assert page.pending_label.text() == "0"
    assert page.last_label.text() != "从未"
    assert page.progress.value() == 100
    assert "同步完成" in page.message_label.text()


def test_settings_are_saved_and_a_bad_address_is_refused(sqlite_county, stations, page_for, monkeypatch):
    village, = stations(sqlite_county, "VA")
    page = page_for(village)
    warnings = []
    monkeypatch.setattr("station_app.ui.sections.sync_page.QMessageBox.warning",
                        lambda _parent, _title, text: warnings.append(text))
    page.url_edit.setText("yb.example")
    page.save_settings()
    assert warnings and "http" in warnings[0]
    page.url_edit.setText(sqlite_county.url + "/")
    page.save_settings()
    assert page.status.server_url == sqlite_county.url


def test_a_conflict_is_listed_and_kept_from_the_page(sqlite_county, stations, page_for):
    village, township = stations(sqlite_county, "VA", "TS")
    _, head_id = household(village, VILLAGE_A)
    sync_until_quiet(sqlite_county, [village, township], rounds=1)
    edit(village, Resident, head_id, phone="13800000001")
    edit(township, Resident, head_id, phone="13800000002")
    village.sync()
    township.sync()
    page = page_for(village)
    page.sync_now()
    model = page.conflict_table.model()
    assert model.rowCount() == 1
    assert model.index(0, 3).data() == "13800000001"
    assert not page.keep_button.isEnabled()
    page.conflict_table.selectRow(0)
    assert page.keep_button.isEnabled()
    page.keep_button.click()
    assert model.rowCount() == 0 and list_conflicts(village.ws) == []
    assert page.pending_label.text() == "1"  # the kept value goes up at the next sync
    page.sync_now()
    assert sqlite_county.store.row_state(head_id).data["phone"] == "13800000001"


def test_network_failure_is_shown_and_the_ui_never_waits(sqlite_county, stations, page_for, qtbot):
    village, = stations(sqlite_county, "VA")
    sqlite_county.server.stop()
    tasks = TaskManager()  # a real network thread
    page = page_for(village, tasks)
    from station_app.sync import settings

    settings.set_server(village.ws, village.actor, "http://127.0.0.1:9")  # nothing listens there
    with qtbot.waitSignal(page.synced, timeout=60_000) as blocker:
        page.sync_now()
        assert page.running and not page.sync_button.isEnabled()  # returned at once
    assert "无法连接县服务器" in blocker.args[1]
    assert "无法连接县服务器" in page.message_label.text()
    assert page.sync_button.isEnabled()
    tasks.wait_for_done()


def test_clock_warning_is_shown(sqlite_county, stations, page_for):
    from sync_protocol.hlc import wall_clock_ms

    village, = stations(sqlite_county, "VA")
    village.ws.clock.inner._wall_clock = lambda: wall_clock_ms() + 3 * 86_400_000
    village.sync()
    page = page_for(village)
    assert not page.clock_label.isHidden() and "快约 3 天" in page.clock_label.text()
