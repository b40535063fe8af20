"""Simulated devices that behave like the real ones, built around the built-in test citizen.

Frames come at the configured rate, a finger arrives after a delay, a card is put on the reader
and taken off, QR payloads come from a file. ``sim_fault`` in a device's config injects the
failures a technician meets in the field: ``open`` (the device is absent), ``vanish`` (it is
unplugged after opening and comes back on the next open), ``timeout`` (it never answers).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.errors import DeviceTimeout, DeviceUnavailable, InvalidInput
from appliance.hal.base import DEFAULT_FIX, Camera, CardReader, FingerprintSensor, QrScanner
from appliance.imageio import read_image

SIM_DATA = Path(__file__).resolve().parent / "sim_data"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")


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


class _VideoLoop:
    """A video file decoded frame by frame (never all in memory), rewound at the end."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        import cv2

        self._cv2 = cv2
        self.size = size
        self.path = path
        self.cap = cv2.VideoCapture(str(path))
        self.count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if not self.cap.isOpened() or self.next() is None:
            self.cap.release()
            raise InvalidInput(f"cannot read video {path}")
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def next(self) -> np.ndarray | None:
        cv2 = self._cv2
        ok, bgr = self.cap.read()
        if not ok:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.cap.read()
            if not ok:
                return None
        return cv2.cvtColor(cv2.resize(bgr, self.size), cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()


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
    """Frames from ``sim_source`` (an image, a folder of images or a video), looped at ``fps``.

    Without ``sim_source`` it shows ``sim_data/camera/`` (the test citizen's portrait, made by
    ``tools/make_face_sim_data.py``), or a drawn stand-in if that folder is missing.
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._frames: list[np.ndarray] = []
        self._video: _VideoLoop | None = None
        self._index = 0
        self._next_t = 0.0

    def open(self) -> None:
        self.close()
        self._open_or_fail()
        size = (self.cfg.width, self.cfg.height)
        if self.cfg.sim_source:
            source = Path(self.cfg.sim_source)
            if not source.exists():
                raise DeviceUnavailable(f"camera sim_source {source} does not exist")
        else:
            source = SIM_DATA / "camera"
        self._frames = []
        if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
            self._video = _VideoLoop(source, size)
        elif source.exists():
            self._frames = load_images(source, size)
        else:
            self._frames = [synthetic_portrait(*size)]
        self._index = 0
        self._next_t = time.monotonic()

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        super().close()

    def location(self) -> str:
        return str(self.cfg.sim_source or "built-in portrait")

    def read(self, timeout: float = 2.0) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("camera", timeout)
        now = time.monotonic()
        if self._next_t > now:
            time.sleep(self._next_t - now)
        self._next_t = max(self._next_t, now) + 1.0 / self.cfg.fps
        self._index += 1
        if self._video is not None:
            frame = self._video.next()
            if frame is None:
                raise DeviceUnavailable(f"video {self._video.path} stopped decoding")
            return frame
        return self._frames[(self._index - 1) % len(self._frames)].copy()

    def probe(self) -> str:
        frame = self.read()
        looped = (
            f"video {self._video.count} frames" if self._video else f"{len(self._frames)} image(s)"
        )
        return f"frame {frame.shape[1]}x{frame.shape[0]} at {self.cfg.fps:g} fps, {looped} looped"


class SimFingerprint(_SimFaults, FingerprintSensor):
    """A finger arrives ``sim_finger_delay_s`` after each wait starts.

    Prints come from ``sim_source`` (a folder of images) or the seeded print generator
    (:mod:`appliance.pipeline.fingerprint_synth`), a new finger each capture. With
    ``sim_protocol = true`` the real ``r30x`` driver runs against the R30x protocol simulator
    on a pty (:mod:`appliance.hal.r30x_sim`), byte for byte.
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        from appliance.hal.r30x_protocol import image_size

        try:
            self.image_size = image_size(cfg.model)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self._frames: list[np.ndarray] = []
        self._count = 0
        self._sim = None
        self._driver = None

    def open(self) -> None:
        self._open_or_fail()
        rows, cols = self.image_size
        if self.cfg.sim_source:
            try:
                frames = load_images(self.cfg.sim_source, (cols, rows))
                self._frames = [f.mean(axis=2).astype(np.uint8) for f in frames]
            except InvalidInput as exc:
                self.is_open = False
                raise DeviceUnavailable(exc.message) from None
        if self.cfg.sim_protocol:
            self._open_protocol()

    def _open_protocol(self) -> None:
        import dataclasses

        from appliance.hal.r30x import R30xSensor
        from appliance.hal.r30x_sim import R30xSimulator

        self._sim = R30xSimulator(
            self.cfg.model,
            baud=self.cfg.baud,
            address=self.cfg.address,
            password=self.cfg.password,
            images=self._print,
            finger=False,
        )
        self._sim.start()
        self._driver = R30xSensor(
            dataclasses.replace(self.cfg, backend="r30x", port=self._sim.port)
        )
        try:
            self._driver.open()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
        if self._sim is not None:
            self._sim.stop()
        self._driver = self._sim = None
        super().close()

    def _print(self, index: int) -> np.ndarray:
        if self._frames:
            return self._frames[index % len(self._frames)]
        from appliance.pipeline.fingerprint_synth import synthesize

        return synthesize(1000 + index, *self.image_size)

    def location(self) -> str:
        where = self.cfg.sim_source or "generated prints"
        return f"simulated sensor ({where}{', R30x protocol on a pty' if self._sim else ''})"

    def wait_finger(self, timeout: float) -> bool:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", timeout)
        delay = self.cfg.sim_finger_delay_s
        time.sleep(min(delay, timeout))
        if delay > timeout:
            return False
        if self._driver is not None and self._sim is not None:
            self._sim.place_finger()
            return self._driver.wait_finger(max(0.0, timeout - delay))
        return True

    def capture(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", 1.0)
        if self._driver is not None and self._sim is not None:
            self._sim.place_finger()
            image = self._driver.capture(progress)
            self._sim.lift_finger()
            return image
        for step in range(1, 5):
            time.sleep(0.02)
            if progress:
                progress(step / 4)
        image = self._print(self._count)
        self._count += 1
        return image

    def probe(self) -> str:
        self._maybe_timeout("fingerprint sensor", 1.0)
        if self._driver is not None:
            return f"simulated module: {self._driver.probe()}"
        return "handshake ok (simulated)"


def sim_portrait_jpeg() -> bytes:
    """The test citizen's face for the sim chip's DG2: ``sim_data/citizen_portrait.jpg`` as it
    is, else the sim camera's portrait re-encoded, else the synthetic portrait."""
    import io

    from PIL import Image

    portrait = SIM_DATA / "citizen_portrait.jpg"
    if portrait.is_file():
        data = portrait.read_bytes()
        if data.startswith(b"\xff\xd8\xff"):
            return data
    camera = SIM_DATA / "camera"
    candidates = sorted(camera.iterdir()) if camera.is_dir() else []
    for path in (p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                img.thumbnail((360, 480))
                out = io.BytesIO()
                img.save(out, "JPEG", quality=85)
                return out.getvalue()
        except OSError:
            continue
    out = io.BytesIO()
    Image.fromarray(synthetic_portrait(360, 480)).save(out, "JPEG", quality=90)
    return out.getvalue()


@functools.cache
def sim_chip():
    """(chip image, trust store) of the built-in test citizen, made once per process: a test
    CSCA (EC with explicit curve parameters) and DS, RSA active authentication."""
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore
    from appliance.icao.personalise import personalise
    from appliance.icao.pki import generate_pki

    pki = generate_pki()
    image = personalise(TEST_CITIZEN, sim_portrait_jpeg(), pki, aa="rsa")
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)], "built-in test CSCA")
    return image, trust


