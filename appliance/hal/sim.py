"""Simulated devices that behave like the real ones, built around the built-in test citizen.

Frames come at the configured rate, a finger arrives after a delay, a card is put on the reader
and taken off, QR payloads come from a file. ``sim_fault`` in a device's config injects the
failures a technician meets in the field: ``open`` (the device is absent), ``vanish`` (it is
unplugged after opening and comes back on the next open), ``timeout`` (it never answers).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from appliance.citizen import TEST_QR_PAYLOAD
from appliance.errors import DeviceTimeout, DeviceUnavailable, InvalidInput
from appliance.hal.base import Camera, CardReader, FingerprintSensor, QrScanner

SIM_DATA = Path(__file__).resolve().parent / "sim_data"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class _SimFaults:
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
        return f"clear sim_fault in the [{self.kind}] section of the config"  # type: ignore[attr-defined]


def load_images(source: str | Path, size: tuple[int, int]) -> list[np.ndarray]:
    """RGB frames of ``size`` (w, h) from an image file or a folder of images, sorted by name."""
    from PIL import Image

    path = Path(source)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    if not files:
        raise InvalidInput(f"no images in {path}")
    frames = []
    for file in files:
        try:
            with Image.open(file) as img:
                frames.append(np.asarray(img.convert("RGB").resize(size)))
        except OSError as exc:
            raise InvalidInput(f"cannot read image {file}: {exc}") from None
    return frames


def synthetic_portrait(width: int, height: int) -> np.ndarray:
    """A plain stand-in frame: a skin-toned head shape on a light background."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.full((height, width, 3), 225, np.uint8)
    cx, cy, rx, ry = width / 2, height * 0.45, width * 0.14, height * 0.26
    head = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    frame[head] = (214, 170, 140)
    for ex in (cx - rx * 0.4, cx + rx * 0.4):
        eye = ((xx - ex) / (rx * 0.12)) ** 2 + ((yy - (cy - ry * 0.15)) / (ry * 0.05)) ** 2 <= 1
        frame[eye] = (40, 30, 30)
    return frame


class SimCamera(_SimFaults, Camera):
    """Frames from ``sim_source`` (an image or a folder), looped at ``fps``."""

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._frames: list[np.ndarray] = []
        self._index = 0
        self._next_t = 0.0

    def open(self) -> None:
        self._open_or_fail()
        size = (self.cfg.width, self.cfg.height)
        source = self.cfg.sim_source or (SIM_DATA / "camera")
        if Path(source).exists():
            self._frames = load_images(source, size)
        else:
            self._frames = [synthetic_portrait(*size)]
        self._index = 0
        self._next_t = time.monotonic()

    def location(self) -> str:
        return str(self.cfg.sim_source or "built-in portrait")

    def read(self, timeout: float = 2.0) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("camera", timeout)
        now = time.monotonic()
        if self._next_t > now:
            time.sleep(self._next_t - now)
        self._next_t = max(self._next_t, now) + 1.0 / self.cfg.fps
        frame = self._frames[self._index % len(self._frames)]
        self._index += 1
        return frame.copy()

    def probe(self) -> str:
        frame = self.read()
        return f"frame {frame.shape[1]}x{frame.shape[0]} at {self.cfg.fps:g} fps"


