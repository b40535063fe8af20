"""ICAO face image quality for every preview frame, with measures named after OFIQ's.

``FaceQuality(cfg).assess(rgb)`` runs the detector (BlazeFace, whole frame), the landmark model
(on an aligned crop of the largest face) and the measures, and turns raw values into a verdict
and reason codes with the policy in ``[face]`` of the config. Each measure has a raw value, a
0-100 score (a fixed mapping, the same whatever the policy) and a status: ``ok``,
``failure_to_assess`` (it needs a face and there is none) or ``not_run``. Image measures work on
the 192x192 aligned face crop the landmark model saw and on the detector's 128-pixel thumbnail of
the frame, so their cost does not grow with the frame. docs/face.md explains each measure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.config import FaceConfig
from appliance.errors import ConfigError
from appliance.pipeline.face_detect import FULL_RANGE_MODEL, Detection, FaceDetector
from appliance.pipeline.face_eyes import EyeModel, mesh_opening
from appliance.pipeline.face_frame import (
    detect_faces,
    frame_exposure,
    frame_light_reasons,
    sharpness,
)
from appliance.pipeline.face_landmarks import (
    CHIN,
    FACE_OVAL,
    LEFT_EYE_CORNERS,
    LIPS_INNER,
    NOSE_BRIDGE,
    RIGHT_EYE_CORNERS,
    FaceLandmarker,
    FaceLandmarks,
    head_pose,
)

# The fixed reason vocabulary, in the order guidance is given (the first one is shown): who is
# there, then light (bad light makes every later measure unreliable), position, pose, expression,
# holding still, and last what the citizen can least change.
REASONS = (
    "no_face",
    "multiple_faces",
    "too_dark",
    "too_bright",
    "cropped",
    "face_too_small",
    "face_too_large",
    "off_center",
    "yaw",
    "pitch",
    "roll",
    "eyes_closed",
    "mouth_open",
    "blurry",
    "uneven_light",
    "busy_background",
)

# Measure names: OFIQ's, in snake case.
MEASURES = (
    "single_face_present",
    "inter_eye_distance",
    "head_size",
    "leftward_crop_of_the_face_image",
    "rightward_crop_of_the_face_image",
    "margin_above_of_the_face_image",
    "margin_below_of_the_face_image",
    "head_pose_yaw",
    "head_pose_pitch",
    "head_pose_roll",
    "eyes_open",
    "mouth_closed",
    "sharpness",
    "luminance_mean",
    "luminance_variance",
    "under_exposure_prevention",
    "over_exposure_prevention",
    "illumination_uniformity",
    "background_uniformity",
)
MARGINS = MEASURES[3:7]  # left, right, above, below
LUMINANCE_MEASURES = (
    "luminance_mean",
    "luminance_variance",
    "under_exposure_prevention",
    "over_exposure_prevention",
    "illumination_uniformity",
)

OK, FAILURE_TO_ASSESS, NOT_RUN = "ok", "failure_to_assess", "not_run"
THUMB_WIDTH = 128
MEASURE_SIZE = 96  # crop measures run on the 192-px face crop at half resolution


@dataclass
class Measure:
    raw: float | None
    score: int | None
    status: str = OK

    def to_dict(self) -> dict[str, Any]:
        raw = None if self.raw is None else round(float(self.raw), 4)
        return {"raw": raw, "score": self.score, "status": self.status}


@dataclass
class FaceGeometry:
    """Where the face is, in frame pixels (for the UI overlay and the portrait crop)."""

    box: tuple[float, float, float, float]  # detector box
    head: tuple[float, float, float, float]  # crown-to-chin, cheek-to-cheek estimate
    eyes: tuple[tuple[float, float], tuple[float, float]]  # subject's right, left eye centre
    portrait: tuple[float, float, float, float]  # the ICAO 3:4 crop (may leave the frame)

    def to_dict(self) -> dict[str, Any]:
        def r(seq):
            return [round(float(v), 1) for v in seq]

        return {
            "box": r(self.box),
            "head": r(self.head),
            "eyes": [r(e) for e in self.eyes],
            "portrait": r(self.portrait),
        }


@dataclass
class FaceAssessment:
    verdict: str
    reasons: list[str]
    measures: dict[str, Measure]
    ms: dict[str, float]
    face: FaceGeometry | None = None
    frame_size: tuple[int, int] = (0, 0)  # width, height
    landmarks: FaceLandmarks | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def overall(self) -> float:
        """Mean score of the assessed measures (0-100): how the best frame is chosen."""
        scores = [m.score for m in self.measures.values() if m.status == OK and m.score is not None]
        return float(np.mean(scores)) if scores else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "measures": {name: m.to_dict() for name, m in self.measures.items()},
            "ms": {k: round(v, 2) for k, v in self.ms.items()},
            "face": self.face.to_dict() if self.face else None,
        }


# --- score mappings (fixed, independent of the policy) -------------------------------------


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi`` (either direction), clipped."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _score(fraction: float) -> int:
    return round(100 * fraction)


def _band(x: float, zero_lo: float, full_lo: float, full_hi: float, zero_hi: float) -> int:
    """100 inside [full_lo, full_hi], falling linearly to 0 at zero_lo and zero_hi."""
    return _score(min(_ramp(x, zero_lo, full_lo), _ramp(x, zero_hi, full_hi)))


# --- geometry -----------------------------------------------------------------------------


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right and left eye (mean of the two corners), frame pixels."""
    right = points[list(RIGHT_EYE_CORNERS), :2].mean(0)
    left = points[list(LEFT_EYE_CORNERS), :2].mean(0)
    return right, left


