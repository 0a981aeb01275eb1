"""A station's app version is noted off the request path, in batches (issue 14's rerun of the
500-station no-op bench: each first contact waited for its own write, p99 0.8–1.2 s on SQLite)."""

from __future__ import annotations

from county_server.console import routes, stations
from county_server.db import init_db, make_engine
from county_server.store import Store
from county_server.auth import token_hash


def _store(tmp_path) -> Store:
    url = f"sqlite:///{tmp_path / 'county.db'}"
    init_db(make_engine(url))
    return Store(make_engine(url))


def test_noting_a_version_writes_nothing_until_the_batch_is_flushed(tmp_path, monkeypatch):
    written: list[dict[str, str]] = []
    monkeypatch.setattr(stations, "note_versions", lambda _engine, batch: written.append(dict(batch)) or len(batch))
    monkeypatch.setattr(routes, "VERSION_NOTE_DELAY_S", 3600)  # only an explicit flush writes here
    notes = routes.VersionNotes(lambda: None)
    for token in ("t1", "t2", "t3"):
        notes.note(token, "1.4.0")
    notes.note("t1", "1.4.0")  # seen already: nothing more to write
    assert written == []  # the requests did not wait for any write
    notes.flush()
    assert written == [{token_hash(t): "1.4.0" for t in ("t1", "t2", "t3")}]  # one batch
    notes.note("t2", "1.4.0")
    notes.note("t2", "1.5.0")  # a new version is noted again
    notes.flush()
    assert written[1] == {token_hash("t2"): "1.5.0"}
    notes.flush()  # nothing pending: no write at all
    assert len(written) == 2


def test_the_batch_is_written_by_itself_after_a_short_delay(tmp_path, monkeypatch):
    import threading

    done = threading.Event()
    written: list[dict[str, str]] = []

    def note_versions(_engine, batch):
        written.append(dict(batch))
        done.set()
        return len(batch)

    monkeypatch.setattr(stations, "note_versions", note_versions)
    monkeypatch.setattr(routes, "VERSION_NOTE_DELAY_S", 0.01)
    notes = routes.VersionNotes(lambda: None)
    notes.note("t1", "1.4.0")
    assert done.wait(30)
    assert written == [{token_hash("t1"): "1.4.0"}]


def test_note_versions_updates_known_stations_adds_new_ones_and_skips_unknown_tokens(tmp_path):
    store = _store(tmp_path)
    try:
        t1 = store.add_station(code="S1", name="一", scope="county")
        t2 = store.add_station(code="S2", name="二", scope="county")
        stations.note_versions(store.engine, {token_hash(t1): "1.0"})
        count = stations.note_versions(store.engine, {token_hash(t1): "1.1", token_hash(t2): "2.0" * 20,
                                                      token_hash("not-a-token"): "9.9"})
        assert count == 2
        from sqlalchemy import select

        with store.engine.connect() as conn:
            versions = dict(conn.execute(select(stations.T_INFO.c.code, stations.T_INFO.c.app_version)).all())
        assert versions == {"S1": "1.1", "S2": ("2.0" * 20)[:32]}
    finally:
        store.close()


def test_made_up_tokens_do_not_grow_the_memory_without_bound(monkeypatch):
    monkeypatch.setattr(routes, "VERSION_NOTE_DELAY_S", 3600)
    monkeypatch.setattr(routes, "MAX_REMEMBERED_TOKENS", 100)
    notes = routes.VersionNotes(lambda: None)
    for i in range(1000):
        notes.note(f"made-up-{i}", "1.0")
    assert len(notes._seen) <= 100  # noqa: SLF001
