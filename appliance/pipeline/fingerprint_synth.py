"""Seeded generator of plausible 500 ppi fingerprint images (SFinGe-style, numpy only).

A finger is an orientation field (a zero-pole model with cores and deltas, or an arch) and a
ridge period; ridges are grown from noise by repeated oriented Gabor filtering, which makes
ridge endings and bifurcations appear by themselves. A :class:`PrintSpec` then renders one
impression of that finger the way an optical sensor sees it: a fingertip-shaped contact region,
pressure, moisture (wet: ridges widen and merge; dry: ridges thin out and break), contrast,
noise, blur, smudging (motion), partial and off-centre contact, or no finger at all.

The same ``seed`` always gives the same finger and the same image. :func:`degraded` makes a
print at a known degradation level (0 = clean .. 1 = useless), and :func:`target_quality` is
the 0-100 quality the score model is trained to reproduce from those known levels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

PATTERNS = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")
DEGRADATIONS = ("wet", "dry", "noise", "blur", "partial", "low_contrast", "off_center", "smudge")
_BINS = 12  # orientation bins of the Gabor filter bank
_ITERATIONS = 7


@dataclass(frozen=True)
class PrintSpec:
    """One impression. Severities are 0 (none) .. 1 (worst) unless stated."""

    seed: int = 0
    rows: int = 288
    cols: int = 256
    pattern: str | None = None  # one of PATTERNS; None: drawn from the seed
    period: float | None = None  # ridge period in pixels (8-11 at 500 ppi); None: from the seed
    present: bool = True  # False: an empty sensor
    moisture: float = 0.0  # -1 very dry .. 0 normal .. +1 very wet
    pressure: float = 0.5  # 0 light .. 1 hard
    contrast: float = 1.0  # ridge darkness relative to a good print
    noise: float = 0.0  # sensor noise severity
    blur: float = 0.0  # defocus blur, Gaussian sigma in pixels
    smudge: float = 0.0  # the finger slid and twisted during the capture (0 .. 1)
    contact: float = 1.0  # fraction of the fingertip in contact (partial prints < 1)
    offset: tuple[float, float] = (0.0, 0.0)  # centre shift (rows, cols) as a fraction of size


# --- the finger: orientation field and grown ridges ----------------------------------------


def _orientation(rows: int, cols: int, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """Ridge orientation (radians, mod pi) at every pixel."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    cy, cx = rows * rng.uniform(0.38, 0.48), cols * rng.uniform(0.44, 0.56)
    z = (xx - cx) + 1j * (yy - cy)
    if pattern == "arch":
        amp = rng.uniform(0.6, 1.1)
        width = cols * rng.uniform(0.25, 0.4)
        # ridges y = c - amp * h(x), flattened away from the centre row band
        slope = amp * 2 * (xx - cx) / width * np.exp(-(((xx - cx) / width) ** 2))
        slope *= np.exp(-(((yy - cy) / (rows * 0.6)) ** 2))
        theta = np.arctan(slope)
    else:
        s = rows * 0.18
        if pattern == "whorl":
            cores = [complex(-0.25 * s, -0.3 * s), complex(0.25 * s, 0.3 * s)]
            deltas = [complex(-2.2 * s, 1.9 * s), complex(2.2 * s, 1.9 * s)]
        elif pattern == "tented_arch":
            cores, deltas = [complex(0, -0.2 * s)], [complex(0, 1.2 * s)]
        else:
            side = -1 if pattern == "left_loop" else 1
            cores, deltas = [complex(0, -0.4 * s)], [complex(side * 1.9 * s, 1.7 * s)]
        jitter = lambda p: p + complex(*rng.normal(0, 0.12 * s, 2))  # noqa: E731
        theta = np.zeros_like(xx)
        for d in map(jitter, deltas):
            theta += 0.5 * np.angle(z - d)
        for c in map(jitter, cores):
            theta -= 0.5 * np.angle(z - c)
    theta += rng.normal(0, 0.08)
    return np.mod(theta, np.pi)