def head_geometry(
    points: np.ndarray, cfg: FaceConfig
) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """(head box, portrait box, head height) in frame pixels.

    The crown is not a landmark: the eyes sit half-way between chin and crown, so the crown is
    as far above the eye line as the chin is below it (along the face's own vertical axis). The
    portrait is the ICAO 3:4 crop: head ``portrait_head_fraction`` of its height,
    ``portrait_crown_margin`` above the crown, centred on the eyes' midpoint.
    """
    right, left = eye_centres(points)
    mid = (right + left) / 2
    chin = points[CHIN, :2]
    down = chin - mid
    crown = mid - down
    h = 2.0 * float(np.hypot(*down))
    oval = points[list(FACE_OVAL), :2]
    x0, x1 = float(oval[:, 0].min()), float(oval[:, 0].max())
    y0 = float(min(crown[1], oval[:, 1].min()))
    y1 = float(max(chin[1], oval[:, 1].max()))
    p_h = h / cfg.portrait_head_fraction
    p_w = p_h * 0.75
    top = float(crown[1]) - cfg.portrait_crown_margin * p_h
    cx = float(mid[0])
    portrait = (cx - p_w / 2, top, cx + p_w / 2, top + p_h)
    return (x0, y0, x1, y1), portrait, h


def check_face_config(cfg: FaceConfig) -> None:
    """Reject ``[face]`` values no policy could mean (ConfigError naming the key)."""
    problems = {
        "threads": cfg.threads < 1,
        "min_detection_score": not 0 < cfg.min_detection_score < 1,
        "second_face_min_ratio": not 0 < cfg.second_face_min_ratio <= 1,
        "min_inter_eye_px": cfg.min_inter_eye_px < 0,
        "consecutive_frames": cfg.consecutive_frames < 1,
        "portrait_height": cfg.portrait_height < 64,
        "portrait_head_fraction": not 0.3 <= cfg.portrait_head_fraction <= 0.95,
        "portrait_crown_margin": cfg.portrait_crown_margin < 0
        or cfg.portrait_crown_margin >= 1 - cfg.portrait_head_fraction,
        "jpeg_quality": not 1 <= cfg.jpeg_quality <= 100,
    }
    for key, bad in problems.items():
        if bad:
            raise ConfigError(f"value {getattr(cfg, key)!r} is out of range", key=f"face.{key}")


# --- the assessor ---------------------------------------------------------------------------


