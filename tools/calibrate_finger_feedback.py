#!/usr/bin/env python3
"""Print the feedback measures of the development prints, grouped by their by-eye label.

Development only: the development fingers (101-105 of FVC2004 DB1 and FVC2002 DB2, labels in
``tools/data/finger-dev-labels.csv``) are where the ``[finger]`` feedback thresholds were read
off. Never run this on the final-measurement fingers (106-110).

    .venv/bin/python tools/calibrate_finger_feedback.py [--frame r307|r503|platen]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.imageio import read_image  # noqa: E402
from appliance.pipeline.finger_quality import FEEDBACK_FEATURES, features  # noqa: E402
from appliance.pipeline.finger_realbench import frame_of  # noqa: E402
from appliance.pipeline.finger_realprints import catalogue, prints_dir  # noqa: E402

SHOWN = ("ocl", "lcs", *FEEDBACK_FEATURES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", default="r307", choices=("platen", "r307", "r503"))
    args = ap.parse_args()
    root = prints_dir()
    if root is None:
        print("no ../shared/data/prints here", file=sys.stderr)
        return 2
    rows = []
    for p in catalogue():
        if p.split != "dev":
            continue
        f = features(frame_of(read_image(root / p.file, "L"), args.frame))
        rows.append((p.label, p.file.rsplit("/", 1)[-1][:-4], f))
    print(f"{'label':9s} {'print':22s} " + " ".join(f"{k[:11]:>11s}" for k in SHOWN))
    for label, name, f in sorted(rows, key=lambda r: (r[0], r[1])):
        print(f"{label:9s} {name:22s} " + " ".join(f"{f[k]:11.3f}" for k in SHOWN))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
