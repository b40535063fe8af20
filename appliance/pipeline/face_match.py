"""1:1 face comparison on the device: the best live frame against the chip's DG2 portrait.

``FaceMatcher(cfg).compare_images(live_rgb, chip_rgb)`` finds the face with the kiosk's own
detector (:class:`FaceQuality`), aligns it with dlib's 5-point shape predictor and embeds it with
dlib's ResNet (128 values, ``models/dlib_face_recognition_resnet.md``). The similarity is
``1 - Euclidean distance`` of the two embeddings; ``match`` at or above ``face.match_threshold``,
``no_match`` below it, ``cannot_tell`` when either image is below the quality bar (no face, too
small, turned too far, badly lit). Embeddings and images stay in memory: nothing here stores or
logs them. Only :func:`score_band` of a result is meant to be recorded.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import FaceConfig
from appliance.errors import InvalidInput
from appliance.pipeline.face_quality import OK, FaceAssessment, FaceQuality
from appliance.pipeline.inference import ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"
RECOGNITION_MODEL = MODELS_DIR / "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_MODEL = MODELS_DIR / "shape_predictor_5_face_landmarks.dat"
MATCH, NO_MATCH, CANNOT_TELL = "match", "no_match", "cannot_tell"
CHIP_PADDING = 0.25  # dlib's default margin around the aligned 150x150 face chip


def decode_image(data: bytes) -> np.ndarray:
    """RGB pixels of a JPEG or JPEG 2000 file (a DG2 portrait); InvalidInput if it is neither."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(f"not a readable JPEG or JPEG 2000 image: {exc}") from None


@dataclass
class FaceSample:
    """One image ready to compare: the embedding (None without a usable face) and its quality."""

    embedding: np.ndarray | None = field(repr=False)
    quality: dict[str, Any]

    @property
    def usable(self) -> bool:
        return self.embedding is not None and self.quality["ok"]


@dataclass
class MatchResult:
    decision: str
    similarity: float | None
    threshold: float
    quality: tuple[dict[str, Any], dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        sim = None if self.similarity is None else round(self.similarity, 4)
        return {
            "decision": self.decision,
            "similarity": sim,
            "threshold": self.threshold,
            "score_band": score_band(self.similarity),
            "quality": {"a": self.quality[0], "b": self.quality[1]},
        }


def score_band(similarity: float | None) -> str:
    """The similarity rounded down to a tenth ("0.5-0.6"), or "none": what may be recorded."""
    if similarity is None:
        return "none"
    lo = math.floor(max(min(similarity, 0.999), -0.999) * 10) / 10
    return f"{lo:.1f}-{lo + 0.1:.1f}"


def comparison_quality(a: FaceAssessment, cfg: FaceConfig) -> dict[str, Any]:
    """Is this face good enough to compare? A 0-100 score and the reasons it is not.

    Looser than the ICAO capture policy (a chip portrait is small and compressed): a face found,
    at least ``match_min_inter_eye_px`` between the eyes, turned at most ``match_max_pose_deg``,
    mean face luminance 0.10-0.92.
    """
    m = a.measures

    def raw(name: str) -> float | None:
        return m[name].raw if name in m and m[name].status == OK else None

    if a.face is None:
        return {"ok": False, "score": 0, "reasons": ["no_face"], "inter_eye_px": None}
    reasons = []
    ied = raw("inter_eye_distance") or 0.0
    if ied < cfg.match_min_inter_eye_px:
        reasons.append("face_too_small")
    pose = max(abs(raw(f"head_pose_{axis}") or 0.0) for axis in ("yaw", "pitch"))
    if pose > cfg.match_max_pose_deg:
        reasons.append("pose")
    lum = raw("luminance_mean")
    if lum is not None and not 0.10 <= lum <= 0.92:
        reasons.append("too_dark" if lum < 0.10 else "too_bright")
    score = round(
        100
        * min(
            min(ied / (2 * cfg.match_min_inter_eye_px), 1.0),
            max(0.0, 1.0 - pose / (2 * cfg.match_max_pose_deg)),
        )
    )
    return {"ok": not reasons, "score": score, "reasons": reasons, "inter_eye_px": round(ied, 1)}


class FaceMatcher:
    """Loads the detector, the shape predictor and the recognition model once."""

    def __init__(self, cfg: FaceConfig | None = None, quality: FaceQuality | None = None) -> None:
        self.cfg = cfg or FaceConfig()
        self.quality = quality or FaceQuality(self.cfg)
        try:
            import dlib  # native library (dlib-bin), loaded only where faces are compared
        except ImportError as exc:
            hint = "pip install dlib-bin==20.0.1.post1"
            raise ModelError(f"dlib is not installed ({hint}): {exc}") from None
        for path in (SHAPE_MODEL, RECOGNITION_MODEL):
            if not path.is_file():
                raise ModelError(f"model file not found: {path}")
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(SHAPE_MODEL))
        self._net = dlib.face_recognition_model_v1(str(RECOGNITION_MODEL))

    def sample(self, rgb: np.ndarray, assessment: FaceAssessment | None = None) -> FaceSample:
        """Assess (unless given) and embed the largest face of an RGB image."""
        a = assessment or self.quality.assess(rgb)
        q = comparison_quality(a, self.cfg)
        if a.face is None:
            return FaceSample(None, q)
        x0, y0, x1, y1 = (round(v) for v in a.face.box)
        img = np.ascontiguousarray(rgb)
        shape = self._shape(img, self._dlib.rectangle(x0, y0, x1, y1))
        vec = self._net.compute_face_descriptor(img, shape, 0, CHIP_PADDING)
        return FaceSample(np.asarray(vec, np.float32), q)

    def compare(self, a: FaceSample, b: FaceSample) -> MatchResult:
        thr = self.cfg.match_threshold
        sim = None
        if a.embedding is not None and b.embedding is not None:
            sim = 1.0 - float(np.linalg.norm(a.embedding - b.embedding))
        if not (a.usable and b.usable) or sim is None:
            decision = CANNOT_TELL
        else:
            decision = MATCH if sim >= thr else NO_MATCH
        return MatchResult(decision, sim, thr, (a.quality, b.quality))

    def compare_images(self, a: np.ndarray, b: np.ndarray) -> MatchResult:
        return self.compare(self.sample(a), self.sample(b))
