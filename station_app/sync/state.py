"""Sync bookkeeping in the station's ``sync_state`` table: cursors, scope, server, last result.

Written with plain SQL on the connection of the transaction that applies a page, so a cursor
is never saved without its page (or the other way round).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection

K_SERVER_URL = "sync.server_url"
K_TOKEN = "sync.token"
K_TLS_CA = "sync.tls_ca_pem"  # PEM of the county's own CA or self-signed certificate (a pin)
K_TLS_FINGERPRINT = "sync.tls_fingerprint"  # or: SHA-256 of the one certificate to accept
K_CURSOR = "sync.cursor"
K_REF_CURSOR = "sync.ref_cursor"
K_SCOPE = "sync.scope"  # JSON list of place codes the server says we cover; "*" = county
K_BACKFILL = "sync.backfill."  # + village code: cursor of a village joining our scope
K_STATION = "sync.station"  # our code on the server
K_LAST_SUCCESS = "sync.last_success"
K_LAST_ATTEMPT = "sync.last_attempt"
K_LAST_ERROR = "sync.last_error"
K_LAST_REPORT = "sync.last_report"
K_CLOCK_WARNING = "sync.clock_warning"
K_SERVER_SKEW = "sync.server_skew_ms"
K_SERVER_ACCEPTS_USER = "sync.server_accepts_user"  # "1": ops may name their user (op key u)
K_STATION_KEYS = "sync.station_keys"  # JSON {station: bundle key hex} (township stations)
K_STATION_KEYS_AT = "sync.station_keys_at"
K_STATION_PLACES = "sync.station_places"  # JSON {station: its village} (township stations)
K_DOUBLE_REGISTRATIONS = "sync.double_registrations"  # people registered twice, counted at the last sync
K_RELAY = "sync.relay."  # + bundle id: a village's bundle waiting to be relayed upward
K_BUNDLE_SEEN = "sync.bundle."  # + bundle id: imported here already

HLC_KEY = "hlc_last"  # owned by services.changes; kept monotonic here too


def get(conn: Connection, key: str, default: str = "") -> str:
    row = conn.exec_driver_sql("SELECT value FROM sync_state WHERE key = ?", (key,)).first()
    return row[0] if row is not None else default


def get_int(conn: Connection, key: str, default: int = 0) -> int:
    try:
        return int(get(conn, key) or default)
    except ValueError:
        return default


def get_json(conn: Connection, key: str, default: Any = None) -> Any:
    text = get(conn, key)
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def put(conn: Connection, key: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    conn.exec_driver_sql(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, text))


def put_hlc(conn: Connection, packed: str) -> None:
    """Persist the clock with the page that moved it (never backwards)."""
    conn.exec_driver_sql(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = CASE WHEN excluded.value > value THEN excluded.value ELSE value END", (HLC_KEY, packed))


def delete(conn: Connection, key: str) -> None:
    conn.exec_driver_sql("DELETE FROM sync_state WHERE key = ?", (key,))


def with_prefix(conn: Connection, prefix: str) -> dict[str, str]:
    rows = conn.exec_driver_sql("SELECT key, value FROM sync_state WHERE key >= ? AND key < ?",
                                (prefix, prefix + "\uffff")).all()
    return {k[len(prefix):]: v for k, v in rows}
