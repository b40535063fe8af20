#!/usr/bin/env python3
"""How much of NFIQ 2's ranking can a score computed on the sensor's window reach? (numpy only)

Development analysis, not a product path. The issue's reference ranks each real print by NFIQ 2
measured on the **whole platen image** (FVC2004 DB1 640x480, FVC2002 DB2 296x560), while an
R307 delivers a 256x288 window around the finger (R503 192x192). This script fits, on NIST's
conformance table only, a ridge regression from the 13 native measures the kiosk's model uses to
the official score, and applies that one fixed map three ways:

* ``nist``: to NIST's own measures of the platen image (the ceiling of the measure set);
* ``platen``: to the kiosk's measures of the platen image (``finger_quality.features``);
* ``r307`` / ``r503``: to the kiosk's measures of the module's 4-bit window, as the driver
  delivers it (``finger_realprints.sensor_frame``).

Nothing is tuned on the FVC prints (the map and its ridge strength come from the table); the
final-measurement fingers are reported separately. Writes ``benchmarks/finger-window-ceiling-
DATE.json``::

    .venv/bin/python tools/finger_window_ceiling.py [--record benchmarks]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.benchcli import machine_info  # noqa: E402
from appliance.imageio import read_image  # noqa: E402
from appliance.pipeline.finger_cli import spearman  # noqa: E402
from appliance.pipeline.finger_quality import MODEL_INPUTS, ROI_CAP, features  # noqa: E402
from appliance.pipeline.finger_realbench import NATIVE_CSV, NATIVE_NAME, frame_of  # noqa: E402
from appliance.pipeline.finger_realprints import MAIN_GROUPS, catalogue, prints_dir  # noqa: E402

CONFORMANCE = "nist-nfiq2-conformance-expected-v2.3.0.csv"
TABLE_NAME = {"Sigma": "UniformImage", "ROI_Pixels": "SufficientFingerprintForeground"}
RIDGE = 10.0  # fixed in advance (the middle of tools/fit_nfiq2_reference.py's grid)
FRAMES = ("platen", "r307", "r503")


def _row(values: dict[str, float]) -> list[float]:
    """The 13 model inputs in MODEL_INPUTS order, ROI pixels capped as the model sees them."""
    out = [values[n] for n in MODEL_INPUTS.values()]
    i = list(MODEL_INPUTS).index("roi_area")
    out[i] = min(out[i], ROI_CAP) / ROI_CAP
    return out


def fit_map(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, mean, std) of the ridge map fitted on the conformance table alone."""
    with (root / CONFORMANCE).open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["QualityScore"] not in ("", "NA")]
    x = np.array(
        [_row({n: float(r[TABLE_NAME.get(n, n)]) for n in MODEL_INPUTS.values()}) for r in rows]
    )
    y = np.array([float(r["QualityScore"]) for r in rows])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    a = np.c_[np.ones(len(x)), (x - mu) / sd]
    reg = RIDGE * np.eye(a.shape[1])
    reg[0, 0] = 0.0
    return np.linalg.solve(a.T @ a + reg, a.T @ y), mu, sd


def ci95(rho: float, n: int) -> list[float]:
    """Approximate 95% interval of a Spearman coefficient (Fisher z, se = 1.06 / sqrt(n - 3))."""
    z, se = np.arctanh(rho), 1.06 / np.sqrt(n - 3)
    return [round(float(np.tanh(z - 1.96 * se)), 3), round(float(np.tanh(z + 1.96 * se)), 3)]


def ceiling(root: Path) -> dict:
    w, mu, sd = fit_map(root)

    def score(rows: list[list[float]]) -> np.ndarray:
        return np.c_[np.ones(len(rows)), (np.array(rows) - mu) / sd] @ w

    with (root / NATIVE_CSV).open(newline="") as f:
        nist = {r["path"]: r for r in csv.DictReader(f)}
    out: dict = {}
    for split in ("dev", "final"):
        for group in MAIN_GROUPS:
            prints = [p for p in catalogue() if p.split == split and p.group == group]
            ref = [p.reference for p in prints]
            res = {"prints": len(prints)}
            nist_rows = [
                _row({n: float(nist[p.file][NATIVE_NAME.get(n, n)]) for n in MODEL_INPUTS.values()})
                for p in prints
            ]
            res["nist"] = round(spearman(score(nist_rows), ref), 3)
            images = [read_image(root / p.file, "L") for p in prints]
            for frame in FRAMES:
                rows = []
                for img in images:
                    f = features(frame_of(img, frame))
                    rows.append([f[k] for k in MODEL_INPUTS])
                s = np.c_[np.ones(len(rows)), (np.array(rows) - mu) / sd] @ w
                res[frame] = round(spearman(s, ref), 3)
            res["r307_ci95"] = ci95(res["r307"], len(prints))
            out.setdefault(split, {})[group] = res
            print(split, group, res, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", metavar="DIR", help="write DIR/finger-window-ceiling-DATE.json")
    args = ap.parse_args()
    root = prints_dir()
    if root is None:
        print("no real prints here (../shared/data/prints): nothing to measure")
        return 0
    result = {
        "machine": machine_info(),
        "what": "Spearman with the NFIQ 2 reference of one fixed conformance-table ridge map "
        f"(13 model measures, lambda {RIDGE}) applied to NIST's platen measures (nist), to the "
        "kiosk's measures of the platen image, and of the R307 / R503 4-bit window",
        "spearman": ceiling(root),
    }
    if args.record:
        path = Path(args.record) / f"finger-window-ceiling-{date.today().isoformat()}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
