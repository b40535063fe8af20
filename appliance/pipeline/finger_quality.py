"""Fingerprint quality: NFIQ 2-inspired features (numpy), a TFLite score, feedback codes.

:func:`features` measures an 8-bit grey print (500 ppi) block by block: foreground area and
where it sits, contrast, orientation certainty and flow, local clarity and the frequency-domain
strength of the ridge pattern, ridge period, ridge/valley balance and its uniformity, and a
minutiae-count estimate. A small model (``models/finger_quality.tflite``, trained by
``tools/train_finger_quality.py``) turns them into a 0-100 score through the shared inference
shim. :class:`FingerQuality` adds a verdict and feedback codes, each with an instruction in
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

MODEL_PATH = Path(__file__).resolve().parent / "models" / "finger_quality.tflite"
BLOCK = 16  # orientation / segmentation blocks (pixels)
CLARITY_BLOCK = 32  # blocks for the ridge-profile features

FEATURE_NAMES: tuple[str, ...] = (
    "foreground",  # fraction of the image that is finger (ridge-like blocks)
    "presence",  # fraction of the image with anything on the glass (also broken, dry skin)
    "center_offset",  # distance of the finger's centroid from the image centre (0..~0.7)
    "border_touch",  # fraction of the image border covered by finger
    "contrast",  # p95 - p5 of the foreground grey, / 255
    "mean_grey",  # mean foreground grey / 255
    "ink",  # how much darker the touched area is than the bare glass (wet: high, dry: low)
    "ocl",  # orientation certainty (coherence), mean over foreground blocks
    "ocl_low",  # fraction of foreground blocks with a poor orientation certainty
    "orientation_flow",  # mean change of orientation between neighbouring blocks (0..1)
    "clarity",  # local clarity: share of block variance an ideal ridge wave explains
    "clarity_low",  # fraction of foreground blocks with poor clarity
    "fda",  # frequency-domain analysis: the dominant ridge frequency's share of the spectrum
    "period",  # ridge period in pixels (median over blocks)
    "period_spread",  # spread of the ridge period between blocks (relative)
    "ridge_depth",  # ridge amplitude relative to the skin's darkness (smear, sweat: low)
    "ridge_depth_low",  # share of blocks whose ridges are much fainter than the print's best
    "dark_fraction",  # share of foreground pixels darker than the local mean (ridge/valley balance)
    "rvu",  # ridge-valley uniformity: spread of the dark fraction between blocks
    "minutiae",  # minutiae-count estimate (endings + bifurcations on the thinned ridges), / 100
)

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
        "vi": "Đặt ngón tay lên cảm biến.",
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
        "vi": "Ấn phẳng cả đầu ngón tay lên cảm biến.",
        "en": "Lay the whole fingertip flat on the sensor.",
    },
    "off_center": {
        "vi": "Đặt ngón tay vào giữa cảm biến.",
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
    """(rows//b, cols//b, b, b) view of the top-left part of ``a`` that tiles exactly."""
    r, c = a.shape[0] // b, a.shape[1] // b
    return a[: r * b, : c * b].reshape(r, b, c, b).swapaxes(1, 2)


def _box3(mask: np.ndarray) -> np.ndarray:
    """Sum over each 3x3 neighbourhood (zero padded)."""
    p = np.pad(mask.astype(np.int16), 1)
    return sum(p[i : i + mask.shape[0], j : j + mask.shape[1]] for i in range(3) for j in range(3))


def _neighbour_code(binary: np.ndarray) -> np.ndarray:
    """8-neighbour bit code (P2=1 .. P9=128, clockwise from north) of every pixel."""
    p = np.pad(binary, 1).astype(np.uint8)
    h, w = binary.shape
    shifts = ((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))
    code = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(shifts):
        code |= p[dy : dy + h, dx : dx + w] << bit
    return code


def _luts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zhang-Suen deletion tables for the two sub-iterations and the crossing number table."""
    first, second, crossing = np.zeros(256, bool), np.zeros(256, bool), np.zeros(256, np.int8)
    for code in range(256):
        n = [(code >> i) & 1 for i in range(8)]  # P2..P9
        b = sum(n)
        a = sum(n[i] == 0 and n[(i + 1) % 8] == 1 for i in range(8))
        p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
        ok = 2 <= b <= 6 and a == 1
        first[code] = ok and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        second[code] = ok and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
        crossing[code] = a
    return first, second, crossing


_ZS1, _ZS2, _CROSSING = _luts()


def _thin(binary: np.ndarray, max_iter: int = 8) -> np.ndarray:
    skel = binary.copy()
    for _ in range(max_iter):
        changed = False
        for table in (_ZS1, _ZS2):
            kill = skel & table[_neighbour_code(skel)]
            if kill.any():
                skel &= ~kill
                changed = True
        if not changed:
            break
    return skel


def features(image: np.ndarray) -> dict[str, float]:
    """The quality features of a grey print (uint8, any size of at least 64 x 64)."""
    img = np.asarray(image)
    if img.ndim != 2 or img.shape[0] < 64 or img.shape[1] < 64:
        raise InvalidInput(f"expected a grey image of at least 64x64, got shape {img.shape}")
    img = img.astype(np.float32)
    rows, cols = (
        (img.shape[0] // CLARITY_BLOCK) * CLARITY_BLOCK,
        (img.shape[1] // CLARITY_BLOCK) * CLARITY_BLOCK,
    )
    img = img[:rows, :cols]

    # gradients and per-block structure tensor
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[:, 1:-1] = img[:, 2:] - img[:, :-2]
    gy[1:-1, :] = img[2:, :] - img[:-2, :]
    gxx = _blocks(gx * gx, BLOCK).sum(axis=(2, 3))
    gyy = _blocks(gy * gy, BLOCK).sum(axis=(2, 3))
    gxy = _blocks(gx * gy, BLOCK).sum(axis=(2, 3))
    energy = gxx + gyy + 1e-6
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / energy
    blk = _blocks(img, BLOCK)
    bmean, bstd = blk.mean(axis=(2, 3)), blk.std(axis=(2, 3))

    # foreground: blocks with ridge-like structure, cleaned by a 3x3 majority
    fg = (bstd > 3.5) & (coherence > 0.35) & (bmean < 228.0)
    fg = _box3(fg) >= 4
    fg &= bstd > 3.0
    nfg = int(fg.sum())
    area = nfg / fg.size
    # the bare glass: the bright quiet blocks outside the finger
    quiet = bmean[~fg & (bstd < 5.0)]
    ground = float(np.percentile(img, 98)) - 10.0  # valleys touch the glass level too
    if quiet.size >= 4:
        ground = max(ground, float(np.percentile(quiet, 90)))
    # anything on the glass at all: dry skin leaves dots without a clear ridge flow, wet skin
    # dark blotches without ridges
    marks = _blocks(img < ground - 40.0, BLOCK).mean(axis=(2, 3)) > 0.03
    touched = fg | (_box3(marks) >= 5)
    presence = float(touched.mean())
    touched_px = np.repeat(np.repeat(touched, BLOCK, 0), BLOCK, 1)
    ink = float((ground - img[touched_px].mean()) / max(ground, 1.0)) if touched.any() else 0.0
    if nfg < 4:
        return _blank_features(area, presence, ink, img)

    by, bx = np.nonzero(fg)
    cy = (by.mean() + 0.5) / fg.shape[0] - 0.5
    cx = (bx.mean() + 0.5) / fg.shape[1] - 0.5
    border = np.concatenate([fg[0], fg[-1], fg[1:-1, 0], fg[1:-1, -1]])

    mask = np.repeat(np.repeat(fg, BLOCK, 0), BLOCK, 1)
    pix = img[mask]
    p5, p95 = np.percentile(pix, (5, 95))
    ocl = coherence[fg]

    # orientation flow: doubled-angle vectors compared with the 4-neighbours
    phi = np.arctan2(2 * gxy, gxx - gyy)  # doubled angle of the gradient
    vec = np.exp(1j * phi)
    diffs = []
    for shift in ((0, 1), (1, 0)):
        a = vec[: vec.shape[0] - shift[0], : vec.shape[1] - shift[1]]
        b = vec[shift[0] :, shift[1] :]
        both = fg[: fg.shape[0] - shift[0], : fg.shape[1] - shift[1]] & fg[shift[0] :, shift[1] :]
        diffs.append(np.abs(np.angle(a[both] * np.conj(b[both]))) / np.pi)
    flow = float(np.concatenate(diffs).mean()) if sum(d.size for d in diffs) else 1.0

    clar = _profile_features(img, gx, gy, fg, ground)

    # ridge/valley balance: pixels darker than their block mean
    local_mean = np.repeat(np.repeat(bmean, BLOCK, 0), BLOCK, 1)
    dark = img < local_mean
    dark_blocks = _blocks(dark, BLOCK).mean(axis=(2, 3))[fg]
    minutiae = _minutiae(dark & mask, fg)

    return {
        "foreground": area,
        "presence": presence,
        "center_offset": float(np.hypot(cy, cx)),
        "border_touch": float(border.mean()),
        "contrast": float((p95 - p5) / 255.0),
        "mean_grey": float(pix.mean() / 255.0),
        "ink": ink,
        "ocl": float(ocl.mean()),
        "ocl_low": float((ocl < 0.5).mean()),
        "orientation_flow": flow,
        **clar,
        "dark_fraction": float(dark_blocks.mean()),
        "rvu": float(dark_blocks.std()),
        "minutiae": minutiae / 100.0,
    }


def _blank_features(area: float, presence: float, ink: float, img: np.ndarray) -> dict:
    values = dict.fromkeys(FEATURE_NAMES, 0.0)
    values["foreground"] = area
    values["presence"] = presence
    values["ink"] = ink
    values["mean_grey"] = float(img.mean() / 255.0)
    values["orientation_flow"] = 1.0
    values["ocl_low"] = values["clarity_low"] = 1.0
    return values


def _profile_features(
    img: np.ndarray, gx: np.ndarray, gy: np.ndarray, fg16: np.ndarray, ground: float
) -> dict:
    """Clarity, FDA, ridge period and depth from a ridge-normal profile of each 32x32 block."""
    b = CLARITY_BLOCK
    k = b // BLOCK
    fg = _blocks(fg16, k).all(axis=(2, 3)) if fg16.shape[0] >= k else fg16[:0, :0]
    if not fg.any():  # fall back to blocks that are at least half foreground
        fg = _blocks(fg16, k).mean(axis=(2, 3)) >= 0.5
    blocks = _blocks(img, b)[fg]  # (n, b, b)
    n = blocks.shape[0]
    if n == 0:
        return {
            "clarity": 0.0,
            "clarity_low": 1.0,
            "fda": 0.0,
            "period": 0.0,
            "period_spread": 1.0,
            "ridge_depth": 0.0,
            "ridge_depth_low": 1.0,
        }
    bx = _blocks(gx, b)[fg]
    by = _blocks(gy, b)[fg]
    sxx, syy, sxy = (bx * bx).sum((1, 2)), (by * by).sum((1, 2)), (bx * by).sum((1, 2))
    normal = 0.5 * np.arctan2(2 * sxy, sxx - syy)  # direction across the ridges
    c = np.arange(b, dtype=np.float32) - (b - 1) / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    t = xx[None] * np.cos(normal)[:, None, None] + yy[None] * np.sin(normal)[:, None, None]
    s = -xx[None] * np.sin(normal)[:, None, None] + yy[None] * np.cos(normal)[:, None, None]
    # profile along t inside a band |s| < 8 (NFIQ 2 rotates a 32x16 window the same way)
    nb = 2 * b
    idx = np.clip(np.floor(t).astype(np.int32) + b, 0, nb - 1)
    band = np.abs(s) < 8
    flat = (np.arange(n)[:, None, None] * nb + idx)[band]
    vals = blocks[band]
    counts = np.bincount(flat, minlength=n * nb).reshape(n, nb)
    sums = np.bincount(flat, weights=vals, minlength=n * nb).reshape(n, nb)
    lo, hi = b - 11, b + 11  # 22 central samples, all well populated
    prof = sums[:, lo:hi] / np.maximum(counts[:, lo:hi], 1)
    prof = prof - prof.mean(axis=1, keepdims=True)
    # zero-padded spectrum: periods 5..15 px are ridges
    nfft = 128
    spec = np.abs(np.fft.rfft(prof * np.hanning(prof.shape[1]), n=nfft, axis=1))
    freqs = np.fft.rfftfreq(nfft)
    band_f = (freqs >= 1 / 15) & (freqs <= 1 / 5)
    peak = np.argmax(np.where(band_f, spec, 0), axis=1)
    rows_i = np.arange(n)
    fda = spec[rows_i, peak] / (spec[:, 1:].sum(axis=1) + 1e-6) * (nfft / 64)
    # parabolic interpolation of the peak for a finer ridge frequency
    left, mid, right = spec[rows_i, peak - 1], spec[rows_i, peak], spec[rows_i, peak + 1]
    denom = left - 2 * mid + right
    delta = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0)
    f_b = (peak + np.clip(delta, -0.5, 0.5)) / nfft
    period = 1.0 / np.maximum(f_b, 1e-3)
    # local clarity: how much of the block's variance a sinusoid across the ridges explains
    phase = 2 * np.pi * f_b[:, None, None] * t
    centred = blocks - blocks.mean(axis=(1, 2), keepdims=True)
    cos_p, sin_p = np.cos(phase), np.sin(phase)
    a = (centred * cos_p).mean((1, 2)) / np.maximum((cos_p**2).mean((1, 2)), 1e-6)
    bb = (centred * sin_p).mean((1, 2)) / np.maximum((sin_p**2).mean((1, 2)), 1e-6)
    fit = a[:, None, None] * cos_p + bb[:, None, None] * sin_p
    resid = np.where(band, (centred - fit) ** 2, 0).sum((1, 2))
    clarity = 1.0 - resid / np.maximum(np.where(band, centred**2, 0).sum((1, 2)), 1e-6)
    clarity = np.clip(clarity, 0.0, 1.0)
    # ridge depth: the wave's amplitude against how dark the skin makes the block (a smear or
    # sweat flattens the ridges without lightening the print)
    amp = np.hypot(a, bb)
    depth = amp / np.maximum(ground - blocks.mean(axis=(1, 2)), 8.0)
    med = float(np.median(period))
    return {
        "clarity": float(clarity.mean()),
        "clarity_low": float((clarity < 0.4).mean()),
        "fda": float(fda.mean()),
        "period": med,
        "period_spread": float(np.std(period) / max(med, 1e-6)),
        "ridge_depth": float(np.clip(np.median(depth), 0.0, 3.0)),
        "ridge_depth_low": float((amp < 0.4 * np.percentile(amp, 90)).mean()),
    }


def _minutiae(ridges: np.ndarray, fg16: np.ndarray) -> int:
    """Ridge endings and bifurcations on the thinned ridge map, away from the finger's edge."""
    core = fg16 & (_box3(fg16) == 9)  # blocks whose neighbours are all finger
    if not core.any():
        return 0
    ys, xs = np.nonzero(core)
    y0, y1 = ys.min() * BLOCK, (ys.max() + 1) * BLOCK
    x0, x1 = xs.min() * BLOCK, (xs.max() + 1) * BLOCK
    sub = ridges[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4]
    skel = _thin(sub)
    crossing = _CROSSING[_neighbour_code(skel)]
    found = skel & ((crossing == 1) | (crossing >= 3))
    inside = np.repeat(np.repeat(core, BLOCK, 0), BLOCK, 1)
    inside = inside[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4]
    return int((found & inside[: found.shape[0], : found.shape[1]]).sum())


def feature_vector(feats: dict[str, float]) -> np.ndarray:
    return np.asarray([[feats[name] for name in FEATURE_NAMES]], dtype=np.float32)


# --- score and feedback --------------------------------------------------------------------


def feedback(feats: dict[str, float], score: float, policy: QualityPolicy) -> list[str]:
    """Feedback codes (most important first) for a print with these features and score."""
    if feats["foreground"] < policy.no_finger_area:
        if feats["presence"] < policy.no_finger_presence:
            return ["no_finger"]
        if feats["ink"] > policy.wet_ink:
            return ["too_wet"]
        return ["too_dry"] if feats["ink"] < policy.dry_ink else ["smudged"]
    codes: list[str] = []
    if feats["ink"] > policy.wet_ink:
        codes.append("too_wet")
    elif feats["ink"] < policy.dry_ink and feats["clarity"] < policy.dry_clarity:
        codes.append("too_dry")
    if feats["contrast"] < policy.low_contrast and "too_dry" not in codes:
        codes.append("low_contrast")
    if (
        feats["center_offset"] > policy.off_center
        and feats["border_touch"] > policy.off_center_border
    ):
        codes.append("off_center")
    elif max(feats["foreground"], feats["presence"]) < policy.partial_area:
        codes.append("partial")
    smeared = (
        feats["clarity"] < policy.smudged_clarity or feats["ridge_depth"] < policy.smudged_depth
    )
    if not codes and (smeared or score < policy.pass_score):
        codes.append("smudged")  # poor ridges with no more specific cause
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
        if feats["foreground"] < self.policy.no_finger_area:
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
        verdict = "pass" if score >= self.policy.pass_score and "no_finger" not in codes else "fail"
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
