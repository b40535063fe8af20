"""Pieces of the service adapters that need no service: the camera preview (``/camera.mjpg``),
the camera and sensor wrappers a capture runs through, image encoding, the finger events as
screen updates, and the store call of a finished enrollment. Split from
:mod:`appliance.pipeline.workflows.service_adapters`, which re-exports them."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from appliance.errors import DeviceUnavailable
from appliance.pipeline.workflows.adapters import Enrollment


class Preview:
    """The latest camera frame as JPEG for ``/camera.mjpg``, only while a face step runs.

    ``publish`` and ``stop`` run on the event loop (threads use ``loop.call_soon_threadsafe``).
    """

    def __init__(self) -> None:
        self.active = False
        self.jpeg: bytes | None = None
        self.frame_no = 0
        self._event: asyncio.Event | None = None

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def publish(self, jpeg: bytes) -> None:
        if self.active:
            self.jpeg, self.frame_no = jpeg, self.frame_no + 1
            self._wake()

    def stop(self) -> None:
        self.active, self.jpeg = False, None
        self._wake()

    async def next_frame(self, after: int, timeout: float = 2.0) -> tuple[int, bytes] | None:
        """The first frame newer than ``after``; None when the preview stopped or stalled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.active and self.frame_no <= after:
            if self._event is None:
                self._event = asyncio.Event()
            try:
                await asyncio.wait_for(self._event.wait(), deadline - loop.time())
            except TimeoutError:
                return None
        if not self.active or self.jpeg is None:
            return None
        return self.frame_no, self.jpeg


class PreviewCamera:
    """Wraps the camera for the face capture: every frame read also feeds the preview
    (downscaled, at most ``max_fps``), encoded in the reading thread."""

    def __init__(self, camera: Any, sink: Callable[[bytes], None], max_fps: float = 10.0) -> None:
        self.camera = camera
        self.sink = sink
        self.min_gap = 1.0 / max_fps
        self.last = 0.0

    def read(self, timeout: float = 2.0) -> np.ndarray:
        frame = self.camera.read(timeout)
        now = time.monotonic()
        if now - self.last >= self.min_gap:
            self.last = now
            self.sink(encode_jpeg(frame, 70, 480))
        return frame

    def __getattr__(self, name: str) -> Any:
        return getattr(self.camera, name)


class GatedSensor:
    """Wraps the fingerprint sensor for one capture: waits can be abandoned (``cancel``) and,
    in the demo, a finger only arrives after the "finger on sensor" control (``gate``)."""

    def __init__(self, sensor: Any, cancel: threading.Event, gate: threading.Event | None) -> None:
        self.sensor = sensor
        self.cancel = cancel
        self.gate = gate

    def wait_finger(self, timeout: float) -> bool:
        if self.gate is not None:
            deadline = time.monotonic() + timeout
            while not self.gate.wait(0.1):
                if self.cancel.is_set() or time.monotonic() >= deadline:
                    return False
                if not getattr(self.sensor, "is_open", True):  # unplugged while we wait
                    raise DeviceUnavailable("fingerprint sensor was unplugged")
            self.gate.clear()
            timeout = max(0.1, deadline - time.monotonic())
        if self.cancel.is_set():
            return False
        return self.sensor.wait_finger(timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sensor, name)


def encode_jpeg(rgb: np.ndarray, quality: int = 80, max_width: int = 0) -> bytes:
    import cv2

    if max_width and rgb.shape[1] > max_width:
        height = round(rgb.shape[0] * max_width / rgb.shape[1])
        rgb = cv2.resize(rgb, (max_width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_png(gray: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "PNG")
    return buf.getvalue()


def _finger_event(finger: str, ev: dict[str, Any]) -> dict[str, Any] | None:
    """A FingerCapture event as a ``finger`` screen update."""
    kind = ev.get("event")
    if kind == "place_finger":
        return {"phase": "place", "finger": finger, "attempt": ev.get("attempt")}
    if kind == "progress":
        return {"phase": "capturing", "finger": finger, "progress": round(ev["fraction"], 3)}
    if kind == "attempt":
        return {
            "phase": "done" if ev.get("verdict") == "pass" else "retry",
            "finger": finger,
            "attempt": ev.get("number"),
            "verdict": ev.get("verdict"),
            "score": ev.get("score"),
            "feedback": list(ev.get("feedback") or []),
        }
    return None


def _save(store: Any, e: Enrollment) -> str:
    consent_id = store.record_consent(
        e.consent.purposes,
        e.consent.text.sha256,
        e.consent.text.version,
        language=e.consent.text.language,
        now=datetime.fromtimestamp(e.consent.given_at).astimezone(),
    )
    quality: dict[str, Any] = {
        "face": e.portrait.assessment if e.portrait else None,
        "fingers": {
            f.finger: {
                "score": f.score,
                "verdict": f.verdict,
                "feedback": f.feedback,
                "attempts": f.attempts,
            }
            for f in e.fingers
        },
        "captured_by": "operator" if e.operator else "self_service",
    }
    receipt = store.save_capture(
        {**e.identity.record, "source": "qr"},
        portrait=e.portrait.portrait_jpeg if e.portrait else None,
        fingerprints={f.finger: f.image_png for f in e.fingers if f.image_png},
        quality=quality,
        consent_id=consent_id,
    )
    return receipt.receipt_code


def _clock_time(value: Any) -> str | None:
    """``2025-06-01T09:12:33.120+07:00`` -> ``09:12``."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).strftime("%H:%M")
    except ValueError:
        return value


def make_due_now(store: Any, wake: bool) -> int:
    """Every waiting bundle due now; ``wake``: tell the uploader (its store listener)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET next_attempt_ts = ? WHERE state = 'pending'", (time.time(),)
        )
    if wake:
        store._notify()  # the listeners: the uploader starts a pass now
    return cur.rowcount


def save_problem(store: Any) -> str | None:
    """Why ``store`` cannot save a capture: none opened, or no office key to seal to."""
    if store is None:
        return "store"
    if not getattr(store, "sealing_available", True):
        return "office_key_missing"  # nothing may be stored unsealed
    return None
