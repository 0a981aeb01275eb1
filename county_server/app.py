"""The county server's HTTP API (FastAPI): sync push/pull, USB bundle upload, station keys, admin.

Every endpoint but ``/v1/health`` needs a station's bearer token and checks the protocol and
schema version headers first, so an outdated station is told to update before anything is
read or written. Bodies travel gzipped both ways; pages are built by the store as JSON text.

Nothing a station can send is answered with a 5xx (issue 9): bodies are limited while they
stream in (413), malformed ones — bad gzip, not JSON, nested too deep, NUL bytes, lone
surrogates — are a 400 with a Chinese message, and query parameters out of range too.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from sync_protocol.protocol import (
    BUNDLE_SUMMARY_SCHEMA,
    ERROR_MESSAGES,
    HEADER_PROTOCOL,
    HEADER_SCHEMA,
    HEALTH_SCHEMA,
    MAX_BUNDLE_BYTES,
    MAX_CURSOR,
    MAX_PAGE_ROWS,
    MAX_PUSH_BYTES,
    MIN_PROTOCOL_VERSION,
    MIN_SCHEMA_VERSION,
    PROTOCOL_VERSION,
    PULL_PAGE_SCHEMA,
    PUSH_ANSWER_SCHEMA,
    PUSH_REQUEST_SCHEMA,
    SCHEMA_VERSION,
    STATION_KEYS_SCHEMA,
    STATIONS_SCHEMA,
    ErrorCode,
    ProtocolError,
    dumps,
    gzip_bytes,
    loads_request,
    version_error,
)

from . import __version__
from .auth import ApiError, StationCtx
from .store import STREAM_DATA, STREAM_REF, Store

logger = logging.getLogger(__name__)

#: Small answers are not worth compressing; pages always are.
GZIP_MIN_BYTES = 1024
PAGE_GZIP_LEVEL = 6
BIG_PAGE_BYTES = 2_000_000


def _int_header(request: Request, name: str) -> int | None:
    try:
        return int(request.headers.get(name, ""))
    except ValueError:
        return None


def _error(error: ApiError) -> JSONResponse:
    body = {"error": error.code, "message": error.message, **error.extra}
    return JSONResponse(body, status_code=error.status)


def _reply(payload: bytes, request: Request, *, level: int = PAGE_GZIP_LEVEL) -> Response:
    headers = {"Cache-Control": "no-store"}
    if len(payload) > BIG_PAGE_BYTES:
        # Only a fast link grows pages this big (the client doubles them while round trips are
        # quick): there the server's CPU matters more than a few more bytes.
        level = 1
    if len(payload) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        payload = gzip_bytes(payload, level)
        headers["Content-Encoding"] = "gzip"
    return Response(payload, media_type="application/json", headers=headers)


def _too_large() -> ApiError:
    return ApiError(413, ErrorCode.TOO_LARGE, ERROR_MESSAGES[ErrorCode.TOO_LARGE])


def _bad_request(detail: str = "") -> ApiError:
    message = ERROR_MESSAGES[ErrorCode.BAD_REQUEST] + (f"（{detail}）" if detail else "")
    return ApiError(400, ErrorCode.BAD_REQUEST, message)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes on the wire and after inflating.

    Checked while it streams in: a declared Content-Length over the limit is refused before a
    byte is read, and an upload (or a gzip bomb) is cut off at the limit — the server never
    holds more than ``limit`` bytes of anyone's body (issue 9).
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise _bad_request("Content-Length") from None
        if length > limit:
            raise _too_large()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise _bad_request("Content-Encoding")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    received = 0
    out = bytearray()
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large()
        if inflater is None:
            out += chunk
            continue
        if inflater.eof:
            if chunk:
                raise _bad_request("gzip")
            continue
        try:
            out += inflater.decompress(chunk, limit + 1 - len(out))
        except zlib.error:
            raise _bad_request("gzip") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise _too_large()
    if inflater is not None and (not inflater.eof or inflater.unused_data):
        raise _bad_request("gzip")
    return bytes(out)


#: The error body of every status but 200, documented in the OpenAPI.
_ERROR_SCHEMA = {"type": "object", "required": ["error", "message"],
                 "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                "accepted": {"type": "object"}}}
_ERROR_TEXTS = {400: "malformed request or parameter (Chinese message)",
                401: "missing, unknown, disabled or expired token",
                403: "outside the station's scope", 409: "batch id reused with other ops",
                413: "body over the limit (≤ 1 MiB on the wire and inflated)",
                426: "protocol or schema version not accepted"}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": _ERROR_TEXTS[status],
                     "content": {"application/json": {"schema": _ERROR_SCHEMA}}} for status in statuses}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def create_app(store: Store) -> FastAPI:
    app = FastAPI(
        title="县医保同步服务器 County sync server",
        version=__version__,
        description=("Stations push their changes and pull the rows of their villages. "
                     "Authenticate with `Authorization: Bearer <station token>`; send "
                     f"`{HEADER_PROTOCOL}: {PROTOCOL_VERSION}` and `{HEADER_SCHEMA}: {SCHEMA_VERSION}`. "
                     "Bodies may be gzipped (`Content-Encoding: gzip`). See docs/SYNC_PROTOCOL.md."),
    )
    app.state.store = store

    def current_store() -> Store:
        return app.state.store

    async def caller(request: Request) -> StationCtx:
        problem = version_error(_int_header(request, HEADER_PROTOCOL), _int_header(request, HEADER_SCHEMA))
        if problem:
            raise ApiError(426, problem, ERROR_MESSAGES[problem],
                           accepted={"protocol": [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION],
                                     "schema": [MIN_SCHEMA_VERSION, SCHEMA_VERSION]})
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        return await run_in_threadpool(current_store().authenticate, token)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return _error(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # A query parameter out of range (cursor=2**63, limit=0 …): 400 with a Chinese message.
        where = ",".join(str((e.get("loc") or ["?"])[-1]) for e in error.errors()[:3])
        return _error(_bad_request(where))

    @app.get("/v1/health", summary="Versions and server time (no token needed)",
             responses={200: _ok(HEALTH_SCHEMA, "versions and server time")})
    async def health() -> dict[str, Any]:
        store = current_store()
        return {"status": "ok", "version": __version__,
                "protocol": [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION],
                "schema": [MIN_SCHEMA_VERSION, SCHEMA_VERSION], "server_time_ms": store.now_ms()}

    @app.get("/v1/sync/pull", summary="A page of rows in the station's scope after a cursor",
             responses={200: _ok(PULL_PAGE_SCHEMA, "a page: rows grouped in tables (blocks)"),
                        **_errors(400, 401, 403, 426)})
    async def pull(request: Request, cursor: int = Query(0, ge=0, le=MAX_CURSOR),
                   limit: int = Query(500, ge=1, le=MAX_PAGE_ROWS),
                   stream: str = Query(STREAM_DATA, pattern="^(data|ref)$"),
                   villages: str | None = Query(None, max_length=2000, pattern="^[0-9A-Za-z_.,-]*$",
                                                description="comma-separated: backfill these villages only")):
        ctx = await caller(request)
        wanted = [v for v in (villages or "").split(",") if v] or None
        payload = await run_in_threadpool(current_store().pull, ctx, cursor, limit, villages=wanted,
                                          stream=STREAM_REF if stream == STREAM_REF else STREAM_DATA)
        return await run_in_threadpool(_reply, payload, request)

    @app.post("/v1/sync/push", summary="Apply one batch of changes (idempotent by batch_id and op_id)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PUSH_REQUEST_SCHEMA}}}},
              responses={200: _ok(PUSH_ANSWER_SCHEMA, "per-op answers"), **_errors(400, 401, 409, 413, 426)})
    async def push(request: Request):
        ctx = await caller(request)
        raw = await _body(request, MAX_PUSH_BYTES)
        try:
            body = loads_request(raw)
        except ProtocolError as error:
            raise _bad_request(str(error)) from None
        answer = await run_in_threadpool(current_store().push, ctx, body)
        return _reply(dumps(answer).encode("utf-8"), request)

    @app.post("/v1/bundles", summary="Upload a signed USB bundle (a township relays its villages')",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
              responses={200: _ok(BUNDLE_SUMMARY_SCHEMA, "what the bundle's batches became"),
                         **_errors(400, 401, 403, 413, 426)})
    async def upload_bundle(request: Request):
        ctx = await caller(request)
        raw = await _body(request, MAX_BUNDLE_BYTES)
        summary = await run_in_threadpool(current_store().import_bundle, raw, ctx)
        return JSONResponse(summary)

    @app.get("/v1/sync/station-keys", summary="Bundle keys of the village stations in a township's scope",
             responses={200: _ok(STATION_KEYS_SCHEMA, "keys and villages by station code"),
                        **_errors(401, 403, 426)})
    async def station_keys(request: Request):
        ctx = await caller(request)
        keys = await run_in_threadpool(current_store().station_keys, ctx)
        places = await run_in_threadpool(current_store().station_places, ctx)
        return JSONResponse({"keys": keys, "places": places})

    @app.get("/v1/station/whoami", summary="This station as the county registered it, and its first users",
             responses={200: {"description": "the station and its users"}, **_errors(401, 426)})
    async def whoami(request: Request):
        ctx = await caller(request)

        def read() -> dict[str, Any]:
            from .console.stations import station_users

            return {"code": ctx.code, "name": ctx.name, "scope": ctx.scope, "place_code": ctx.place_code,
                    "users": station_users(current_store().engine, ctx.code)}

        return JSONResponse(await run_in_threadpool(read))

    @app.get("/v1/admin/stations", summary="Registered stations (county admin only)",
             responses={200: _ok(STATIONS_SCHEMA, "stations"), **_errors(401, 403, 426)})
    async def list_stations(request: Request):
        ctx = await caller(request)
        if not ctx.is_county:
            raise ApiError(403, ErrorCode.FORBIDDEN, ERROR_MESSAGES[ErrorCode.FORBIDDEN])
        stations = await run_in_threadpool(current_store().list_stations)
        return JSONResponse({"stations": stations})

    return app
