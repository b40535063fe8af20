"""NFIQ 2 native quality measures (ISO/IEC 29794-4), written from their published definitions.

:func:`measures` follows NIST NFIQ 2 v2.3.0 step by step, on a 500 ppi 8-bit grey print:

* the near-white frame around the print is cropped (rows/columns whose mean grey is above 250);
* segmentation as NFIQ 2's ``ridgesegment``: 32x32 blocks whose grey standard deviation is above
  0.1 of the whole image's are foreground;
* orientation certainty **OCL** per 32x32 block: 1 - lambda_min / lambda_max of the covariance
  of the grey gradients;
* on a grid of 32x32 blocks read through 36x36 windows (all pixels foreground): the block's
  orientation from the same covariance (NFIQ 2's ``ridgeorient``), the block rotated so that the
  ridges run vertically, a 32 x 16 slanted window, its profile across the ridges and the
  ridge/valley split by the profile's linear trend. From these: local clarity **LCS** (1 - the
  mean share of misclassified pixels, 0 when ridge or valley widths are out of range),
  frequency-domain analysis **FDA** (the dominant harmonic plus 0.3 of its neighbours, over the
  spectrum) and ridge-valley uniformity **RVU** (the ratios of successive complete ridge and
  valley widths);
* orientation flow **OF**: the mean angle difference of each block to its 8 neighbours above 4
  degrees, scaled to 0..1, for blocks whose whole neighbourhood is foreground;
* **Mu** (mean grey), **MMB** (mean of the 32x32 block means), **sigma** (grey standard
  deviation), and the region of interest: foreground pixel count and its mean grey.

Each block-wise measure is reported as mean and standard deviation (NFIQ 2's ``_Bin10_Mean`` and
``_Bin10_StdDev``). The arrays are vectorised with numpy; only the run-length steps of LCS and RVU
loop over blocks (about 60 on a 256x288 R307 print).
"""

from __future__ import annotations

import itertools

import numpy as np

BLOCK = 32  # NFIQ 2 block size at 500 ppi
SEG_THRESHOLD = 0.1  # block std / image std above this: foreground
V1_X, V1_Y = 32, 16  # the slanted window: 32 across the ridges, 16 along them
OFFSET = 2  # (ceil(hypot(32, 16)) - 32) / 2: the 36x36 window around each 32x32 block
ANGLE_MIN = np.deg2rad(4.0)  # orientation flow: changes below 4 degrees count as none
WHITE = 250.0  # crop: rows/columns brighter than this on average are frame, not print
# LCS: ridge width 3..10 px, valley width 2..10 px at 500 ppi, normalised by (500/125) x 5
_NORM = 500 / 125 * 5.0
_NWR = (3.0 / _NORM, 10.0 / _NORM)
_NWV = (2.0 / _NORM, 10.0 / _NORM)

MEASURE_NAMES: tuple[str, ...] = (
    "OCL_Bin10_Mean",
    "OCL_Bin10_StdDev",
    "LCS_Bin10_Mean",
    "LCS_Bin10_StdDev",
    "FDA_Bin10_Mean",
    "FDA_Bin10_StdDev",
    "RVUP_Bin10_Mean",
    "RVUP_Bin10_StdDev",
    "OF_Bin10_Mean",
    "OF_Bin10_StdDev",
    "Mu",
    "MMB",
    "Sigma",
    "ROI_Pixels",
    "ImgProcROIArea_Mean",
)


def crop_white_frame(img: np.ndarray) -> np.ndarray:
    """The image without its near-white border rows and columns (as NFIQ 2 does first)."""
    rows = np.flatnonzero(img.mean(axis=1) <= WHITE)
    cols = np.flatnonzero(img.mean(axis=0) <= WHITE)
    if rows.size == 0 or cols.size == 0:
        return img[:0, :0]
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _tiles(a: np.ndarray, b: int) -> np.ndarray:
    r, c = a.shape[0] // b, a.shape[1] // b
    return a[: r * b, : c * b].reshape(r, b, c, b).swapaxes(1, 2)


