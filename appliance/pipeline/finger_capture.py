"""The fingerprint capture workflow: a configured sequence of fingers, guided retries, best kept.

For each finger in the sequence the citizen gets up to ``max_attempts`` attempts. Each attempt
waits for the finger, captures it (with upload progress), scores it and tells the citizen what
to do next (the feedback codes' instructions, in Vietnamese and English). The best-scoring image
is kept; a finger is ``captured`` as soon as an attempt passes, ``low_quality`` when every
attempt failed but something was captured, ``failed`` when nothing was. An operator can mark a
finger ``unavailable`` (bandaged, amputated, ...) at any time, from any thread.

Events go to ``on_event`` (the UI) as small dicts; images never leave this module except in the
returned :class:`FingerResult`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.errors import DeviceError, DeviceUnavailable, InvalidInput
from appliance.hal.base import FingerprintSensor
from appliance.pipeline.finger_quality import INSTRUCTIONS, FingerQuality, QualityResult

log = logging.getLogger(__name__)

FINGERS: tuple[str, ...] = (
    "right_thumb",
    "right_index",
    "right_middle",
    "right_ring",
    "right_little",
    "left_thumb",
    "left_index",
    "left_middle",
    "left_ring",
    "left_little",
)
FINGER_NAMES: dict[str, dict[str, str]] = {
    "right_thumb": {"vi": "ngón cái tay phải", "en": "right thumb"},
    "right_index": {"vi": "ngón trỏ tay phải", "en": "right index finger"},
    "right_middle": {"vi": "ngón giữa tay phải", "en": "right middle finger"},
    "right_ring": {"vi": "ngón áp út tay phải", "en": "right ring finger"},
    "right_little": {"vi": "ngón út tay phải", "en": "right little finger"},
    "left_thumb": {"vi": "ngón cái tay trái", "en": "left thumb"},
    "left_index": {"vi": "ngón trỏ tay trái", "en": "left index finger"},
    "left_middle": {"vi": "ngón giữa tay trái", "en": "left middle finger"},
    "left_ring": {"vi": "ngón áp út tay trái", "en": "left ring finger"},
    "left_little": {"vi": "ngón út tay trái", "en": "left little finger"},
}
NO_FINGER_ATTEMPT = "no_finger"


@dataclass
class Attempt:
    number: int
    score: float | None = None
    verdict: str = "fail"
    feedback: list[str] = field(default_factory=list)
    error: str | None = None  # a device error code when the capture itself failed
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "score": None if self.score is None else round(self.score, 1),
            "verdict": self.verdict,
            "feedback": list(self.feedback),
            "error": self.error,
            "ms": round(self.ms, 1),
        }


@dataclass
class FingerResult:
    finger: str
    status: str = "pending"  # pending | captured | low_quality | failed | unavailable
    attempts: list[Attempt] = field(default_factory=list)
    best_score: float | None = None
    image: np.ndarray | None = None  # the best print (grey uint8); None if nothing captured
    reason: str = ""  # why the operator marked it unavailable

    def to_dict(self) -> dict[str, Any]:
        """Everything but the image (safe to log or show)."""
        return {
            "finger": self.finger,
            "status": self.status,
            "best_score": None if self.best_score is None else round(self.best_score, 1),
            "attempts": [a.to_dict() for a in self.attempts],
            "reason": self.reason,
        }


def check_sequence(sequence: Sequence[str]) -> list[str]:
    seq = list(sequence)
    unknown = [f for f in seq if f not in FINGERS]
    if unknown or not seq or len(set(seq)) != len(seq):
        raise InvalidInput(f"finger sequence {seq!r}: use distinct names from {', '.join(FINGERS)}")
    return seq


class FingerCapture:
    """Runs the sequence on one sensor; :meth:`mark_unavailable` may be called from any thread."""

    def __init__(
        self,
        sensor: FingerprintSensor,
        assessor: FingerQuality,
        sequence: Sequence[str] = ("right_index", "left_index"),
        *,
        max_attempts: int = 3,
        wait_timeout_s: float = 15.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        self.sensor = sensor
        self.assessor = assessor
        self.sequence = check_sequence(sequence)
        self.max_attempts = max_attempts
        self.wait_timeout_s = wait_timeout_s
        self.on_event = on_event
        self.results = {f: FingerResult(f) for f in self.sequence}
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def _emit(self, event: str, **data: Any) -> None:
        if self.on_event:
            self.on_event({"event": event, **data})

    def mark_unavailable(self, finger: str, reason: str = "") -> None:
        """The operator says this finger cannot be captured; the workflow skips or stops it."""
        if finger not in self.results:
            raise InvalidInput(f"{finger!r} is not in this capture's sequence")
        with self._lock:
            res = self.results[finger]
            if res.status in ("captured", "low_quality", "failed"):
                return
            res.status, res.reason = "unavailable", reason
        log.info("finger %s marked unavailable by the operator", finger)
        self._emit("finger_unavailable", finger=finger, reason=reason)

    def cancel(self) -> None:
        """Stop after the current attempt (the session was abandoned)."""
        self._cancel.set()

    def _unavailable(self, finger: str) -> bool:
        with self._lock:
            return self.results[finger].status == "unavailable"

    def run(self) -> list[FingerResult]:
        """Capture every finger of the sequence in turn; the results in sequence order."""
        for finger in self.sequence:
            if self._cancel.is_set():
                break
            self.capture_finger(finger)
        self._emit("done", results=[r.to_dict() for r in self.results.values()])
        return [self.results[f] for f in self.sequence]

    def capture_finger(self, finger: str) -> FingerResult:
        res = self.results[finger]
        best: QualityResult | None = None
        for number in range(1, self.max_attempts + 1):
            if self._unavailable(finger) or self._cancel.is_set():
                break
            self._emit(
                "place_finger",
                finger=finger,
                attempt=number,
                max_attempts=self.max_attempts,
                name=FINGER_NAMES[finger],
            )
            attempt, quality, image = self._attempt(finger, number)
            if self._unavailable(finger):
                break  # marked while we waited: drop what came in
            res.attempts.append(attempt)
            if quality is not None and (best is None or quality.score > best.score):
                best, res.image, res.best_score = quality, image, quality.score
            self._emit(
                "attempt",
                finger=finger,
                **attempt.to_dict(),
                instructions=[{"code": c, **INSTRUCTIONS[c]} for c in attempt.feedback],
            )
            if attempt.verdict == "pass":
                break
        with self._lock:
            if res.status != "unavailable":
                if best is None:
                    res.status = "failed"
                else:
                    res.status = "captured" if best.verdict == "pass" else "low_quality"
        self._led("green" if res.status == "captured" else "red", "on")
        self._emit("finger_done", **res.to_dict())
        return res

    def _attempt(
        self, finger: str, number: int
    ) -> tuple[Attempt, QualityResult | None, np.ndarray | None]:
        attempt = Attempt(number)
        self._led("blue", "breathe")
        t0 = time.monotonic()
        try:
            if not self.sensor.wait_finger(self.wait_timeout_s):
                attempt.feedback = [NO_FINGER_ATTEMPT]
                attempt.ms = (time.monotonic() - t0) * 1e3
                return attempt, None, None
            self._led("purple", "on")
            image = self.sensor.capture(
                lambda frac: self._emit("progress", finger=finger, attempt=number, fraction=frac)
            )
        except DeviceUnavailable:
            raise  # the sensor is gone: the session cannot go on
        except DeviceError as exc:
            log.warning("finger %s attempt %d: %s", finger, number, exc.message)
            attempt.error = exc.code
            attempt.feedback = ["no_finger"] if exc.code == "fp_no_finger" else []
            attempt.ms = (time.monotonic() - t0) * 1e3
            return attempt, None, None
        quality = self.assessor.assess(image)
        attempt.score, attempt.verdict = quality.score, quality.verdict
        attempt.feedback = list(quality.feedback)
        attempt.ms = (time.monotonic() - t0) * 1e3
        return attempt, quality, image

    def _led(self, color: str, mode: str) -> None:
        try:
            self.sensor.led(color, mode)
        except DeviceUnavailable:
            raise
        except Exception as exc:  # a missing or unsupported LED never stops a capture
            log.debug("fingerprint LED %s/%s: %s", color, mode, exc)
