"""The signed USB bundle file: pending batches of one station, HMAC-SHA256 over the gzipped payload,
sealed (AES-256-GCM) so that a lost stick discloses nothing.

Layout: one ASCII header line ``YBSB1 <station> <bundle_id> <hmac hex>\\n`` then the gzip of a
JSON payload ``{"bundle_id", "station", "created_ms", "protocol", "schema", "batches": [...]}``.

Why HMAC and not a signature: a shared per-station key is all the county and township need. The key is derived from the
station's token, which only the station holds; the county server stores the derived key (not
the token, and not the token hash it authenticates with). A township station receives the keys
of its villages' stations from the server so it can check their bundles offline: a township may
already write every row of its villages, so it gains no power it did not have.

Sealing is a separate layer around the signed file (``seal_bundle`` / ``open_sealed``): the file on
the stick is ``YBSE1 <station> <bundle_id>\\n`` + 12-byte nonce + AES-GCM(signed file), with the
header line as associated data, keyed from the same per-station bundle key as the HMAC (so the
county and the township that hold that key open it, nobody else). A flipped bit anywhere, a
header changed or a bundle of another station fails the tag: refused whole, nothing imported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from .protocol import MAX_BUNDLE_BYTES, STATION_CODE, gunzip_bytes, gzip_bytes

MAGIC = b"YBSB1"
SEALED_MAGIC = b"YBSE1"
_SEALED_HEADER = re.compile(rb"^YBSE1 ([A-Za-z0-9_.-]{1,32}) ([0-9a-f-]{36})$")
_SEAL_CONTEXT = b"yibao-station-bundle-seal-v1\x00"
_HEADER = re.compile(rb"^YBSB1 ([A-Za-z0-9_.-]{1,32}) ([0-9a-f-]{36}) ([0-9a-f]{64})$")
_KEY_CONTEXT = b"yibao-station-bundle-v1\x00"


class BundleError(ValueError):
    """Not a bundle, damaged, or signed with another key: nothing is imported."""


def bundle_key(token: str) -> bytes:
    """The HMAC key of a station's bundles (derived, so the token itself never leaves the station)."""
    return hashlib.sha256(_KEY_CONTEXT + token.encode("utf-8")).digest()


@dataclass(frozen=True)
class Bundle:
    station: str
    bundle_id: str
    signature: str
    body: bytes  # the gzipped payload exactly as signed

    def verify(self, key: bytes) -> bool:
        expected = hmac.new(key, self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)

    def payload(self) -> dict[str, Any]:
        """Decode the payload (call only after ``verify``)."""
        try:
            payload = json.loads(gunzip_bytes(self.body, MAX_BUNDLE_BYTES))
        except (ValueError, OSError) as error:
            raise BundleError(f"bundle payload unreadable: {error}") from error
        if (not isinstance(payload, dict) or payload.get("station") != self.station
                or payload.get("bundle_id") != self.bundle_id or not isinstance(payload.get("batches"), list)):
            raise BundleError("bundle payload does not match its header")
        return payload


def write_bundle(payload: dict[str, Any], key: bytes) -> bytes:
    station, bundle_id = payload["station"], payload["bundle_id"]
    if not STATION_CODE.match(station):
        raise BundleError(f"bad station code {station!r}")
    body = gzip_bytes(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    return b"%s %s %s %s\n" % (MAGIC, station.encode(), bundle_id.encode(), signature.encode()) + body


def read_bundle(data: bytes) -> Bundle:
    """Split a bundle file into header and signed body; the signature is checked by ``verify``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError("bundle too large")
    line, sep, body = data.partition(b"\n")
    match = _HEADER.match(line)
    if not sep or not match or not body:
        raise BundleError("not a station bundle")
    return Bundle(match[1].decode(), match[2].decode(), match[3].decode(), body)


# -- sealing (encryption) around the signed file -------------------------------------------------


def _seal_key(key: bytes) -> bytes:
    """The AES key of a station's bundles, derived from its HMAC key (a different key per use)."""
    return hashlib.sha256(_SEAL_CONTEXT + key).digest()


def seal_bundle(signed: bytes, key: bytes) -> bytes:
    """Encrypt a signed bundle file (``write_bundle``'s output) for the stick."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    inner = read_bundle(signed)
    header = b"%s %s %s" % (SEALED_MAGIC, inner.station.encode(), inner.bundle_id.encode())
    nonce = os.urandom(12)
    return header + b"\n" + nonce + AESGCM(_seal_key(key)).encrypt(nonce, signed, header)


def is_sealed(data: bytes) -> bool:
    return data.startswith(SEALED_MAGIC + b" ")


def sealed_station(data: bytes) -> tuple[str, str]:
    """(station, bundle id) named in a sealed bundle's header (not trusted until opened)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError("bundle too large")
    line = data.partition(b"\n")[0]
    match = _SEALED_HEADER.match(line)
    if not match:
        raise BundleError("not a sealed station bundle")
    return match[1].decode(), match[2].decode()


def open_sealed(data: bytes, key: bytes) -> bytes:
    """The signed bundle inside a sealed one; BundleError if the key or any byte is wrong."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    station, bundle_id = sealed_station(data)
    header, _sep, rest = data.partition(b"\n")
    if len(rest) < 12 + 16:
        raise BundleError("sealed bundle truncated")
    try:
        signed = AESGCM(_seal_key(key)).decrypt(rest[:12], rest[12:], header)
    except InvalidTag:
        raise BundleError("sealed bundle does not open with this station's key") from None
    inner = read_bundle(signed)
    if (inner.station, inner.bundle_id) != (station, bundle_id):
        raise BundleError("sealed bundle header does not match its content")
    return signed
