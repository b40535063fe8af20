"""The device interfaces every backend implements.

Calls are blocking with explicit timeouts (the drivers underneath, pyserial, pyscard, picamera2,
are blocking); the service runs them in worker threads. Vendor libraries are imported inside the
backend modules only.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import numpy as np

from appliance.errors import DeviceUnavailable

# What a technician should try when a backend gives no more specific advice, per device kind.
DEFAULT_FIX = {
    "camera": "check the camera cable (CSI ribbon seated, contacts towards the board) or the USB "
    "webcam, then the [camera] backend and device in /etc/appliance/appliance.toml",
    "fingerprint": "check the sensor's power and that TX/RX are crossed (module TX to GPIO15 pin "
    "10), then port and baud in [fingerprint] of /etc/appliance/appliance.toml",
    "card_reader": "check the reader's USB cable (pcsc_scan lists it) and that pcscd runs, then "
    "[card_reader] reader in /etc/appliance/appliance.toml",
    "qr_scanner": "check the scanner's cable and that it is in serial (virtual COM) mode, then "
    "port, baud and terminator in [qr_scanner] of /etc/appliance/appliance.toml",
    "indicators": "check the pin numbers in [indicators] of /etc/appliance/appliance.toml and that "
    "the service user is in the gpio group",
}


class Device(abc.ABC):
    """One opened (or openable) device."""

    kind: ClassVar[str] = ""
    backend: ClassVar[str] = ""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.is_open = False

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device; raise :class:`DeviceUnavailable` with the reason when it cannot."""

    def close(self) -> None:
        """Release the device. Safe to call twice or on a device that never opened."""
        self.is_open = False

    def check(self) -> None:
        """Cheap liveness check while open; raise :class:`DeviceUnavailable` if it vanished."""

    def probe(self) -> str:
        """Exercise the device once for ``appliance doctor``; return what was seen."""
        return "opened"

    def location(self) -> str:
        """The device node, reader name or pin set, for health and doctor."""
        return ""

    def fix_hint(self, exc: Exception) -> str | None:
        """What a technician should try when ``open``/``probe`` failed with ``exc``."""
        return None

    def _require_open(self) -> None:
        if not self.is_open:
            raise DeviceUnavailable(f"{self.kind} is not open")


class Camera(Device):
    """RGB frames (H x W x 3, uint8, R,G,B order) at the configured size and rate."""

    kind = "camera"

    @abc.abstractmethod
    def read(self, timeout: float = 2.0) -> np.ndarray:
        """Block until the next frame; raise :class:`DeviceTimeout` after ``timeout``."""

    def still(self) -> np.ndarray:
        """A full-quality still (defaults to the next frame)."""
        return self.read()

    async def frames(self) -> AsyncIterator[np.ndarray]:
        """Frames as an async iterator (each read runs in a worker thread)."""
        while True:
            yield await asyncio.to_thread(self.read)


class FingerprintSensor(Device):
    """An optical or capacitive fingerprint module."""

    kind = "fingerprint"
    image_size: tuple[int, int] = (288, 256)  # rows, cols

    @abc.abstractmethod
    def wait_finger(self, timeout: float) -> bool:
        """Block until a finger is on the sensor; False when ``timeout`` passed without one."""

    @abc.abstractmethod
    def capture(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Capture and upload an image (grey, uint8); ``progress`` gets 0..1 during upload."""

    def led(self, color: str = "blue", mode: str = "on") -> None:
        """Set the sensor's ring LED where it has one (``mode``: on, off, breathe, flash)."""


class CardReader(Device):
    """A contactless (ISO 14443) reader and the card on it."""

    kind = "card_reader"
    supports_extended_length: bool = False

    @abc.abstractmethod
    def wait_card(self, timeout: float) -> bytes | None:
        """Block until a card is present; its ATR, or None after ``timeout``."""

    @abc.abstractmethod
    def card_present(self) -> bool:
        """Whether a card is on the reader now."""

    @abc.abstractmethod
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; return (response data, status word)."""


class QrScanner(Device):
    """Anything that yields QR payloads as raw bytes (decode to text happens later, as UTF-8)."""

    kind = "qr_scanner"

    @abc.abstractmethod
    def read(self, timeout: float) -> bytes | None:
        """Block until the next payload; None after ``timeout``."""

    async def payloads(self) -> AsyncIterator[bytes]:
        while True:
            payload = await asyncio.to_thread(self.read, 1.0)
            if payload is not None:
                yield payload


class Indicators(Device):
    """LEDs, buzzer, gate relay, help button and an optional presence sensor."""

    kind = "indicators"

    @abc.abstractmethod
    def ok(self) -> None:
        """Green: success."""

    @abc.abstractmethod
    def error(self) -> None:
        """Red and a buzzer pattern: refusal or failure."""

    @abc.abstractmethod
    def busy(self, on: bool = True) -> None:
        """Working: the busy LED blinks while ``on``."""

    @abc.abstractmethod
    def open_gate(self, ms: int) -> None:
        """Pulse the gate relay for ``ms`` milliseconds (bounded by config; never latched)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Everything off, relay released (start-up, shutdown, fault)."""

    @abc.abstractmethod
    def on_help(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from a gpiozero thread) whenever the help button is pressed."""

    def presence(self) -> bool | None:
        """Someone in front of the kiosk (None when no presence sensor is fitted)."""
        return None
