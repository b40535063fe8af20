"""Simulated devices that behave like the real ones, built around the built-in test citizen.

Frames come at the configured rate (``sim_camera``), a finger arrives after a delay
(``sim_fingerprint``), a card is put on the reader and taken off (``sim_card``), QR payloads
come from a file (``sim_qr``). This module holds what they share. ``sim_fault`` in a device's
config injects the failures a technician meets in the field: ``open`` (the device is absent),
``vanish`` (it is unplugged after opening and comes back on the next open), ``timeout`` (it
never answers).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from appliance.errors import DeviceTimeout, DeviceUnavailable, InvalidInput
from appliance.hal.base import DEFAULT_FIX
from appliance.imageio import read_image

SIM_DATA = Path(__file__).resolve().parent / "sim_data"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class SimFaults:
    """Shared fault-injection behaviour of the simulators."""

    cfg: object
    is_open: bool
    _vanished = False

    def _open_or_fail(self) -> None:
        fault = getattr(self.cfg, "sim_fault", "")
        if fault == "open":
            raise DeviceUnavailable(f"simulated {self.kind} is not connected (sim_fault=open)")  # type: ignore[attr-defined]
        if fault and fault not in ("vanish", "timeout"):
            raise InvalidInput(f"unknown sim_fault {fault!r}: use open, vanish or timeout")
        self.is_open = True

    def check(self) -> None:
        if getattr(self.cfg, "sim_fault", "") == "vanish" and not self._vanished:
            self._vanished = True
            self.is_open = False
            raise DeviceUnavailable(f"simulated {self.kind} was unplugged (sim_fault=vanish)")  # type: ignore[attr-defined]

    def _maybe_timeout(self, what: str, timeout: float) -> None:
        if getattr(self.cfg, "sim_fault", "") == "timeout":
            time.sleep(min(timeout, 0.2))
            raise DeviceTimeout(f"simulated {what} did not answer (sim_fault=timeout)")

    def fix_hint(self, exc: Exception) -> str | None:
        kind = self.kind  # type: ignore[attr-defined]
        return (
            f"simulated fault: clear sim_fault in [{kind}] of the config. On a real kiosk: "
            f"{DEFAULT_FIX[kind]}"
        )


def load_images(source: str | Path, size: tuple[int, int]) -> list[np.ndarray]:
    """RGB frames of ``size`` (w, h) from an image file or a folder of images, sorted by name."""
    path = Path(source)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    if not files:
        raise InvalidInput(f"no images in {path}")
    return [read_image(file, "RGB", size) for file in files]
