"""Eye openness from MediaPipe's iris landmark model (``models/iris_landmark.tflite``).

The Face Mesh model places the eyelids of a closed eye apart (it was trained mostly on open
eyes; docs/face.md, "eyes closed"), so the lids are measured again by the model made for the
eye: each eye is cut out square around its corners (2.3 eye widths, MediaPipe's rule), rotated
level, 64x64, the subject's left eye mirrored (the model sees a right eye); the first 16 of its
71 eye points are the lid contour (corner, lower lid, corner, upper lid), in Face Mesh's order.
The opening is the mean gap of three upper/lower lid pairs over the eye width.
Model card: ``models/iris_landmark.md``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from appliance.pipeline.face_detect import MODELS_DIR
from appliance.pipeline.face_landmarks import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from appliance.pipeline.inference import load_model

IRIS_MODEL = MODELS_DIR / "iris_landmark.tflite"
EYE_CROP = 64
EYE_ROI_SCALE = 2.3
# the 16-point lid contour: 0 outer corner, 1-7 lower lid, 8 inner corner, 9-15 upper lid
_LID_PAIRS = ((12, 4), (13, 5), (11, 3))  # (upper, lower): Face Mesh 159/145, 158/153, 160/144


def eye_crop(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, mirror: bool) -> np.ndarray:
    """The 64x64 crop of one eye, level, outer corner on the left (mirrored for the left eye)."""
    a, b = (inner, outer) if mirror else (outer, inner)
    centre = (outer + inner) / 2
    width = float(np.hypot(*(inner - outer)))
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    m = cv2.getRotationMatrix2D(
        (float(centre[0]), float(centre[1])), angle, EYE_CROP / max(EYE_ROI_SCALE * width, 1e-6)
    )
    m[:, 2] += EYE_CROP / 2 - centre
    crop = cv2.warpAffine(rgb, m, (EYE_CROP, EYE_CROP), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return crop[:, ::-1] if mirror else crop


def lid_opening(contour: np.ndarray) -> float:
    """Mean lid gap / eye width of a 16-point lid contour (x, y)."""
    width = float(np.hypot(*(contour[8] - contour[0])))
    gaps = [float(np.hypot(*(contour[u] - contour[lo]))) for u, lo in _LID_PAIRS]
    return float(np.mean(gaps)) / max(width, 1e-6)


class EyeModel:
    """``opening(rgb, points) -> (right, left)``: each eye's lid gap / width."""

    def __init__(self, model_path: str | Path = IRIS_MODEL, threads: int = 1) -> None:
        self.model = load_model(model_path, threads)
        sizes = [int(np.prod(s)) for s in self.model.output_shapes()]
        self._contour = int(np.argmax(sizes))  # 71 x 3 eye points; the other output is the iris

    def opening(self, rgb: np.ndarray, points: np.ndarray) -> tuple[float, float]:
        out = []
        for (i, j), mirror in ((RIGHT_EYE_CORNERS, False), (LEFT_EYE_CORNERS[::-1], True)):
            crop = eye_crop(rgb, points[i, :2], points[j, :2], mirror)
            x = crop[None].astype(np.float32)
            x *= np.float32(1 / 255)
            contour = self.model.run(x)[self._contour].reshape(-1, 3)[:16, :2]
            out.append(lid_opening(contour))
        return out[0], out[1]


# Face Mesh's 16-point eye contours in the same order as the iris model's lid contour.
MESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
MESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)


def mesh_opening(points: np.ndarray) -> tuple[float, float]:
    """The same opening from Face Mesh's own lids (what ``eyes_open`` was before the iris model)."""
    right = lid_opening(points[list(MESH_RIGHT_EYE), :2])
    return right, lid_opening(points[list(MESH_LEFT_EYE), :2])


def close_eyes(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A generated test case: both eye openings (Face Mesh contours) painted over with the
    surrounding skin (OpenCV inpainting) and a dark lash line drawn along the lower lid."""
    out = rgb.copy()
    for idx in (MESH_RIGHT_EYE, MESH_LEFT_EYE):
        poly = points[list(idx), :2]
        width = float(np.hypot(*(poly[8] - poly[0])))
        mask = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=max(1, int(width / 12)))
        out = cv2.inpaint(out, mask, 3, cv2.INPAINT_TELEA)
        lash = np.round(poly[:9]).astype(np.int32)
        lash[:, 1] -= int(0.1 * width)
        cv2.polylines(out, [lash], False, (40, 30, 30), max(1, int(width / 20)), cv2.LINE_AA)
    return out
