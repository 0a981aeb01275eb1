"""Issue 18.3: a connection cut while the answer's body is being read is retried like a failed
request — never a traceback (CLI) nor 「同步时出现意外错误」 (GUI); nothing lost or doubled."""

from __future__ import annotations

import random

import pytest

from station_app.sync.client import SyncClient
from station_app.sync.engine import SyncEngine

from tests.conftest import VILLAGE_A
from .conftest import assert_converged, no_sleep, pending
from .cut_proxy import CuttingProxy
from .helpers import household


@pytest.fixture
def proxy(sqlite_county):
    made = CuttingProxy(sqlite_county.server.port)
    yield made
    made.close()


def _names(county, village):
    with county.store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM sync_row WHERE table_name = 'household'").scalar_one()


@pytest.mark.parametrize("seed", range(6))
def test_a_cut_at_random_offsets_of_pull_pages_and_push_answers_is_retried(seed, sqlite_county, stations, proxy):
    rng = random.Random(seed)
    village, township = stations(sqlite_county, "VA", "TS")
    for name in ("张一", "张二", "张三", "张四", "张五", "张六"):
        household(township, VILLAGE_A, name)
    township.sync()
    for name in ("李一", "李二", "李三"):
        household(village, VILLAGE_A, name)
    # Two cut push answers (the server committed; the same batch goes again and is replayed),
    # then three cut pull pages, each at a random byte of its body.
    proxy.plan["push"] = [rng.random() for _ in range(2)]
    proxy.plan["pull"] = [rng.random() for _ in range(3)]
    client = SyncClient(proxy.url, sqlite_county.tokens["VA"], sleep=no_sleep, max_attempts=6)
    engine = SyncEngine(village.ws, client, page_rows=4, adaptive=False)
    try:
        report = engine.sync()
    finally:
        client.close()
    assert proxy.pending_cuts() == 0 and len(proxy.cuts) == 5, proxy.cuts
    assert all(offset < size for _kind, offset, size in proxy.cuts)
    assert client.stats.retries >= 5
    assert report.rejected == 0
    assert pending(village) == 0
    assert _names(sqlite_county, village) == 9  # nothing created twice by the replayed push
    assert_converged(sqlite_county, village)


def test_the_cli_retries_a_cut_answer_instead_of_a_traceback(sqlite_county, stations, proxy, capsys):
    from station_app.cli.main import main as station_main

    village, township = stations(sqlite_county, "VA", "TS")
    household(township, VILLAGE_A, "张一")
    township.sync()
    household(village, VILLAGE_A, "李一")
    path = str(village.path)
    village.close()
    proxy.plan["push"] = [0.5]
    proxy.plan["pull"] = [0.3]
    assert station_main(["sync", "--db", path, "--server", proxy.url, "--token", sqlite_county.tokens["VA"],
                         "-q"]) == 0
    captured = capsys.readouterr()
    assert "同步完成" in captured.out and "Traceback" not in captured.err
    assert len(proxy.cuts) == 2


def test_the_sync_page_retries_a_cut_answer_instead_of_an_unexpected_error(sqlite_county, stations, proxy, qtbot):
    pytest.importorskip("pytestqt")
    from station_app.ui.sections.sync_page import SyncPage
    from station_app.ui.tasks import TaskManager

    village, township = stations(sqlite_county, "VA", "TS")
    household(township, VILLAGE_A, "张一")
    township.sync()
    household(village, VILLAGE_A, "李一")
    proxy.plan["push"] = [0.7]
    proxy.plan["pull"] = [0.1]
    page = SyncPage(village.ws, village.actor, tasks=TaskManager.synchronous(),
                    client_factory=lambda ws: SyncClient(proxy.url, sqlite_county.tokens["VA"], sleep=no_sleep,
                                                         max_attempts=4))
    qtbot.addWidget(page)
    results = []
    page.synced.connect(lambda report, error: results.append(error))
    page.sync_now()
    page.timer.stop()
    assert results == [""]
    assert "意外错误" not in page.message_label.text() and "同步完成" in page.message_label.text()
    assert len(proxy.cuts) == 2 and pending(village) == 0