def _gabor_bank(shape: tuple[int, int], period: float) -> np.ndarray:
    """Frequency responses (bins, rows, cols//2+1) of even Gabor filters, one per orientation."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    f0, sigma = 1.0 / period, period * 0.55  # spatial sigma of the envelope
    bank = []
    for k in range(_BINS):
        ridge_dir = np.pi * k / _BINS
        nx, ny = -np.sin(ridge_dir), np.cos(ridge_dir)  # the normal: across the ridges
        resp = np.zeros((shape[0], shape[1] // 2 + 1))
        for sign in (1, -1):
            du, dv = fx - sign * f0 * nx, fy - sign * f0 * ny
            resp += np.exp(-2 * (np.pi * sigma) ** 2 * (du**2 + dv**2))
        bank.append(resp)
    return np.asarray(bank)


@functools.lru_cache(maxsize=32)
def finger(
    seed: int,
    rows: int = 288,
    cols: int = 256,
    pattern: str | None = None,
    period: float | None = None,
) -> np.ndarray:
    """The ridge field of one finger: values in [-1, 1], ridges positive (read-only, cached)."""
    rng = np.random.default_rng([seed, 7919])
    pattern = pattern or PATTERNS[int(rng.integers(len(PATTERNS)))]
    period = period or float(rng.uniform(8.0, 10.5))
    pad = 24
    shape = (rows + 2 * pad, cols + 2 * pad)
    theta = np.pad(_orientation(rows, cols, pattern, rng), pad, mode="edge")
    pos = theta / np.pi * _BINS
    lo = np.floor(pos).astype(int) % _BINS
    w_hi = pos - np.floor(pos)
    bank = _gabor_bank(shape, period)
    field = rng.normal(0, 1, shape)
    for _ in range(_ITERATIONS):
        spec = np.fft.rfft2(field)
        out = np.zeros(shape)
        for k in range(_BINS):
            sel_lo, sel_hi = lo == k, (lo + 1) % _BINS == k
            if not (sel_lo.any() or sel_hi.any()):
                continue
            resp = np.fft.irfft2(spec * bank[k], s=shape)
            out += resp * np.where(sel_lo, 1 - w_hi, 0) + resp * np.where(sel_hi, w_hi, 0)
        field = np.tanh(2.5 * out / (out.std() + 1e-9))
    field = field[pad:-pad, pad:-pad].copy()
    field.flags.writeable = False
    return field


# --- rendering one impression --------------------------------------------------------------


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur through the FFT (edges reflected)."""
    if sigma <= 0:
        return img
    pad = int(3 * sigma) + 1
    padded = np.pad(img, pad, mode="reflect")
    fy = np.fft.fftfreq(padded.shape[0])[:, None]
    fx = np.fft.rfftfreq(padded.shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    out = np.fft.irfft2(np.fft.rfft2(padded) * kernel, s=padded.shape)
    return out[pad:-pad, pad:-pad]


def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance noise with blobs of about ``scale`` pixels."""
    n = gaussian_blur(rng.normal(0, 1, shape), scale)
    return (n - n.mean()) / (n.std() + 1e-9)


def _contact_mask(spec: PrintSpec, rng: np.random.Generator) -> np.ndarray:
    rows, cols = spec.rows, spec.cols
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    grow = 0.85 + 0.2 * spec.pressure
    cy = rows * (0.5 + spec.offset[0]) + rng.normal(0, 3)
    cx = cols * (0.5 + spec.offset[1]) + rng.normal(0, 3)
    ry, rx = rows * 0.46 * grow, cols * 0.40 * grow
    # a fingertip: an ellipse, a little flattened towards the first knuckle
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / (ry * np.where(yy > cy, 1.25, 1.0))) ** 2)
    edge = _smooth_noise((rows, cols), 12, rng) * 0.04
    mask = np.clip((1.0 - d + edge) / 0.06, 0, 1)
    if spec.contact < 1.0:
        # only part of the finger touches: cut the region along a random line through it
        angle = rng.uniform(0, 2 * np.pi)
        proj = (xx - cx) / rx * np.cos(angle) + (yy - cy) / ry * np.sin(angle)
        # the cut position that keeps about `contact` of the ellipse area
        cut = np.quantile(proj[d < 1], np.clip(spec.contact, 0.0, 1.0)) if (d < 1).any() else 0
        mask *= np.clip((cut - proj) / 0.05, 0, 1)
    return mask


def render(spec: PrintSpec) -> np.ndarray:
    """The grey (uint8, rows x cols) image of one impression: dark ridges on a light ground."""
    rng = np.random.default_rng([spec.seed, 104729, int(spec.moisture * 1000) & 0xFFFF])
    rows, cols = spec.rows, spec.cols
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    background = 232 + 8 * np.cos(np.hypot(yy - rows / 2, xx - cols / 2) / max(rows, cols) * 2)
    background += rng.normal(0, 1.0, (rows, cols))
    if not spec.present:
        img = background + rng.normal(0, 1 + 8 * spec.noise, (rows, cols))
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    field = np.asarray(finger(spec.seed, rows, cols, spec.pattern, spec.period), dtype=np.float64)
    period = spec.period or _period_of(spec.seed)
    wet, dry = max(spec.moisture, 0.0), max(-spec.moisture, 0.0)
    # wider ridges under pressure and moisture, thinner when dry or light
    bias = 0.15 * (spec.pressure - 0.5) + 1.1 * wet - 0.55 * dry
    ridge = field + bias
    if wet > 0:
        # sweat fills valleys in blotches, merging neighbouring ridges
        blotch = _smooth_noise((rows, cols), period * 1.4, rng)
        ridge = ridge + wet * 1.1 * np.clip(blotch + 0.8 * wet, 0, None)
        ridge = gaussian_blur(ridge, 1.0 + 1.6 * wet)
    ink = 1.0 / (1.0 + np.exp(-4.0 * ridge))
    if dry > 0:
        # dry skin touches the glass in dots and dashes: ridges break, contrast fades
        pores = _smooth_noise((rows, cols), period * 0.28, rng)
        ink *= np.clip((pores + 1.6 - 2.8 * dry) / 0.5, 0, 1)
        ink *= 1.0 - 0.45 * dry
    # uneven contact: some skin presses harder than the rest
    ink *= np.clip(0.85 + 0.12 * _smooth_noise((rows, cols), 18, rng), 0.5, 1.0)
    mask = _contact_mask(spec, rng)
    darkness = 175.0 * spec.contrast * (0.8 + 0.3 * spec.pressure)
    img = background - darkness * ink * mask
    if spec.smudge > 0:
        img = _slip(img, spec.smudge, period, _across_ridges(field), rng)
    img = gaussian_blur(img, spec.blur)
    img = img + rng.normal(0, 2.0 + 45.0 * spec.noise, (rows, cols))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _period_of(seed: int) -> float:
    rng = np.random.default_rng([seed, 7919])
    rng.integers(len(PATTERNS))
    return float(rng.uniform(8.0, 10.5))


def _across_ridges(field: np.ndarray) -> float:
    """The dominant direction across the ridges (radians, image x to the right, y down)."""
    gy, gx = np.gradient(field)
    return 0.5 * float(np.arctan2(2 * (gx * gy).sum(), (gx * gx - gy * gy).sum()))


def _slip(
    img: np.ndarray, amount: float, period: float, across: float, rng: np.random.Generator
) -> np.ndarray:
    """The finger slid and twisted while the image was taken: a smeared double impression.

    The slide goes roughly across the ridges, so ``amount`` means the same harm on every finger.
    """
    rows, cols = img.shape
    pivot_y, pivot_x = rows * 0.95, cols * rng.uniform(0.2, 0.8)
    angle = np.deg2rad(2.0 * amount) * rng.choice([-1.0, 1.0])
    direction = across + rng.normal(0, 0.2)
    shift = amount * period * np.exp(1j * direction)  # a full period at 1: ridges wash out
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    out = np.zeros_like(img)
    steps = 8
    for i in range(steps):
        f = i / (steps - 1) - 0.5
        a, d = angle * f, shift * f
        sy = pivot_y + (yy - pivot_y) * np.cos(a) - (xx - pivot_x) * np.sin(a) + d.imag
        sx = pivot_x + (yy - pivot_y) * np.sin(a) + (xx - pivot_x) * np.cos(a) + d.real
        iy = np.clip(np.round(sy).astype(int), 0, rows - 1)
        ix = np.clip(np.round(sx).astype(int), 0, cols - 1)
        out += img[iy, ix]
    return out / steps


# --- known degradations --------------------------------------------------------------------


def degraded(seed: int, kind: str, level: float, rows: int = 288, cols: int = 256) -> PrintSpec:
    """A spec of finger ``seed`` degraded by ``kind`` at ``level`` (0 clean .. 1 useless)."""
    level = float(np.clip(level, 0.0, 1.0))
    base = PrintSpec(seed=seed, rows=rows, cols=cols)
    if kind == "wet":
        return replace(base, moisture=level, pressure=0.5 + 0.3 * level)
    if kind == "dry":
        return replace(base, moisture=-level, pressure=0.5 - 0.3 * level)
    if kind == "noise":
        return replace(base, noise=level)
    if kind == "blur":
        return replace(base, blur=4.0 * level)
    if kind == "partial":
        return replace(base, contact=1.0 - 0.9 * level)
    if kind == "low_contrast":
        return replace(base, contrast=1.0 - 0.93 * level)
    if kind == "off_center":
        side = np.random.default_rng(seed).choice([-1.0, 1.0], 2)
        return replace(base, offset=(0.45 * level * side[0], 0.5 * level * side[1]))
    if kind == "smudge":
        return replace(base, smudge=level)
    raise ValueError(f"unknown degradation {kind!r}: use one of {', '.join(DEGRADATIONS)}")


def severities(spec: PrintSpec) -> dict[str, float]:
    """How degraded ``spec`` is along each axis (0 none .. 1 useless)."""
    off = float(np.hypot(spec.offset[0] / 0.45, spec.offset[1] / 0.5) / np.sqrt(2))
    return {
        "wet": max(spec.moisture, 0.0),
        "dry": max(-spec.moisture, 0.0),
        "noise": spec.noise,
        "blur": spec.blur / 4.0,
        "partial": (1.0 - spec.contact) / 0.9,
        "low_contrast": (1.0 - spec.contrast) / 0.93,
        "off_center": off,
        "smudge": spec.smudge,
    }


def target_quality(spec: PrintSpec) -> float:
    """The 0-100 quality the score model learns: 100 x the product of (1 - severity)^weight.

    A hand-made stand-in for matcher utility: it falls with every known degradation, and is 0
    for an empty sensor. It is not NFIQ 2 and was not fitted to real matcher scores.
    """
    if not spec.present:
        return 0.0
    weights = {
        "wet": 1.0,
        "dry": 1.0,
        "noise": 1.0,
        "blur": 1.0,
        "partial": 1.0,
        "low_contrast": 1.0,
        "off_center": 0.8,
        "smudge": 1.0,
    }
    q = 1.0
    for name, sev in severities(spec).items():
        q *= (1.0 - float(np.clip(sev, 0.0, 1.0))) ** weights[name]
    return 100.0 * q


def random_spec(rng: np.random.Generator, seed: int, rows: int = 288, cols: int = 256) -> PrintSpec:
    """A training impression: a mix of 0-3 degradations at random levels (or an empty sensor)."""
    if rng.random() < 0.04:
        return PrintSpec(seed=seed, rows=rows, cols=cols, present=False, noise=rng.uniform(0, 0.3))
    spec = PrintSpec(seed=seed, rows=rows, cols=cols, pressure=float(rng.uniform(0.3, 0.7)))
    n = int(rng.choice([0, 1, 1, 2, 2, 3]))
    for kind in rng.choice(DEGRADATIONS, size=n, replace=False):
        level = float(rng.uniform(0.0, 1.0))
        one = degraded(seed, str(kind), level, rows, cols)
        spec = replace(
            spec,
            moisture=spec.moisture + one.moisture,
            noise=max(spec.noise, one.noise),
            blur=max(spec.blur, one.blur),
            contact=min(spec.contact, one.contact),
            contrast=min(spec.contrast, one.contrast),
            offset=one.offset if kind == "off_center" else spec.offset,
            smudge=max(spec.smudge, one.smudge),
        )
    return replace(spec, moisture=float(np.clip(spec.moisture, -1, 1)))


def synthesize(seed: int, rows: int = 288, cols: int = 256, **kwargs) -> np.ndarray:
    """Shorthand: the image of ``PrintSpec(seed, rows, cols, **kwargs)``."""
    return render(PrintSpec(seed=seed, rows=rows, cols=cols, **kwargs))
