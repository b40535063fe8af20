"""Opens every configured device, watches it, and reopens it when it comes back.

A device that fails to open or disappears is reported ``unavailable`` with the reason; the rest
keep working, and the manager retries it every ``service.device_retry_s`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from appliance.config import DEVICE_KINDS, Config
from appliance.errors import ApplianceError
from appliance.hal.base import Device
from appliance.hal.registry import create_device

log = logging.getLogger(__name__)


@dataclass
class DeviceSlot:
    kind: str
    backend: str
    device: Device | None = None
    state: str = "unavailable"
    error: str | None = "not opened yet"
    since: float = 0.0

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "state": self.state,
            "error": self.error,
            "location": self.device.location() if self.device else None,
        }


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ApplianceError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class DeviceManager:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.slots = {kind: DeviceSlot(kind, cfg.device(kind).backend) for kind in DEVICE_KINDS}
        self._lock = asyncio.Lock()

    def get(self, kind: str) -> Device | None:
        """The device if it is open and healthy, else None."""
        slot = self.slots[kind]
        return slot.device if slot.state == "ok" else None

    def _open(self, kind: str) -> None:
        slot = self.slots[kind]
        try:
            if slot.device is None:
                slot.device = create_device(kind, self.cfg.device(kind))
            slot.device.open()
            slot.device.is_open = True
            self._share_camera(slot.device)
        except Exception as exc:  # any failure degrades this one device only
            self._mark_down(slot, exc)
            return
        if slot.state != "ok":
            log.info("%s (%s) ready at %s", kind, slot.backend, slot.device.location())
        slot.state, slot.error, slot.since = "ok", None, time.monotonic()

    def _share_camera(self, device: Device) -> None:
        """A scanner that decodes camera frames reads the one camera device (when it is up)."""
        attach = getattr(device, "attach", None)
        if attach is not None and not getattr(device, "attached", True):
            attach(lambda: self.get("camera"))

    def _mark_down(self, slot: DeviceSlot, exc: BaseException) -> None:
        reason = describe_error(exc)
        if slot.state != "unavailable" or slot.error != reason:
            # a device's own error (typed, or the OS refusing the port) is one line; anything
            # else is a bug in a backend, and the technician needs its traceback, once
            expected = isinstance(exc, (ApplianceError, OSError, TimeoutError))
            log.warning(
                "%s (%s) unavailable: %s",
                slot.kind,
                slot.backend,
                reason,
                exc_info=None if expected else exc,
            )
        slot.state, slot.error, slot.since = "unavailable", reason, time.monotonic()
        if slot.device is not None:
            try:
                slot.device.close()
            except Exception:  # closing a broken device must not stop the others
                log.debug("closing %s failed", slot.kind, exc_info=True)

    def _check(self, kind: str) -> None:
        slot = self.slots[kind]
        if slot.state == "ok" and slot.device is not None:
            try:
                slot.device.check()
            except Exception as exc:
                self._mark_down(slot, exc)
        if slot.state != "ok":
            self._open(kind)

    def report_failure(self, kind: str, exc: BaseException) -> None:
        """A user of a device hit an error that means the device is gone."""
        self._mark_down(self.slots[kind], exc)

    async def open_all(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(self._open, kind) for kind in DEVICE_KINDS))

    async def check_all(self) -> None:
        async with self._lock:
            await asyncio.gather(*(asyncio.to_thread(self._check, kind) for kind in DEVICE_KINDS))

    async def watch(self, stop: asyncio.Event) -> None:
        """Check and retry devices until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.cfg.service.device_retry_s)
            except TimeoutError:
                await self.check_all()

    def close_all(self) -> None:
        for slot in self.slots.values():
            if slot.device is not None:
                try:
                    slot.device.close()
                except Exception:
                    log.debug("closing %s failed", slot.kind, exc_info=True)

    def health(self) -> dict[str, dict[str, Any]]:
        return {kind: slot.health() for kind, slot in self.slots.items()}
