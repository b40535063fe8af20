"""``appliance finger ...`` and ``appliance bench finger``.

* ``finger check IMAGE...``: score prints (JSON lines, one per image).
* ``finger capture``: capture one print from the configured sensor and score it.
* ``finger synth DIR``: write generated prints (for demos, tests and the sim sensor).
* ``bench finger``: quality time per image, capture-to-score through the protocol simulator
  with wire timing at 57600 and 115200 baud, the score's rank correlation with known
  degradation on held-out generated prints, and the real prints (``finger_realbench``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.cli_output import EXIT_DEVICE, EXIT_INVALID, EXIT_OK, emit, error_object, fail
from appliance.config import load_config_for
from appliance.errors import ApplianceError, InvalidInput
from appliance.imageio import read_image


def read_grey(path: str | Path) -> np.ndarray:
    """A grey image from a file (InvalidInput when missing or unreadable)."""
    return read_image(path, "L")


def _result_dict(quality) -> dict[str, Any]:
    d = quality.to_dict()
    return {
        "score": d["score"],
        "verdict": d["verdict"],
        "feedback": d["feedback"],
        "instructions": d["instructions"],
        "features": d["features"],
        "ms": round(quality.ms["total"], 2),
    }


def cmd_check(args: argparse.Namespace) -> int:
    from appliance.pipeline.finger_quality import FingerQuality

    cfg = load_config_for(args)
    assessor = FingerQuality(cfg.finger)
    worst = EXIT_OK
    for file in args.images:
        try:
            image = read_grey(file)
            quality = assessor.assess(image)
        except ApplianceError as exc:
            emit(error_object(exc.code, exc.message, file=file), args)
            worst = max(worst, EXIT_INVALID if isinstance(exc, InvalidInput) else EXIT_DEVICE)
            continue
        emit({"file": file, "ok": True, **_result_dict(quality)}, args)
    return worst


def cmd_capture(args: argparse.Namespace) -> int:
    from appliance.hal.registry import create_device
    from appliance.pipeline.finger_quality import FingerQuality

    cfg = load_config_for(args)
    assessor = FingerQuality(cfg.finger)
    sensor = create_device("fingerprint", cfg.fingerprint)
    sensor.open()
    device = sensor.location()
    try:
        if not sensor.wait_finger(args.timeout):
            return fail(
                args, "no_finger", f"no finger on the sensor within {args.timeout:g} s", EXIT_DEVICE
            )
        t0 = time.monotonic()
        image = sensor.capture()
        capture_ms = (time.monotonic() - t0) * 1e3
    finally:
        sensor.close()
    quality = assessor.assess(image)
    out: dict[str, Any] = {"ok": True, "device": device, "capture_ms": round(capture_ms)}
    if args.out:
        from PIL import Image

        Image.fromarray(image).save(args.out)
        out["file"] = str(args.out)
    emit({**out, **_result_dict(quality)}, args)
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    from PIL import Image

    from appliance.hal.r30x_protocol import image_size
    from appliance.pipeline import fingerprint_synth as fs

    try:
        rows, cols = image_size(args.model)
    except ValueError as exc:
        return fail(args, "invalid_input", str(exc), EXIT_INVALID)
    kind, level = "", 0.0
    if args.degrade:
        kind, _, lv = args.degrade.partition(":")
        try:
            level = float(lv or 0.5)
        except ValueError:
            return fail(args, "invalid_input", f"bad level in --degrade {args.degrade!r}")
        if kind not in fs.DEGRADATIONS:
            kinds = ", ".join(fs.DEGRADATIONS)
            return fail(args, "invalid_input", f"--degrade KIND:LEVEL with KIND one of {kinds}")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for seed in range(args.seed, args.seed + args.count):
        if args.blank:
            spec = fs.PrintSpec(seed=seed, rows=rows, cols=cols, present=False)
        elif kind:
            spec = fs.degraded(seed, kind, level, rows, cols)
        else:
            spec = fs.PrintSpec(seed=seed, rows=rows, cols=cols)
        name = out / f"print-{seed:05d}{f'-{kind}{level:g}' if kind else ''}.png"
        Image.fromarray(fs.render(spec)).save(name)
        files.append({"file": str(name), "target_quality": round(fs.target_quality(spec), 1)})
    emit({"ok": True, "prints": files}, args)
    return EXIT_OK


# --- bench ---------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_quality(n: int) -> dict[str, Any]:
    from appliance.pipeline import fingerprint_synth as fs
    from appliance.pipeline.finger_quality import FingerQuality

    rng = np.random.default_rng(5)
    images = [fs.render(fs.random_spec(rng, 3_000_000 + i)) for i in range(n)]
    out: dict[str, Any] = {"images": n, "size": "256x288"}
    for threads in (1, 2):
        assessor = FingerQuality(threads=threads)
        assessor.assess(images[0])
        feats, model, total = [], [], []
        for img in images:
            q = assessor.assess(img)
            feats.append(q.ms["features"])
            model.append(q.ms["model"])
            total.append(q.ms["total"])
        out[f"threads_{threads}"] = {
            "features_ms_median": round(statistics.median(feats), 2),
            "model_ms_median": round(statistics.median(model), 3),
            "total_ms_median": round(statistics.median(total), 2),
            "total_ms_p95": round(_pct(total, 95), 2),
            "total_ms_max": round(max(total), 2),
        }
    out["goal_ms"] = 20.0
    out["meets_goal"] = out["threads_1"]["total_ms_p95"] <= 20.0
    return out


def bench_capture(baud: int, upload_baud: int = 0, captures: int = 2) -> dict[str, Any]:
    """Capture-to-score through the simulator with wire timing at ``baud``."""
    from appliance.config import FingerprintConfig
    from appliance.hal.r30x import R30xSensor
    from appliance.hal.r30x_sim import R30xSimulator
    from appliance.pipeline.finger_quality import FingerQuality

    assessor = FingerQuality()
    runs = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        R30xSimulator("r307", baud=baud, timing=True, link_dir=tmp) as sim,
    ):
        cfg = FingerprintConfig(
            backend="r30x", port=sim.port, baud=baud, upload_baud=upload_baud, ready_wait_s=0.05
        )
        dev = R30xSensor(cfg)
        dev.open()
        try:
            assessor.assess(np.full(dev.image_size, 230, np.uint8))  # warm the model
            for _ in range(captures):
                b_in, b_out = sim.stats.bytes_in, sim.stats.bytes_out
                t0 = time.perf_counter()
                assert dev.wait_finger(5.0)
                image = dev.capture()
                quality = assessor.assess(image)
                elapsed = time.perf_counter() - t0
                wire_bytes = sim.stats.bytes_in - b_in + sim.stats.bytes_out - b_out
                wire_s = wire_bytes * 10.0 / dev.baud
                runs.append((elapsed, wire_s, wire_bytes, quality.score))
        finally:
            dev.close()
    elapsed = statistics.median(r[0] for r in runs)
    wire = statistics.median(r[1] for r in runs)
    return {
        "module_baud": baud,
        "upload_baud": dev.baud,
        "found_baud": dev.found_baud,
        "wire_bytes": runs[0][2],
        "serial_transfer_s": round(wire, 3),
        "capture_to_score_s": round(elapsed, 3),
        "ratio": round(elapsed / wire, 3),
        "goal_ratio": 1.1,
        "meets_goal": elapsed / wire <= 1.1,
    }


def bench_rank(fingers: int) -> dict[str, Any]:
    """Spearman of score against known degradation level on held-out generated prints."""
    from appliance.pipeline import fingerprint_synth as fs
    from appliance.pipeline.finger_quality import FingerQuality

    assessor = FingerQuality()
    levels = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    scores, lv, kinds = [], [], []
    for i in range(fingers):
        seed = 2_000_000 + i  # training used seeds < 1e6, its own check 1e6 + i
        for kind in fs.DEGRADATIONS:
            for level in levels:
                scores.append(assessor.assess(fs.render(fs.degraded(seed, kind, level))).score)
                lv.append(level)
                kinds.append(kind)
        fs.finger.cache_clear()
    s, lvl, k = np.asarray(scores), np.asarray(lv), np.asarray(kinds)
    per_kind = {kind: round(spearman(s[k == kind], -lvl[k == kind]), 3) for kind in fs.DEGRADATIONS}
    rho = spearman(s, -lvl)
    return {
        "fingers": fingers,
        "prints": len(s),
        "levels": list(levels),
        "spearman_score_vs_degradation": round(-rho, 3),
        "spearman_score_vs_quality": round(rho, 3),
        "per_kind_score_vs_quality": per_kind,
        "mean_score_by_level": {str(x): round(float(s[lvl == x].mean()), 1) for x in levels},
        "goal": ">= 0.8 (score vs quality = 1 - degradation)",
        "meets_goal": rho >= 0.8,
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties."""

    def rank(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        order = np.argsort(x, kind="mergesort")
        ranks = np.empty(len(x))
        ranks[order] = np.arange(len(x), dtype=float)
        for value in np.unique(x):
            tie = x == value
            if tie.sum() > 1:
                ranks[tie] = ranks[tie].mean()
        return ranks

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def cmd_bench(args: argparse.Namespace) -> int:
    from appliance.benchcli import record

    splits = tuple(s for s in args.real.split(",") if s and args.real != "none")
    frames = tuple(f for f in args.frames.split(",") if f)
    if not set(splits) <= {"dev", "final", "small"} or not frames:
        return fail(args, "invalid_input", "--real takes dev, final, small (comma list) or none")
    if not set(frames) <= {"platen", "r307", "r503"}:
        return fail(args, "invalid_input", "--frames takes platen, r307, r503 (comma separated)")
    result: dict[str, Any] = {"area": "finger", "quality": bench_quality(args.images)}
    if not args.no_serial:
        result["capture_to_score"] = [bench_capture(b) for b in (57600, 115200)]
        result["capture_to_score_raised"] = bench_capture(57600, upload_baud=115200)
        result["capture_to_score_note"] = (
            "simulator with wire timing (10 bits/byte at the module's rate); GenImg's own "
            "imaging time is not simulated; serial_transfer_s counts every byte both ways"
        )
    if args.heldout:
        result["rank_correlation"] = bench_rank(args.heldout)
    if splits:
        from appliance.pipeline.finger_realbench import bench_real

        result["real_prints"] = bench_real(splits, frames)
    emit(result, args)
    record("finger", result, args.record)
    return EXIT_OK


# --- registration --------------------------------------------------------------------------


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag
    from appliance.service import add_config_args

    finger = sub.add_parser("finger", help="fingerprint quality, capture and test prints")
    fsub = finger.add_subparsers(dest="finger_command", required=True, parser_class=_Parser)

    p = fsub.add_parser("check", help="score print images (JSON lines)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_check)

    p = fsub.add_parser("capture", help="capture one print from the configured sensor")
    p.add_argument("--out", type=Path, help="save the print as PNG")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a finger")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_capture)

    p = fsub.add_parser("synth", help="write generated prints (PNG) to DIR")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--model", default="r307", help="image size of this module (r307, r503)")
    p.add_argument("--degrade", metavar="KIND:LEVEL", help="e.g. wet:0.6, dry:0.5, partial:0.7")
    p.add_argument("--blank", action="store_true", help="an empty sensor")
    add_json_flag(p)
    p.set_defaults(func=cmd_synth)


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("finger", help="fingerprint quality and capture-to-score timing")
    p.add_argument("--images", type=int, default=60, help="prints for the quality timing")
    p.add_argument("--heldout", type=int, default=12, help="held-out fingers (0: skip)")
    p.add_argument("--no-serial", action="store_true", help="skip the serial capture timing")
    p.add_argument(
        "--real",
        default="dev,final,small",
        help="real-print splits from ../shared/data/prints (dev, final, small; none: skip)",
    )
    p.add_argument("--frames", default="platen,r307,r503", help="platen, r307, r503")
    p.add_argument("--record", metavar="DIR", help="write the result to DIR/finger-DATE.json")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
