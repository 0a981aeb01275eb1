"""Stations as the console shows them (sync health) and manages them (add, disable, rotate a token).

Token rotation writes the new token's hash and bundle key on the station row, the same two
columns ``Store.add_station`` fills; the old token stops working at once in this process and
within ``AUTH_TTL_SECONDS`` in the others.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno
from sqlalchemy import Engine, func, insert, select, update

from sync_protocol.bundle_format import bundle_key

from ..auth import new_token, token_hash
from ..models import Place, PushOp, Station, StationInfo, SyncEvent, utcnow
from ..store import Store
from .accounts import _hasher

T_STATION = Station.__table__
T_INFO = StationInfo.__table__
#: What the set-up file says it is (``station-app setup --setup-file``).
SETUP_FILE_KIND = "village-yibao-station-setup"


@dataclass
class StationRow:
    code: str
    name: str
    scope: str
    place_code: str
    place_name: str
    active: bool
    last_seen_at: datetime | None
    conflicts: int
    rejected: int
    app_version: str
    clock_drift_ms: int | None
    silent: bool

    @property
    def scope_text(self) -> str:
        return {"village": "村站", "township": "乡镇站", "county": "县级"}.get(self.scope, self.scope)

    @property
    def drift_text(self) -> str:
        if self.clock_drift_ms is None:
            return "—"
        return f"{self.clock_drift_ms / 1000:+.0f} 秒"


def station_rows(engine: Engine, silent_days: int, *, now: datetime | None = None) -> list[StationRow]:
    now = now or utcnow()
    with engine.connect() as conn:
        conflicts = dict(conn.execute(select(SyncEvent.station_code, func.count()).where(
            SyncEvent.kind == "conflict").group_by(SyncEvent.station_code)).all())
        rejected = dict(conn.execute(select(PushOp.station_code, func.count()).where(
            PushOp.status == "rejected").group_by(PushOp.station_code)).all())
        info = {r.code: r for r in conn.execute(select(T_INFO))}
        names = dict(conn.execute(select(Place.code, Place.name)).all())
        rows = conn.execute(select(T_STATION).order_by(T_STATION.c.code)).all()
    out = []
    cutoff = now - timedelta(days=silent_days)
    for r in rows:
        meta = info.get(r.code)
        out.append(StationRow(
            r.code, r.name, r.scope, r.place_code, names.get(r.place_code, ""), r.active, r.last_seen_at,
            conflicts.get(r.code, 0), rejected.get(r.code, 0), meta.app_version if meta else "",
            meta.clock_drift_ms if meta else None,
            r.active and (r.last_seen_at is None or r.last_seen_at < cutoff)))
    return out


def add_station(store: Store, *, code: str, name: str, scope: str, place_code: str,
                admin_username: str = "", admin_password: str = "", admin_display_name: str = "") -> str:
    """Register a station (and the administrator it is set up with); returns the token."""
    if admin_username and len(admin_password) < 8:
        raise ValueError("站点管理员的初始密码至少需要 8 位。")
    token = store.add_station(code=code, name=name, scope=scope, place_code=place_code)
    users = []
    if admin_username:
        users.append({"username": admin_username, "display_name": admin_display_name or "管理员",
                      "role": "admin", "password_hash": _hasher.hash(admin_password)})
    with store.engine.begin() as conn:
        conn.execute(insert(T_INFO).values(code=code, app_version="", users=json.dumps(users, ensure_ascii=False)))
    return token


def rotate_token(store: Store, code: str) -> str:
    token = new_token()
    with store.engine.begin() as conn:
        changed = conn.execute(update(T_STATION).where(T_STATION.c.code == code).values(
            token_hash=token_hash(token), bundle_key=bundle_key(token).hex())).rowcount
    if not changed:
        raise ValueError(f"没有这个站点：{code}")
    store._auth.clear()  # noqa: SLF001 - the old token must stop working now
    return token


def station_users(engine: Engine, code: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        text = conn.execute(select(T_INFO.c.users).where(T_INFO.c.code == code)).scalar()
    return json.loads(text or "[]")


def _set_info(conn, code: str, values: dict[str, Any]) -> None:
    """Set ``values`` on a station's info row, making the row the first time."""
    if conn.execute(update(T_INFO).where(T_INFO.c.code == code).values(**values)).rowcount == 0:
        conn.execute(insert(T_INFO).values(code=code, users="[]", **{"app_version": "", **values}))


def note_contact(engine: Engine, code: str, *, drift_ms: int | None = None) -> None:
    """Remember a station's clock drift (measured at a push); its app version comes in batches
    (``note_versions``)."""
    values: dict[str, Any] = {}
    if drift_ms is not None:
        values["clock_drift_ms"] = drift_ms
        values["last_push_at"] = utcnow()
    with engine.begin() as conn:
        _set_info(conn, code, values)


def note_versions(engine: Engine, versions: dict[str, str]) -> int:
    """Remember the app version of the stations whose token hashes are the keys, in one
    transaction (unknown tokens are skipped); returns how many stations were noted."""
    if not versions:
        return 0
    with engine.begin() as conn:
        codes = dict(conn.execute(select(T_STATION.c.token_hash, T_STATION.c.code).where(
            T_STATION.c.token_hash.in_(sorted(versions)))).all())
        for digest, code in codes.items():
            _set_info(conn, code, {"app_version": versions[digest][:32]})
    return len(codes)


def setup_file(server_url: str, code: str, token: str) -> str:
    return json.dumps({"kind": SETUP_FILE_KIND, "server": server_url, "station": code, "token": token},
                      ensure_ascii=False, indent=2)


def qr_svg(text: str) -> str:
    """The set-up command as an inline SVG QR code (drawn here, nothing fetched)."""
    return segno.make(text, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def data_url(text: str) -> str:
    return "data:application/json;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")
