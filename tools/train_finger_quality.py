#!/usr/bin/env python3
"""Train the fingerprint quality score model and write it as TFLite with its model card.

Development only: TensorFlow is NOT a runtime dependency of the appliance. Use a separate venv:

    python3 -m venv /work/tfvenv && /work/tfvenv/bin/pip install tensorflow-cpu==2.21.0
    /work/tfvenv/bin/python tools/train_finger_quality.py   # about 7 minutes on 1 busy core

Everything is seeded, so the same TensorFlow version on the same machine reproduces the same
file. Data: prints from ``appliance.pipeline.fingerprint_synth`` (training fingers and
held-out fingers never share a seed), each with a random mix of known degradations; the target
is ``target_quality`` (100 = clean, 0 = useless or no finger). Input: the numpy features of
``appliance.pipeline.finger_quality``; the normalisation is inside the model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.pipeline import fingerprint_synth as fs  # noqa: E402
from appliance.pipeline.finger_quality import FEATURE_NAMES, feature_vector, features  # noqa: E402

MODELS = REPO / "appliance" / "pipeline" / "models"
SEED = 20261125
TRAIN_SEEDS = range(1, 10**6)  # finger seeds below 1e6 are for training
HELDOUT_BASE = 10**6  # held-out fingers: 1e6 + i (the bench uses 2e6 + i)
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties), numpy only."""

    def rank(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="mergesort")
        ranks = np.empty(len(x))
        sx = x[order]
        i = 0
        while i < len(x):
            j = i
            while j + 1 < len(x) and sx[j + 1] == sx[i]:
                j += 1
            ranks[order[i : j + 1]] = (i + j) / 2.0
            i = j + 1
        return ranks

    ra, rb = rank(np.asarray(a, float)), rank(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


def training_set(n_fingers: int, per_finger: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    seeds = rng.choice(np.asarray(TRAIN_SEEDS[:200000]), size=n_fingers, replace=False)
    xs, ys = [], []
    t0 = time.time()
    for i, seed in enumerate(seeds):
        for _ in range(per_finger):
            spec = fs.random_spec(rng, int(seed))
            xs.append(feature_vector(features(fs.render(spec)))[0])
            ys.append(fs.target_quality(spec))
        fs.finger.cache_clear()
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{n_fingers} fingers, {time.time() - t0:.0f} s", file=sys.stderr)
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


def heldout_set(n_fingers: int, base: int = HELDOUT_BASE):
    """Every degradation at every level on fingers never seen in training."""
    xs, levels, kinds = [], [], []
    for i in range(n_fingers):
        for kind in fs.DEGRADATIONS:
            for level in LEVELS:
                img = fs.render(fs.degraded(base + i, kind, level))
                xs.append(feature_vector(features(img))[0])
                levels.append(level)
                kinds.append(kind)
        fs.finger.cache_clear()
    return np.asarray(xs, np.float32), np.asarray(levels), np.asarray(kinds)


def build_model(tf, x_train: np.ndarray):
    norm = tf.keras.layers.Normalization(axis=-1)
    norm.adapt(x_train)
    return tf.keras.Sequential(
        [
            tf.keras.Input(shape=(len(FEATURE_NAMES),), name="features"),
            norm,
            tf.keras.layers.Dense(32, activation="relu"),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(1, activation="sigmoid"),
            tf.keras.layers.Rescaling(100.0, name="score"),
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fingers", type=int, default=700, help="training fingers")
    ap.add_argument("--per-finger", type=int, default=6, help="impressions per training finger")
    ap.add_argument("--heldout", type=int, default=20, help="held-out fingers")
    ap.add_argument("--epochs", type=int, default=250)
    ap.add_argument("--cache", type=Path, help="reuse/keep the features in this .npz")
    ap.add_argument("--out", type=Path, default=MODELS / "finger_quality.tflite")
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()

    if args.cache and args.cache.is_file():
        data = np.load(args.cache)
        x, y, hx, hl, hk = (data[k] for k in ("x", "y", "hx", "hl", "hk"))
    else:
        print("generating training prints ...", file=sys.stderr)
        x, y = training_set(args.fingers, args.per_finger)
        print("generating held-out prints ...", file=sys.stderr)
        hx, hl, hk = heldout_set(args.heldout)
        if args.cache:
            np.savez_compressed(args.cache, x=x, y=y, hx=hx, hl=hl, hk=hk)

    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(x))
    n_val = len(x) // 10
    val, train = order[:n_val], order[n_val:]
    model = build_model(tf, x[train])
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    model.fit(
        x[train],
        y[train],
        validation_data=(x[val], y[val]),
        epochs=args.epochs,
        batch_size=64,
        shuffle=True,
        verbose=0,
        callbacks=[
            tf.keras.callbacks.ReduceLROnPlateau(patience=20, factor=0.5, min_lr=1e-4),
            tf.keras.callbacks.EarlyStopping(patience=50, restore_best_weights=True),
        ],
    )
    val_mae = float(np.mean(np.abs(model.predict(x[val], verbose=0)[:, 0] - y[val])))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    tflite = converter.convert()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(tflite)

    # evaluate the converted model on the held-out fingers
    interp = tf.lite.Interpreter(model_content=tflite)
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(hx.shape))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], hx)
    interp.invoke()
    scores = interp.get_tensor(interp.get_output_details()[0]["index"])[:, 0]
    blank = hx[:, FEATURE_NAMES.index("foreground")] < 0.06
    scores = np.where(blank, 0.0, scores)  # the runtime scores an empty sensor 0
    metrics = {
        "train_samples": len(train),
        "val_mae": round(val_mae, 2),
        "heldout_prints": len(hx),
        "spearman_score_vs_level_all": round(spearman(scores, -hl), 3),
        "spearman_score_vs_level_per_kind": {
            k: round(spearman(scores[hk == k], -hl[hk == k]), 3) for k in fs.DEGRADATIONS
        },
        "mean_score_by_level": {str(lv): round(float(scores[hl == lv].mean()), 1) for lv in LEVELS},
    }
    sha = hashlib.sha256(tflite).hexdigest()
    print(
        json.dumps(
            {"model": str(args.out), "sha256": sha, "bytes": len(tflite), **metrics}, indent=2
        )
    )
    write_card(args.out.with_suffix(".md"), sha, len(tflite), metrics, tf.__version__, args)
    return 0


