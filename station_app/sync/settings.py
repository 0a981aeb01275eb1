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
from station_app.store.base import utcnow
from station_app.store.models import AuditEntry, OutboxOp, SyncConflict, SyncState

from . import state
from sync_protocol.tables import LOCAL_ONLY_TABLES

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


@dataclass(frozen=True)
class CertificateInfo:
    """What a person compares before trusting a certificate: its SHA-256 fingerprint above all."""

    fingerprint: str  # lower-case hex, 64 digits
    subject: str
    issuer: str
    not_before: str
    not_after: str
    self_signed: bool

    @property
    def fingerprint_text(self) -> str:
        return format_fingerprint(self.fingerprint)


@dataclass(frozen=True)
class TlsPin:
    """The station's trust for the county server: ``kind`` is ``system`` (the system's trusted
    CAs: nothing pinned), ``file`` (a PEM pinned: chain and host name checked against it) or
    ``fingerprint`` (exactly one certificate accepted)."""

    kind: str
    fingerprint: str = ""  # of the pinned certificate (the first one of a PEM file)
    certificate: CertificateInfo | None = None

    @property
    def pinned(self) -> bool:
        return self.kind != "system"


def format_fingerprint(fingerprint: str) -> str:
    """``AB:CD:…`` in upper case, the way a browser or ``openssl x509 -fingerprint`` prints it."""
    value = fingerprint.upper()
    return ":".join(value[i:i + 2] for i in range(0, len(value), 2))


def _describe(cert) -> CertificateInfo:
    from cryptography.hazmat.primitives import hashes

    def when(value) -> str:
        return value.strftime("%Y-%m-%d")

    before = getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before
    after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    return CertificateInfo(cert.fingerprint(hashes.SHA256()).hex(), cert.subject.rfc4514_string(),
                           cert.issuer.rfc4514_string(), when(before), when(after), cert.subject == cert.issuer)


def certificate_info(pem: str | bytes) -> list[CertificateInfo]:
    """Every certificate in a PEM text; ValidationError when there is none or it is damaged."""
    from cryptography import x509

    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ValidationError("证书文件应为 PEM 格式（以 -----BEGIN CERTIFICATE----- 开头），且内容完整。",
                              field="ca_file") from error
    return [_describe(cert) for cert in certs]


def read_certificate_file(path: str | Path) -> tuple[str, list[CertificateInfo]]:
    """The PEM text of a certificate file (``.pem``/``.crt``; DER is converted) and what it holds."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValidationError(f"无法读取证书文件：{path}", field="ca_file") from error
    if b"-----BEGIN CERTIFICATE-----" not in data:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:  # a .cer/.crt exported from Windows is often DER
            data = x509.load_der_x509_certificate(data).public_bytes(Encoding.PEM)
        except ValueError as error:
            raise ValidationError("证书文件应为 PEM 格式（以 -----BEGIN CERTIFICATE----- 开头）。",
                                  field="ca_file") from error
    pem = data.decode("ascii", "replace")
    return pem, certificate_info(pem)


def fetch_server_certificate(url: str, timeout: float = 10.0) -> CertificateInfo:
    """The certificate the server at ``url`` presents, *only to show it*: a person compares its
    fingerprint with the one the county printed before pinning it. No data travels on this
    connection (it is closed after the handshake), and nothing is trusted by reading it."""
    import socket
    import ssl

    from cryptography import x509

    parsed = urlparse(check_server_url(url))
    if parsed.scheme != "https":
        raise ValidationError("县服务器地址不是 https://，没有证书可读取。", field="server_url")
    host, port = parsed.hostname or "", parsed.port or 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # reading the certificate to show it, not trusting it
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as error:
        raise ValidationError(f"无法连接县服务器读取证书：{host}:{port}（{error.__class__.__name__}）",
                              field="server_url") from error
    if not der:
        raise ValidationError("县服务器没有出示证书。", field="server_url")
    return _describe(x509.load_der_x509_certificate(der))


def _may_configure(actor: Actor) -> None:
    if actor.role not in (Role.TOWNSHIP_CLERK.value, Role.ADMIN.value):
        raise PermissionDenied("只有乡镇医保专干或管理员可以固定或取消县服务器证书。")


def _audit_pin(session, actor: Actor, summary: str) -> None:
    session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                           action="sync_tls_pin", table_name="sync_state", row_id=state.K_TLS_FINGERPRINT,
                           summary=summary[:200]))


def set_tls_pin(ws: Workspace, actor: Actor, *, ca_file: str | None = None, fingerprint: str | None = None) -> None:
    """Trust the county's certificate: a PEM file (its own CA or the self-signed certificate,
    checked with the host name as usual), or the SHA-256 fingerprint of the one certificate.
    Empty strings clear a pin. Verification is never turned off. Only a 乡镇医保专干 or an
    administrator may change it (it decides whom the station's data is sent to); audited."""
    from .client import normalize_fingerprint

    _may_configure(actor)
    values: dict[str, str] = {}
    said = []
    if ca_file is not None:
        pem = ""
        if ca_file:
            pem, certs = read_certificate_file(ca_file)
            said.append(f"固定县服务器证书文件（指纹 {format_fingerprint(certs[0].fingerprint)}）")
        else:
            said.append("取消固定的证书文件")
        values[state.K_TLS_CA] = pem
    if fingerprint is not None:
        try:
            values[state.K_TLS_FINGERPRINT] = normalize_fingerprint(fingerprint) if fingerprint else ""
        except ValueError:
            raise ValidationError("证书指纹应为 64 位十六进制（SHA-256），可带冒号。", field="fingerprint") from None
        said.append(f"固定县服务器证书指纹 {format_fingerprint(values[state.K_TLS_FINGERPRINT])}"
                    if fingerprint else "取消固定的证书指纹")
    if not values:
        return
    with ws.unit_of_work(actor, "sync_tls_pin") as session:
        for key, value in values.items():
            session.merge(SyncState(key=key, value=value))
        _audit_pin(session, actor, "；".join(said))


def pin_certificate_file(ws: Workspace, actor: Actor, path: str | Path) -> TlsPin:
    """Pin the county's PEM file (replacing a fingerprint pin); the pin as it now stands."""
    set_tls_pin(ws, actor, ca_file=str(path), fingerprint="")
    return tls_pin(ws)


def pin_fingerprint(ws: Workspace, actor: Actor, fingerprint: str) -> TlsPin:
    """Pin exactly one certificate by its SHA-256 fingerprint (replacing a file pin)."""
    if not (fingerprint or "").strip():
        raise ValidationError("请填写证书指纹。", field="fingerprint")
    set_tls_pin(ws, actor, ca_file="", fingerprint=fingerprint)
    return tls_pin(ws)


def clear_tls_pin(ws: Workspace, actor: Actor) -> TlsPin:
    """Back to the system's trusted CAs (verification stays on: a self-signed server is refused)."""
    set_tls_pin(ws, actor, ca_file="", fingerprint="")
    return tls_pin(ws)


def tls_pin(ws: Workspace) -> TlsPin:
    """What this station trusts for the county server now."""
    with ws.read() as session:
        values = _values(session, [state.K_TLS_CA, state.K_TLS_FINGERPRINT])
    pem, fingerprint = values.get(state.K_TLS_CA, ""), values.get(state.K_TLS_FINGERPRINT, "")
    if fingerprint:
        return TlsPin("fingerprint", fingerprint)
    if pem:
        try:
            certs = certificate_info(pem)
        except ValidationError:
            return TlsPin("file")
        return TlsPin("file", certs[0].fingerprint, certs[0])
    return TlsPin("system")


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
