"""Measures on the whole frame and on image regions, shared by the face quality assessor.

- :func:`frame_exposure`: the light of the whole frame (on the detector's thumbnail), judged
  when no face is found, so that a washed-out or dark frame is told what is wrong with the
  light instead of "no face";
- :func:`detect_faces`: the short-range detector first, the full-range one (small, far faces)
  only when the first finds nothing or only small faces, so a close citizen costs one small
  model run;
- :func:`sharpness`: how fine a grey region's detail is.
"""

from __future__ import annotations

import cv2
import numpy as np

from appliance.pipeline.face_detect import Detection, FaceDetector

FRAME_MEASURES = ("frame_luminance_mean", "frame_under_exposure", "frame_over_exposure")


# below this width (share of the frame's longer side) the short-range model misses faces
NEAR_MIN_WIDTH = 0.2


def detect_faces(near: FaceDetector, far: FaceDetector | None, rgb: np.ndarray) -> list[Detection]:
    """Faces in ``rgb``: ``near`` (short range) first; ``far`` (full range) too when ``near``
    finds none or only small ones, whose neighbours it may have missed. The run that finds more
    faces wins (a tie goes to ``far``, whose boxes are better at that size)."""
    faces = near.detect(rgb)
    if far is None:
        return faces
    if faces and max(d.width for d in faces) >= NEAR_MIN_WIDTH * max(rgb.shape[:2]):
        return faces
    far_faces = far.detect(rgb)
    return far_faces if len(far_faces) >= len(faces) else faces


def frame_exposure(thumbnail: np.ndarray) -> dict[str, float]:
    """Mean luminance (0-1) and the shares of dark (<= 25) and clipped (>= 247) pixels."""
    gray = cv2.cvtColor(thumbnail, cv2.COLOR_RGB2GRAY)
    n = max(gray.size, 1)
    return {
        "frame_luminance_mean": float(gray.mean()) / 255.0,
        "frame_under_exposure": float(np.count_nonzero(gray <= 25)) / n,
        "frame_over_exposure": float(np.count_nonzero(gray >= 247)) / n,
    }


def frame_light_reasons(values: dict[str, float], cfg) -> list[str]:
    """``too_bright`` / ``too_dark`` from :func:`frame_exposure` with the ``[face]`` policy."""
    reasons = []
    if (
        values["frame_over_exposure"] > cfg.max_frame_over_exposure
        or values["frame_luminance_mean"] > cfg.max_frame_luminance
    ):
        reasons.append("too_bright")
    elif (
        values["frame_under_exposure"] > cfg.max_frame_under_exposure
        or values["frame_luminance_mean"] < cfg.min_frame_luminance
    ):
        reasons.append("too_dark")
    return reasons


def sharpness(gray: np.ndarray) -> float:
    """sqrt(Laplacian energy / gradient energy) of an 8-bit grey region: how fine its detail is.

    Blur moves spectral energy to lower frequencies, so this falls monotonically with blur, and
    scaling the brightness leaves it unchanged. The energy that 8-bit rounding alone adds
    (uniform noise of variance 1/12) is subtracted first, or a flat, blurred region would read
    as sharp. Units: 1 / pixel of the 96x96 face crop (a face about 29 px between the eyes).
    """
    g = gray.astype(np.float32)
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)[1:-1, 1:-1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)[1:-1, 1:-1]
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)[1:-1, 1:-1]
    lap_energy = max(float(np.mean(lap * lap)) - 20.0 / 12.0, 0.0)
    # central differences are twice the gradient; the rounding noise adds 2 * 2/12 / 4
    grad_energy = max(float(np.mean(gx * gx + gy * gy)) / 4.0 - 1.0 / 12.0, 1e-6)
    return float(np.sqrt(lap_energy / grad_energy))
