"""Fingerprint quality: NFIQ 2 measures (numpy), a TFLite score, feedback codes.

:func:`features` computes, on an 8-bit grey 500 ppi print (the sensor's frame), the NFIQ 2
native measures of :mod:`appliance.pipeline.finger_measures` that the score model reads
(``MODEL_INPUTS``), and a few frame measures for the feedback rules (``FEEDBACK_FEATURES``):
how much of the frame has ridges, contrast, merged dark blotches (wet), sparse light ridges
(dry), where the finger sits. A small model (``models/finger_quality.tflite``, trained by
``tools/train_finger_quality.py`` on NIST's NFIQ 2 conformance table and generated prints)
turns the measures into a 0-100 score on NFIQ 2's scale through the shared inference shim.
:class:`FingerQuality` adds a verdict and feedback codes, each with an instruction in
Vietnamese and English for the screen.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from appliance.config import FingerConfig
from appliance.errors import InvalidInput
from appliance.pipeline.finger_measures import crop_white_frame, measures, region_of_interest

MODEL_PATH = Path(__file__).resolve().parent / "models" / "finger_quality.tflite"
BLOCK = 16  # blocks of the feedback measures (pixels)
FULL_FRAME = 0.9  # finger on this share of the frame's blocks: the finger mask is the ROI
ROI_CAP = (
    60000  # ROI pixels counted up to this (80% of an R307 frame): roi_area = min(n, cap) / cap
)

# model inputs: NFIQ 2 native measures (finger_measures.MEASURE_NAMES) under short names
MODEL_INPUTS: dict[str, str] = {
    "ocl": "OCL_Bin10_Mean",  # orientation certainty, mean over 32x32 blocks
    "ocl_sd": "OCL_Bin10_StdDev",
    "lcs": "LCS_Bin10_Mean",  # local clarity
    "lcs_sd": "LCS_Bin10_StdDev",
    "fda": "FDA_Bin10_Mean",  # frequency-domain analysis
    "fda_sd": "FDA_Bin10_StdDev",
    "of": "OF_Bin10_Mean",  # orientation flow (0: smooth)
    "of_sd": "OF_Bin10_StdDev",
    "mu": "Mu",  # mean grey
    "mmb": "MMB",  # mean of block means
    "roi_mean": "ImgProcROIArea_Mean",  # mean grey of the finger (region of interest)
    "sigma": "Sigma",  # grey standard deviation
    "roi_area": "ROI_Pixels",  # finger pixels, min(n, ROI_CAP) / ROI_CAP
}
FEEDBACK_FEATURES: tuple[str, ...] = (
    "area",  # share of the frame's 16x16 blocks with ridge contrast (>= 0.15 of the frame's range)
    "contrast",  # (p99 - p1) grey of the frame / 255
    "wet_blobs",  # share of the finger area inside dark merged blotches (11x11 all dark)
    "dry_sparse",  # share of the finger's blocks with under 30% dark pixels
    "ink",  # mean darkness of the finger area, 0 (bare glass) .. 1 (darkest)
    "center_offset",  # distance of the finger's centre from the frame's centre (of its size)
    "border_touch",  # share of the frame's border blocks covered by finger
)
FEATURE_NAMES: tuple[str, ...] = (*MODEL_INPUTS, *FEEDBACK_FEATURES)

FEEDBACK_CODES: tuple[str, ...] = (
    "no_finger",
    "too_wet",
    "too_dry",
    "low_contrast",
    "partial",
    "off_center",
    "smudged",
)

INSTRUCTIONS: dict[str, dict[str, str]] = {
    "no_finger": {
        "vi": "Đặt ngón tay lên máy quét vân tay.",
        "en": "Place your finger on the sensor.",
    },
    "too_wet": {
        "vi": "Ngón tay quá ướt: lau khô ngón tay rồi thử lại.",
        "en": "Finger too wet: dry it and try again.",
    },
    "too_dry": {
        "vi": "Ngón tay quá khô: hà hơi vào đầu ngón tay rồi ấn lại.",
        "en": "Finger too dry: breathe on your fingertip and press again.",
    },
    "low_contrast": {
        "vi": "Ảnh quá mờ: ấn ngón tay chắc hơn.",
        "en": "Print too faint: press a little harder.",
    },
    "partial": {
        "vi": "Ấn phẳng cả đầu ngón tay lên máy quét vân tay.",
        "en": "Lay the whole fingertip flat on the sensor.",
    },
    "off_center": {
        "vi": "Đặt ngón tay vào giữa máy quét vân tay.",
        "en": "Centre your finger on the sensor.",
    },
    "smudged": {
        "vi": "Ảnh bị nhoè: giữ yên ngón tay, lau mặt kính rồi thử lại.",
        "en": "Print smudged: keep your finger still, wipe the glass and retry.",
    },
}


# The policy (pass score and feedback thresholds) is the ``[finger]`` config section.
QualityPolicy = FingerConfig


@dataclass
class QualityResult:
    score: float
    verdict: str
    feedback: list[str]
    features: dict[str, float]
    ms: dict[str, float] = field(default_factory=dict)

    def instructions(self) -> list[dict[str, str]]:
        return [{"code": c, **INSTRUCTIONS[c]} for c in self.feedback]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 1),
            "verdict": self.verdict,
            "feedback": list(self.feedback),
            "instructions": self.instructions(),
            "features": {k: round(v, 4) for k, v in self.features.items()},
            "ms": {k: round(v, 2) for k, v in self.ms.items()},
        }


# --- features ------------------------------------------------------------------------------


def _blocks(a: np.ndarray, b: int) -> np.ndarray:
    """(rows//b, cols//b) block means of the top-left part of ``a`` that tiles exactly."""
    r, c = a.shape[0] // b, a.shape[1] // b
    return a[: r * b, : c * b].reshape(r, b, c, b).sum(axis=3).sum(axis=1) / (b * b)


def _all_dark(dark: np.ndarray, size: int = 11) -> np.ndarray:
    """Pixels at the centre of a ``size`` x ``size`` square that is all dark (integral image)."""
    ii = np.pad(np.cumsum(np.cumsum(dark, axis=0, dtype=np.int32), axis=1), ((1, 0), (1, 0)))
    h, w = dark.shape
    if h < size or w < size:
        return np.zeros_like(dark)
    box = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    out = np.zeros_like(dark)
    half = size // 2
    out[half : half + box.shape[0], half : half + box.shape[1]] = box == size * size
    return out


def frame_features(img: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """The feedback measures of the whole frame (see ``FEEDBACK_FEATURES``) and the finger's
    pixel mask (16x16 blocks with ridges, or dark with merged ridges)."""
    counts = np.cumsum(np.bincount(np.clip(img, 0, 255).astype(np.uint8).ravel(), minlength=256))
    lo, hi = np.searchsorted(counts, (0.01 * counts[-1], 0.99 * counts[-1]))  # p1, p99
    rng = max(float(hi - lo), 1.0)
    dk = np.clip((hi - img) / rng, 0.0, 1.0)  # darkness: 0 = bare glass, 1 = darkest
    mean = _blocks(img, BLOCK)
    std = np.sqrt(np.maximum(_blocks(img * img, BLOCK) - mean * mean, 0.0))
    bdark = _blocks(dk, BLOCK)
    # the finger: blocks with ridge contrast, and dark blocks whose ridges have merged
    fg = (std >= 0.15 * rng) | ((bdark > 0.5) & (std < 0.15 * rng))
    if rng < 12 or not fg.any():
        fg = np.zeros_like(fg)
    out = dict.fromkeys(FEEDBACK_FEATURES, 0.0)
    out["area"] = float(fg.mean())
    out["contrast"] = rng / 255.0
    px = np.repeat(np.repeat(fg, BLOCK, 0), BLOCK, 1)
    if fg.sum() < 4:
        return out, px
    share = _blocks((dk > 0.5).astype(np.float64), BLOCK)
    sub = dk[: px.shape[0], : px.shape[1]]
    blobs = _all_dark((sub > 0.7).astype(np.uint8)).astype(bool)
    out["wet_blobs"] = float((blobs & px).sum() / px.sum())
    out["dry_sparse"] = float((share[fg] < 0.3).mean())
    out["ink"] = float(sub[px].mean())
    ys, xs = np.nonzero(fg)
    cy = (ys.mean() + 0.5) / fg.shape[0] - 0.5
    cx = (xs.mean() + 0.5) / fg.shape[1] - 0.5
    out["center_offset"] = float(np.hypot(cy, cx))
    border = np.concatenate([fg[0], fg[-1], fg[1:-1, 0], fg[1:-1, -1]])
    out["border_touch"] = float(border.mean())
    return out, px


def features(image: np.ndarray) -> dict[str, float]:
    """The quality features of a grey print (uint8, any size of at least 64 x 64)."""
    img = np.asarray(image)
    if img.ndim != 2 or img.shape[0] < 64 or img.shape[1] < 64:
        raise InvalidInput(f"expected a grey image of at least 64x64, got shape {img.shape}")
    img = img.astype(np.float64)
    nfiq = measures(img, roi=False)
    out = {short: nfiq[name] for short, name in MODEL_INPUTS.items()}
    frame, finger = frame_features(img)
    # the region of interest: NFIQ 2's (blur + Otsu), except when the finger fills the frame,
    # as it often does on an R30x: Otsu then splits the print itself, so the finger mask of
    # the feedback measures stands in
    if frame["area"] >= FULL_FRAME:
        roi, grey = finger, img[: finger.shape[0], : finger.shape[1]]
    else:
        grey = crop_white_frame(img)
        roi = region_of_interest(grey) if min(grey.shape) >= 64 else np.zeros(grey.shape, bool)
    n = int(roi.sum())
    out["roi_area"] = min(n, ROI_CAP) / ROI_CAP
    out["roi_mean"] = float(grey[roi].mean()) if n else 255.0
    out.update(frame)
    return out


def feature_vector(feats: dict[str, float]) -> np.ndarray:
    """The model's input row (``MODEL_INPUTS`` order)."""
    return np.asarray([[feats[name] for name in MODEL_INPUTS]], dtype=np.float32)


# --- score and feedback --------------------------------------------------------------------


def feedback(feats: dict[str, float], score: float, policy: QualityPolicy) -> list[str]:
    """Feedback codes (most important first) for a print with these features and score.

    The rules and how they were calibrated are in docs/fingerprint.md.
    """
    if feats["area"] < policy.no_finger_area:
        return ["no_finger"]
    codes: list[str] = []
    if feats["wet_blobs"] > policy.wet_blobs:
        codes.append("too_wet")
    elif feats["dry_sparse"] > policy.dry_sparse and feats["ink"] < policy.dry_ink:
        codes.append("too_dry")
    if feats["contrast"] < policy.low_contrast and "too_dry" not in codes:
        codes.append("low_contrast")
    if (
        feats["center_offset"] > policy.off_center
        and feats["border_touch"] > policy.off_center_border
    ):
        codes.append("off_center")
    elif feats["area"] < policy.partial_area:
        codes.append("partial")
    moisture = {"too_wet", "too_dry", "low_contrast"} & set(codes)
    if not moisture and (
        feats["ocl"] < policy.smudged_ocl or (not codes and score < policy.pass_score)
    ):
        codes.append("smudged")  # poor ridge flow, or a failing score, with no skin cause
    return codes


class FingerQuality:
    """Features + the TFLite score model + policy: call :meth:`assess` on grey prints."""

    def __init__(
        self,
        policy: QualityPolicy | None = None,
        model_path: str | Path = MODEL_PATH,
        threads: int | None = None,
    ) -> None:
        from appliance.pipeline.inference import load_model

        self.policy = policy or QualityPolicy()
        self.model = load_model(model_path, threads=threads or self.policy.threads)
        self._lock = threading.Lock()

    def score(self, feats: dict[str, float]) -> float:
        if feats["area"] < self.policy.no_finger_area:
            return 0.0
        (out,) = self.model.run([feature_vector(feats)])
        return float(np.clip(np.asarray(out).reshape(-1)[0], 0.0, 100.0))

    def assess(self, image: np.ndarray) -> QualityResult:
        t0 = time.perf_counter()
        feats = features(image)
        t1 = time.perf_counter()
        score = self.score(feats)
        t2 = time.perf_counter()
        codes = feedback(feats, score, self.policy)
        # merged ridges make false minutiae and hide real ones whatever the score: retry
        blocked = {"no_finger", "too_wet"} & set(codes)
        verdict = "pass" if score >= self.policy.pass_score and not blocked else "fail"
        ms = {"features": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return QualityResult(score, verdict, codes, feats, ms)


_shared: dict[tuple, FingerQuality] = {}
_shared_lock = threading.Lock()


def shared_assessor(policy: QualityPolicy | None = None) -> FingerQuality:
    """One assessor per policy per process: the model is loaded once."""
    policy = policy or QualityPolicy()
    key = tuple(sorted(vars(policy).items()))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = FingerQuality(policy)
        return _shared[key]
