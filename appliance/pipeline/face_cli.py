"""``appliance face check|capture`` and ``appliance bench face``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.cli_output import EXIT_DEVICE, EXIT_INVALID, EXIT_OK, emit, error_object, fail
from appliance.config import load_config_for
from appliance.errors import ApplianceError, InvalidInput
from appliance.imageio import read_image
from appliance.pipeline import face_match_cli


def read_rgb(path: str | Path) -> np.ndarray:
    """An RGB image from a file (InvalidInput when missing or unreadable)."""
    return read_image(path, "RGB")


def result_dict(assessment) -> dict[str, Any]:
    """The per-image JSON: verdict, reasons, guidance, measures, ms, face."""
    from appliance.pipeline.face_guidance import instruction

    d = assessment.to_dict()
    return {
        "verdict": d["verdict"],
        "reasons": d["reasons"],
        "guidance": {lang: instruction(d["reasons"], lang) for lang in ("vi", "en")},
        "measures": d["measures"],
        "ms": d["ms"],
        "face": d["face"],
    }


def cmd_check(args: argparse.Namespace) -> int:
    from appliance.pipeline.face_capture import encode_jpeg, portrait_crop
    from appliance.pipeline.face_quality import FaceQuality

    cfg = load_config_for(args)
    quality = FaceQuality(cfg.face)
    worst = EXIT_OK
    for file in args.images:
        try:
            image = read_rgb(file)
            assessment = quality.assess(image)
        except ApplianceError as exc:
            emit(error_object(exc.code, exc.message, file=file), args)
            worst = max(worst, EXIT_INVALID if isinstance(exc, InvalidInput) else EXIT_DEVICE)
            continue
        out: dict[str, Any] = {"file": file, "ok": True, **result_dict(assessment)}
        if args.portrait and assessment.face is not None:
            target = Path(args.portrait) / f"{Path(file).stem}.portrait.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            crop = portrait_crop(image, assessment, cfg.face.portrait_height)
            target.write_bytes(encode_jpeg(crop, cfg.face.jpeg_quality))
            out["portrait"] = str(target)
        emit(out, args)
    return worst


def cmd_capture(args: argparse.Namespace) -> int:
    from appliance.hal.registry import create_device
    from appliance.pipeline.face_capture import LiveFaceCapture

    cfg = load_config_for(args)
    camera = create_device("camera", cfg.camera)
    camera.open()
    try:
        live = LiveFaceCapture(camera, cfg=cfg.face)
        jpeg = live.run(timeout=args.timeout)
    finally:
        camera.close()
    stats = live.stats()
    if jpeg is None:
        latest = live.latest
        reasons = latest.reasons if latest else []
        return fail(
            args,
            "no_capture",
            f"no passing face for {cfg.face.consecutive_frames} frames in a row within "
            f"{args.timeout:g} s (last reasons: {', '.join(reasons) or 'none'})",
            EXIT_DEVICE,
            stats=stats,
        )
    out: dict[str, Any] = {"ok": True, "bytes": len(jpeg), "stats": stats}
    if args.out:
        Path(args.out).write_bytes(jpeg)
        out["file"] = str(args.out)
    assert live.portrait_assessment is not None
    out.update(result_dict(live.portrait_assessment))
    emit(out, args)
    return EXIT_OK


# --- benchmark -----------------------------------------------------------------------------


def bench_frames() -> dict[str, np.ndarray]:
    """The sim portrait frame at 640x480 and, letterboxed, at 1280x720; plus a frame without
    a face (its top-left corner, enlarged)."""
    import cv2

    from appliance.hal.sim import SIM_DATA, load_images

    (frame,) = load_images(SIM_DATA / "camera" / "portrait.jpg", (640, 480))
    big = cv2.resize(frame, (960, 720), interpolation=cv2.INTER_CUBIC)
    wide = cv2.copyMakeBorder(big, 0, 0, 160, 160, cv2.BORDER_REFLECT)
    empty = cv2.resize(frame[:120, :160], (640, 480), interpolation=cv2.INTER_CUBIC)
    return {"640x480": frame, "1280x720": wide, "640x480_no_face": empty}


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {
        "mean": round(float(arr.mean()), 3),
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
    }


def time_frames(quality, frame: np.ndarray, n: int) -> dict[str, Any]:
    for _ in range(5):  # warm up (first XNNPACK runs allocate)
        quality.assess(frame)
    ms: dict[str, list[float]] = {"detect": [], "landmarks": [], "measures": [], "total": []}
    wall = time.perf_counter()
    for _ in range(n):
        result = quality.assess(frame)
        for key in ms:
            ms[key].append(result.ms[key])
    wall = (time.perf_counter() - wall) / n * 1000
    return {
        "verdict": result.verdict,
        "reasons": result.reasons,
        "ms": {key: _stats(values) for key, values in ms.items()},
        "wall_ms_per_frame": round(wall, 3),
    }


def bench_face(n: int, goal_ms: float = 8.0) -> dict[str, Any]:
    from appliance.config import FaceConfig
    from appliance.pipeline.face_quality import FaceQuality
    from appliance.pipeline.inference import runtime_name

    frames = bench_frames()
    one = FaceQuality(FaceConfig(threads=1))
    two = FaceQuality(FaceConfig(threads=2))
    load_before = os.getloadavg()
    result: dict[str, Any] = {"area": "face", "runtime": runtime_name(), "frames_per_case": n}
    result["threads_1"] = {name: time_frames(one, frame, n) for name, frame in frames.items()}
    result["threads_2"] = {"640x480": time_frames(two, frames["640x480"], n)}
    mean = result["threads_1"]["640x480"]["ms"]["total"]["mean"]
    result["goal"] = {
        "total_ms_640x480_1_thread": goal_ms,
        "measured_mean_ms": mean,
        "met": mean <= goal_ms,
    }
    result["load_average"] = {
        "before": [round(v, 2) for v in load_before],
        "after": [round(v, 2) for v in os.getloadavg()],
    }
    return result


def cmd_bench(args: argparse.Namespace) -> int:
    from appliance.benchcli import record

    result = bench_face(args.frames)
    if args.note:
        result["note"] = args.note
    emit(result, args)
    record("face", result, args.record)
    return EXIT_OK


# --- registration --------------------------------------------------------------------------


def register(sub) -> None:
    from appliance.cli import _Parser, add_json_flag
    from appliance.service import add_config_args

    face = sub.add_parser("face", help="face image quality (ICAO) and live capture")
    fsub = face.add_subparsers(dest="face_command", required=True, parser_class=_Parser)

    p = fsub.add_parser("check", help="assess face images (JSON lines, one per image)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--portrait", metavar="DIR", help="also write each ICAO 3:4 crop to DIR")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_check)

    p = fsub.add_parser("capture", help="run the live capture on the configured camera")
    p.add_argument("--out", type=Path, help="save the portrait JPEG here")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before giving up")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_capture)
    face_match_cli.register(fsub)


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("face", help="face quality stage times at 640x480 and 1280x720")
    p.add_argument("--frames", type=int, default=200, help="frames timed per case")
    p.add_argument("--note", help="a remark stored with the result (e.g. machine load)")
    p.add_argument("--record", metavar="DIR", help="write the result to DIR/face-DATE.json")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
