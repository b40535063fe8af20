#!/usr/bin/env python3
"""Make the sim camera's "another person" frame from matplotlib's `grace_hopper.jpg`.

Development only. The source is the US Navy's 1984 portrait of Rear Admiral Grace Hopper (a work
of the US government, public domain) as shipped in the matplotlib wheel
(``matplotlib/mpl-data/sample_data/grace_hopper.jpg``); matplotlib is not a dependency:

    pip download --no-deps --only-binary=:all: -d /tmp/mpl matplotlib==3.9.2
    unzip -o -j -d /tmp/mpl /tmp/mpl/matplotlib-*.whl \
        matplotlib/mpl-data/sample_data/grace_hopper.jpg
    .venv/bin/python tools/make_face_other_person.py /tmp/mpl/grace_hopper.jpg

Writes ``appliance/hal/sim_data/other_person.jpg``: a 640x480 kiosk frame framed like the
test citizen's (tools/make_face_sim_data.py), shown by the demo's "another face" control so that
the comparison with the test citizen's chip portrait says no_match.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_face_sim_data import SIM_DATA, make_frame

from appliance.config import FaceConfig
from appliance.pipeline.face_capture import encode_jpeg
from appliance.pipeline.face_quality import FaceQuality


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="path to grace_hopper.jpg")
    args = parser.parse_args()
    bgr = cv2.imread(args.source)
    if bgr is None:
        raise SystemExit(f"cannot read {args.source}")
    quality = FaceQuality(FaceConfig())
    frame = make_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), quality)
    jpeg = encode_jpeg(frame, 88)
    (SIM_DATA / "other_person.jpg").write_bytes(jpeg)
    a = quality.assess(frame)
    print(f"other_person.jpg: {len(jpeg)} bytes, {a.verdict} {a.reasons}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
