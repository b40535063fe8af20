#!/usr/bin/env python3
"""Fit the reference mapping "NFIQ 2 native measures -> official NFIQ 2 score" (numpy, in the venv).

Development only; run once, before any tuning of the kiosk's score:

    .venv/bin/python tools/fit_nfiq2_reference.py [--prints ../shared/data/prints]

Data: ``nist-nfiq2-conformance-expected-v2.3.0.csv`` (NIST's conformance table: for 199 images
the official NFIQ 2 v2.3.0 score with all 69 native measures). The NFIQ 2 random forest itself
is not available here, so a small, documented stand-in is fitted on that table: ridge
regression on the 69 native measures, standardised, each count-like measure (histogram bins,
minutiae counts, coherence sum) through ``log1p`` first; the ridge strength is chosen by
repeated 10-fold cross-validation. The fitted model is applied to
``nfiq2-v2.3.0-native-measures.csv`` (NFIQ 2 v2.3.0's native measures of the 183 real prints)
to give their **reference scores**, the ranking the kiosk's score is measured against.

Writes ``tools/data/nfiq2-reference-model.json`` (coefficients, cross-validated figures) and
``tools/data/finger-reference-scores.csv`` (file, group, finger, impression, split, score).
An image NFIQ 2 could not measure (the blank ink card) gets reference score 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tools" / "data"
sys.path.insert(0, str(REPO))

from appliance.pipeline.finger_cli import spearman  # noqa: E402

CONFORMANCE = "nist-nfiq2-conformance-expected-v2.3.0.csv"
NATIVE = "nfiq2-v2.3.0-native-measures.csv"
SEED = 20261207
LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def measure_names(header: list[str]) -> list[str]:
    """The 69 native measures (not the actionable feedback, not the timings)."""
    keep = ("FDA_", "FingerJetFX_", "FJFXPos_", "ImgProcROIArea", "LCS_", "MMB", "Mu", "OCL_",
            "OF_", "OrientationMap_", "RVUP_")  # fmt: skip
    return [h for h in header if h.startswith(keep) and not h.endswith("Speed")]


def is_count(name: str) -> bool:
    bins = "_Bin10_" in name and name.rsplit("_", 1)[-1].isdigit()
    return bins or name in (
        "FingerJetFX_MinCount_COMMinRect200x200",
        "FingerJetFX_MinutiaeCount",
        "OrientationMap_ROIFilter_CoherenceSum",
    )


def transform(x: np.ndarray, names: list[str]) -> np.ndarray:
    x = np.array(x, dtype=float)
    for j, n in enumerate(names):
        if is_count(n):
            x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    return x


def ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Weights and intercept on already standardised ``x``."""
    n, d = x.shape
    w = np.linalg.solve(x.T @ x + lam * n * np.eye(d) / 100.0, x.T @ (y - y.mean()))
    return w, float(y.mean())


def cross_validate(x: np.ndarray, y: np.ndarray, lam: float, repeats: int = 5) -> dict:
    rng = np.random.default_rng(SEED)
    preds = np.zeros((repeats, len(y)))
    for r in range(repeats):
        folds = np.array_split(rng.permutation(len(y)), 10)
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            mu, sd = x[train].mean(0), x[train].std(0) + 1e-9
            w, b = ridge((x[train] - mu) / sd, y[train], lam)
            preds[r, test] = np.clip((x[test] - mu) / sd @ w + b, 0, 100)
    rho = [spearman(p, y) for p in preds]
    mae = [float(np.mean(np.abs(p - y))) for p in preds]
    return {"spearman": round(float(np.mean(rho)), 4), "mae": round(float(np.mean(mae)), 2)}


def read(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def split_of(group: str, finger: str) -> str:
    if group in ("FVC2004_DB1_B", "FVC2002_DB2_B"):
        return "dev" if finger in {"101", "102", "103", "104", "105"} else "final"
    return "small"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prints", type=Path, default=REPO.parent / "shared" / "data" / "prints")
    args = ap.parse_args()
    if not (args.prints / CONFORMANCE).is_file():
        print(f"no {CONFORMANCE} under {args.prints}", file=sys.stderr)
        return 2

    header, rows = read(args.prints / CONFORMANCE)
    names = measure_names(header)
    rows = [r for r in rows if r["QualityScore"] not in ("", "NA")]
    x = transform([[float(r[n]) for n in names] for r in rows], names)
    y = np.array([float(r["QualityScore"]) for r in rows])
    cv = {lam: cross_validate(x, y, lam) for lam in LAMBDAS}
    best = max(LAMBDAS, key=lambda lam: (cv[lam]["spearman"], -cv[lam]["mae"]))
    mu, sd = x.mean(0), x.std(0) + 1e-9
    w, b = ridge((x - mu) / sd, y, best)
    fit = np.clip((x - mu) / sd @ w + b, 0, 100)

    _, native = read(args.prints / NATIVE)
    ref_rows = []
    for r in native:
        path = r["path"]
        group = path.split("/")[0]
        stem = Path(path).stem[len(group) + 1 :]
        finger, _, impression = stem.partition("_")
        if any(r.get(n) in (None, "", "NA") for n in names):
            score = 0.0  # NFIQ 2 found no fingerprint (blank image)
        else:
            xv = transform([[float(r[n]) for n in names]], names)
            score = float(np.clip((xv - mu) / sd @ w + b, 0, 100)[0])
        ref_rows.append((path, group, finger, impression, split_of(group, finger), score))

    OUT.mkdir(parents=True, exist_ok=True)
    model = {
        "what": "ridge regression: NFIQ 2 v2.3.0 native measures -> official NFIQ 2 score",
        "fitted_on": f"{CONFORMANCE} ({len(y)} images with a score)",
        "transform": "log1p on count-like measures, then (x - mean) / std",
        "lambda": best,
        "cross_validation_10fold_x5": {str(k): v for k, v in cv.items()},
        "train_spearman": round(spearman(fit, y), 4),
        "train_mae": round(float(np.mean(np.abs(fit - y))), 2),
        "intercept": round(b, 6),
        "measures": [
            {
                "name": n,
                "log1p": is_count(n),
                "mean": round(float(m), 6),
                "std": round(float(s), 6),
                "weight": round(float(wi), 6),
            }
            for n, m, s, wi in zip(names, mu, sd, w, strict=True)
        ],
    }
    (OUT / "nfiq2-reference-model.json").write_text(json.dumps(model, indent=1) + "\n")
    with (OUT / "finger-reference-scores.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "group", "finger", "impression", "split", "reference_score"])
        for row in ref_rows:
            out.writerow([*row[:5], f"{row[5]:.2f}"])
    summary = {k: model[k] for k in ("lambda", "train_spearman", "train_mae")}
    summary["cv"] = cv[best]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
