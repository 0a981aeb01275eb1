"""The signed USB bundle file: pending batches of one station, HMAC-SHA256 over the gzipped payload.

Layout: one ASCII header line ``YBSB1 <station> <bundle_id> <hmac hex>\\n`` then the gzip of a
JSON payload ``{"bundle_id", "station", "created_ms", "protocol", "schema", "batches": [...]}``.

Why HMAC and not a signature: the ``cryptography`` package is not among our pinned
dependencies and hand-written ed25519 is not something to ship. The key is derived from the
station's token, which only the station holds; the county server stores the derived key (not
the token, and not the token hash it authenticates with). A township station receives the keys
of its villages' stations from the server so it can check their bundles offline: a township may
already write every row of its villages, so it gains no power it did not have.
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
