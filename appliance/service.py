"""The daemon: loads config, opens devices, serves the local HTTP API and UI, talks to systemd.

``appliance run [--profile NAME] [--config FILE] [--port N] [--sim]``. Listens on loopback only.
Sends ``READY=1`` once serving and ``WATCHDOG=1`` at half of ``WATCHDOG_USEC`` from the event
loop itself, so a hung loop stops the pings and systemd restarts the service. SIGTERM or SIGINT
stop it cleanly (devices released, relay off) within a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance import __version__
from appliance.clock import clock_synchronized
from appliance.config import Config, load_config_for
from appliance.errors import ApplianceError, ConfigError
from appliance.hal.manager import DeviceManager
from appliance.logs import setup_logging
from appliance.sdnotify import Notifier
from appliance.update.service_hook import attach_to_service as attach_update

log = logging.getLogger(__name__)

# What the kiosk screen shows when its UI could not be loaded (the journal has the traceback)
UI_ERROR_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>CCCD kiosk</title></head>
<body style="font-family:sans-serif;font-size:24px;padding:2em">
<h1>Ki-ốt tạm ngừng phục vụ</h1><p>Màn hình không tải được. Vui lòng báo cán bộ.</p>
<p lang="en">Out of service: the kiosk screen could not be loaded. Please tell the staff.</p>
<p style="font-size:16px">Staff: <code>journalctl -u appliance</code>,
<a href="/healthz">/healthz</a></p>
</body></html>
"""

# Components are started with the service and stopped with it: async callables taking the
# service and a stop event (workflows, the outbox uploader, the gate).
Component = Callable[["Service", asyncio.Event], Awaitable[None]]


class Service:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.devices = DeviceManager(cfg)
        self.started = time.monotonic()
        self.stop_event = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.components: list[Component] = []
        self.extra_health: dict[str, Callable[[], Any]] = {}
        self.store: Any = None
        self.store_error: str | None = None
        self.gate: Any = None
        self.ui: Any = None
        self.extra_health["provisioning"] = self._provisioning
        self._attach_store()
        if cfg.service.mode == "checkin":
            self._attach_gate()
        self._install_ui()
        self.update_hold = attach_update(self, self._in_session, self._on_update_hold)

    def _in_session(self) -> bool:
        return self.ui is not None and self.ui.kiosk.in_session()

    def _on_update_hold(self, held: bool) -> None:
        if self.ui is not None:
            self.ui.kiosk.set_updating(held)

    def _provisioning(self) -> Any:
        """The last ``appliance provision`` outcome (None on a device never provisioned)."""
        from appliance.provision import read_status

        return read_status(self.cfg.state_dir)

    def _attach_store(self) -> None:
        """Open the store (captures, consent, check-ins, outbox). A store that cannot open
        degrades saving, not the whole kiosk: health and the screens say why."""
        from appliance.store import attach_to_service

        try:
            attach_to_service(self)
        except ApplianceError as exc:
            log.error("store unavailable: %s", exc.message)
            self.store_error = exc.message
            self.extra_health["store"] = lambda: {"state": "unavailable", "error": self.store_error}

    def _attach_gate(self) -> None:
        """Mode ``checkin``: the gate reads the scanner, decides, drives the indicators, logs."""
        from appliance.pipeline.gate import attach_to_service

        if self.store is None:
            self.extra_health["gate"] = lambda: {"state": "unavailable", "error": self.store_error}
            return
        attach_to_service(self)

    def _install_ui(self) -> None:
        """The kiosk screen. One that cannot load is an error in health and in the journal
        (with its traceback), and the screen says the kiosk is out of service."""
        try:
            from appliance.kiosk_ui.server import setup_ui

            self.ui = setup_ui(self)
        except ConfigError:
            raise  # a bad [ui] table stops the start with its message, as every config error does
        except Exception as exc:
            log.exception("kiosk UI could not be loaded")
            error = f"{type(exc).__name__}: {exc}"
            self.extra_health["ui"] = lambda: {"state": "error", "error": error}
            self.app.router.add_get("/", self.ui_error_page)

    async def ui_error_page(self, request: web.Request) -> web.Response:
        return web.Response(text=UI_ERROR_PAGE, content_type="text/html", status=503)

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "version": __version__,
            "profile": self.cfg.profile,
            "mode": self.cfg.service.mode,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "clock_synchronized": clock_synchronized(),
            "devices": self.devices.health(),
        }
        for name, fn in self.extra_health.items():
            body[name] = fn()
        return body

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(self.health(), dumps=_dumps)

    async def _watchdog(self, notifier: Notifier) -> None:
        assert notifier.watchdog_s
        interval = notifier.watchdog_s / 2
        while not self.stop_event.is_set():
            notifier.watchdog()
            try:
                await asyncio.wait_for(self.stop_event.wait(), interval)
            except TimeoutError:
                pass

    async def run(self, notifier: Notifier | None = None) -> None:
        notifier = notifier or Notifier()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        state_dir = self.cfg.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create state directory {state_dir}: {exc.strerror}",
                key="service.state_dir",
            ) from None
        await self.devices.open_all()
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.service.host, self.cfg.service.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self.devices.close_all()
            raise ConfigError(
                f"cannot listen on {self.cfg.service.host}:{self.cfg.service.port}: {exc.strerror}",
                key="service.port",
            ) from None
        url = f"http://{self.cfg.service.host}:{self.cfg.service.port}"
        log.info("serving %s (profile %s, version %s)", url, self.cfg.profile, __version__)
        tasks = [asyncio.create_task(self.devices.watch(self.stop_event))]
        tasks += [asyncio.create_task(c(self, self.stop_event)) for c in self.components]
        if notifier.watchdog_s:
            tasks.append(asyncio.create_task(self._watchdog(notifier)))
        notifier.ready(f"serving {url}")
        await self.stop_event.wait()
        log.info("stopping")
        notifier.stopping()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.wait_for(runner.cleanup(), 3)
        self.devices.close_all()
        log.info("stopped")


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


def cmd_run(args) -> int:
    cfg = load_config_for(args)
    if args.port is not None:
        cfg.service.port = args.port
    setup_logging(cfg.service.log_level)
    log.info("config from %s", "; ".join(cfg.sources))
    asyncio.run(Service(cfg).run())
    return 0


def add_config_args(p) -> None:
    """--profile, --config and --sim, shared by every command that loads the config."""
    p.add_argument("--profile", help="sim, commune-kiosk, tourist-gate or field-kit")
    p.add_argument(
        "--config", type=Path, help="site config file (default /etc/appliance/appliance.toml)"
    )
    p.add_argument("--sim", action="store_true", help="simulate every device")


def register(sub) -> None:
    from appliance.cli import add_json_flag

    p = sub.add_parser("run", help="run the kiosk service")
    add_config_args(p)
    p.add_argument("--port", type=int, help="HTTP port on 127.0.0.1 (overrides the config)")
    add_json_flag(p)
    p.set_defaults(func=cmd_run)
