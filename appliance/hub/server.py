"""The hub's HTTP server (aiohttp): kiosk ingest, heartbeats, the officers' API and pages.

Kiosk routes (device bearer token): ``PUT /bundles/<id>``, ``POST /bundles``,
``POST /heartbeats``. Officer API (session bearer token from ``POST /api/login``):
``GET /api/bundles``, ``GET /api/bundles/<id>``, ``POST /api/bundles/<id>/received``,
``GET /api/devices``. Pages (session cookie + CSRF): see :mod:`appliance.hub.pages`.
Every failure is ``{"ok": false, "error": {"code", "message"}}`` with its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy.engine import Engine

from appliance.errors import ApplianceError, ConfigError, InvalidInput
from appliance.hub import auth, records
from appliance.hub.appkeys import COOKIE, ENGINE, OFFICE_KEY_ID, SETTINGS, db
from appliance.hub.config import HubSettings
from appliance.hub.errors import AuthError, DeviceRefused, NotFound, RefusedBundle
from appliance.hub.heartbeats import accept_beat, parse_beat
from appliance.hub.ingest import Upload, ingest
from appliance.hub.pages import add_pages, render_error
from appliance.hub.registry import device_for_token, list_devices
from appliance.hub.rollout_pages import add_rollout_pages
from appliance.store.bundle import key_id

log = logging.getLogger(__name__)


def error_response(exc: ApplianceError, status: int) -> web.Response:
    return web.json_response(
        {"ok": False, "error": {"code": exc.code, "message": exc.message}}, status=status
    )


def status_for(exc: ApplianceError) -> int:
    if isinstance(exc, RefusedBundle | DeviceRefused | AuthError):
        return exc.status
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 400
    return 500


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except AuthError as exc:
        wants_page = not request.path.startswith(("/api/", "/bundles", "/heartbeats"))
        if wants_page and exc.code == "login_required":
            raise web.HTTPSeeOther("/login") from None
        if wants_page:
            return render_error(request, exc, exc.status)
        return error_response(exc, exc.status)
    except ApplianceError as exc:
        if not isinstance(exc, RefusedBundle | DeviceRefused | NotFound):
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return error_response(exc, status_for(exc))
    except web.HTTPRequestEntityTooLarge:
        exc2 = RefusedBundle("bundle larger than the hub accepts", code="too_large", status=413)
        return error_response(exc2, 413)


async def put_bundle(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    length = request.content_length
    if length is not None and length > settings.max_bundle_bytes:
        raise RefusedBundle("bundle larger than the hub accepts", code="too_large", status=413)
    body = await request.read()
    upload = Upload(request.match_info.get("bundle_id"), dict(request.headers), body)
    status, out = await db(
        request,
        ingest,
        upload,
        office_key_id=request.app[OFFICE_KEY_ID] or None,
        utc_offset_h=settings.utc_offset_hours,
    )
    return web.json_response({"ok": True, **out}, status=status)


async def post_heartbeat(request: web.Request) -> web.Response:
    offset = request.app[SETTINGS].utc_offset_hours

    def run(engine: Engine, auth_header: str | None, raw: bytes) -> tuple[int, dict]:
        with engine.connect() as conn:
            device = device_for_token(conn, auth_header)
        return accept_beat(engine, device, parse_beat(raw), utc_offset_h=offset)

    raw = await request.read()
    status, out = await db(request, run, request.headers.get("Authorization"), raw)
    return web.json_response({"ok": True, **out}, status=status)


async def healthz(request: web.Request) -> web.Response:
    def ping(engine: Engine) -> str:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return engine.dialect.name

    return web.json_response({"ok": True, "engine": await db(request, ping)})


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


async def officer(request: web.Request, area: str) -> dict[str, Any]:
    found = await db(request, auth.session_for, bearer(request))
    return auth.require(found, area)


async def api_login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        username, password = str(body["username"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("JSON {username, password} expected", code="usage") from None
    remote = request.remote or "?"
    out = await db(request, auth.login, request.app[SETTINGS], username, password, remote)
    return web.json_response({"ok": True, "token": out["token"], "role": out["role"]})


async def api_bundles(request: web.Request) -> web.Response:
    await officer(request, "bundles")
    since = request.query.get("since")
    try:
        since_ts = float(since) if since else None
    except ValueError:
        raise InvalidInput("since must be a Unix time", code="usage") from None
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "500"))))
    except ValueError:
        raise InvalidInput("limit must be a number", code="usage") from None
    rows = await db(
        request,
        records.list_bundles,
        since=since_ts,
        include_pulled=request.query.get("all") == "1",
        limit=limit,
    )
    return web.json_response({"ok": True, "bundles": rows})


async def api_bundle(request: web.Request) -> web.Response:
    await officer(request, "bundles")
    data, sha = await db(request, records.bundle_data, request.match_info["bundle_id"])
    return web.Response(
        body=data,
        content_type="application/vnd.cccd.sealed-bundle",
        headers={"X-Bundle-SHA256": sha},
    )


async def api_received(request: web.Request) -> web.Response:
    await officer(request, "bundles")
    sha = request.headers.get("X-Bundle-SHA256", "")
    changed = await db(request, records.mark_received, request.match_info["bundle_id"], sha)
    return web.json_response({"ok": True, "marked": changed})


async def api_devices(request: web.Request) -> web.Response:
    await officer(request, "devices" if request.query.get("full") else "bundles")
    rows = await db(request, list_devices)
    return web.json_response({"ok": True, "devices": rows})


def office_key_id_of(settings: HubSettings) -> str:
    if not settings.office_public_key:
        return ""
    try:
        with open(settings.office_public_key, "rb") as fh:
            key = load_pem_public_key(fh.read())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load: {exc}", key="hub.office_public_key") from None
    if not isinstance(key, X25519PublicKey):
        raise ConfigError("not an X25519 office public key", key="hub.office_public_key")
    return key_id(key)


def make_app(engine: Engine, settings: HubSettings, middlewares: tuple = ()) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, *middlewares],
        client_max_size=settings.max_bundle_bytes + 65536,
    )
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[OFFICE_KEY_ID] = office_key_id_of(settings)
    r = app.router
    r.add_put("/bundles/{bundle_id}", put_bundle)
    r.add_post("/bundles", put_bundle)
    r.add_post("/heartbeats", post_heartbeat)
    r.add_get("/healthz", healthz)
    r.add_post("/api/login", api_login)
    r.add_get("/api/bundles", api_bundles)
    r.add_get("/api/bundles/{bundle_id}", api_bundle)
    r.add_post("/api/bundles/{bundle_id}/received", api_received)
    r.add_get("/api/devices", api_devices)
    add_pages(app)
    add_rollout_pages(app)
    return app


def ssl_context(settings: HubSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate: {exc}", key="hub.tls_cert") from None
    return ctx


async def _housekeeping(engine: Engine, settings: HubSettings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(records.purge, engine, settings)
            await asyncio.to_thread(auth.expire_old, engine, settings)
        except Exception:  # a database hiccup must not end the server
            log.exception("hub housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3600)


async def serve(
    engine: Engine,
    settings: HubSettings,
    stop: asyncio.Event,
    *,
    reuse_port: bool = False,
    ready: Any = None,
    middlewares: tuple = (),
) -> None:
    """Serve until ``stop`` is set. ``ready(port)`` is called once listening."""
    app = make_app(engine, settings, middlewares)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.host,
        settings.port,
        ssl_context=ssl_context(settings),
        reuse_port=reuse_port or None,
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", key="hub.port"
        ) from None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    log.info("hub serving on %s:%d (%s)", settings.host, port, engine.dialect.name)
    if ready:
        ready(port)
    house = asyncio.create_task(_housekeeping(engine, settings, stop))
    try:
        await stop.wait()
    finally:
        house.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await house
        await runner.cleanup()
