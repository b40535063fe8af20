"""The 468-point face landmark model (MediaPipe Face Mesh, 192x192) and head pose from it.

The detector's box, squared and enlarged 1.5x and rotated so the eyes are level (MediaPipe's
detection-to-ROI rule), is warped into a 192x192 crop in one ``cv2.warpAffine``; the model returns
x, y in crop pixels and a relative depth z on the same scale. Points are mapped back to the frame;
the aligned crop is kept because the quality measures reuse it (a fixed face scale, roll removed).
Model card: ``models/face_landmark.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from appliance.pipeline.face_detect import MODELS_DIR, Detection
from appliance.pipeline.inference import load_model

LANDMARK_MODEL = MODELS_DIR / "face_landmark.tflite"
CROP_SIZE = 192
ROI_SCALE = 1.5

# Landmark indices (Face Mesh topology). "Right" is the subject's right (image left).
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (362, 263)  # inner, outer
RIGHT_EYE_LIDS = ((159, 145), (158, 153), (160, 144))  # (upper, lower) pairs
LEFT_EYE_LIDS = ((386, 374), (385, 380), (387, 373))
LIPS_INNER = (13, 14)  # upper, lower inner lip at the centre
MOUTH_CORNERS = (61, 291)
FOREHEAD, CHIN = 10, 152
NOSE_BRIDGE = 168  # between the eyes
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip

# Rigid upper-face points (eye corners, nose bridge and tip) and their positions in MediaPipe's
# canonical face model (Apache-2.0; x to the image right, y up, z towards the camera, cm). Lips
# and chin are left out on purpose: a smile or an open jaw would read as pitch.
_POSE_REFERENCE = {
    33: (-4.445859, 2.663991, 3.173422),
    133: (-1.856432, 2.585245, 3.757904),
    362: (1.856432, 2.585245, 3.757904),
    263: (4.445859, 2.663991, 3.173422),
    168: (0.0, 3.271027, 5.236015),
    6: (0.0, 2.473255, 5.788627),
    197: (0.0, 1.728369, 6.316750),
    195: (0.0, 1.059413, 6.774605),
    5: (0.0, 0.365669, 7.242870),
    4: (0.0, -0.463170, 7.586580),
    1: (0.0, -1.126865, 7.475604),
}
POSE_INDICES = np.array(list(_POSE_REFERENCE))
_POSE_CANON = np.array(list(_POSE_REFERENCE.values()))
_POSE_CANON_CENTRED = _POSE_CANON - _POSE_CANON.mean(0)


@dataclass
class FaceLandmarks:
    """Landmarks of one face.

    ``points``: 468 x 3 (x, y in frame pixels, z relative depth in frame pixels, smaller = nearer).
    ``crop``: the 192x192 RGB crop the model saw (roll removed); ``crop_points``: 468 x 2 in it;
    ``to_crop``: the 2x3 affine map frame -> crop; ``presence``: the model's face probability.
    """

    points: np.ndarray
    crop_points: np.ndarray
    crop: np.ndarray
    to_crop: np.ndarray
    presence: float


def roi_transform(det: Detection, size: int = CROP_SIZE, scale: float = ROI_SCALE) -> np.ndarray:
    """The 2x3 affine map from frame pixels into the ``size`` square crop around ``det``."""
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    side = max(det.width, det.height) * scale
    (x0, y0), (x1, y1) = det.keypoints[0], det.keypoints[1]
    angle = np.arctan2(y1 - y0, x1 - x0)
    k = size / max(side, 1.0)
    c, s = np.cos(angle) * k, np.sin(angle) * k
    m = np.array([[c, s, 0.0], [-s, c, 0.0]])
    m[:, 2] = size / 2 - m[:, :2] @ np.array([cx, cy])
    return m


def warp_crop(rgb: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine`` that halves the source first while it would shrink by more than 2x."""
    m = m.copy()
    src = rgb
    if np.hypot(m[0, 0], m[0, 1]) < 0.5:
        # cut out the region the crop covers first, so only that part is halved
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        h, w = rgb.shape[:2]
        x0, y0 = np.clip(np.floor(pts.min(0)).astype(int) - 2, 0, [w, h])
        x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int) + 2, 0, [w, h])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            src = rgb[y0:y1, x0:x1]
            m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    while np.hypot(m[0, 0], m[0, 1]) < 0.5 and min(src.shape[:2]) > 2 * size:
        src = cv2.pyrDown(src)
        m[:, :2] *= 2.0
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR)


class FaceLandmarker:
    """``landmarks(rgb, detection) -> FaceLandmarks``."""

    def __init__(self, model_path: str | Path = LANDMARK_MODEL, threads: int = 1) -> None:
        self.model = load_model(model_path, threads)

    def landmarks(self, rgb: np.ndarray, det: Detection) -> FaceLandmarks:
        m = roi_transform(det)
        crop = warp_crop(rgb, m, CROP_SIZE)
        x = crop[None].astype(np.float32)
        x *= np.float32(1 / 255)
        mesh, presence = self.model.run(x)
        pts = mesh.reshape(468, 3)
        inv = cv2.invertAffineTransform(m)
        xy = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        z = pts[:, 2:3] * float(np.hypot(inv[0, 0], inv[0, 1]))
        return FaceLandmarks(
            points=np.hstack([xy, z]),
            crop_points=pts[:, :2].astype(np.float64),
            crop=crop,
            to_crop=m,
            presence=float(1.0 / (1.0 + np.exp(-float(presence.ravel()[0])))),
        )


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 3D landmarks, by a least-squares rotation (Kabsch).

    Signs: yaw > 0 the nose points to the image's right; pitch > 0 chin up; roll > 0 the head is
    turned counter-clockwise as the image is seen.
    """
    q = points[POSE_INDICES] * np.array([1.0, -1.0, -1.0])  # to x right, y up, z to camera
    h = _POSE_CANON_CENTRED.T @ (q - q.mean(0))
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    yaw = np.degrees(np.arcsin(np.clip(r[0, 2], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(r[1, 2], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)
