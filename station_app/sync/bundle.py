"""USB bundles: export this station's unacknowledged changes, import a village's at the township.

Export freezes the pending ops into batches (state ``sent``, batch ids saved) exactly as a
push would, so whichever way a batch reaches the server first — bundle imported at the county,
relayed by the township, or pushed when a network appears — the other ways get the stored
answer and nothing is applied twice.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station_app.domain.errors import DomainError, ValidationError
from sync_protocol.hlc import wall_clock_ms
from station_app.services.workspace import Workspace

from . import state
from .apply import Applier
from sync_protocol.bundle_format import (
    BundleError,
    bundle_key,
    is_sealed,
    open_sealed,
    read_bundle,
    seal_bundle,
    sealed_station,
    write_bundle,
)
from .engine import apply_txn, batch_ops, freeze_batch
from sync_protocol.protocol import PROTOCOL_VERSION, SCHEMA_VERSION, RowState
from sync_protocol.tables import table_specs
from sync_protocol.validate import foreign_keys, judge_op, shift_hlc, skew_offset

logger = logging.getLogger(__name__)

TAMPERED = "数据包签名无效（可能被篡改或不是本县站点导出的），已拒绝导入。"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bundle_id: str
    batches: int
    ops: int


@dataclass(frozen=True)
class ImportResult:
    bundle_id: str
    station: str
    ops: int
    applied: int
    already_imported: bool


def export_bundle(ws: Workspace, path: str | Path) -> ExportResult:
    """Write every unacknowledged change to a signed file; returns what went in."""
    with ws.engine.connect() as conn:
        token = state.get(conn, state.K_TOKEN)
        station = state.get(conn, state.K_STATION) or (ws.station.code if ws.station else "")
        skew = state.get_int(conn, state.K_SERVER_SKEW)
    if not token:
        raise ValidationError("导出数据包需要本站的同步令牌（用于签名），请先在“同步”页填写。")
    if not station:
        raise ValidationError("本站尚未完成初始设置。")
    with apply_txn(ws) as conn:
        while freeze_batch(conn):
            pass
        batch_ids = [r[0] for r in conn.exec_driver_sql(
            "SELECT batch_id FROM sync_outbox WHERE state = 'sent' GROUP BY batch_id ORDER BY min(seq)")]
        batches = {batch_id: batch_ops(conn, batch_id)[0] for batch_id in batch_ids}
    bundle_id = str(uuid.uuid4())
    payload = {"bundle_id": bundle_id, "station": station, "created_ms": wall_clock_ms(),
               "protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION,
               # This clock against the server's at the last sync (local − server): whoever
               # imports the bundle corrects the stamps the way a push is corrected.
               "clock_skew_ms": skew,
               "batches": [{"batch_id": b, "ops": ops} for b, ops in batches.items()]}
    key = bundle_key(token)
    data = seal_bundle(write_bundle(payload, key), key)  # signed, then encrypted for the stick
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    with open(temporary, "wb") as handle:  # never a half-written bundle on the stick
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return ExportResult(target, bundle_id, len(batches), sum(len(ops) for ops in batches.values()))


def import_bundle(ws: Workspace, path: str | Path) -> ImportResult:
    """At the township: check a village's bundle, show its changes here, relay it upward.

    Only changes newer than everything this station holds for the row are applied here (and
    new rows); the rest wait for the county server's merge, which the next sync brings back.
    The bundle itself is kept and uploaded at the next sync, under the village's own batch ids.
    """
    try:
        data = Path(path).read_bytes()
        station = sealed_station(data)[0] if is_sealed(data) else read_bundle(data).station
    except (OSError, BundleError) as error:
        raise ValidationError(f"无法读取数据包：{error}") from error
    with ws.engine.connect() as conn:
        keys = state.get_json(conn, state.K_STATION_KEYS, {}) or {}
        places = state.get_json(conn, state.K_STATION_PLACES, {}) or {}
        scope = state.get_json(conn, state.K_SCOPE, None)
        token = state.get(conn, state.K_TOKEN)
        own = state.get(conn, state.K_STATION) or (ws.station.code if ws.station else "")
    if station == own and token:
        key = bundle_key(token)
    elif station in keys:
        key = bytes.fromhex(keys[station])
    else:
        raise DomainError(f"没有站点 {station} 的签名密钥：请先联网同步一次，"
                          "乡镇站会从县服务器取得所辖村站的密钥。")
    if is_sealed(data):  # decrypt first: a wrong byte or another station's key refuses it whole
        try:
            data = open_sealed(data, key)
        except BundleError as error:
            raise DomainError(TAMPERED) from error
    bundle = read_bundle(data)
    with ws.engine.connect() as conn:
        seen = state.get(conn, state.K_BUNDLE_SEEN + bundle.bundle_id)
    if not bundle.verify(key):
        raise DomainError(TAMPERED)
    try:
        payload = bundle.payload()
    except BundleError as error:
        raise DomainError(TAMPERED) from error
    ops = [op for batch in payload["batches"] if isinstance(batch, dict)
           for op in (batch.get("ops") if isinstance(batch.get("ops"), list) else [])]
    if seen:
        return ImportResult(bundle.bundle_id, bundle.station, len(ops), 0, True)
    # The rows a village's bundle may change here: its own village (the server said which), else
    # anything in our scope; the server checks again when the bundle is relayed.
    village = places.get(bundle.station) if isinstance(places, dict) else None
    allowed = {village} if isinstance(village, str) and village else (
        set(scope) if isinstance(scope, list) else None)
    applied = 0
    with apply_txn(ws) as conn:
        if bundle.station != own:
            applied = _apply_newer(conn, ops, allowed, skew_offset(payload.get("clock_skew_ms")),
                                   bundle.station)
            # relayed upward as the signed file (over TLS; kept inside this encrypted database)
            state.put(conn, state.K_RELAY + bundle.bundle_id, base64.b64encode(data).decode("ascii"))
        state.put(conn, state.K_BUNDLE_SEEN + bundle.bundle_id, "imported")
    return ImportResult(bundle.bundle_id, bundle.station, len(ops), applied, False)


def _apply_newer(conn, ops: list[Any], allowed: set[str] | None, offset: int, station: str) -> int:
    """Apply the ops that are newer than the whole local row (safe without per-field stamps).

    Every op goes through the same validation layer as a push on the server (``judge_op``):
    malformed ops, unknown fields, reference or local-only tables are skipped, local fields
    (a notice's ``pdf_path``) dropped; rows and the rows foreign keys name must lie in
    ``allowed`` (None: no limit known). Stamps are corrected by the bundle's clock skew.
    """
    specs = table_specs()
    applier = Applier()
    applied = 0
    now = wall_clock_ms()
    for op in ops:
        verdict = judge_op(op, specs)
        if verdict.reason is not None:
            continue
        spec, fields = verdict.spec, verdict.fields
        if not _in_allowed(conn, spec, op["id"], fields, allowed, specs):
            continue
        hlc = shift_hlc(op["h"], offset, now, station)
        row = conn.exec_driver_sql(f'SELECT updated_hlc, row_version FROM "{spec.name}" WHERE id = ?',
                                   (op["id"],)).first()
        if row is None:
            if op.get("k") != "insert":
                continue
            version = 0
        elif (row[0] or "") >= hlc:
            continue
        else:
            version = row[1] or 0
        # A row state stamped with the op's HLC; the upsert keeps local pending edits on top.
        state_ = RowState(spec.name, op["id"], version, hlc, {}, fields)
        applier.apply_rows(conn, [state_])
        applied += 1
    return applied


def _in_allowed(conn, spec, row_id: str, fields: dict[str, Any], allowed: set[str] | None, specs) -> bool:
    if allowed is None:
        return True
    current = conn.exec_driver_sql(f'SELECT village_code FROM "{spec.name}" WHERE id = ?', (row_id,)).first()
    villages = {fields["village_code"]} if "village_code" in fields else set()
    if current is not None:
        villages.add(current[0])
    if not villages or not villages <= allowed:
        return False
    for _name, table, target in foreign_keys(spec, fields):
        found = conn.exec_driver_sql(f'SELECT village_code FROM "{specs[table].name}" WHERE id = ?',
                                     (target,)).first()
        if found is None or found[0] not in allowed:
            return False
    return True
