"""Build a fresh station's secondary indexes once, after its initial sync, instead of row by row.

Random UUID keys scatter every insert across each index's B-tree; on an empty table it is
cheaper to drop the plain (non-unique) indexes, load the rows and build each index in one
sorted pass. Unique indexes stay (they carry meaning: natural-key checks rely on them). The
dropped definitions are saved in ``sync_state`` in the same transaction as the drop, so a crash
in between is repaired by ``restore_deferred_indexes`` (called when a sync starts and when a
workspace opens).
"""

from __future__ import annotations

import json
from typing import Iterable

from sqlalchemy import Connection

STATE_KEY = "deferred_indexes"


def _saved(conn: Connection) -> dict[str, str]:
    row = conn.exec_driver_sql("SELECT value FROM sync_state WHERE key = ?", (STATE_KEY,)).first()
    return json.loads(row[0]) if row and row[0] else {}


def defer_secondary_indexes(conn: Connection, tables: Iterable[str]) -> int:
    """Drop the plain indexes of the tables that are still empty; returns how many were dropped.

    Runs inside the caller's transaction (SQLite DDL is transactional).
    """
    saved = _saved(conn)
    for table in tables:
        if conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None:
            continue
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,)).all()
        for name, sql in rows:
            if not sql.lstrip().upper().startswith("CREATE UNIQUE"):
                saved[name] = sql
    dropped = [name for name in saved
               if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                                       (name,)).first() is not None]
    if not dropped:
        return 0
    conn.exec_driver_sql("INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)",
                         (STATE_KEY, json.dumps(saved, sort_keys=True)))
    for name in dropped:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return len(dropped)


def restore_deferred_indexes(conn: Connection) -> int:
    """Recreate every index dropped by ``defer_secondary_indexes``; returns how many were built."""
    saved = _saved(conn)
    for sql in saved.values():
        conn.exec_driver_sql(sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
    if saved:
        conn.exec_driver_sql("DELETE FROM sync_state WHERE key = ?", (STATE_KEY,))
    return len(saved)
