"""Sync settings and status for the UI and the CLI: server address, token, last result, counts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import func, select

from station_app.domain.enums import Role
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace
from station_app.store.models import OutboxOp, SyncConflict, SyncState

from . import state
from .tables import LOCAL_ONLY_TABLES

PENDING_STATES = ("pending", "sent")


@dataclass(frozen=True)
class SyncStatus:
    server_url: str
    has_token: bool
    station_on_server: str
    last_success: str
    last_attempt: str
    last_error: str
    last_report: str
    pending: int
    rejected: int
    conflicts: int
    clock_warning: str

    @property
    def configured(self) -> bool:
        return bool(self.server_url and self.has_token)


def _values(session, keys: list[str]) -> dict[str, str]:
    rows = session.execute(select(SyncState.key, SyncState.value).where(SyncState.key.in_(keys))).all()
    return dict(rows)


def sync_status(ws: Workspace) -> SyncStatus:
    keys = [state.K_SERVER_URL, state.K_TOKEN, state.K_STATION, state.K_LAST_SUCCESS, state.K_LAST_ATTEMPT,
            state.K_LAST_ERROR, state.K_LAST_REPORT, state.K_CLOCK_WARNING]
    with ws.read() as session:
        values = _values(session, keys)
        pending = session.scalar(select(func.count()).select_from(OutboxOp).where(
            OutboxOp.state.in_(PENDING_STATES), OutboxOp.table_name.not_in(sorted(LOCAL_ONLY_TABLES)))) or 0
        rejected = session.scalar(select(func.count()).select_from(OutboxOp)
                                  .where(OutboxOp.state == "rejected")) or 0
        conflicts = session.scalar(select(func.count()).select_from(SyncConflict)
                                   .where(SyncConflict.resolution == "")) or 0
    return SyncStatus(values.get(state.K_SERVER_URL, ""), bool(values.get(state.K_TOKEN)),
                      values.get(state.K_STATION, ""), values.get(state.K_LAST_SUCCESS, ""),
                      values.get(state.K_LAST_ATTEMPT, ""), values.get(state.K_LAST_ERROR, ""),
                      values.get(state.K_LAST_REPORT, ""), pending, rejected, conflicts,
                      values.get(state.K_CLOCK_WARNING, ""))


def check_server_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError("县服务器地址应以 http:// 或 https:// 开头，例如 https://yb.hanyin.gov.cn",
                              field="server_url")
    return url


def set_server(ws: Workspace, actor: Actor, url: str, token: str | None = None) -> None:
    """Store the server address (and the token, when given; empty keeps the current one).

    The token lives in this station's database like its other data: whoever holds the file
    holds the station already.
    """
    if actor.role not in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value):
        # The county server address and token decide where the whole station's data goes.
        raise PermissionDenied("只有乡镇医保专干或管理员可以修改县服务器地址和同步令牌。")
    url = check_server_url(url)
    token = (token or "").strip()
    if token and (len(token) < 20 or any(c.isspace() for c in token)):
        raise ValidationError("同步令牌格式不对，请完整复制县医保局提供的令牌。", field="token")
    with ws.unit_of_work(actor, "sync_settings") as session:
        session.merge(SyncState(key=state.K_SERVER_URL, value=url))
        if token:
            session.merge(SyncState(key=state.K_TOKEN, value=token))


def server_settings(ws: Workspace) -> tuple[str, str]:
    with ws.read() as session:
        values = _values(session, [state.K_SERVER_URL, state.K_TOKEN])
    return values.get(state.K_SERVER_URL, ""), values.get(state.K_TOKEN, "")


# -- TLS: a county with its own (self-signed) certificate pins it here --------------------------


def set_tls_pin(ws: Workspace, actor: Actor, *, ca_file: str | None = None, fingerprint: str | None = None) -> None:
    """Trust the county's certificate: a PEM file (its own CA or the self-signed certificate,
    checked with the host name as usual), or the SHA-256 fingerprint of the one certificate.
    Empty strings clear a pin. Verification is never turned off."""
    from .client import normalize_fingerprint

    values: dict[str, str] = {}
    if ca_file is not None:
        pem = ""
        if ca_file:
            try:
                pem = Path(ca_file).read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as error:
                raise ValidationError(f"无法读取证书文件：{ca_file}", field="ca_file") from error
            if "-----BEGIN CERTIFICATE-----" not in pem:
                raise ValidationError("证书文件应为 PEM 格式（以 -----BEGIN CERTIFICATE----- 开头）。", field="ca_file")
        values[state.K_TLS_CA] = pem
    if fingerprint is not None:
        try:
            values[state.K_TLS_FINGERPRINT] = normalize_fingerprint(fingerprint) if fingerprint else ""
        except ValueError:
            raise ValidationError("证书指纹应为 64 位十六进制（SHA-256），可带冒号。", field="fingerprint") from None
    with ws.unit_of_work(actor, "sync_tls_pin") as session:
        for key, value in values.items():
            session.merge(SyncState(key=key, value=value))


def tls_transport(ws: Workspace):
    """The HTTPS transport for this station: system CAs, or the county certificate pinned here."""
    from station_app import paths

    from .client import RequestsTransport

    with ws.read() as session:
        values = _values(session, [state.K_TLS_CA, state.K_TLS_FINGERPRINT])
    pem, fingerprint = values.get(state.K_TLS_CA, ""), values.get(state.K_TLS_FINGERPRINT, "")
    if fingerprint:
        return RequestsTransport(fingerprint=fingerprint)
    if pem:
        folder = paths.data_dir() / "tls"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"county-{hashlib.sha256(pem.encode('ascii')).hexdigest()[:16]}.pem"
        if not target.exists():  # a certificate is public: a file requests can read is fine
            target.write_text(pem, encoding="ascii")
        return RequestsTransport(verify=str(target))
    return RequestsTransport()
