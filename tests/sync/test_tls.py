"""In transit: TLS verification stays on; a county's self-signed certificate is trusted only when
pinned (its PEM file or its SHA-256 fingerprint); an untrusted certificate is refused."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from station_app.sync.client import RequestsTransport, SyncClient, SyncError


def _certificate(tmp_path, name: str):
    """A self-signed certificate for 127.0.0.1 (as a county might make), written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert.fingerprint(hashes.SHA256()).hex()


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def https_server(tmp_path):
    cert_path, key_path, fingerprint = _certificate(tmp_path, "county")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_path, fingerprint
    server.shutdown()
    server.server_close()


def _client(url, transport):
    return SyncClient(url, "t" * 32, transport=transport, max_attempts=1)


def test_an_untrusted_self_signed_certificate_is_refused(https_server):
    url, _cert, _fp = https_server
    client = _client(url, RequestsTransport())
    with pytest.raises(SyncError) as caught:
        client.health()
    assert caught.value.code == "tls_untrusted" and "证书" in caught.value.message
    assert client.stats.retries == 0  # not retried like a network error


def test_the_county_certificate_pinned_by_its_pem_file_is_trusted(https_server):
    url, cert_path, _fp = https_server
    assert _client(url, RequestsTransport(verify=str(cert_path))).health() == {"ok": True}


def test_another_certificate_pinned_does_not_trust_this_server(https_server, tmp_path):
    url, _cert, _fp = https_server
    other, _key, other_fp = _certificate(tmp_path, "impostor")
    with pytest.raises(SyncError, match="证书"):
        _client(url, RequestsTransport(verify=str(other))).health()
    with pytest.raises(SyncError, match="证书"):
        _client(url, RequestsTransport(fingerprint=other_fp)).health()


def test_the_county_certificate_pinned_by_its_fingerprint_is_trusted(https_server):
    url, _cert, fingerprint = https_server
    colons = ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
    assert _client(url, RequestsTransport(fingerprint=colons)).health() == {"ok": True}


def test_verification_cannot_be_turned_off():
    with pytest.raises(ValueError):
        RequestsTransport(verify=False)


def test_the_pin_is_a_station_setting_used_by_every_sync(township_ws, https_server):
    from station_app.domain.errors import ValidationError
    from station_app.sync.settings import set_tls_pin, tls_transport

    ws, admin = township_ws
    url, cert_path, fingerprint = https_server
    with pytest.raises(SyncError):
        _client(url, tls_transport(ws)).health()
    set_tls_pin(ws, admin, ca_file=str(cert_path))
    assert _client(url, tls_transport(ws)).health() == {"ok": True}
    set_tls_pin(ws, admin, ca_file="", fingerprint=fingerprint)
    assert _client(url, tls_transport(ws)).health() == {"ok": True}
    with pytest.raises(ValidationError):
        set_tls_pin(ws, admin, fingerprint="not-a-fingerprint")
