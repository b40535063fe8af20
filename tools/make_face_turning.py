#!/usr/bin/env python3
"""Make the sim camera's "cooperative citizen" sequences: a still portrait turned left and right.

Development only. Each shipped kiosk frame (the test citizen's ``camera/portrait.jpg`` and
``other_person.jpg``, both public domain, see sim_data/README.md) is warped frame by frame as if
the head turned about its vertical axis: the Face Mesh points (with their depth) are rotated,
and the picture is warped triangle by triangle from the old points to the new ones. The result
is crude (the far cheek smears) but its landmarks turn by about 28 degrees of yaw, enough for
the turn challenges, so the demo can show a live face that matches and one that does not. It is
a replayed animation of a photo, which is exactly what the liveness check cannot stop
(docs/face.md); it cannot blink.

    .venv/bin/python tools/make_face_turning.py

Writes ``appliance/hal/sim_data/turning/{citizen,other}/NN.jpg`` (640x480).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.config import FaceConfig  # noqa: E402
from appliance.imageio import read_image  # noqa: E402
from appliance.pipeline.face_capture import encode_jpeg  # noqa: E402
from appliance.pipeline.face_quality import FaceQuality  # noqa: E402

SIM_DATA = REPO / "appliance" / "hal" / "sim_data"
ANGLES = (0, 0, 0, 15, 30, 40, 40, 30, 15, 0, 0, 0, -15, -30, -40, -40, -30, -15, 0, 0)


def turned(img: np.ndarray, pts: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    border = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1], [w / 2, 0],
                       [w / 2, h - 1], [0, h / 2], [w - 1, h / 2]], np.float32)  # fmt: skip
    th = np.radians(degrees)
    cx, cz = pts[:, 0].mean(), pts[:, 2].mean()
    x, z = pts[:, 0] - cx, pts[:, 2] - cz
    moved = np.stack([x * np.cos(th) + z * np.sin(th) + cx, pts[:, 1]], 1)
    src = np.concatenate([pts[:, :2], border]).astype(np.float32)
    dst = np.concatenate([moved, border]).astype(np.float32)
    div = cv2.Subdiv2D((0, 0, w, h))
    for p in src:
        div.insert((float(np.clip(p[0], 0, w - 1)), float(np.clip(p[1], 0, h - 1))))
    out = img.copy()
    for t in div.getTriangleList():
        ids = [int(np.hypot(*(src - t[k : k + 2]).T).argmin()) for k in (0, 2, 4)]
        s, d = src[ids], dst[ids]
        x0, y0, bw, bh = cv2.boundingRect(d)
        if bw <= 0 or bh <= 0:
            continue
        m = cv2.getAffineTransform(s, (d - [x0, y0]).astype(np.float32))
        patch = cv2.warpAffine(img, m, (bw, bh), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        mask = np.zeros((bh, bw), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1)
        ya, yb, xa, xb = max(y0, 0), min(y0 + bh, h), max(x0, 0), min(x0 + bw, w)
        if ya < yb and xa < xb:
            sel = mask[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(bool)
            out[ya:yb, xa:xb][sel] = patch[ya - y0 : yb - y0, xa - x0 : xb - x0][sel]
    return out


def main() -> int:
    quality = FaceQuality(FaceConfig())
    for name, source in (("citizen", SIM_DATA / "camera" / "portrait.jpg"),
                         ("other", SIM_DATA / "other_person.jpg")):  # fmt: skip
        img = read_image(source)
        pts = quality.assess(img).landmarks.points
        out = SIM_DATA / "turning" / name
        out.mkdir(parents=True, exist_ok=True)
        yaws = []
        for i, deg in enumerate(ANGLES):
            frame = turned(img, pts, deg)
            (out / f"{i:02d}.jpg").write_bytes(encode_jpeg(frame, 70))
            yaws.append(quality.assess(frame).measures["head_pose_yaw"].raw)
        print(name, "yaw per frame:", [None if y is None else round(y) for y in yaws])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
