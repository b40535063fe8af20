"""The real kiosk UI server in-process, showing any screen on demand, for Chromium screen tests.

A :class:`Service` (sim profile) serves the page, translations, ``/speech`` and ``/ws`` with the
per-boot token, exactly as on a kiosk; no workflow runs, so a test puts each screen of
docs/ui-protocol.md on the page directly (:meth:`ScreenServer.show`) instead of walking a citizen
through every flow. Used by tests/test_ui_a11y*.py, test_ui_languages*.py, test_ui_voice*.py.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from support import free_port, kiosk_url

from appliance.config import load_config
from appliance.pipeline.workflows.speech_keys import speech_for

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",  # what the kiosk's policy file allows
]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

FLOW = {"home": "home", "gate": "checkin", "op": "operator", "error": "enrollment"}
FINGERS = [
    {"finger": "right_index", "verdict": "pass"},
    {"finger": "left_index", "verdict": "fail"},
]
FIELDS = {
    "full_name": "NGUYỄN THỊ THANH HƯƠNG",
    "date_of_birth": "1951-03-15",
    "sex": "female",
    "nationality": "VNM",
    "expiry_date": None,
    "masked_id": "001******345",
}
AUTH_OK = {"passive": "genuine", "active": "genuine", "overall": "genuine"}
AUTH_BAD = {"passive": "not_genuine", "active": "cannot_confirm", "overall": "not_genuine"}

# (name, screen, data, step): every screen of docs/ui-protocol.md, some in two variants
SCREENS: list[tuple[str, str, dict[str, Any], int]] = [
    ("home", "home", {"flows": ["enrollment", "verification"]}, 0),
    ("enroll.scan", "enroll.scan", {"operator": False}, 1),
    (
        "enroll.confirm",
        "enroll.confirm",
        {
            "operator": False,
            "full_name": FIELDS["full_name"],
            "masked_id": "001******345",
            "expired": True,
        },
        2,
    ),
    (
        "enroll.consent",
        "enroll.consent",
        {"operator": False, "purposes": ["face", "fingerprints"], "version": "2025-01"},
        3,
    ),
    ("enroll.declined", "enroll.declined", {"operator": False}, 0),
    ("enroll.face", "enroll.face", {"operator": False, "preview": True}, 4),
    (
        "enroll.finger",
        "enroll.finger",
        {"operator": False, "finger": "right_index", "index": 1, "count": 2},
        5,
    ),
    (
        "enroll.finger_failed",
        "enroll.finger_failed",
        {
            "operator": False,
            "finger": "left_index",
            "index": 2,
            "count": 2,
            "feedback": ["too_dry", "partial"],
        },
        5,
    ),
    (
        "enroll.review",
        "enroll.review",
        {
            "operator": False,
            "full_name": FIELDS["full_name"],
            "masked_id": "001******345",
            "portrait": None,
            "fingers": FINGERS,
            "purposes": ["face", "fingerprints"],
        },
        6,
    ),
    ("enroll.saving", "enroll.saving", {"operator": False}, 6),
    ("enroll.receipt", "enroll.receipt", {"operator": False, "receipt_code": "7K2M-Q9XD"}, 7),
    (
        "verify.keypad",
        "verify.keypad",
        {"field": "dob", "masked_id": "001******345", "error": None, "allow_none": False},
        2,
    ),
    (
        "verify.keypad.error",
        "verify.keypad",
        {"field": "expiry", "masked_id": "001******345", "error": "bad_date", "allow_none": True},
        2,
    ),
    ("verify.tap", "verify.tap", {"masked_id": "001******345"}, 3),
    ("verify.reading", "verify.reading", {}, 4),
    (
        "verify.result",
        "verify.result",
        {"fields": FIELDS, "photo": None, "auth": AUTH_OK, "failed_step": None},
        5,
    ),
    (
        "verify.result.bad",
        "verify.result",
        {"fields": FIELDS, "photo": None, "auth": AUTH_BAD, "failed_step": "passive"},
        5,
    ),
    ("verify.face_consent", "verify.face_consent", {}, 0),
    ("verify.face_live", "verify.face_live", {"challenge": "turn_left"}, 0),
    ("verify.face_result", "verify.face_result", {"owner": False}, 0),
    ("gate.ready", "gate.ready", {"count": 12}, 0),
    (
        "gate.result",
        "gate.result",
        {
            "admitted": False,
            "decision": "expired",
            "reason": "expired",
            "masked_id": "001******345",
            "count": 12,
        },
        0,
    ),
    ("op.login", "op.login", {"configured": True, "error": "wrong_pin", "attempts_left": 3}, 0),
    ("op.locked", "op.locked", {"minutes": 5}, 0),
    ("op.menu", "op.menu", {}, 0),
    (
        "op.records",
        "op.records",
        {
            "rows": [
                {
                    "time": "09:12",
                    "masked_id": "001******345",
                    "receipt_code": "7K2M-Q9XD",
                    "uploaded": False,
                    "state": "sealed",
                }
            ],
            "uploaded": 0,
        },
        0,
    ),
    (
        "error",
        "error",
        {
            "kind": "device_unavailable",
            "detail": "camera_gone",
            "device": "camera",
            "can_retry": True,
        },
        4,
    ),
]


def flow_of(screen: str) -> str:
    if screen.startswith("enroll."):
        return "enrollment"
    if screen.startswith("verify."):
        return "verification"
    return FLOW.get(screen.split(".")[0], "enrollment")


class ScreenServer:
    """``with ScreenServer(tmp) as s``: s.page_url opens the page; s.show(...) puts a screen."""

    def __init__(self, root: Path, packs_dir: Path | None = None, **ui: Any) -> None:
        self.root = root
        self.packs_dir = packs_dir
        self.ui = ui
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.seq_before = 0

    def __enter__(self) -> ScreenServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _start(self) -> None:
        from aiohttp import web

        from appliance.service import Service

        env = {
            "APPLIANCE_STORE_DEMO_OFFICE_KEY": "1",
            "APPLIANCE_STATE_DIR": str(self.root / "state"),
            "APPLIANCE_CONFIG_DIR": str(self.root / "etc"),
            "APPLIANCE_SERVICE_PORT": str(self.port),
        }
        cfg = load_config("sim", sim=True, env=env)
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        cfg.ui.packs_dir = str(self.packs_dir) if self.packs_dir else ""
        for key, value in self.ui.items():
            setattr(cfg.ui, key, value)
        self.service = Service(cfg)
        self.kiosk = self.service.ui.kiosk
        self.runner = web.AppRunner(self.service.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        ws = self.service.ui.access.controller  # the page's socket: close it, do not wait on it
        if ws is not None:
            await ws.close()
        await self.runner.shutdown()
        await self.runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def page_url(self) -> str:
        return kiosk_url(self.base, self.service.cfg.state_dir)

    def call(self, fn, *args: Any) -> Any:
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def show(self, screen: str, data: dict[str, Any], step: int = 0, timeout_s=None) -> int:
        view = {
            "flow": flow_of(screen),
            "state": screen.split(".")[-1],
            "screen": screen,
            "step": step,
            "steps": 7 if step else 0,
            "timeout_s": timeout_s,
            "touch_resets": True,
            "data": data,
            "speech": speech_for(screen, data),
        }
        self.call(self.kiosk.show, view)
        return self.kiosk.seq

    def update(self, kind: str, payload: dict[str, Any]) -> None:
        self.call(self.kiosk.update, kind, payload)

    def set_lang(self, lang: str) -> None:
        self.call(self.kiosk.handle, {"type": "command", "name": "lang", "args": {"lang": lang}})


def wait_js(page, fn: str, arg=None, timeout: float = 10.0) -> None:
    """Until ``fn(arg)`` is true in the page. (Playwright's wait_for_function polls with eval,
    which the page's CSP forbids; page.evaluate goes through the debugger protocol.)"""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(fn, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {fn} ({arg})")
        time.sleep(0.03)


def wait_screen(page, seq: int) -> None:
    """Until the page has drawn screen ``seq`` (its render hook ran)."""
    wait_js(
        page,
        "s => !!(window.KioskUI && KioskUI.state.view && KioskUI.state.view.seq === s"
        " && document.body.dataset.screen === KioskUI.state.view.screen)",
        seq,
    )


def wait_hello(page) -> None:
    wait_js(page, "() => !!(window.KioskUI && KioskUI.state.hello)")


def wait_lang(page, lang: str) -> None:
    wait_js(page, "l => document.documentElement.lang === l", lang)
