"""The encrypted engine's page cache: decrypted pages are kept (64 MB), and a sync run's bigger
cache is given back as the engine's own size, not the plaintext default."""

from __future__ import annotations

from station_app.store.db import CIPHER_CACHE_KIB
from station_app.sync.engine import APPLY_CACHE_KB, sync_connection


def test_a_sync_run_gives_the_encrypted_connection_its_own_page_cache_back(township_ws):
    ws, _admin = township_ws
    assert ws.db_key is not None  # the test database is encrypted
    with sync_connection(ws) as conn:
        raw = conn.connection.dbapi_connection
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -APPLY_CACHE_KB
    assert raw.execute("PRAGMA cache_size").fetchone()[0] == CIPHER_CACHE_KIB
    assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
