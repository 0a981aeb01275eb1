"""The county server's HTTP API (FastAPI): sync push/pull, USB bundle upload, station keys, admin.

Every endpoint but ``/v1/health`` needs a station's bearer token and checks the protocol and
schema version headers first, so an outdated station is told to update before anything is
read or written. Bodies travel gzipped both ways; pages are built by the store as JSON text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from station_app.sync.protocol import (
    ERROR_MESSAGES,
    HEADER_PROTOCOL,
    HEADER_SCHEMA,
    MAX_BODY_BYTES,
    MAX_BUNDLE_BYTES,
    MAX_PAGE_ROWS,
    MIN_PROTOCOL_VERSION,
    MIN_SCHEMA_VERSION,
    PROTOCOL_VERSION,
    PULL_PAGE_SCHEMA,
    PUSH_ANSWER_SCHEMA,
    PUSH_REQUEST_SCHEMA,
    SCHEMA_VERSION,
    ErrorCode,
    TooLarge,
    dumps,
    gunzip_bytes,
    gzip_bytes,
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


async def _body(request: Request, limit: int) -> bytes:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            return gunzip_bytes(raw, limit)
        except TooLarge:
            raise ApiError(413, ErrorCode.TOO_LARGE, ERROR_MESSAGES[ErrorCode.TOO_LARGE]) from None
        except (ValueError, OSError, EOFError):
            raise ApiError(400, ErrorCode.BAD_REQUEST, ERROR_MESSAGES[ErrorCode.BAD_REQUEST]) from None
    if len(raw) > limit:
        raise ApiError(413, ErrorCode.TOO_LARGE, ERROR_MESSAGES[ErrorCode.TOO_LARGE])
    return raw


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

    @app.get("/v1/health", summary="Versions and server time (no token needed)")
    async def health() -> dict[str, Any]:
        store = current_store()
        return {"status": "ok", "version": __version__,
                "protocol": [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION],
                "schema": [MIN_SCHEMA_VERSION, SCHEMA_VERSION], "server_time_ms": store.now_ms()}

    @app.get("/v1/sync/pull", summary="A page of rows in the station's scope after a cursor",
             responses={200: {"content": {"application/json": {"schema": PULL_PAGE_SCHEMA}}}})
    async def pull(request: Request, cursor: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=MAX_PAGE_ROWS),
                   stream: str = Query(STREAM_DATA, pattern="^(data|ref)$"),
                   villages: str | None = Query(None, description="comma-separated: backfill these villages only")):
        ctx = await caller(request)
        wanted = [v for v in (villages or "").split(",") if v] or None
        payload = await run_in_threadpool(current_store().pull, ctx, cursor, limit, villages=wanted,
                                          stream=STREAM_REF if stream == STREAM_REF else STREAM_DATA)
        return await run_in_threadpool(_reply, payload, request)

    @app.post("/v1/sync/push", summary="Apply one batch of changes (idempotent by batch_id and op_id)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": PUSH_REQUEST_SCHEMA}}},
                  "responses": {"200": {"description": "per-op answers", "content": {
                      "application/json": {"schema": PUSH_ANSWER_SCHEMA}}}}})
    async def push(request: Request):
        ctx = await caller(request)
        raw = await _body(request, MAX_BODY_BYTES)
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, ErrorCode.BAD_REQUEST, ERROR_MESSAGES[ErrorCode.BAD_REQUEST]) from None
        answer = await run_in_threadpool(current_store().push, ctx, body)
        return _reply(dumps(answer).encode("utf-8"), request)

    @app.post("/v1/bundles", summary="Upload a signed USB bundle (a township relays its villages')",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload_bundle(request: Request):
        ctx = await caller(request)
        raw = await _body(request, MAX_BUNDLE_BYTES)
        summary = await run_in_threadpool(current_store().import_bundle, raw, ctx)
        return JSONResponse(summary)

    @app.get("/v1/sync/station-keys", summary="Bundle keys of the village stations in a township's scope")
    async def station_keys(request: Request):
        ctx = await caller(request)
        keys = await run_in_threadpool(current_store().station_keys, ctx)
        return JSONResponse({"keys": keys})

    @app.get("/v1/station/whoami", summary="This station as the county registered it, and its first users")
    async def whoami(request: Request):
        ctx = await caller(request)

        def read() -> dict[str, Any]:
            from .console.stations import station_users

            return {"code": ctx.code, "name": ctx.name, "scope": ctx.scope, "place_code": ctx.place_code,
                    "users": station_users(current_store().engine, ctx.code)}

        return JSONResponse(await run_in_threadpool(read))

    @app.get("/v1/admin/stations", summary="Registered stations (county admin only)")
    async def list_stations(request: Request):
        ctx = await caller(request)
        if not ctx.is_county:
            raise ApiError(403, ErrorCode.FORBIDDEN, ERROR_MESSAGES[ErrorCode.FORBIDDEN])
        stations = await run_in_threadpool(current_store().list_stations)
        return JSONResponse({"stations": stations})

    return app
