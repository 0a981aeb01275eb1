"""The console's pages under ``/console/``: server-rendered Jinja2, plain forms, every asset local.

Security: a session cookie (HttpOnly, SameSite=Strict) names a row in ``console_session``; every
POST carries that session's CSRF token in a hidden field (the login form a double-submit cookie);
a viewer may look at everything and change nothing; every change is written to ``console_audit``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sync_protocol.protocol import HEADER_APP_VERSION

from ..auth import token_hash
from ..store import Store
from . import accounts, aggregates, dashboard, refdata, stations
from .accounts import ConsoleError, StaffUser

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "yb_console"
LOGIN_CSRF_COOKIE = "yb_login_csrf"
PREFIX = "/console"
templates = Jinja2Templates(directory=str(HERE / "templates"))


class _Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class _Forbidden(Exception):
    pass


def _user(request: Request) -> StaffUser:
    user = accounts.session_user(request.app.state.store.engine, request.cookies.get(COOKIE))
    if user is None:
        raise _Redirect(f"{PREFIX}/login?next={quote(str(request.url.path))}")
    return user


async def _form(request: Request, user: StaffUser, *, edit: bool = True) -> dict[str, str]:
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not hmac.compare_digest(form.get("csrf", ""), user.csrf):
        raise _Forbidden()
    if edit and not user.can_edit:
        raise _Forbidden()
    return form


def _page(request: Request, name: str, user: StaffUser | None, *, status_code: int = 200,
          **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "prefix": PREFIX, **context},
                                      status_code=status_code)


def install(app: FastAPI, store: Store, *, refresh_interval: float | None = 5.0) -> None:
    """Mount the console on the sync server's app (same process, same database)."""
    router = APIRouter(prefix=PREFIX)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    def engine():
        return app.state.store.engine

    @app.exception_handler(_Redirect)
    async def _redirect(_request: Request, exc: _Redirect):
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(_Forbidden)
    async def _forbidden(request: Request, _exc: _Forbidden):
        return _page(request, "message.html", None, title="无权操作",
                     message="您没有修改权限，或页面已过期（请刷新后重试）。", status_code=403)

    @router.get("/fonts/{name}", include_in_schema=False)
    async def font(name: str):
        # The notices' Noto Sans SC, for a PC without a Chinese system font (served here: no CDN).
        from fastapi.responses import FileResponse

        from county_server.resources import font_files

        match = next((f for f in font_files() if f.name == name), None)
        if match is None:
            return Response(status_code=404)
        return FileResponse(match, media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})

    # ---------------------------------------------------------------- sign-in

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = PREFIX + "/"):  # noqa: A002
        token = secrets.token_urlsafe(16)
        response = _page(request, "login.html", None, csrf=token, next=next, error="")
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=PREFIX)
        return response

    @router.post("/login")
    async def login(request: Request):
        form = {k: str(v) for k, v in (await request.form()).items()}
        next_url = form.get("next") or PREFIX + "/"
        if not next_url.startswith(PREFIX + "/"):
            next_url = PREFIX + "/"
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(form.get("csrf", ""), cookie):
            return _page(request, "login.html", None, csrf=cookie, next=next_url, error="页面已过期，请重新登录。",
                         status_code=400)
        try:
            session_id = await run_in_threadpool(accounts.sign_in, engine(), form.get("username", "").strip(),
                                                 form.get("password", ""))
        except ConsoleError as error:
            return _page(request, "login.html", None, csrf=cookie, next=next_url, error=str(error),
                         username=form.get("username", ""), status_code=401)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path=PREFIX,
                            secure=request.url.scheme == "https")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    async def logout(request: Request):
        user = _user(request)
        await _form(request, user, edit=False)
        await run_in_threadpool(accounts.sign_out, engine(), request.cookies.get(COOKIE, ""), user.username)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    # ---------------------------------------------------------------- dashboard

    @router.get("/", response_class=HTMLResponse)
    async def home(request: Request, place: str | None = None, year: int | None = None):
        user = _user(request)
        await run_in_threadpool(aggregates.refresh, engine())
        try:
            board = await run_in_threadpool(dashboard.build, engine(), place, year=year)
        except KeyError:
            return _page(request, "message.html", user, title="没有这个地区", message="请从县首页重新选择。",
                         status_code=404)
        chart = dashboard.usage_chart(board.usage, board.targets["target_card_usage"])
        return _page(request, "dashboard.html", user, board=board, chart=chart, levels=dashboard.LEVEL_TEXT)

    @router.get("/list/{kind}", response_class=HTMLResponse)
    async def figure_list(request: Request, kind: str, place: str, year: int):
        user = _user(request)
        if kind not in dashboard.LIST_KINDS:
            return _page(request, "message.html", user, title="没有这个名单", message="", status_code=404)
        tree = await run_in_threadpool(dashboard.places, engine())
        if place not in tree:
            return _page(request, "message.html", user, title="没有这个地区", message="", status_code=404)
        headers, rows, truncated = await run_in_threadpool(dashboard.list_rows, engine(), place, kind, year)
        return _page(request, "list.html", user, title=dashboard.LIST_KINDS[kind], place=tree[place], year=year,
                     headers=headers, rows=rows, truncated=truncated, limit=dashboard.LIST_LIMIT)

    @router.get("/report.xlsx")
    async def report(request: Request, place: str | None = None):
        user = _user(request)
        await run_in_threadpool(aggregates.refresh, engine())
        name, data = await run_in_threadpool(dashboard.report_xlsx, engine(), place)
        await run_in_threadpool(_audit, user, "export_report", place or "county", {})
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    def _audit(user: StaffUser, action: str, target: str, detail: dict) -> None:
        with engine().begin() as conn:
            accounts.audit(conn, user.username, action, target, detail)

    # ---------------------------------------------------------------- stations

    async def stations_page(request: Request, user: StaffUser, *, error: str = "", issued: dict | None = None,
                            status_code: int = 200):
        values = dashboard.settings(engine())
        notes = getattr(request.app.state, "version_notes", None)
        if notes is not None:
            await run_in_threadpool(notes.flush)  # the versions seen so far, before the list is read
        rows = await run_in_threadpool(stations.station_rows, engine(), int(values["silent_days"]))
        tree = await run_in_threadpool(dashboard.places, engine())
        options = sorted((p for p in tree.values() if p.level in ("village", "township")), key=lambda p: p.code)
        return _page(request, "stations.html", user, rows=rows, places=options, error=error, issued=issued,
                     silent_days=values["silent_days"], status_code=status_code)

    @router.get("/stations", response_class=HTMLResponse)
    async def station_list(request: Request):
        return await stations_page(request, _user(request))

    def _issued(request: Request, code: str, token: str) -> dict:
        server = str(request.base_url).rstrip("/")
        command = f"station-app setup --server {server} --token {token}"
        text = stations.setup_file(server, code, token)
        return {"code": code, "token": token, "command": command, "qr": stations.qr_svg(command),
                "file_url": stations.data_url(text), "file_name": f"{code}.ybsetup.json"}

    @router.post("/stations/add", response_class=HTMLResponse)
    async def station_add(request: Request):
        user = _user(request)
        form = await _form(request, user)
        try:
            token = await run_in_threadpool(
                lambda: stations.add_station(
                    app.state.store, code=form.get("code", "").strip(), name=form.get("name", "").strip(),
                    scope=form.get("scope", ""), place_code=form.get("place_code", "").strip(),
                    admin_username=form.get("admin_username", "").strip(),
                    admin_password=form.get("admin_password", ""),
                    admin_display_name=form.get("admin_display_name", "").strip()))
        except ValueError as error:
            return await stations_page(request, user, error=str(error), status_code=400)
        await run_in_threadpool(_audit, user, "add_station", form["code"].strip(),
                                {"scope": form.get("scope"), "place": form.get("place_code")})
        return await stations_page(request, user, issued=_issued(request, form["code"].strip(), token))

    @router.post("/stations/{code}/{action}", response_class=HTMLResponse)
    async def station_action(request: Request, code: str, action: str):
        user = _user(request)
        await _form(request, user)
        store = app.state.store
        if action in ("disable", "enable"):
            await run_in_threadpool(store.set_active, code, action == "enable")
            await run_in_threadpool(_audit, user, f"{action}_station", code, {})
            return await stations_page(request, user)
        if action == "rotate":
            try:
                token = await run_in_threadpool(stations.rotate_token, store, code)
            except ValueError as error:
                return await stations_page(request, user, error=str(error), status_code=404)
            await run_in_threadpool(_audit, user, "rotate_token", code, {})
            return await stations_page(request, user, issued=_issued(request, code, token))
        return await stations_page(request, user, error="未知操作。", status_code=404)

    # ---------------------------------------------------------------- reference data

    @router.get("/reference", response_class=HTMLResponse)
    async def reference_index(request: Request):
        user = _user(request)
        counts = {name: len(await run_in_threadpool(refdata.rows_of, engine(), name)) for name in refdata.TABLES}
        return _page(request, "reference_index.html", user, tables=refdata.TABLES, counts=counts)

    async def reference_page(request: Request, user: StaffUser, table: str, *, error: str = "", form=None,
                             edit_id: str | None = None, status_code: int = 200):
        meta = refdata.TABLES[table]
        rows = await run_in_threadpool(refdata.rows_of, engine(), table)
        editing = next((r for r in rows if r.row_id == edit_id), None) if edit_id else None
        return _page(request, "reference.html", user, meta=meta, rows=rows, display=refdata.display, error=error,
                     form=form or {}, editing=editing, this_year=date.today().year, status_code=status_code)

    @router.get("/reference/{table}", response_class=HTMLResponse)
    async def reference_table(request: Request, table: str, edit: str | None = None):
        user = _user(request)
        if table not in refdata.TABLES:
            return _page(request, "message.html", user, title="没有这类参考数据", message="", status_code=404)
        return await reference_page(request, user, table, edit_id=edit)

    @router.post("/reference/{table}", response_class=HTMLResponse)
    async def reference_save(request: Request, table: str):
        user = _user(request)
        form = await _form(request, user)
        if table not in refdata.TABLES:
            return _page(request, "message.html", user, title="没有这类参考数据", message="", status_code=404)
        row_id = form.get("row_id") or None
        try:
            before, saved = await run_in_threadpool(
                lambda: refdata.save(app.state.store, table, form, row_id=row_id, today=date.today()))
        except refdata.RefError as error:
            return await reference_page(request, user, table, error=str(error), form=form, edit_id=row_id,
                                        status_code=400)
        await run_in_threadpool(_audit, user, "edit_reference" if before else "add_reference", table,
                                {"before": before.data if before else None, "after": saved})
        return RedirectResponse(f"{PREFIX}/reference/{table}", status_code=303)

    # ---------------------------------------------------------------- settings, audit

    @router.get("/settings", response_class=HTMLResponse)
    async def settings_page(request: Request):
        user = _user(request)
        return _page(request, "settings.html", user, values=dashboard.settings(engine()), labels=dashboard.SETTINGS,
                     error="", saved=False)

    @router.post("/settings", response_class=HTMLResponse)
    async def settings_save(request: Request):
        user = _user(request)
        form = await _form(request, user)
        try:
            values = await run_in_threadpool(dashboard.save_settings, engine(), form)
        except ValueError as error:
            return _page(request, "settings.html", user, values=form, labels=dashboard.SETTINGS, error=str(error),
                         saved=False, status_code=400)
        await run_in_threadpool(_audit, user, "settings", "county_setting", values)
        return _page(request, "settings.html", user, values=values, labels=dashboard.SETTINGS, error="", saved=True)

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request):
        user = _user(request)
        rows = await run_in_threadpool(accounts.recent_audit, engine())
        return _page(request, "audit.html", user, rows=rows)

    app.include_router(router)

    @app.get(PREFIX, include_in_schema=False)
    async def _bare():
        return RedirectResponse(PREFIX + "/", status_code=307)

    _install_contact_notes(app)
    store.on_push = lambda ctx, client_ms, now_ms: stations.note_contact(
        store.engine, ctx.code, drift_ms=None if client_ms is None else client_ms - now_ms)
    if refresh_interval:
        refresher = aggregates.Refresher(store.engine, refresh_interval)
        app.state.aggregate_refresher = refresher
        refresher.start()


