"""The "look at the camera" step: liveness challenge, best frame, comparison with the chip photo.

:func:`look_at_camera` runs over (time, RGB frame) pairs from the camera: every frame is
assessed and fed to the :class:`LivenessCheck`; the best frontal frame seen is kept in memory;
once the challenge passes, that frame is compared with the chip portrait. The outcome says only
the decision, the score band and why; the frames and the embeddings are dropped with it, never
stored or logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.config import FaceConfig
from appliance.pipeline.face_liveness import FAILED, PASSED, WAITING, LivenessCheck
from appliance.pipeline.face_match import CANNOT_TELL, FaceMatcher, FaceSample, MatchResult
from appliance.pipeline.face_quality import OK, FaceAssessment

LIVENESS_FAILED = "liveness_failed"


@dataclass
class VerifyOutcome:
    decision: str  # match, no_match, cannot_tell or liveness_failed
    liveness: dict[str, Any]
    match: MatchResult | None
    ms: dict[str, float]

    @property
    def owner(self) -> bool:
        """True only for a live face that matches: "the card belongs to you"."""
        return self.decision == "match"

    def record(self) -> dict[str, Any]:
        """What may be kept: the decision, the score band, the challenge and its result."""
        return {
            "decision": self.decision,
            "score_band": self.match.to_dict()["score_band"] if self.match else "none",
            "challenge": self.liveness["challenge"],
            "liveness": self.liveness["result"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.record(),
            "liveness_detail": self.liveness,
            "match": self.match.to_dict() if self.match else None,
            "ms": {k: round(v, 1) for k, v in self.ms.items()},
        }


def camera_frames(camera, stop, clock=time.monotonic):
    """(time s, RGB frame) from a camera's ``read()`` until ``stop`` (a threading.Event) is set."""
    while not stop.is_set():
        yield clock(), camera.read()


def live_check(camera, matcher: FaceMatcher, photo: bytes, challenge: str, stop, on_frame=None):
    """The step on a live camera (blocking: run it in a thread): the chip ``photo`` (JPEG or
    JPEG 2000 bytes) is embedded first, then :func:`look_at_camera` runs on the camera's frames.
    ``on_frame(assessment, check_state)`` is told about every frame (for the guidance)."""
    from appliance.pipeline.face_match import decode_image

    chip = matcher.sample(decode_image(photo))
    frames = camera_frames(camera, stop)
    return look_at_camera(frames, chip, challenge, matcher, on_frame)


def _frontal(a: FaceAssessment, cfg: FaceConfig) -> bool:
    yaw = a.measures["head_pose_yaw"]
    if a.face is None or yaw.status != OK:
        return False
    return abs(yaw.raw or 0.0) <= cfg.liveness_frontal_deg


def look_at_camera(
    frames: Iterable[tuple[float, np.ndarray]],
    chip: FaceSample,
    challenge: str,
    matcher: FaceMatcher,
    on_frame=None,
) -> VerifyOutcome:
    """Challenge, then compare the best frontal frame with ``chip`` (already embedded)."""
    cfg = matcher.cfg
    check = LivenessCheck(challenge, cfg)
    best: tuple[float, np.ndarray, FaceAssessment] | None = None
    t0 = time.perf_counter()
    for t, rgb in frames:
        a = matcher.quality.assess(rgb)
        if _frontal(a, cfg) and (best is None or a.overall > best[0]):
            best = (a.overall, rgb.copy(), a)
        state = check.feed(a, t)
        if on_frame is not None:
            on_frame(a, state)
        if state != WAITING:
            break
    else:  # the camera stopped before the challenge was done
        check.state = FAILED
        check.events.append("frames_ended")
    t1 = time.perf_counter()
    ms = {"frames": (t1 - t0) * 1000}
    if check.state != PASSED:
        return VerifyOutcome(LIVENESS_FAILED, check.to_dict(), None, ms)
    if best is None:
        result = MatchResult(CANNOT_TELL, None, cfg.match_threshold, ({}, chip.quality))
    else:
        result = matcher.compare(matcher.sample(best[1], best[2]), chip)
    ms["compare"] = (time.perf_counter() - t1) * 1000
    return VerifyOutcome(result.decision, check.to_dict(), result, ms)
