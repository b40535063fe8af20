#!/usr/bin/env python3
"""Make the sim camera's frame and the test citizen's portrait from scikit-image's `astronaut`.

Development only. The source is NASA's public-domain portrait of Eileen Collins as shipped in
the scikit-image wheel (``skimage/data/astronaut.png``, "No known copyright restrictions,
released into the public domain"); scikit-image itself is not a dependency:

    pip download --no-deps -d /tmp/ski scikit-image==0.26.0
    unzip -o /tmp/ski/scikit_image-*.whl skimage/data/astronaut.png -d /tmp/ski
    .venv/bin/python tools/make_face_sim_data.py /tmp/ski/skimage/data/astronaut.png

Writes ``appliance/hal/sim_data/camera/portrait.jpg`` (a 640x480 kiosk frame: the face levelled
by the measured roll, scaled to about 98 px between the eyes and placed so the ICAO portrait box
sits in the middle of the frame) and ``appliance/hal/sim_data/citizen_portrait.jpg`` (that
frame's ICAO 3:4 crop, under 20 KB, for the sim chip's DG2). The result is checked to pass the
face policy with the shipped defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.config import FaceConfig  # noqa: E402
from appliance.pipeline.face_capture import encode_jpeg, portrait_crop  # noqa: E402
from appliance.pipeline.face_landmarks import CHIN  # noqa: E402
from appliance.pipeline.face_quality import FaceQuality, eye_centres  # noqa: E402

SIM_DATA = REPO / "appliance" / "hal" / "sim_data"
FRAME_SIZE = (640, 480)
TARGET_IED = 98.0  # px between the eye centres in the frame (ICAO minimum 90)
DG2_HEIGHT = 480  # the chip portrait: 360x480 (about 100 px between the eyes)
DG2_MAX_BYTES = 20_000


def make_frame(src: np.ndarray, quality: FaceQuality) -> np.ndarray:
    cfg = quality.cfg
    a = quality.assess(src)
    if a.landmarks is None:
        raise SystemExit("no face found in the source image")
    pts = a.landmarks.points
    right, left = eye_centres(pts)
    mid = (right + left) / 2
    roll = float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))
    scale = TARGET_IED / float(np.hypot(*(left - right)))
    head = 2 * float(np.hypot(*(pts[CHIN, :2] - mid))) * scale
    box_h = head / cfg.portrait_head_fraction
    eye_y = (FRAME_SIZE[1] - box_h) / 2 + cfg.portrait_crown_margin * box_h + head / 2
    m = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), roll, scale)
    m[0, 2] += FRAME_SIZE[0] / 2 - mid[0]
    m[1, 2] += eye_y - mid[1]
    return cv2.warpAffine(src, m, FRAME_SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("astronaut", help="path to skimage/data/astronaut.png")
    parser.add_argument("--out", default=str(SIM_DATA))
    args = parser.parse_args()
    bgr = cv2.imread(args.astronaut)
    if bgr is None:
        raise SystemExit(f"cannot read {args.astronaut}")
    quality = FaceQuality(FaceConfig())
    frame = make_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), quality)
    out = Path(args.out)
    (out / "camera").mkdir(parents=True, exist_ok=True)
    frame_jpeg = encode_jpeg(frame, 88)
    (out / "camera" / "portrait.jpg").write_bytes(frame_jpeg)

    # check what the sim camera will really show: the decoded JPEG
    shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(frame_jpeg, np.uint8), 1), cv2.COLOR_BGR2RGB)
    a = quality.assess(shown)
    print("frame:", a.verdict, a.reasons, {k: v.raw for k, v in a.measures.items()})
    if not a.passed:
        raise SystemExit("the sim frame does not pass the face policy")
    crop = portrait_crop(shown, a, DG2_HEIGHT)
    for q in range(90, 40, -5):
        jpeg = encode_jpeg(crop, q)
        if len(jpeg) < DG2_MAX_BYTES:
            break
    (out / "citizen_portrait.jpg").write_bytes(jpeg)
    print(
        f"frame {len(frame_jpeg)} bytes; citizen portrait {crop.shape[1]}x{crop.shape[0]}, "
        f"quality {q}, {len(jpeg)} bytes"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
