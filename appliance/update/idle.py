"""Install only when no citizen is being served: the hold the updater asks the service for.

The service side (:class:`UpdateHold`, routes from :func:`install_routes`): ``POST /update/hold``
is granted only while no session runs; from then on the start screen refuses new sessions (and
says "Đang cập nhật") until ``POST /update/release`` or ``[update] hold_s`` passes, so a crashed
updater can never lock a kiosk. Only loopback callers are answered. The updater side:
:func:`request_hold` / :func:`release_hold`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from aiohttp import web

from appliance.update.errors import UpdateBusy

LOOPBACK = ("127.0.0.1", "::1")


class UpdateHold:
    def __init__(
        self, busy: Callable[[], bool], max_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._busy = busy
        self.max_s = max_s
        self._clock = clock
        self._until = 0.0
        self.version = ""
        self.listeners: list[Callable[[bool], None]] = []

    @property
    def held(self) -> bool:
        return self._clock() < self._until

    def acquire(self, version: str = "") -> tuple[bool, str]:
        """(granted, reason). Refused while a citizen session runs; re-acquiring extends."""
        if self.held:
            self._until = self._clock() + self.max_s
            return True, "held"
        if self._busy():
            return False, "session"
        self._until = self._clock() + self.max_s
        self.version = version
        self._notify(True)
        return True, "held"

    def release(self) -> None:
        was = self.held
        self._until = 0.0
        if was:
            self._notify(False)

    def _notify(self, held: bool) -> None:
        for fn in list(self.listeners):
            fn(held)

    def health(self) -> dict[str, Any]:
        remaining = max(0.0, self._until - self._clock())
        return {
            "held": self.held,
            "version": self.version if self.held else "",
            "remaining_s": round(remaining, 1),
        }


def install_routes(app: Any, hold: UpdateHold) -> None:
    """``POST /update/hold`` and ``POST /update/release`` on the service's aiohttp app."""

    async def take(request: web.Request) -> web.Response:
        if request.remote not in LOOPBACK:
            return web.json_response({"ok": False, "reason": "loopback only"}, status=403)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        granted, reason = hold.acquire(str((body or {}).get("version", ""))[:40])
        return web.json_response(
            {"ok": granted, "reason": reason, **hold.health()}, status=200 if granted else 409
        )

    async def give_back(request: web.Request) -> web.Response:
        if request.remote not in LOOPBACK:
            return web.json_response({"ok": False, "reason": "loopback only"}, status=403)
        hold.release()
        return web.json_response({"ok": True, **hold.health()})

    app.router.add_post("/update/hold", take)
    app.router.add_post("/update/release", give_back)


def _post(base_url: str, path: str, body: dict[str, Any], timeout_s: float) -> tuple[int, dict]:
    req = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


def request_hold(base_url: str, version: str, *, timeout_s: float = 10.0) -> None:
    """Ask the running service for the hold; :class:`UpdateBusy` when a session runs or the
    service hangs (a kiosk that cannot say it is idle is not idle). A service that is not
    running at all (connection refused) serves no citizen: the install may go ahead."""
    try:
        status, body = _post(base_url, "/update/hold", {"version": version}, timeout_s)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return
        raise UpdateBusy(f"the kiosk service did not answer the update hold: {exc}") from None
    except (OSError, ValueError) as exc:
        raise UpdateBusy(f"the kiosk service did not answer the update hold: {exc}") from None
    if status != 200 or not body.get("ok"):
        raise UpdateBusy(f"the kiosk is busy ({body.get('reason', status)}); installing later")


def release_hold(base_url: str, *, timeout_s: float = 10.0) -> None:
    try:
        _post(base_url, "/update/release", {}, timeout_s)
    except (OSError, ValueError):
        pass  # the hold expires by itself