#: How long a station's new app version waits before it is written, with every other one
#: noted meanwhile, in one transaction.
VERSION_NOTE_DELAY_S = 0.5
#: Tokens whose version this process remembers (a county has ~600 stations; any header is counted).
MAX_REMEMBERED_TOKENS = 20_000


class VersionNotes:
    """App versions seen in the sync requests' headers, written in batches off the request path.

    Each station's first request in this process used to wait for its own write (one transaction,
    one fsync, behind every other station's): 450 stations syncing for the first time at once put
    the SQLite server's no-op sync p99 at 0.8–1.2 s (bench_sync, 500 stations) against ~0.2 s for
    the same requests later. Now a request only records the version in memory; a timer writes all
    of them in one transaction, and the station list writes what is pending before it reads.
    """

    def __init__(self, engine_of) -> None:
        self._engine_of = engine_of
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}
        self._pending: dict[str, str] = {}
        self._timer: threading.Timer | None = None

    def note(self, token: str, version: str) -> None:
        digest = token_hash(token)
        with self._lock:
            if self._seen.get(digest) == version:
                return
            if len(self._seen) >= MAX_REMEMBERED_TOKENS:
                self._seen.clear()  # made-up tokens must not grow this without bound
            self._seen[digest] = version
            self._pending[digest] = version
            if self._timer is None:
                self._timer = threading.Timer(VERSION_NOTE_DELAY_S, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if not batch:
            return
        try:
            stations.note_versions(self._engine_of(), batch)
        except Exception:  # noqa: BLE001 - bookkeeping only: seen again on the station's next version
            with self._lock:
                for digest in batch:
                    self._seen.pop(digest, None)
            logger.warning("could not note the stations' app versions", exc_info=True)


class _NoteVersion:
    """Pure ASGI (no extra task per request): note each station's app version as it syncs, read
    from the headers; the write happens later, in a batch (``VersionNotes``)."""

    def __init__(self, app, *, notes: VersionNotes):
        self.app = app
        self.notes = notes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1/sync/"):
            headers = dict(scope["headers"])
            version = headers.get(HEADER_APP_VERSION.lower().encode(), b"").decode("latin-1")
            auth = headers.get(b"authorization", b"").decode("latin-1")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            if token and version:
                self.notes.note(token, version)
        await self.app(scope, receive, send)


def _install_contact_notes(app: FastAPI) -> None:
    notes = VersionNotes(lambda: app.state.store.engine)
    app.state.version_notes = notes
    app.add_middleware(_NoteVersion, notes=notes)