class FaceQuality:
    """Loads the two models once; ``assess(rgb)`` is then called for every frame."""

    def __init__(self, cfg: FaceConfig | None = None) -> None:
        self.cfg = cfg or FaceConfig()
        check_face_config(self.cfg)
        self.detector = FaceDetector(
            threads=self.cfg.threads, score_threshold=self.cfg.min_detection_score
        )
        self.far_detector = (
            FaceDetector(FULL_RANGE_MODEL, self.cfg.threads, self.cfg.min_far_detection_score)
            if self.cfg.far_faces
            else None
        )
        self.landmarker = FaceLandmarker(threads=self.cfg.threads)
        self.eyes = EyeModel(threads=self.cfg.threads) if self.cfg.eye_model else None

    def assess(self, rgb: np.ndarray) -> FaceAssessment:
        """Assess one RGB frame (H x W x 3, uint8)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        t0 = time.perf_counter()
        faces = detect_faces(self.detector, self.far_detector, rgb)
        t1 = time.perf_counter()
        measures = {name: Measure(None, None, NOT_RUN) for name in MEASURES}
        main, count = self._main_face(faces)
        lm = self.landmarker.landmarks(rgb, main) if main is not None else None
        t2 = time.perf_counter()
        if lm is not None and lm.presence < 0.5:
            lm, count = None, count - 1
        measures["single_face_present"] = Measure(count, 100 if count == 1 else 0)
        geometry = None
        if lm is None:
            for name in MEASURES[1:]:
                measures[name] = Measure(None, None, FAILURE_TO_ASSESS)
            assert self.detector.thumbnail is not None  # set by every detect()
            for name, v in frame_exposure(self.detector.thumbnail).items():
                measures[name] = Measure(v, None)
        else:
            assert main is not None
            geometry = self._measure(rgb, main, lm, measures)
        t3 = time.perf_counter()
        reasons = self.policy(measures, geometry, rgb.shape[1], rgb.shape[0])
        ms = {
            "detect": (t1 - t0) * 1000,
            "landmarks": (t2 - t1) * 1000,
            "measures": (t3 - t2) * 1000,
            "total": (time.perf_counter() - t0) * 1000,
        }
        return FaceAssessment(
            "fail" if reasons else "pass",
            reasons,
            measures,
            ms,
            geometry,
            (rgb.shape[1], rgb.shape[0]),
            lm,
        )

    def _main_face(self, faces: list[Detection]) -> tuple[Detection | None, int]:
        """The largest face, and how many faces are at least ``second_face_min_ratio`` as wide."""
        if not faces:
            return None, 0
        main = max(faces, key=lambda d: d.width * d.height)
        count = sum(1 for d in faces if d.width >= self.cfg.second_face_min_ratio * main.width)
        return main, count

    # -- measures --------------------------------------------------------------------------

    def _measure(
        self, rgb: np.ndarray, det: Detection, lm: FaceLandmarks, m: dict[str, Measure]
    ) -> FaceGeometry:
        cfg = self.cfg
        pts = lm.points
        fh, fw = rgb.shape[:2]
        right, left = eye_centres(pts)
        ied = float(np.hypot(*(left - right)))
        m["inter_eye_distance"] = Measure(ied, _score(_ramp(ied, 0.0, 240.0)))

        head, portrait, h = head_geometry(pts, cfg)
        size = h / fh
        m["head_size"] = Measure(size, _band(size, 0.1, 0.4, cfg.portrait_head_fraction, 1.0))
        margins = (head[0], fw - head[2], head[1], fh - head[3])
        for name, px in zip(MARGINS, margins, strict=True):
            rel = px / h
            m[name] = Measure(rel, _score(_ramp(rel, 0.0, 0.25)))

        yaw, pitch, roll = head_pose(pts)
        for name, deg in (("yaw", yaw), ("pitch", pitch), ("roll", roll)):
            m[f"head_pose_{name}"] = Measure(deg, _score(1.0 - _ramp(abs(deg), 0.0, 20.0)))

        eyes = min(self.eyes.opening(rgb, pts) if self.eyes else mesh_opening(pts))  # face_eyes
        m["eyes_open"] = Measure(eyes, _score(_ramp(eyes, 0.05, 0.25)))
        gap = float(np.hypot(*(pts[LIPS_INNER[1], :2] - pts[LIPS_INNER[0], :2]))) / max(ied, 1e-6)
        m["mouth_closed"] = Measure(gap, _score(1.0 - _ramp(gap, 0.05, 0.45)))

        self._crop_measures(lm, m)
        self._background(rgb, head, h, m)
        return FaceGeometry(
            tuple(float(v) for v in det.box),  # type: ignore[arg-type]
            head,  # type: ignore[arg-type]
            ((float(right[0]), float(right[1])), (float(left[0]), float(left[1]))),
            portrait,  # type: ignore[arg-type]
        )

    def _crop_measures(self, lm: FaceLandmarks, m: dict[str, Measure]) -> None:
        """Sharpness, luminance and illumination on the aligned face crop, at 96x96."""
        gray = cv2.cvtColor(lm.crop, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(gray, (MEASURE_SIZE, MEASURE_SIZE), interpolation=cv2.INTER_AREA)
        k = MEASURE_SIZE / gray.shape[0]
        cp = lm.crop_points * k
        # sharpness: the eyes-to-mouth rectangle
        xs = cp[[RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[1]], 0]
        eye_y = cp[[RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[1]], 1].mean()
        span = xs.max() - xs.min()
        x0, x1 = int(max(xs.min(), 1)), int(min(xs.max(), MEASURE_SIZE - 1))
        y0 = int(max(eye_y - 0.25 * span, 1))
        y1 = int(min(cp[LIPS_INNER[1], 1] + 0.2 * span, MEASURE_SIZE - 1))
        if x1 - x0 >= 8 and y1 - y0 >= 8:
            sharp = sharpness(small[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1])
            m["sharpness"] = Measure(sharp, _score(_ramp(sharp, 0.5, 1.8)))
        else:
            m["sharpness"] = Measure(None, None, FAILURE_TO_ASSESS)

        # luminance: the face oval
        mask = np.zeros_like(small)
        cv2.fillPoly(mask, [np.round(cp[list(FACE_OVAL)]).astype(np.int32)], 1)
        values = small[mask.astype(bool)]
        if values.size < 50:
            for name in LUMINANCE_MEASURES:
                m[name] = Measure(None, None, FAILURE_TO_ASSESS)
            return
        y = values.astype(np.float32) / 255.0
        mean, var = float(y.mean()), float(y.var())
        m["luminance_mean"] = Measure(mean, _band(mean, 0.05, 0.35, 0.65, 0.95))
        m["luminance_variance"] = Measure(var, _score(_ramp(np.sqrt(var), 0.02, 0.12)))
        under = float(np.count_nonzero(values <= 25)) / values.size
        over = float(np.count_nonzero(values >= 247)) / values.size
        m["under_exposure_prevention"] = Measure(under, _score(1.0 - _ramp(under, 0.0, 0.25)))
        m["over_exposure_prevention"] = Measure(over, _score(1.0 - _ramp(over, 0.0, 0.25)))
        # illumination: the two halves of the face either side of the nose bridge (roll removed)
        mid = round(cp[NOSE_BRIDGE, 0])
        cols = np.arange(MEASURE_SIZE)[None, :]
        sides = [small[(mask > 0) & (cols < mid)], small[(mask > 0) & (cols >= mid)]]
        if min(s.size for s in sides) < 20:
            m["illumination_uniformity"] = Measure(None, None, FAILURE_TO_ASSESS)
        else:
            a, b = (float(s.mean()) for s in sides)
            ratio = min(a, b) / max(a, b, 1e-6)
            m["illumination_uniformity"] = Measure(ratio, _score(_ramp(ratio, 0.5, 1.0)))

    def _background(
        self, rgb: np.ndarray, head: tuple[float, ...], h: float, m: dict[str, Measure]
    ) -> None:
        """Mean gradient magnitude beside and above the head, on the detector's thumbnail."""
        fh, fw = rgb.shape[:2]
        small = self.detector.thumbnail
        if small is None:  # detect() always sets it; this keeps _background usable alone
            small = cv2.resize(rgb, (THUMB_WIDTH, round(fh * THUMB_WIDTH / fw)))
        th, tw = small.shape[:2]
        k = tw / fw
        thumb = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        gx = cv2.Sobel(thumb, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(thumb, cv2.CV_32F, 0, 1, ksize=3)
        mag = cv2.magnitude(gx, gy) / 4.0  # per pixel of the thumbnail, 0..~255
        pad = 0.15 * h
        hx0, hx1 = (head[0] - pad) * k, (head[2] + pad) * k
        hy0 = (head[1] - pad) * k
        bottom = int(np.clip(head[3] * k, 0, th))  # nothing below the chin (that is the body)
        region = np.ones((th, tw), bool)
        region[bottom:] = False
        region[[0, -1], :] = False
        region[:, [0, -1]] = False
        xa, xb = int(np.clip(np.floor(hx0), 0, tw)), int(np.clip(np.ceil(hx1), 0, tw))
        ya = int(np.clip(np.floor(hy0), 0, th))
        region[ya:, xa:xb] = False
        if np.count_nonzero(region) < 0.03 * tw * th:
            m["background_uniformity"] = Measure(None, None, FAILURE_TO_ASSESS)
            return
        grad = float(mag[region].mean())
        m["background_uniformity"] = Measure(grad, _score(1.0 - _ramp(grad, 2.0, 25.0)))

    # -- policy ----------------------------------------------------------------------------

    def policy(
        self,
        m: dict[str, Measure],
        geometry: FaceGeometry | None,
        frame_w: int,
        frame_h: int,
    ) -> list[str]:
        """Reason codes (in :data:`REASONS` order) from the raw values; empty = pass."""
        cfg = self.cfg
        count = m["single_face_present"].raw or 0
        if count == 0 or geometry is None:
            frame = {k: v.raw for k, v in m.items() if k.startswith("frame_") and v.raw is not None}
            # the light of the whole frame first: it is what the citizen can change
            return (frame_light_reasons(frame, cfg) if len(frame) == 3 else []) + ["no_face"]
        reasons = set()
        if count > 1:
            reasons.add("multiple_faces")

        def raw(name: str) -> float | None:
            return m[name].raw if m[name].status == OK else None

        def above(name: str, limit: float) -> bool:
            v = raw(name)
            return v is not None and v > limit

        def below(name: str, limit: float) -> bool:
            v = raw(name)
            return v is not None and v < limit

        if any(below(name, cfg.min_margin) for name in MARGINS):
            reasons.add("cropped")
        if below("inter_eye_distance", cfg.min_inter_eye_px):
            reasons.add("face_too_small")
        px0, py0, px1, py1 = geometry.portrait
        if py1 - py0 > frame_h or px1 - px0 > frame_w:
            reasons.add("face_too_large")
        elif px0 < 0 or py0 < 0 or px1 > frame_w or py1 > frame_h:
            reasons.add("off_center")
        for axis, limit in (("yaw", cfg.max_yaw_deg), ("pitch", cfg.max_pitch_deg),
                            ("roll", cfg.max_roll_deg)):  # fmt: skip
            v = raw(f"head_pose_{axis}")
            if v is not None and abs(v) > limit:
                reasons.add(axis)
        if below("eyes_open", cfg.min_eyes_open):
            reasons.add("eyes_closed")
        if above("mouth_closed", cfg.max_mouth_open):
            reasons.add("mouth_open")
        if below("sharpness", cfg.min_sharpness):
            reasons.add("blurry")
        if below("luminance_mean", cfg.min_luminance) or above(
            "under_exposure_prevention", cfg.max_under_exposure
        ):
            reasons.add("too_dark")
        if above("luminance_mean", cfg.max_luminance) or above(
            "over_exposure_prevention", cfg.max_over_exposure
        ):
            reasons.add("too_bright")
        if below("illumination_uniformity", cfg.min_illumination_uniformity):
            reasons.add("uneven_light")
        if above("background_uniformity", cfg.max_background_gradient):
            reasons.add("busy_background")
        return [r for r in REASONS if r in reasons]
