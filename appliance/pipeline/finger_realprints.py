"""The real prints under ``../shared/data/prints`` (research data, never shipped): test machinery.

* :func:`prints_dir` finds the folder (``APPLIANCE_PRINTS_DIR``, else ``../shared/data/prints``).
* :func:`catalogue` lists every print with its group, finger, split (``dev``: fingers 101-105 of
  FVC2004 DB1 and FVC2002 DB2; ``final``: their fingers 106-110, final measurement only;
  ``small``: the other sets), reference score (``tools/data/finger-reference-scores.csv``) and
  by-eye label (``tools/data/finger-dev-labels.csv``, development prints only).
* :func:`sensor_frame` reduces a 500 ppi platen image to what an R30x module delivers: a frame of
  the module's size (R307 256x288, R503 192x192) around where the finger lies, and 4-bit grey as
  the driver unpacks it (``r30x_protocol.pack_image`` / ``unpack_image``).

Product code never imports this module.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.hal.r30x_protocol import image_size, pack_image, unpack_image

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tools" / "data"
REFERENCE_CSV = DATA / "finger-reference-scores.csv"
LABELS_CSV = DATA / "finger-dev-labels.csv"
MAIN_GROUPS = ("FVC2004_DB1_B", "FVC2002_DB2_B")


@dataclass(frozen=True)
class RealPrint:
    file: str  # relative to the prints folder, e.g. FVC2004_DB1_B/FVC2004_DB1_B_101_1.png
    group: str
    finger: str
    split: str  # dev | final | small
    reference: float  # reference NFIQ 2 estimate (tools/fit_nfiq2_reference.py)
    label: str = ""  # by-eye label of the R307 frame (dev prints): clean, too_wet, ...
    reason: str = ""


def prints_dir() -> Path | None:
    """The real-prints folder, or None when it is not on this machine."""
    env = os.environ.get("APPLIANCE_PRINTS_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "data" / "prints"
    return path if (path / "README.md").is_file() else None


def labels() -> dict[str, tuple[str, str]]:
    """file -> (label, reason) of the by-eye labelled development prints."""
    if not LABELS_CSV.is_file():
        return {}
    with LABELS_CSV.open(newline="") as f:
        return {r["file"]: (r["label"], r["reason"]) for r in csv.DictReader(f)}


def catalogue() -> list[RealPrint]:
    """Every real print with its reference score (and label where there is one)."""
    marks = labels()
    out = []
    with REFERENCE_CSV.open(newline="") as f:
        for r in csv.DictReader(f):
            label, reason = marks.get(r["file"], ("", ""))
            out.append(
                RealPrint(
                    r["file"],
                    r["group"],
                    r["finger"],
                    r["split"],
                    float(r["reference_score"]),
                    label,
                    reason,
                )
            )
    return out


def foreground_centre(img: np.ndarray, block: int = 16) -> tuple[float, float]:
    """(row, col) of the centre of the blocks with ridge-like grey variation."""
    r, c = img.shape[0] // block, img.shape[1] // block
    blocks = img[: r * block, : c * block].reshape(r, block, c, block).astype(float)
    std = blocks.std(axis=(1, 3))
    fg = std > max(8.0, 0.35 * float(np.percentile(std, 95)))
    if not fg.any():
        return img.shape[0] / 2, img.shape[1] / 2
    ys, xs = np.nonzero(fg)
    return (ys.mean() + 0.5) * block, (xs.mean() + 0.5) * block


def sensor_frame(img: np.ndarray, model: str = "r307", depth_bits: int = 4) -> np.ndarray:
    """The module's frame around the finger, quantised as the driver delivers it.

    The frame (the module's rows x cols) is centred on the finger and kept inside the platen
    image; where the image is smaller it is padded with its own bright background. With
    ``depth_bits=4`` every pixel goes through the module's 4-bit packing and back (v * 17).
    """
    rows, cols = image_size(model)
    img = np.asarray(img, dtype=np.uint8)
    bg = int(np.percentile(img, 99))
    if img.shape[0] < rows or img.shape[1] < cols:
        pr, pc = max(0, rows - img.shape[0]), max(0, cols - img.shape[1])
        img = np.pad(img, ((pr // 2, pr - pr // 2), (pc // 2, pc - pc // 2)), constant_values=bg)
    cy, cx = foreground_centre(img)
    y0 = int(np.clip(round(cy - rows / 2), 0, img.shape[0] - rows))
    x0 = int(np.clip(round(cx - cols / 2), 0, img.shape[1] - cols))
    frame = np.ascontiguousarray(img[y0 : y0 + rows, x0 : x0 + cols])
    if depth_bits == 4:
        frame = unpack_image(pack_image(frame), rows, cols)
    return frame
