"""HTTP client for the county server: gzip both ways, timeouts, retries with backoff.

Network errors, timeouts, 5xx and 429 are retried with exponential backoff and jitter; other
4xx are not (retrying a refused request changes nothing) and come back as a SyncError whose
message is ready to show. The transport is injectable so tests can drop and duplicate
requests and responses on a real server.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import requests
import urllib3.exceptions

from station_app.domain.errors import DomainError

from sync_protocol.protocol import (
    ERROR_MESSAGES,
    GZIP_LEVEL,
    MAX_BODY_BYTES,
    ErrorCode,
    TooLarge,
    dumps,
    gunzip_bytes,
    gzip_bytes,
    version_headers,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


#: Everything the wire can throw while a request is sent or its answer read: a connection cut
#: mid-body surfaces from urllib3 (ProtocolError, ReadTimeoutError, IncompleteRead, SSLError),
#: from requests (ConnectionError, ChunkedEncodingError, ContentDecodingError) or from http.client.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
    ConnectionError, TimeoutError, OSError, EOFError,
)


class SyncError(DomainError):
    """Sync could not go on; ``message`` is for the user. ``retryable``: try again later."""

    def __init__(self, message: str, *, code: str = "", status: int = 0, retryable: bool = False):
        super().__init__(message, code=code)
        self.status = status
        self.retryable = retryable


class NetworkError(SyncError):
    def __init__(self, detail: str = ""):
        super().__init__("无法连接县服务器，请检查网络后重试。", code="network", retryable=True)
        self.detail = detail


class SchemaMismatch(SyncError):
    """This program and the server speak different schema versions: update first."""


class Unauthorized(SyncError):
    pass


class Forbidden(SyncError):
    pass


class BadRequest(SyncError):
    """The server refused this request as malformed (4xx): resending it will not help."""


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes  # as received on the wire (maybe gzipped)


#: ``transport(method, url, headers, body, timeout) -> RawResponse``; raises on network errors.
Transport = Callable[[str, str, dict[str, str], bytes | None, tuple[float, float]], RawResponse]


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """HTTPS that accepts exactly one certificate, named by its SHA-256 fingerprint.

    Pinning a county's self-signed certificate without a CA: the chain cannot be checked (there is
    none), so the check *is* the fingerprint — urllib3 compares the peer certificate with it on
    every connection and refuses any other certificate. Verification is never simply turned off.
    """

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint
        super().__init__()

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        for name in ("ssl_context", "ca_certs", "ca_cert_dir"):  # the pin replaces the CA check
            pool_kwargs.pop(name, None)
        pool_kwargs["cert_reqs"] = "CERT_NONE"
        pool_kwargs["assert_fingerprint"] = self.fingerprint
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, False, cert)  # no CA chain to load: the fingerprint is the check


def normalize_fingerprint(text: str) -> str:
    """``AB:CD:…`` or ``abcd…`` (SHA-256, 64 hex digits) → lower-case hex; ValueError otherwise."""
    value = "".join(c for c in (text or "") if c not in ": \t").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("not a SHA-256 fingerprint")
    return value


class RequestsTransport:
    """The real transport: one pooled requests.Session, TLS verification on.

    ``verify``: True (the system's trusted CAs), or the path of a PEM file holding the county's
    own CA or self-signed certificate (a pin: full chain and host-name checks against it).
    ``fingerprint``: pin one certificate by its SHA-256 fingerprint instead.
    """

    def __init__(self, verify: bool | str = True, *, fingerprint: str | None = None):
        if verify is False:
            raise ValueError("TLS verification stays on: pin the county's certificate instead")
        self.session = requests.Session()
        self.session.verify = verify
        self.verify = verify
        if fingerprint:
            self.session.mount("https://", _PinnedAdapter(normalize_fingerprint(fingerprint)))

    def __call__(self, method, url, headers, body, timeout) -> RawResponse:
        # verify per request: a session's own setting loses to REQUESTS_CA_BUNDLE in the environment
        response = self.session.request(method, url, headers=headers, data=body, timeout=timeout,
                                        stream=True, verify=self.verify)
        try:
            # decode_content=False: we inflate ourselves, with a size limit, and count wire bytes.
            raw = response.raw.read(decode_content=False)
            expected = response.headers.get("content-length")
            if expected is not None and expected.isdigit() and len(raw) != int(expected):
                raise requests.ConnectionError(f"answer cut after {len(raw)} of {expected} bytes")
        except TRANSPORT_ERRORS as error:
            # A cut mid-body: this connection is no good; the caller retries like a failed request.
            raise requests.ConnectionError(f"answer cut while reading: {error!r}") from error
        finally:
            response.close()
        return RawResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, raw)

    def close(self) -> None:
        self.session.close()


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    durations: list[float] = field(default_factory=list)


class SyncClient:
    """Talks to one county server with one station token."""

    def __init__(self, base_url: str, token: str, *, transport: Transport | None = None,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT), max_attempts: int = 6,
                 backoff_base: float = 0.5, backoff_max: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.transport = transport or RequestsTransport()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.stats = ClientStats()

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close:
            close()

    # -- endpoints --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health", auth=False)

    def pull(self, cursor: int, limit: int, *, stream: str = "data", villages: list[str] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"cursor": cursor, "limit": limit, "stream": stream}
        if villages:
            params["villages"] = ",".join(villages)
        return self._request("GET", "/v1/sync/pull?" + urlencode(params))

    def push(self, batch: dict[str, Any] | bytes) -> dict[str, Any]:
        body = batch if isinstance(batch, bytes) else dumps(batch).encode("utf-8")
        return self._request("POST", "/v1/sync/push", body=body)

    def upload_bundle(self, data: bytes) -> dict[str, Any]:
        return self._request("POST", "/v1/bundles", body=data, content_type="application/octet-stream",
                             compress=False)

    def station_keys(self) -> dict[str, str]:
        return self.station_keys_and_places()[0]

    def station_keys_and_places(self) -> tuple[dict[str, str], dict[str, str]]:
        """Bundle keys of the township's village stations, and the village of each."""
        answer = self._request("GET", "/v1/sync/station-keys")
        keys, places = answer.get("keys"), answer.get("places")
        return (keys if isinstance(keys, dict) else {}), (places if isinstance(places, dict) else {})

    def whoami(self) -> dict[str, Any]:
        """This station as the county registered it (code, name, scope, place) and its first users."""
        return self._request("GET", "/v1/station/whoami")

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, auth: bool, content_type: str | None, compressed: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip", **version_headers()}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return headers

    def _request(self, method: str, path: str, *, body: bytes | None = None, auth: bool = True,
                 content_type: str = "application/json", compress: bool = True) -> dict[str, Any]:
        payload = body
        compressed = False
        if body is not None and compress and len(body) > 512:
            payload = gzip_bytes(body, GZIP_LEVEL)
            compressed = True
        headers = self._headers(auth, content_type if body is not None else None, compressed)
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                self.stats.requests += 1
                self.stats.bytes_sent += len(payload or b"")
                response = self.transport(method, url, headers, payload, self.timeout)
            except requests.exceptions.SSLError as error:
                # An untrusted or unpinned certificate: retrying changes nothing, and it may be an attack.
                logger.warning("sync %s %s: TLS certificate refused: %s", method, path.split("?")[0], error)
                raise SyncError("县服务器的安全证书不受信任，已拒绝连接。如果县里使用自签名证书，"
                                "请在“设置 → 安全”中固定县医保局提供的证书文件或证书指纹。",
                                code="tls_untrusted") from error
            except TRANSPORT_ERRORS as error:
                logger.info("sync %s %s failed (attempt %d): %s", method, path.split("?")[0], attempt, error)
                if attempt >= self.max_attempts:
                    raise NetworkError(str(error)) from error
                self._backoff(attempt, None)
                continue
            self.stats.durations.append(time.perf_counter() - started)
            self.stats.bytes_received += len(response.body)
            if response.status == 429 or response.status >= 500:
                logger.info("sync %s %s answered %d (attempt %d)", method, path.split("?")[0],
                            response.status, attempt)
                if attempt >= self.max_attempts:
                    raise SyncError("县服务器暂时无法处理，请稍后再同步。", code="server_error",
                                    status=response.status, retryable=True)
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            try:
                data = self._decode(response)
            except SyncError:
                # A 2xx body that does not decode was damaged on the way (cut, truncated gzip):
                # ask again, like a failed request.
                logger.info("sync %s %s: undecodable answer (attempt %d)", method, path.split("?")[0], attempt)
                if attempt >= self.max_attempts:
                    raise
                self._backoff(attempt, None)
                continue
            if response.status >= 400:
                raise self._error(response.status, data)
            return data

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.stats.retries += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = delay / 2 + random.random() * delay / 2  # jitter: 500 stations do not retry in step
        if retry_after:
            try:
                delay = max(delay, min(self.backoff_max, float(retry_after)))
            except ValueError:
                pass
        self.sleep(delay)

    @staticmethod
    def _decode(response: RawResponse) -> dict[str, Any]:
        body = response.body
        if response.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gunzip_bytes(body, MAX_BODY_BYTES)
            except (TooLarge, ValueError, OSError, zlib.error) as error:
                raise SyncError("县服务器的应答无法解读。", code="bad_response", retryable=True) from error
        if not body:
            return {}
        try:
            data = json.loads(body)
        except ValueError as error:
            if response.status >= 400:
                return {}
            raise SyncError("县服务器的应答无法解读。", code="bad_response", retryable=True) from error
        return data if isinstance(data, dict) else {"value": data}

    @staticmethod
    def _error(status: int, data: dict[str, Any]) -> SyncError:
        code = str(data.get("error") or "")
        message = data.get("message") or ERROR_MESSAGES.get(code) or f"县服务器拒绝了请求（{status}）。"
        if status == 426 or code in (ErrorCode.SCHEMA_MISMATCH, ErrorCode.SERVER_TOO_OLD):
            return SchemaMismatch(message, code=code or ErrorCode.SCHEMA_MISMATCH, status=status)
        if status == 401:
            return Unauthorized(message, code=ErrorCode.UNAUTHORIZED, status=status)
        if status == 403:
            return Forbidden(message, code=ErrorCode.FORBIDDEN, status=status)
        return BadRequest(message, code=code or ErrorCode.BAD_REQUEST, status=status)
