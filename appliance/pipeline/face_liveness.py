"""Active liveness: a challenge chosen at random per session, checked on the landmark stream.

The citizen is asked to turn the head to their left or right, or to blink, and has
``face.liveness_time_limit_s`` seconds to do it. :class:`LivenessCheck` is fed the face
assessment of every scored frame (yaw and ``eyes_open`` from the Face Mesh landmarks):

- ``turn_left`` / ``turn_right``: a frontal start (the first frames set the baseline yaw), then
  the yaw moves at least ``liveness_turn_deg`` from it in the asked direction. The camera is
  taken as not mirrored: the citizen's left is the image's right (yaw > 0).
- ``blink``: with eyes open (baseline = median of the recent open frames), the eye opening falls
  below ``liveness_blink_ratio`` of the baseline and comes back above 0.85 of it.

A face that vanishes for more than half a second, jumps, or is joined by a second face starts
the baseline again. A printed photo or a still image on a phone shows none of these movements,
so it fails on time. A video replay of the owner does the movements and is not stopped (see
docs/face.md).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.config import FaceConfig
from appliance.pipeline.face_quality import OK, FaceAssessment

CHALLENGES = ("turn_left", "turn_right", "blink")
WAITING, PASSED, FAILED = "waiting", "passed", "failed"
BASELINE_FRAMES = 3
REOPEN_RATIO = 0.85
MAX_GAP_S = 0.5


def random_challenge(allowed: tuple[str, ...] | list[str] = CHALLENGES) -> str:
    """One of ``allowed``, from the system's secure random source (not predictable)."""
    choices = [c for c in allowed if c in CHALLENGES]
    if not choices:
        raise ValueError(f"no known liveness challenge in {allowed!r}")
    return secrets.choice(choices)


def _raw(a: FaceAssessment, name: str) -> float | None:
    m = a.measures.get(name)
    return m.raw if m is not None and m.status == OK else None


@dataclass
class LivenessCheck:
    challenge: str
    cfg: FaceConfig = field(default_factory=FaceConfig)
    state: str = WAITING
    started: float | None = None
    elapsed_s: float = 0.0
    events: list[str] = field(default_factory=list)
    _yaw0: list[float] = field(default_factory=list)
    _open: deque = field(default_factory=lambda: deque(maxlen=15))
    _closed: bool = False
    _base: float = 0.0
    _last_seen: float | None = None
    _last_centre: tuple[float, float] | None = None
    peak: float = 0.0  # largest yaw change (deg) or deepest eye closure (1 - ratio) seen

    def __post_init__(self) -> None:
        if self.challenge not in CHALLENGES:
            raise ValueError(f"unknown liveness challenge {self.challenge!r}")

    def _restart(self, why: str) -> None:
        self._yaw0.clear()
        self._open.clear()
        self._closed = False
        self.events.append(why)

    def feed(self, a: FaceAssessment, t: float) -> str:
        """Take one frame's assessment at time ``t`` (seconds); returns the state."""
        if self.state != WAITING:
            return self.state
        if self.started is None:
            self.started = t
        self.elapsed_s = t - self.started
        if self.elapsed_s > self.cfg.liveness_time_limit_s:
            self.state = FAILED
            self.events.append("time_limit")
            return self.state
        if a.face is None or (_raw(a, "single_face_present") or 0) != 1:
            if a.face is not None:
                self._restart("multiple_faces")
            return self.state
        x0, y0, x1, y1 = a.face.box
        centre, width = ((x0 + x1) / 2, (y0 + y1) / 2), x1 - x0
        gap = self._last_seen is not None and t - self._last_seen > MAX_GAP_S
        jump = self._last_centre is not None and (
            np.hypot(centre[0] - self._last_centre[0], centre[1] - self._last_centre[1])
            > 0.5 * width
        )
        if gap or jump:
            self._restart("face_lost" if gap else "face_jumped")
        self._last_seen, self._last_centre = t, centre
        if self.challenge == "blink":
            self._blink(_raw(a, "eyes_open"))
        else:
            self._turn(_raw(a, "head_pose_yaw"))
        return self.state

    def _turn(self, yaw: float | None) -> None:
        if yaw is None:
            return
        if len(self._yaw0) < BASELINE_FRAMES:
            if abs(yaw) <= self.cfg.liveness_frontal_deg:
                self._yaw0.append(yaw)
            return
        sign = 1.0 if self.challenge == "turn_left" else -1.0
        moved = sign * (yaw - float(np.median(self._yaw0)))
        self.peak = max(self.peak, moved)
        if moved >= self.cfg.liveness_turn_deg:
            self.state = PASSED
            self.events.append(f"turned {moved:.0f} deg")

    def _blink(self, opening: float | None) -> None:
        if opening is None:
            return
        if not self._closed:
            if len(self._open) >= BASELINE_FRAMES:
                base = float(np.median(self._open))
                shut = opening < self.cfg.liveness_blink_ratio * base
                if base >= self.cfg.min_eyes_open and shut:
                    self._closed = True
                    self._base = base
                    self.peak = max(self.peak, 1 - opening / base)
                    return
            self._open.append(opening)
        elif opening > REOPEN_RATIO * self._base:
            self.state = PASSED
            self.events.append("blinked")
        else:
            self.peak = max(self.peak, 1 - opening / self._base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenge": self.challenge,
            "result": self.state,
            "elapsed_s": round(self.elapsed_s, 2),
            "time_limit_s": self.cfg.liveness_time_limit_s,
            "peak": round(self.peak, 3),
            "events": list(self.events),
        }


def check_frames(
    frames: Iterable[tuple[float, np.ndarray]], challenge: str, quality, cfg: FaceConfig
) -> LivenessCheck:
    """Run ``challenge`` over (time s, RGB frame) pairs until it passes, fails or frames end.

    Frames that end before the time limit leave the check failed ("frames_ended").
    """
    check = LivenessCheck(challenge, cfg)
    for t, rgb in frames:
        if check.feed(quality.assess(rgb), t) != WAITING:
            return check
    check.state = FAILED
    check.events.append("frames_ended")
    return check
