"""The kiosk's web UI on the service: page, static files, translations, WebSocket, camera preview.

Routes (loopback only, like the rest of the service; Host, token and one-screen rules in
:mod:`appliance.kiosk_ui.access`):

* ``GET /?token=T``: sets the kiosk cookie and redirects to ``/``;
* ``GET /``: the kiosk page (``static/index.html``); ``/static/*``: its script and style;
  ``/i18n/{vi,en}.json``: the translations.
* ``GET /ws``: the WebSocket the page lives on (messages in docs/ui-protocol.md).
* ``GET /camera.mjpg``: the live camera preview (MJPEG) while a face capture runs, else 204.
* ``GET /qr.svg?text=...``: a QR code (the receipt code) as SVG.

``setup_ui(service)`` also starts the kiosk controller as a service component, wires the GPIO
help button to it and adds ``ui`` to ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from appliance import __version__
from appliance.errors import ConfigError
from appliance.kiosk_ui import voice_routes
from appliance.kiosk_ui.access import KioskAccess
from appliance.kiosk_ui.sim_controls import SimControls
from appliance.kiosk_ui.texts import check_ui_texts
from appliance.pipeline.workflows.kiosk import Kiosk
from appliance.pipeline.workflows.service_adapters import ServiceAdapters

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
KIOSK = web.AppKey("kiosk", Kiosk)  # service.app[KIOSK]: the kiosk controller
MAX_QR_TEXT = 64
FIRST_FRAME_S = 15.0
SEND_QUEUE = 256  # messages buffered per screen before the oldest are dropped
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self' ws://{host}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
TIMEOUT_KEYS = (
    "idle_s",
    "card_s",
    "chip_read_s",
    "face_s",
    "finger_s",
    "save_s",
    "message_s",
    "gate_result_s",
    "operator_idle_s",
    "help_signal_s",
    "pin_lockout_s",
    "help_after_s",
)


def check_ui_config(ui: Any) -> None:
    """Semantic checks of ``[ui]`` beyond types (raises ConfigError)."""
    for key in TIMEOUT_KEYS:
        if getattr(ui, key) <= 0:
            raise ConfigError("must be more than 0", key=f"ui.{key}")
    if not 0.0 <= ui.volume <= 1.0:
        raise ConfigError("must be between 0 and 1", key="ui.volume")
    if ui.pin_max_attempts < 1:
        raise ConfigError("must be at least 1", key="ui.pin_max_attempts")
    from appliance.pipeline.finger_capture import check_sequence

    try:
        check_sequence(ui.fingers)
    except ValueError as exc:
        raise ConfigError(str(exc), key="ui.fingers") from None
    if ui.operator_pin_hash and not ui.operator_pin_hash.startswith("scrypt$"):
        raise ConfigError(
            "expected a scrypt$N$r$p$salt$hash string (appliance.provision.hash_secret)",
            key="ui.operator_pin_hash",
        )
    check_ui_texts(ui.consent_purposes, ui.language)


def setup_problem(state_dir: Any) -> dict[str, str] | None:
    """The code of a failed provisioning (``appliance provision``), for staff on the screen."""
    from appliance.provision import read_status

    status = read_status(state_dir)
    if not isinstance(status, dict) or status.get("ok", True):
        return None
    error = status.get("error") or {}
    return {"code": str(error.get("code", "provision_failed"))}


def guidance_tables() -> dict[str, Any]:
    """What to tell the citizen per face reason and finger feedback code ({code: {vi, en}})."""
    from appliance.pipeline.face_guidance import GUIDANCE
    from appliance.pipeline.finger_quality import INSTRUCTIONS

    return {"face": GUIDANCE, "finger": INSTRUCTIONS}


class UiServer:
    def __init__(self, service: Any) -> None:
        self.service = service
        cfg = service.cfg
        check_ui_config(cfg.ui)
        self.adapters = ServiceAdapters(service)
        self.adapters.store_error = service.store_error
        if service.gate is not None:
            self.adapters.attach_gate(service.gate)
        sim = SimControls(service, self.adapters)
        self.sim = sim if sim.enabled else None
        self._hello: dict[str, Any] = {
            "version": __version__,
            "sim": bool(self.sim),
            "sim_actions": self.sim.available() if self.sim else [],
            "guidance": guidance_tables(),
            "fingers": list(cfg.ui.fingers),
        }
        self.kiosk = Kiosk(cfg.ui, self.adapters, cfg.service.mode, extra_hello=self.hello)
        if self.sim:
            self.kiosk.subscribe(self.sim.on_screen)
        self._help_wired: set[int] = set()
        self.clients = 0  # connected screens
        self.access = KioskAccess(cfg.state_dir, cfg.service.port)

    def hello(self) -> dict[str, Any]:
        """Extra fields of the hello message (read at every connection)."""
        return {**self._hello, "setup_problem": setup_problem(self.service.cfg.state_dir)}

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.access.host_middleware)
        try:
            where = self.access.write_url()
        except OSError as exc:
            log.error("cannot write the kiosk URL file %s: %s", self.access.file, exc.strerror)
        else:
            if self.service.cfg.profile == "sim":  # the demo: the person at the terminal opens it
                log.info("kiosk screen: open %s", self.access.page_url())
            log.info("kiosk screen URL (with its token) in %s", where)
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/camera.mjpg", self.camera)
        app.router.add_get("/qr.svg", self.qr_svg)
        app.router.add_get("/i18n/{lang}.json", self.i18n)
        app.router.add_static("/static", STATIC_DIR, append_version=False)
        voice_routes.install(self, app)  # /speech, language packs, voice settings in hello
        app[KIOSK] = self.kiosk
        self.service.components.append(self.run)
        self.service.extra_health["ui"] = self.health

    def health(self) -> dict[str, Any]:
        return {**self.kiosk.health(), "clients": self.clients}

    # --- component ----------------------------------------------------------------------------

    async def run(self, service: Any, stop: asyncio.Event) -> None:
        """The kiosk controller, plus wiring the GPIO help button whenever GPIO (re)opens."""
        watcher = asyncio.create_task(self._wire_help_button(stop))
        try:
            await self.kiosk.run(stop)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _wire_help_button(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            ind = self.service.devices.get("indicators")
            if ind is not None and id(ind) not in self._help_wired:
                self._help_wired.add(id(ind))
                ind.on_help(lambda: loop.call_soon_threadsafe(self.kiosk.call_help, "button"))
                log.info("help button wired")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    # --- routes ---------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        self.access.check(request)
        if "token" in request.query:  # the kiosk unit's first visit: token to cookie
            resp = web.HTTPSeeOther("/", headers={"Cache-Control": "no-store"})
            self.access.set_cookie(resp)
            raise resp
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        return web.Response(
            text=html,
            content_type="text/html",
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": CSP.format(host=request.host),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def i18n(self, request: web.Request) -> web.Response:
        try:  # built-in or a language pack, Vietnamese key by key where a pack has no text
            body = voice_routes.table(request.match_info["lang"])
        except ValueError:
            raise web.HTTPNotFound() from None
        return web.json_response(body, headers={"Cache-Control": "no-cache"})

    async def qr_svg(self, request: web.Request) -> web.Response:
        self.access.check(request)
        text = request.query.get("text", "")
        if not text or len(text) > MAX_QR_TEXT:
            raise web.HTTPBadRequest(text=f"text: 1 to {MAX_QR_TEXT} characters")
        import zxingcpp

        svg = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_svg()
        return web.Response(text=svg, content_type="image/svg+xml")

    async def camera(self, request: web.Request) -> web.StreamResponse:
        self.access.check(request)
        preview = self.adapters.preview
        if not preview.active:
            return web.Response(status=204)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "multipart/x-mixed-replace; boundary=frame",
                "Cache-Control": "no-store",
            }
        )
        await resp.prepare(request)
        last = 0
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                # the first frame may wait for the face models to load
                got = await preview.next_frame(last, FIRST_FRAME_S if last == 0 else 2.0)
                if got is None:
                    break
                last, jpeg = got
                await resp.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(jpeg)).encode()
                    + b"\r\n\r\n"
                    + jpeg
                    + b"\r\n"
                )
        return resp

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        self.access.check(request)
        if self.access.controller is not None:
            raise web.HTTPConflict(text="another screen is connected")
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
        self.access.controller = ws
        try:
            await ws.prepare(request)
        except BaseException:
            self.access.controller = None
            raise
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SEND_QUEUE)

        def enqueue(msg: dict[str, Any]) -> None:
            if queue.full():  # a stalled screen: drop the oldest, the newest screen matters
                queue.get_nowait()
            queue.put_nowait(msg)

        unsubscribe = self.kiosk.subscribe(enqueue)
        self.clients += 1
        for msg in self.kiosk.hello():
            enqueue(msg)

        async def sender() -> None:
            while True:
                msg = await queue.get()
                await ws.send_str(json.dumps(msg, ensure_ascii=False))

        send_task = asyncio.create_task(sender())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except (ValueError, RecursionError):  # not JSON, too deep, a 5,000-digit number
                    log.debug("unreadable message from the screen ignored")
                    continue
                if isinstance(data, dict) and data.get("type") == "sim":
                    if not (self.sim and self.sim.handle(data.get("action"))):
                        enqueue({"type": "sim_refused", "action": data.get("action")})
                else:
                    self.kiosk.handle(data)
        finally:
            self.clients -= 1
            self.access.controller = None
            unsubscribe()
            send_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await send_task
        return ws


def setup_ui(service: Any) -> UiServer:
    """Add the kiosk UI to ``service`` (called by ``Service._install_ui``)."""
    server = UiServer(service)
    server.install(service.app)
    return server
