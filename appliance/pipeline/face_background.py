"""``appliance bench face-background``: the selfie segmentation model against the kiosk's
background measure, on development people (the evaluation behind docs/face.md, "Background").

The kiosk's ``background_uniformity`` is the mean gradient of the detector's thumbnail beside
and above the head box. The alternative measures the same gradient on the pixels that
MediaPipe's selfie segmentation (``models/selfie_segmentation.tflite``) calls background,
eroded by two thumbnail pixels and above the chin. Cases, all from development people:

* the Yale photos (white studio wall) as they are (``plain``), with the wall (near-white pixels
  connected to the border, found by flood fill, so neither measure draws the mask) replaced by
  a smooth light gradient (``gradient``, which must pass) or by 8 or 25 random rectangles and
  lines (``clutter8``, ``clutter25``, which should be refused);
* the news and web photos (LFW, deepface) as they are: no label, the share refused is reported.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from appliance.cli_output import EXIT_OK, emit
from appliance.config import FaceConfig
from appliance.imageio import read_image
from appliance.pipeline.face_data import is_final, require_faces_dir
from appliance.pipeline.face_detect import MODELS_DIR
from appliance.pipeline.face_quality import FaceQuality
from appliance.pipeline.inference import load_model

SEGMENTATION_MODEL = MODELS_DIR / "selfie_segmentation.tflite"
SEG_SIZE = 256
CASES = ("plain", "gradient", "clutter8", "clutter25")


class SelfieSegmenter:
    """``person(rgb) -> H x W`` person probability (the frame letterboxed to 256x256, [0, 1])."""

    def __init__(self, model_path: str | Path = SEGMENTATION_MODEL, threads: int = 1) -> None:
        self.model = load_model(model_path, threads)
        self.ms: list[float] = []

    def person(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        s = SEG_SIZE / max(h, w)
        nh, nw = round(h * s), round(w * s)
        y0, x0 = (SEG_SIZE - nh) // 2, (SEG_SIZE - nw) // 2
        canvas = np.zeros((SEG_SIZE, SEG_SIZE, 3), np.float32)
        canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas *= np.float32(1 / 255)
        t = time.perf_counter()
        out = self.model.run(canvas[None])[0][0, :, :, 0]
        self.ms.append((time.perf_counter() - t) * 1000)
        return out[y0 : y0 + nh, x0 : x0 + nw]


def segmented_gradient(quality: FaceQuality, seg: SelfieSegmenter, rgb: np.ndarray, a) -> float:
    """Mean thumbnail gradient over the segmented background above the chin."""
    small = quality.detector.thumbnail
    th, tw = small.shape[:2]
    bg = (cv2.resize(seg.person(rgb), (tw, th)) < 0.5).astype(np.uint8)
    bg = cv2.erode(bg, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    bg[int(np.clip(a.face.head[3] * tw / rgb.shape[1], 0, th)) :] = False
    bg[[0, -1], :] = False
    bg[:, [0, -1]] = False
    if np.count_nonzero(bg) < 0.03 * tw * th:
        return float("nan")
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return float((cv2.magnitude(gx, gy) / 4.0)[bg].mean())


def white_wall(rgb: np.ndarray) -> np.ndarray:
    """Near-white pixels connected to the border: the Yale studio wall."""
    light = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) > 170).astype(np.uint8)
    _, labels = cv2.connectedComponents(light)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    wall = np.isin(labels, [v for v in np.unique(edge) if v != 0]).astype(np.uint8)
    return cv2.morphologyEx(wall, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)


def backdrop(case: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    h, w = shape[:2]
    if case == "gradient":
        ramp = np.linspace(150, 250, w).astype(np.uint8)
        return np.repeat(np.repeat(ramp[None, :, None], h, 0), 3, 2)
    img = np.full((h, w, 3), 200, np.uint8)
    for _ in range(int(case.removeprefix("clutter"))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
        colour = tuple(int(v) for v in rng.integers(30, 240, 3))
        if rng.random() < 0.6:
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
        else:
            cv2.line(img, (x0, y0), (x1, y1), colour, int(rng.integers(2, 6)))
    return img


def _auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a refused case reads higher than a passing one (ties count half)."""
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return round(float((p > n).mean() + 0.5 * (p == n).mean()), 3)


def background_report(seed: int = 7) -> dict[str, Any]:
    import json

    root = require_faces_dir()
    quality, seg = FaceQuality(FaceConfig()), SelfieSegmenter()
    limit = quality.cfg.max_background_gradient
    rng = np.random.default_rng(seed)
    prov = json.loads((root / "provenance.json").read_text())["identities"]
    dev = [e for e in prov if not is_final(e["person"])]
    values: dict[str, dict[str, list[float]]] = {
        m: {c: [] for c in CASES} for m in ("kiosk", "seg")
    }
    for e in (e for e in dev if e["key"] == "yale"):
        rgb = read_image(root / e["file"], "RGB")
        wall = white_wall(rgb)
        for case in CASES:
            img = rgb.copy()
            if case != "plain":
                img[wall] = backdrop(case, rgb.shape, rng)[wall]
            a = quality.assess(img)
            if a.face is None:
                continue
            values["kiosk"][case].append(a.measures["background_uniformity"].raw)
            values["seg"][case].append(segmented_gradient(quality, seg, img, a))
    web: dict[str, list[float]] = {"kiosk": [], "seg": []}
    for e in (e for e in dev if e["key"] in ("krasserm", "deepface")):
        rgb = read_image(root / e["file"], "RGB")
        a = quality.assess(rgb)
        if a.face is not None:
            web["kiosk"].append(a.measures["background_uniformity"].raw)
            web["seg"].append(segmented_gradient(quality, seg, rgb, a))
    out: dict[str, Any] = {"max_background_gradient": limit}
    for m, per in values.items():
        per = {c: [v for v in vs if v is not None and np.isfinite(v)] for c, vs in per.items()}
        passing = per["plain"] + per["gradient"]
        w = [v for v in web[m] if v is not None and np.isfinite(v)]
        out[m] = {
            "median": {c: round(float(np.median(v)), 2) for c, v in per.items()},
            "refused": {c: f"{sum(x > limit for x in v)}/{len(v)}" for c, v in per.items()},
            "refused_at": {
                str(t): {c: f"{sum(x > t for x in v)}/{len(v)}" for c, v in per.items()}
                for t in (4, 6, 8, 10)
            },
            "auc_clutter8": _auc(per["clutter8"], passing),
            "auc_clutter25": _auc(per["clutter25"], passing),
            "web_photos_refused": f"{sum(x > limit for x in w)}/{len(w)}",
        }
    out["segmentation_ms_median"] = round(float(np.median(seg.ms)), 2)
    return out


def cmd_bench(args: argparse.Namespace) -> int:
    from appliance.benchcli import record

    result: dict[str, Any] = {"area": "face-background", **background_report()}
    emit(result, args)
    record("face-background", result, args.record)
    return EXIT_OK


def register(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser(
        "face-background", help="selfie segmentation vs the kiosk's background measure"
    )
    p.add_argument("--record", metavar="DIR", help="write to DIR/face-background-DATE.json")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
