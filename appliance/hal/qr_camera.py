"""QR scanner backend ``camera``: frames from the camera HAL through the QR frame pipeline.

The scanner does not own a camera: the camera is one device shared with face capture. Either
attach a frame source (:meth:`CameraQrScanner.attach`: a :class:`~appliance.hal.base.Camera` or a
callable returning the current one; the service's device manager attaches its camera) and
:meth:`read` pulls frames, or push frames that another component already reads with
:meth:`feed`. Repeats of the same payload within ``dedupe_s`` are dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from appliance.errors import ApplianceError, DeviceTimeout, DeviceUnavailable
from appliance.hal.base import Camera, QrScanner
from appliance.pipeline.qr_frames import Deduper, FrameHit, QrFramePipeline

log = logging.getLogger(__name__)

FrameSource = Camera | Callable[[], Camera | None]


class CameraQrScanner(QrScanner):
    backend = "camera"

    def __init__(self, cfg, camera: FrameSource | None = None) -> None:
        super().__init__(cfg)
        self._source = camera
        self.pipeline: QrFramePipeline | None = None
        self.dedupe = Deduper(cfg.dedupe_s)
        self.last_hit: FrameHit | None = None
        self._queue: deque[bytes] = deque(maxlen=8)
        self._ready = threading.Condition()

    @property
    def attached(self) -> bool:
        return self._source is not None

    def attach(self, camera: FrameSource | None) -> None:
        """Pull frames from ``camera`` (a Camera, or a callable returning one or None)."""
        self._source = camera

    def _camera(self) -> Camera | None:
        source = self._source
        if source is None or isinstance(source, Camera):
            return source
        return source()

    def open(self) -> None:
        try:
            self.pipeline = QrFramePipeline(self.cfg.decoder)
        except ApplianceError as exc:
            raise DeviceUnavailable(f"QR decoder {self.cfg.decoder!r}: {exc.message}") from None
        self.is_open = True

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        super().close()

    def location(self) -> str:
        where = "camera frames" if self.attached else "camera frames (no camera attached yet)"
        return f"{where}, decoder {self.cfg.decoder}"

    def feed(self, frame: np.ndarray) -> bytes | None:
        """Decode one frame; a new payload is queued for :meth:`read` and returned."""
        self._require_open()
        assert self.pipeline is not None
        hit = self.pipeline.find(frame)
        if hit is None:
            return None
        self.last_hit = hit
        if self.dedupe.is_repeat(hit.data):
            return None
        with self._ready:
            self._queue.append(hit.data)
            self._ready.notify_all()
        return hit.data

    def read(self, timeout: float) -> bytes | None:
        self._require_open()
        deadline = time.monotonic() + timeout
        while True:
            with self._ready:
                if self._queue:
                    return self._queue.popleft()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            camera = self._camera()
            if camera is None:  # frames come through feed(), or the camera is down for now
                with self._ready:
                    self._ready.wait(min(remaining, 0.2))
                continue
            try:
                frame = camera.read(timeout=min(remaining, 2.0))
            except DeviceTimeout:
                continue
            self.feed(frame)

    def probe(self) -> str:
        camera = self._camera()
        if camera is None:
            return f"decoder {self.cfg.decoder} ready; no camera attached (the service attaches it)"
        assert self.pipeline is not None
        frame = camera.read(timeout=2.0)
        t0 = time.perf_counter()
        hit = self.pipeline.find(frame)
        ms = (time.perf_counter() - t0) * 1000
        seen = "a QR code in view" if hit else "no QR code in view"
        return f"frame {frame.shape[1]}x{frame.shape[0]}: {seen} ({self.cfg.decoder}, {ms:.1f} ms)"