class SimCardReader(_SimFaults, CardReader):
    """A reader on which the test citizen's chip (an in-process
    :class:`~appliance.icao.emulator.CardEmulator`) is put ``sim_insert_after_s`` after opening.

    ``insert()`` and ``remove()`` let tests and the demo move the card by hand; ``insert(emu)``
    puts another emulated chip on the reader. ``trust_store`` holds the chip's test CSCA.
    Config: ``sim_card_fault`` (an emulator fault mode), ``sim_max_le`` (refuse larger Le).
    """

    backend = "sim"
    supports_extended_length = True

    def __init__(self, cfg, emulator=None, trust_store=None) -> None:
        super().__init__(cfg)
        self._present = threading.Event()
        self._timer: threading.Timer | None = None
        self.emulator = emulator
        self.trust_store = trust_store

    def open(self) -> None:
        self._open_or_fail()
        if self.emulator is None:
            from appliance.icao.emulator import CardEmulator

            image, trust = sim_chip()
            self.emulator = CardEmulator(
                image,
                fault=getattr(self.cfg, "sim_card_fault", ""),
                max_le=getattr(self.cfg, "sim_max_le", 0) or None,
            )
            self.trust_store = self.trust_store or trust
        self._timer = threading.Timer(self.cfg.sim_insert_after_s, self.insert)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        super().close()

    def location(self) -> str:
        return "Simulated CCCD reader"

    def insert(self, emulator=None) -> None:
        if emulator is not None:
            self.emulator = emulator
        if self.emulator is not None:
            self.emulator.reset()
        self._present.set()

    def remove(self) -> None:
        self._present.clear()

    def card_present(self) -> bool:
        return self._present.is_set()

    def wait_card(self, timeout: float) -> bytes | None:
        self._require_open()
        self._maybe_timeout("card reader", timeout)
        if self._present.wait(timeout) and self.emulator is not None:
            return self.emulator.atr
        return None

    def wait_event(self, timeout: float, present: bool | None = None) -> str | None:
        """``inserted`` or ``removed`` when the card's presence changes from ``present`` (default:
        now) within ``timeout``, else None."""
        self._require_open()
        start = self.card_present() if present is None else present
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.card_present() != start:
                return "removed" if start else "inserted"
            time.sleep(0.02)
        return None

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        from appliance.icao.errors import NoCard

        self._require_open()
        if not self._present.is_set() or self.emulator is None:
            raise NoCard("no card on the reader")
        self._maybe_timeout("card", 1.0)
        return self.emulator.transmit(apdu)

    def probe(self) -> str:
        self._maybe_timeout("card reader", 1.0)
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
        self._maybe_timeout("QR scanner", 1.0)
        return f"{len(self._payloads)} payload(s) ready"