def synthetic_print(rows: int = 288, cols: int = 256, period: float = 9.0) -> np.ndarray:
    """A plain stand-in fingerprint: concentric ridges inside an elliptical contact region."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows * 0.45, cols * 0.5
    r = np.hypot((yy - cy) * 0.9, xx - cx)
    ridges = 0.5 + 0.5 * np.cos(2 * np.pi * r / period)
    inside = ((xx - cx) / (cols * 0.42)) ** 2 + ((yy - cy * 1.05) / (rows * 0.47)) ** 2 <= 1
    img = np.where(inside, 255 - ridges * 200, 255)
    return img.astype(np.uint8)


class SimFingerprint(_SimFaults, FingerprintSensor):
    """A finger arrives ``sim_finger_delay_s`` after each wait starts."""

    backend = "sim"

    def open(self) -> None:
        self._open_or_fail()

    def location(self) -> str:
        return "simulated sensor"

    def wait_finger(self, timeout: float) -> bool:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", timeout)
        delay = self.cfg.sim_finger_delay_s
        time.sleep(min(delay, timeout))
        return delay <= timeout

    def capture(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", 1.0)
        for step in range(1, 5):
            time.sleep(0.05)
            if progress:
                progress(step / 4)
        return synthetic_print(*self.image_size)

    def probe(self) -> str:
        return "handshake ok (simulated)"


class SimCardReader(_SimFaults, CardReader):
    """A reader on which a card is put ``sim_insert_after_s`` after opening.

    ``insert()`` and ``remove()`` let tests and the demo move the card by hand.
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._present = threading.Event()
        self._timer: threading.Timer | None = None

    def open(self) -> None:
        self._open_or_fail()
        self._timer = threading.Timer(self.cfg.sim_insert_after_s, self.insert)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        super().close()

    def location(self) -> str:
        return "Simulated CCCD reader"

    def insert(self) -> None:
        self._present.set()

    def remove(self) -> None:
        self._present.clear()

    def card_present(self) -> bool:
        return self._present.is_set()

    def wait_card(self, timeout: float) -> bytes | None:
        self._require_open()
        self._maybe_timeout("card reader", timeout)
        return bytes.fromhex("3B8880010000000000000000") if self._present.wait(timeout) else None

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self._require_open()
        if not self._present.is_set():
            raise DeviceUnavailable("no card on the reader")
        if apdu[:4] == bytes.fromhex("00A4000C") and apdu[5:7] == b"\x3f\x00":
            return b"", 0x6D00  # real CCCD chips refuse to select the MF
        if apdu[:4] == bytes.fromhex("00A4040C"):
            return b"", 0x9000
        return b"", 0x6A82

    def probe(self) -> str:
        return f"reader present, card {'on' if self.card_present() else 'not on'} the reader"


class SimQrScanner(_SimFaults, QrScanner):
    """Payloads from ``sim_payloads`` (one per line, UTF-8) or the test citizen's, in turn.

    One payload every ``sim_interval_s`` (0: only what ``inject`` queues).
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._queue: deque[bytes] = deque()
        self._ready = threading.Condition()
        self._payloads: list[bytes] = []
        self._next = 0
        self._due = 0.0

    def open(self) -> None:
        self._open_or_fail()
        if self.cfg.sim_payloads:
            path = Path(self.cfg.sim_payloads)
            try:
                lines = path.read_bytes().splitlines()
            except OSError as exc:
                raise DeviceUnavailable(
                    f"cannot read sim_payloads {path}: {exc.strerror}"
                ) from None
            self._payloads = [line for line in lines if line.strip()]
        else:
            self._payloads = [TEST_QR_PAYLOAD.encode()]
        self._due = time.monotonic() + self.cfg.sim_interval_s

    def location(self) -> str:
        return str(self.cfg.sim_payloads or "built-in test citizen")

    def inject(self, payload: bytes) -> None:
        """Queue a payload as if it had just been scanned."""
        with self._ready:
            self._queue.append(payload)
            self._ready.notify_all()

    def read(self, timeout: float) -> bytes | None:
        self._require_open()
        self._maybe_timeout("QR scanner", timeout)
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                if self._queue:
                    return self._queue.popleft()
                now = time.monotonic()
                auto = self.cfg.sim_interval_s > 0 and self._payloads
                if auto and now >= self._due:
                    self._due = now + self.cfg.sim_interval_s
                    payload = self._payloads[self._next % len(self._payloads)]
                    self._next += 1
                    return payload
                wake = min(deadline, self._due) if auto else deadline
                if now >= deadline:
                    return None
                self._ready.wait(max(0.0, wake - now))

    def probe(self) -> str:
        return f"{len(self._payloads)} payload(s) ready"