def write_card(path: Path, sha: str, size: int, metrics: dict, tf_version: str, args) -> None:
    per_kind = ", ".join(f"{k} {v}" for k, v in metrics["spearman_score_vs_level_per_kind"].items())
    by_level = ", ".join(f"{k}: {v}" for k, v in metrics["mean_score_by_level"].items())
    feats = "\n".join(f"  {i}. `{n}`" for i, n in enumerate(FEATURE_NAMES))
    path.write_text(
        f"""# finger_quality.tflite: fingerprint quality score (model card)

- **What it does**: turns the {len(FEATURE_NAMES)} NFIQ 2-inspired features computed by
  `appliance/pipeline/finger_quality.py` (numpy) into a quality score from 0 (useless) to 100
  (clean). The runtime scores an empty sensor 0 without running the model.
- **Source and licence**: made in this repository by `tools/train_finger_quality.py`; same
  licence as the appliance. No third-party weights or data.
- **File**: `finger_quality.tflite`, {size} bytes, sha256 `{sha}`.
- **Input**: `features`, float32 `[batch, {len(FEATURE_NAMES)}]`, in this order (raw values; the
  normalisation is the model's first layer):
{feats}
- **Output**: float32 `[batch, 1]`, the score 0-100.
- **Architecture**: normalisation -> dense 32 (ReLU) -> dense 16 (ReLU) -> dense 1 (sigmoid)
  x 100. Float32, runs on the TFLite builtin ops (LiteRT or tflite-runtime).
- **How it was trained**: TensorFlow {tf_version} (development venv only), seed {SEED},
  {args.fingers} synthetic fingers x {args.per_finger} impressions from
  `appliance/pipeline/fingerprint_synth.py` (an SFinGe-style generator: zero-pole orientation
  fields, Gabor-grown ridges, rendered with pressure, moisture, noise, blur, slip, partial and
  off-centre contact, low contrast, and empty-sensor frames). Each impression carries 0-3 known
  degradations at random levels; the target is `target_quality()`: 100 x the product of
  (1 - severity) over the degradations (off-centre weighted 0.8), 0 for an empty sensor. MSE
  loss, Adam, early stopping on a 10% validation split (validation MAE {metrics["val_mae"]}).
- **Held-out evaluation** ({metrics["heldout_prints"]} prints of {args.heldout} fingers whose
  seeds were never used in training; every degradation at levels 0, 0.2, ..., 1.0; the
  converted `.tflite` file was evaluated): Spearman rank correlation of score with
  (negated) degradation level {metrics["spearman_score_vs_level_all"]} over all prints; per
  degradation: {per_kind}. Mean score by level: {by_level}.
- **Limits, honestly**: trained and tested on synthetic prints only. The target is a
  hand-made stand-in for matcher utility, not NFIQ 2 and not fitted to any real matcher or to
  real R307/R503 images; the absolute numbers (and the pass threshold in `[finger]`) should be
  re-checked on real captures from the deployed sensor before they gate anything important.
  Worn ridges of manual workers and the elderly are only approximated by the dry/low-contrast
  renderings.
- **Reproduce**: `/work/tfvenv/bin/python tools/train_finger_quality.py` (see the script's
  docstring for the venv).
"""
    )


if __name__ == "__main__":
    raise SystemExit(main())