def _block_stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every 32x32 block (partial ones at the right and bottom
    included, as NFIQ 2 does), as (rows, cols) arrays."""
    starts_r = np.arange(0, img.shape[0], BLOCK)
    starts_c = np.arange(0, img.shape[1], BLOCK)
    n_r = np.diff(np.append(starts_r, img.shape[0]))
    n_c = np.diff(np.append(starts_c, img.shape[1]))
    count = n_r[:, None] * n_c[None, :]

    def sums(a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.add.reduceat(a, starts_r, axis=0), starts_c, axis=1)

    mean = sums(img) / count
    var = np.maximum(sums(img * img) / count - mean * mean, 0.0)
    return mean, np.sqrt(var)


def segment(img: np.ndarray) -> np.ndarray:
    """Pixel mask of ridge-like 32x32 blocks (NFIQ 2's ``ridgesegment``)."""
    std = float(img.std())
    if std <= 0:
        return np.zeros(img.shape, bool)
    _, bstd = _block_stats(img)
    fg = bstd / std > SEG_THRESHOLD
    return np.repeat(np.repeat(fg, BLOCK, 0), BLOCK, 1)[: img.shape[0], : img.shape[1]]


def _box_rows(img: np.ndarray, width: int) -> np.ndarray:
    """Mean over ``width`` rows (mirrored borders), by a running sum."""
    half = width // 2
    c = np.cumsum(np.pad(img, ((half + 1, width - half - 1), (0, 0)), mode="reflect"), axis=0)
    n = img.shape[0]
    return (c[width : width + n] - c[:n]) / width


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur approximated by three box passes each way (no BLAS needed)."""
    width = max(1, round(float(np.sqrt(4 * sigma * sigma + 1))))
    out = img
    for _ in range(2):
        for _ in range(3):
            out = _box_rows(out, width)
        out = out.T
    return out


def _otsu_dark(img: np.ndarray) -> np.ndarray:
    """Pixels at or below Otsu's threshold of the (rounded) grey histogram."""
    values = np.clip(np.rint(img), 0, 255).astype(np.int64)
    hist = np.bincount(values.ravel(), minlength=256).astype(float)
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return values <= int(np.argmax(between))


def region_of_interest(img: np.ndarray) -> np.ndarray:
    """NFIQ 2's image-processing ROI: 5x5 erosion (grey minimum), Gaussian blur (41 taps,
    sigma 6.5), Otsu, Gaussian blur of that mask (91 taps, sigma 14), Otsu again; the dark side
    is the finger. Here the erosion is a 2x2 minimum then a 3x3 minimum at half resolution and
    the blurs run at quarter resolution (three box passes), which moves the boundary by a few
    pixels; NFIQ 2's hole filling and largest-blob step are left out."""
    h, w = img.shape
    h2, w2 = h // 4 * 2, w // 4 * 2
    a = img[: 2 * h2, : 2 * w2]
    mins = np.minimum(
        np.minimum(a[0::2, 0::2], a[1::2, 0::2]), np.minimum(a[0::2, 1::2], a[1::2, 1::2])
    )
    pad = np.pad(mins, 1, mode="edge")
    rows = np.minimum(np.minimum(pad[:-2], pad[1:-1]), pad[2:])
    eroded = np.minimum(np.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    e = eroded
    quarter = (e[0::2, 0::2] + e[1::2, 0::2] + e[0::2, 1::2] + e[1::2, 1::2]) / 4
    first = _otsu_dark(_blur(quarter, 6.5 / 4))
    second = _otsu_dark(_blur(np.where(first, 0.0, 255.0), 14.0 / 4))
    full = np.repeat(np.repeat(second, 4, 0), 4, 1)
    out = np.zeros((h, w), bool)
    out[: full.shape[0], : full.shape[1]] = full
    out[full.shape[0] :, : full.shape[1]] = full[-1]  # the last few rows and columns
    out[:, full.shape[1] :] = out[:, full.shape[1] - 1 : full.shape[1]]
    return out


def _tile_covariance(
    img: np.ndarray, r0: int, c0: int, nr: int, nc: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean gx^2, gy^2, gx gy of each 32x32 tile of the (nr, nc) tiling from (r0, c0).

    The gradient is taken inside each tile, as NFIQ 2 does per block: centred differences,
    one-sided at the tile's edges.
    """
    sub = img[r0 : r0 + nr * BLOCK, c0 : c0 + nc * BLOCK]

    def grad(a: np.ndarray) -> np.ndarray:  # along axis 1
        g = np.empty_like(a)
        g[:, 1:-1] = (a[:, 2:] - a[:, :-2]) / 2
        g[:, 0::BLOCK] = a[:, 1::BLOCK] - a[:, 0::BLOCK]
        g[:, BLOCK - 1 :: BLOCK] = a[:, BLOCK - 1 :: BLOCK] - a[:, BLOCK - 2 :: BLOCK]
        return g

    gx = grad(sub)
    gy = grad(sub.T).T

    def mean(a: np.ndarray) -> np.ndarray:
        return a.reshape(nr, BLOCK, nc, BLOCK).sum(axis=3).sum(axis=1) / (BLOCK * BLOCK)

    return mean(gx * gx), mean(gy * gy), mean(gx * gy)


def ocl_blocks(img: np.ndarray) -> np.ndarray:
    """Orientation certainty of every full 32x32 block (blocks without any gradient left out)."""
    nr, nc = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if nr == 0 or nc == 0:
        return np.zeros(0)
    a, b, c = (v.ravel() for v in _tile_covariance(img, 0, 0, nr, nc))
    root = np.sqrt((a - b) ** 2 + 4 * c * c)
    lmax, lmin = (a + b + root) / 2, (a + b - root) / 2
    ok = lmax > 0
    return 1.0 - lmin[ok] / lmax[ok]


def _grid(img: np.ndarray, mask: np.ndarray):
    """Block origins of the 36x36-window grid, each block's orientation and foreground flag."""
    rows, cols = img.shape
    rs = np.arange(OFFSET, rows - (BLOCK + OFFSET - 1), BLOCK)
    cs = np.arange(OFFSET, cols - (BLOCK + OFFSET - 1), BLOCK)
    if rs.size == 0 or cs.size == 0:
        return rs, cs, np.zeros((rs.size, cs.size)), np.zeros((rs.size, cs.size), bool)
    nr, nc = rs.size, cs.size
    sub = mask[OFFSET : OFFSET + nr * BLOCK, OFFSET : OFFSET + nc * BLOCK]
    fg = sub.reshape(nr, BLOCK, nc, BLOCK).all(axis=3).all(axis=1)
    a, b, c = _tile_covariance(img, OFFSET, OFFSET, nr, nc)
    # NFIQ 2's ridgeorient: half the angle of (c, a - b), perpendicular to the ridges
    denom = c * c + (a - b) ** 2 + np.finfo(float).eps
    orient = np.arctan2(c / denom, (a - b) / denom) / 2
    return rs, cs, orient, fg


def _slanted(
    img: np.ndarray, r0: np.ndarray, c0: np.ndarray, theta: np.ndarray, rows=(10, 26), cols=(2, 34)
) -> np.ndarray:
    """A window of each 36x36 block window rotated by ``theta`` (nearest pixel).

    The rotation is about the window's centre (18, 18); by the block's orientation it turns the
    ridges vertical, so the default 16 x 32 window's columns run across the ridges.
    """
    centre = 18.0
    ys = np.arange(*rows, dtype=float) - centre
    xs = np.arange(*cols, dtype=float) - centre
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    src_x = np.rint(centre + cos * xx - sin * yy).astype(int)
    src_y = np.rint(centre + sin * xx + cos * yy).astype(int)
    src_y = np.clip(src_y, 0, 35) + (r0 - OFFSET)[:, None, None]
    src_x = np.clip(src_x, 0, 35) + (c0 - OFFSET)[:, None, None]
    return img[np.clip(src_y, 0, img.shape[0] - 1), np.clip(src_x, 0, img.shape[1] - 1)]


def _ridge_valley(v2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column profile's linear trend ``dt`` (n, 32) and the ridge flags (profile below it)."""
    prof = v2.mean(axis=1)  # (n, 32)
    x = np.arange(1, prof.shape[1] + 1, dtype=float)
    xm = x.mean()
    slope = ((x - xm) * (prof - prof.mean(1, keepdims=True))).sum(1) / ((x - xm) ** 2).sum()
    dt = prof.mean(1, keepdims=True) + slope[:, None] * (x - xm)
    return dt, prof < dt


def _lcs(v2: np.ndarray, dt: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    n, width = ridge.shape
    above = v2 >= dt[:, None, :]  # (n, 16, 32)
    ridge_good = (above & ridge[:, None, :]).sum((1, 2))
    valley_good = (~above & ~ridge[:, None, :]).sum((1, 2))
    ridge_px = ridge.sum(1) * v2.shape[1]
    valley_px = (~ridge).sum(1) * v2.shape[1]
    out = np.zeros(n)
    for i, rv in enumerate(ridge.tolist()):
        changes = [k - 1 for k in range(1, width) if rv[k] != rv[k - 1]]
        if not changes:
            continue
        widths = [changes[0]] + [b - a for a, b in itertools.pairwise(changes)]
        first, second = widths[0::2], widths[1::2]
        wr, wv = (first, second) if rv[0] else (second, first)
        mr = sum(wr) / len(wr) / _NORM if wr else 0.0
        mv = sum(wv) / len(wv) / _NORM if wv else 0.0
        if _NWR[0] <= mr <= _NWR[1] and _NWV[0] <= mv <= _NWV[1] and ridge_px[i] and valley_px[i]:
            alpha = valley_good[i] / valley_px[i]
            beta = ridge_good[i] / ridge_px[i]
            out[i] = 1.0 - (alpha + beta) / 2.0
    return out


def _fda(prof: np.ndarray) -> np.ndarray:
    amp = np.abs(np.fft.fft(prof, axis=1))[:, 1:]  # DC left out
    peak = np.argmax(amp, axis=1)
    denom = amp[:, : amp.shape[1] // 2].sum(1)
    rows = np.arange(len(prof))
    inner = (peak > 0) & (peak + 1 < amp.shape[1])
    lo = amp[rows, np.clip(peak - 1, 0, None)]
    hi = amp[rows, np.clip(peak + 1, None, amp.shape[1] - 1)]
    val = (amp[rows, peak] + 0.3 * (lo + hi)) / np.maximum(denom, 1e-12)
    return np.where(inner, val, 1.0)


def _rvu(ridge: np.ndarray) -> list[float]:
    """Ratios of successive complete ridge/valley widths over all blocks."""
    ratios: list[float] = []
    width = ridge.shape[1]
    for rv in ridge.tolist():
        changes = [k - 1 for k in range(1, width - 1) if rv[k] != rv[k - 1]]
        if len(changes) < 3:
            continue
        begins_ridge = rv[changes[0] + 1]
        # NFIQ 2 takes the complete runs between the second and the last change, last first
        runs = [changes[k] - changes[k - 1] for k in range(len(changes) - 1, 1, -1)]
        block = [runs[m] / runs[m + 1] for m in range(len(runs) - 1)]
        for m in range(int(begins_ridge), len(block), 2):
            block[m] = 1.0 / block[m]
        ratios.extend(block)
    return ratios


def _orientation_flow(orient: np.ndarray, fg: np.ndarray) -> np.ndarray:
    pad = np.pad(orient, 1)
    h, w = orient.shape
    total = np.zeros_like(orient)
    for dy in range(3):
        for dx in range(3):
            d = np.abs(orient - pad[dy : dy + h, dx : dx + w])
            total += np.minimum(d, 2 * np.pi - d)
    loq = total / 8.0
    pfg = np.pad(fg, 1)
    neigh = np.ones_like(fg)
    for dy in range(3):
        for dx in range(3):
            neigh &= pfg[dy : dy + h, dx : dx + w]
    sel = neigh & (loq > ANGLE_MIN)
    return (loq[sel] - ANGLE_MIN) / (np.pi / 2 - ANGLE_MIN)


def _mean_std(v) -> tuple[float, float]:
    v = np.asarray(v, float)
    if v.size == 0:
        return 0.0, 0.0
    return float(v.mean()), float(v.std())


def measures(image: np.ndarray, roi: bool = True) -> dict[str, float]:
    """The NFIQ 2 native measures of a grey 500 ppi print (see the module docstring).

    ``roi=False`` skips the region of interest (``ROI_Pixels``, ``ImgProcROIArea_Mean`` stay 0).
    """
    img = crop_white_frame(np.asarray(image, dtype=np.float64))
    out = dict.fromkeys(MEASURE_NAMES, 0.0)
    if img.shape[0] < 2 * BLOCK or img.shape[1] < 2 * BLOCK:
        return out
    mask = segment(img)
    out["Mu"] = float(img.mean())
    out["Sigma"] = float(img.std())
    out["MMB"] = float(_block_stats(img)[0].mean())
    if roi:
        mask_roi = region_of_interest(img)
        out["ROI_Pixels"] = float(mask_roi.sum())
        out["ImgProcROIArea_Mean"] = float(img[mask_roi].mean()) if mask_roi.any() else 255.0
    out["OCL_Bin10_Mean"], out["OCL_Bin10_StdDev"] = _mean_std(ocl_blocks(img))
    rs, cs, orient, fg = _grid(img, mask)
    if fg.any():
        r_idx, c_idx = np.nonzero(fg)
        v2 = _slanted(img, rs[r_idx], cs[c_idx], orient[r_idx, c_idx])
        dt, ridge = _ridge_valley(v2)
        out["LCS_Bin10_Mean"], out["LCS_Bin10_StdDev"] = _mean_std(_lcs(v2, dt, ridge))
        # FDA turns the ridges horizontal instead and reads a 32 x 16 window's row profile
        theta = orient[r_idx, c_idx] + np.pi / 2
        v2h = _slanted(img, rs[r_idx], cs[c_idx], theta, (2, 34), (10, 26))
        out["FDA_Bin10_Mean"], out["FDA_Bin10_StdDev"] = _mean_std(_fda(v2h.mean(axis=2)))
        out["RVUP_Bin10_Mean"], out["RVUP_Bin10_StdDev"] = _mean_std(_rvu(ridge))
        out["OF_Bin10_Mean"], out["OF_Bin10_StdDev"] = _mean_std(_orientation_flow(orient, fg))
    return out
