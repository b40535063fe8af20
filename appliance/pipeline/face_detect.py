"""Face detection with MediaPipe's BlazeFace models: short range (128x128, 896 SSD anchors) and
full range (192x192, 2304 anchors, faces down to about 1/20 of the frame, a few metres away).

The frame is letterboxed (aspect kept, zero padding) to the model's input and scaled to [-1, 1];
the regressors are decoded against the fixed anchors, thresholded, then merged by MediaPipe's
weighted non-maximum suppression. Boxes and the six keypoints come back in frame pixels.
Model cards: ``models/face_detection_short_range.md``, ``models/face_detection_full_range.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from appliance.pipeline.inference import load_model

MODELS_DIR = Path(__file__).resolve().parent / "models"
DETECTOR_MODEL = MODELS_DIR / "face_detection_short_range.tflite"
FULL_RANGE_MODEL = MODELS_DIR / "face_detection_full_range_sparse.tflite"
INPUT_SIZE = 128
FULL_RANGE_INPUT = 192
# Keypoint order of the model (the subject's right eye appears on the image's left).
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


def ssd_anchors(layout: tuple[tuple[int, int], ...] = ((16, 2), (8, 6))) -> np.ndarray:
    """A model's anchor centres (x, y) in [0, 1], from (grid cells, anchors per cell) layers.

    Short range (the default, 896 anchors): MediaPipe's SsdAnchorsCalculator with 4 layers,
    strides 8, 16, 16, 16, one aspect ratio plus the interpolated scale, fixed anchor size:
    layers of equal stride share one grid, so a 16x16 grid with 2 anchors per cell and an 8x8
    grid with 6. Full range: one layer of stride 4 on 192 px, one anchor per cell (48x48).
    """
    grids = []
    for cells, per_cell in layout:
        c = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        xx, yy = np.meshgrid(c, c)
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        grids.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(grids)


ANCHORS = ssd_anchors()
FULL_RANGE_ANCHORS = ssd_anchors(((FULL_RANGE_INPUT // 4, 1),))
# model file -> (input size, anchors)
LAYOUTS = {
    DETECTOR_MODEL.name: (INPUT_SIZE, ANCHORS),
    FULL_RANGE_MODEL.name: (FULL_RANGE_INPUT, FULL_RANGE_ANCHORS),
}


@dataclass
class Detection:
    """One face: ``box`` (x0, y0, x1, y1) and ``keypoints`` (6 x 2) in frame pixels."""

    score: float
    box: np.ndarray
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def to_dict(self) -> dict:
        return {
            "score": round(self.score, 3),
            "box": [round(float(v), 1) for v in self.box],
        }


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    scores: np.ndarray, coords: np.ndarray, iou_threshold: float
) -> list[tuple[float, np.ndarray]]:
    """MediaPipe's blending NMS: each cluster's coordinates are averaged, weighted by score.

    ``coords`` rows are (x0, y0, x1, y1, keypoints...); returns (score, coords) per face, best
    first.
    """
    order = np.argsort(-scores)
    scores, coords = scores[order], coords[order]
    out = []
    remaining = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = _iou(coords[i, :4], coords[:, :4]) > iou_threshold
        members = remaining & overlap
        members[i] = True
        w = scores[members]
        out.append((float(scores[i]), (coords[members] * w[:, None]).sum(0) / w.sum()))
        remaining &= ~members
    return out


class FaceDetector:
    """``detect(rgb) -> [Detection, ...]`` best first."""

    def __init__(
        self,
        model_path: str | Path = DETECTOR_MODEL,
        threads: int = 1,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
    ) -> None:
        self.model = load_model(model_path, threads)
        self.size, self.anchors = LAYOUTS.get(Path(model_path).name, (INPUT_SIZE, ANCHORS))
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self._logit_threshold = float(np.log(score_threshold / (1 - score_threshold)))
        self._canvas = np.zeros((1, self.size, self.size, 3), np.float32)
        # the frame shrunk to fit the input (RGB uint8), kept for cheap whole-frame measures
        self.thumbnail: np.ndarray | None = None

    def _letterbox(self, rgb: np.ndarray) -> tuple[float, int, int]:
        h, w = rgb.shape[:2]
        scale = self.size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        self.thumbnail = small
        ox, oy = (self.size - nw) // 2, (self.size - nh) // 2
        canvas = self._canvas
        canvas.fill(0.0)
        canvas[0, oy : oy + nh, ox : ox + nw] = small * np.float32(2 / 255) - np.float32(1)
        return scale, ox, oy

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        scale, ox, oy = self._letterbox(rgb)
        regressors, logits = self.model.run(self._canvas)
        logits = logits.reshape(-1)
        keep = np.nonzero(logits > self._logit_threshold)[0]
        if keep.size == 0:
            return []
        raw = regressors.reshape(-1, 16)[keep] / self.size
        anchors = self.anchors[keep]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2
        kps = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        norm = np.concatenate([centre - half, centre + half, kps.reshape(-1, 12)], axis=1)
        # letterbox [0, 1] -> frame pixels
        offset = np.tile(np.array([ox, oy], np.float32), 8)
        pixels = (norm * self.size - offset) / scale
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -80, 80)))
        return [
            Detection(score, c[:4].astype(np.float64), c[4:].reshape(6, 2).astype(np.float64))
            for score, c in weighted_nms(scores, pixels, self.iou_threshold)
        ]
