"""Keep a freshly installed slot only when it works: the trial-boot check.

After an install the boot loader tries the new slot once. ``appliance update --confirm`` (run at
every boot by ``appliance-update-confirm.service``) then decides:

* booted the pending slot: wait up to ``[update] confirm_within_s`` for health (the service
  answers /healthz, every device opened or honestly unavailable, the UI page is served, the store
  is open and its folder writable); healthy -> ``rauc status mark-good``; not -> ``mark-bad`` and
  reboot, so the boot loader returns to the old slot;
* booted the old slot while an install was pending (the trial failed or the watchdog reset the
  board): the failed version is recorded (``rolled_back``) for --status, /healthz and the hub;
* nothing pending: the slot was confirmed before (or the card was just flashed); it is marked
  good again once healthy, or after ``confirm_within_s`` with the problems reported: there is no
  better slot to return to. (The GRUB scheme counts every boot as a try until mark-good.)
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.update.rauc import Rauc
from appliance.update.state import UpdateState

log = logging.getLogger(__name__)


@dataclass
class Health:
    ok: bool
    problems: list[str] = field(default_factory=list)


def judge(healthz: dict[str, Any] | None, ui_ok: bool, store_writable: bool) -> Health:
    """Apply the rules to what the service answered (pure: the unit tests' subject)."""
    problems: list[str] = []
    if healthz is None:
        return Health(False, ["service: /healthz does not answer"])
    devices = healthz.get("devices")
    if not isinstance(devices, dict) or not devices:
        problems.append("devices: none reported")
    else:
        for kind, d in devices.items():
            state, error = d.get("state"), d.get("error")
            if state == "ok" or (state == "unavailable" and error):
                continue  # opened, or honestly unavailable with its reason
            problems.append(f"{kind}: {state} without a reason")
    store = healthz.get("store")
    if (
        not isinstance(store, dict)
        or store.get("state") == "unavailable"
        or ("schema_version" not in store)
    ):
        problems.append("store: not open")
    if not store_writable:
        problems.append("store: its folder is not writable")
    if not ui_ok:
        problems.append("ui: the start page is not served")
    return Health(not problems, problems)


class ServiceProbe:
    """Asks the local service, as a real screen would, and tries a write in the state folder."""

    def __init__(self, base_url: str, state_dir: str | Path, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.state_dir = Path(state_dir)
        self.timeout_s = timeout_s

    def _get(self, path: str) -> tuple[int, bytes, str]:
        # with cookies: the page trades the token in its URL for a cookie and redirects
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(self.base_url + path, timeout=self.timeout_s) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")

    def _page(self) -> str:
        """The start page's path with the per-boot token the service wrote for the kiosk
        browser (``kiosk-url``, in the service's runtime folder or its state folder)."""
        places = [Path(d.split(":")[0]) for d in [os.environ.get("RUNTIME_DIRECTORY", "")] if d]
        for folder in [*places, Path("/run/appliance"), self.state_dir]:
            try:
                url = (folder / "kiosk-url").read_text().strip().partition("KIOSK_URL=")[2]
            except OSError:
                continue
            parts = urllib.parse.urlsplit(url)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return "/"

    def _writable(self) -> bool:
        probe = self.state_dir / ".update-write-probe"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"ok")
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
            return True
        except OSError:
            return False

    def __call__(self) -> Health:
        try:
            status, body, _ = self._get("/healthz")
            healthz = json.loads(body) if status == 200 else None
        except (OSError, ValueError):
            healthz = None
        try:
            status, _, ctype = self._get(self._page())
            ui_ok = status == 200 and ctype.startswith("text/html")
        except OSError:
            ui_ok = False
        return judge(healthz, ui_ok, self._writable())


def confirm(
    rauc: Rauc,
    state: UpdateState,
    probe: Callable[[], Health],
    *,
    within_s: float,
    reboot: Callable[[], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 5.0,
) -> dict[str, Any]:
    """Decide about the booted slot (see the module docstring); returns what was done."""
    status = rauc.status()
    booted = status.slot(status.booted)
    pending = state.pending
    if pending and pending.get("slot") != status.booted:
        version = str(pending.get("version", ""))
        message = (
            f"version {version} did not boot healthy in slot {pending.get('slot')}; "
            f"back on slot {status.booted}"
        )
        log.error("update rolled back: %s", message)
        rauc.mark("bad", "other")  # never tried again until a new install
        rauc.mark("good", "booted")  # the boot loader counted this boot as a try too
        os.sync()
        state.record("rolled_back", version, message, clear_pending=True)
        return {"action": "rolled_back", "version": version, "slot": status.booted}
    if not pending and booted is not None and booted.boot_status == "good":
        return {"action": "nothing", "slot": status.booted}

    deadline = clock() + within_s
    health = probe()
    while not health.ok and clock() < deadline:
        sleep(poll_s)
        health = probe()
    version = str(pending.get("version", "")) if pending else (booted.version if booted else "")
    if health.ok:
        rauc.mark("good", "booted")
        os.sync()
        if pending:
            state.record("good", version, f"slot {status.booted} marked good", clear_pending=True)
        log.info("slot %s marked good", status.booted)
        return {"action": "marked_good", "version": version, "slot": status.booted}
    message = "; ".join(health.problems)
    log.error("slot %s not healthy within %.0f s: %s", status.booted, within_s, message)
    if not pending:
        # A slot confirmed before (or a freshly flashed card): there is no better slot to go
        # back to, and the boot loader must not wander off to an older one. Keep it, say why.
        rauc.mark("good", "booted")
        return {"action": "kept_unhealthy", "slot": status.booted, "problems": health.problems}
    rauc.mark("bad", "booted")
    os.sync()
    state.record("failed", version, f"trial boot unhealthy: {message}")
    reboot()
    return {
        "action": "marked_bad",
        "version": version,
        "slot": status.booted,
        "problems": health.problems,
    }
