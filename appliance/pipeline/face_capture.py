"""Live face capture: score camera frames as they come, guide, and keep the best ICAO portrait.

A reader thread drains the camera into a one-frame mailbox; the scorer takes whatever frame is
newest when it is free, so a slow scorer drops frames (counted) instead of queueing them and
falling behind the citizen. Every assessment is published (``latest``, and ``on_result`` if
given). When ``consecutive_frames`` frames in a row pass, the best of them (highest mean measure
score) is cropped to the ICAO 3:4 geometry and kept as ``portrait_jpeg``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from appliance.config import FaceConfig
from appliance.errors import DeviceTimeout, InvalidInput
from appliance.hal.base import Camera
from appliance.pipeline.face_quality import FaceAssessment, FaceQuality

log = logging.getLogger(__name__)
EMA = 0.1  # weight of the newest frame in the moving averages


def portrait_crop(rgb: np.ndarray, assessment: FaceAssessment, height: int) -> np.ndarray:
    """The assessment's ICAO 3:4 portrait box cut from ``rgb`` and scaled to ``height`` rows.

    A box reaching past the frame (only possible for a frame that did not pass) is filled by
    repeating the border pixels.
    """
    if assessment.face is None:
        raise InvalidInput("no face to crop a portrait around")
    x0, y0, x1, y1 = (round(v) for v in assessment.face.portrait)
    fh, fw = rgb.shape[:2]
    pad = max(0, -x0, -y0, x1 - fw, y1 - fh)
    src = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
    cut = src[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    width = round(height * 3 / 4)
    interp = cv2.INTER_AREA if cut.shape[0] > height else cv2.INTER_CUBIC
    return cv2.resize(cut, (width, height), interpolation=interp)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """RGB array -> baseline JPEG bytes."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise InvalidInput("JPEG encoding failed")
    return buf.tobytes()


class _Mailbox:
    """Holds only the newest frame; putting over an unread frame counts a drop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._error: BaseException | None = None
        self.dropped = 0
        self.received = 0

    def put(self, frame: np.ndarray) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.received += 1
            self._cond.notify()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._cond.notify()

    def take(self, timeout: float) -> np.ndarray | None:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._error, timeout)
            if self._error is not None and self._frame is None:
                raise self._error
            frame, self._frame = self._frame, None
            return frame


class LiveFaceCapture:
    """Scores ``camera`` frames live until a portrait is captured (or stopped / timed out).

    ``latest`` is the newest assessment (for the UI), ``portrait_jpeg`` the result;
    ``on_result(assessment)`` is called from the scoring thread for every scored frame.
    """

    def __init__(
        self,
        camera: Camera,
        quality: FaceQuality | None = None,
        cfg: FaceConfig | None = None,
        on_result: Callable[[FaceAssessment], None] | None = None,
    ) -> None:
        self.camera = camera
        self.cfg = cfg or (quality.cfg if quality else FaceConfig())
        self.quality = quality or FaceQuality(self.cfg)
        self.on_result = on_result
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the previous citizen: result, portrait, counters."""
        with self._lock:
            self._latest: FaceAssessment | None = None
            self.portrait: np.ndarray | None = None
            self.portrait_jpeg: bytes | None = None
            self.portrait_assessment: FaceAssessment | None = None
            self.scored = 0
            self.dropped = 0
            self.read_errors = 0
            self.ms_avg: dict[str, float] = {}
            self.started = 0.0
            self.elapsed = 0.0

    @property
    def latest(self) -> FaceAssessment | None:
        with self._lock:
            return self._latest

    @property
    def captured(self) -> bool:
        return self.portrait_jpeg is not None

    def stats(self) -> dict[str, Any]:
        """Counters and moving-average stage times (for health and the bench)."""
        with self._lock:
            return {
                "scored": self.scored,
                "dropped": self.dropped,
                "read_errors": self.read_errors,
                "fps": round(self.scored / self.elapsed, 2) if self.elapsed else 0.0,
                "ms_avg": {k: round(v, 2) for k, v in self.ms_avg.items()},
                "captured": self.captured,
            }

    # -- the loop -----------------------------------------------------------------------------

    def _reader(self, box: _Mailbox, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                frame = self.camera.read(timeout=2.0)
            except DeviceTimeout:
                with self._lock:
                    self.read_errors += 1
                continue
            except Exception as exc:  # unplugged, closed: the scorer re-raises it
                box.fail(exc)
                return
            box.put(frame)

    def run(
        self, stop: threading.Event | None = None, timeout: float | None = None
    ) -> bytes | None:
        """Block until a portrait is captured (its JPEG), ``stop`` is set or ``timeout`` passes
        (None). A camera failure other than a timeout is raised. Starts from a clean state."""
        self.reset()
        stop = stop or threading.Event()
        done = threading.Event()
        box = _Mailbox()
        reader = threading.Thread(target=self._reader, args=(box, done), daemon=True)
        self.started = time.monotonic()
        deadline = None if timeout is None else self.started + timeout
        reader.start()
        best: tuple[float, np.ndarray, FaceAssessment] | None = None
        streak = 0
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                frame = box.take(timeout=0.2)
                if frame is None:
                    continue
                result = self.quality.assess(frame)
                self._publish(result, box.dropped)
                if not result.passed:
                    streak, best = 0, None
                    continue
                streak += 1
                if best is None or result.overall > best[0]:
                    best = (result.overall, frame, result)
                if streak >= self.cfg.consecutive_frames:
                    return self._keep(best[1], best[2])
            return None
        finally:
            done.set()
            reader.join(timeout=3.0)
            with self._lock:
                self.elapsed = time.monotonic() - self.started

    async def run_async(self, stop: asyncio.Event, timeout: float | None = None) -> bytes | None:
        """:meth:`run` in a worker thread, stopped when the asyncio ``stop`` event is set."""
        flag = threading.Event()

        async def relay() -> None:
            await stop.wait()
            flag.set()

        relay_task = asyncio.create_task(relay())
        try:
            return await asyncio.to_thread(self.run, flag, timeout)
        finally:
            flag.set()
            relay_task.cancel()

    def _publish(self, result: FaceAssessment, dropped: int) -> None:
        with self._lock:
            self._latest = result
            self.scored += 1
            self.dropped = dropped
            self.elapsed = time.monotonic() - self.started
            for key, value in result.ms.items():
                old = self.ms_avg.get(key)
                self.ms_avg[key] = value if old is None else old + EMA * (value - old)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # a broken UI hook must not stop the capture
                log.exception("face on_result callback failed")

    def _keep(self, frame: np.ndarray, result: FaceAssessment) -> bytes:
        portrait = portrait_crop(frame, result, self.cfg.portrait_height)
        jpeg = encode_jpeg(portrait, self.cfg.jpeg_quality)
        with self._lock:
            self.portrait, self.portrait_jpeg, self.portrait_assessment = portrait, jpeg, result
        log.info(
            "face captured after %d scored frames (%d dropped), overall %.0f",
            self.scored,
            self.dropped,
            result.overall,
        )
        return jpeg
