"""``appliance face compare A B`` / ``--pairs FILE`` and ``appliance face liveness VIDEO``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.cli_output import (
    EXIT_INVALID,
    EXIT_OK,
    emit,
    error_object,
    exit_code_for,
    fail,
    fail_exc,
)
from appliance.config import load_config_for
from appliance.errors import ApplianceError, InvalidInput
from appliance.pipeline.face_liveness import CHALLENGES, PASSED, check_frames
from appliance.pipeline.face_match import FaceMatcher, decode_image
from appliance.pipeline.face_quality import FaceQuality


def read_any(path: str) -> Any:
    """RGB pixels of a JPEG / JPEG 2000 / PNG file (InvalidInput when missing or unreadable)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    try:
        return decode_image(data)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from None


def compare_files(matcher: FaceMatcher, a: str, b: str) -> dict[str, Any]:
    result = matcher.compare_images(read_any(a), read_any(b))
    return {"a": a, "b": b, "ok": True, **result.to_dict()}


def read_pairs(path: str) -> list[tuple[int, str, str]]:
    """(line number, A, B) of every non-empty line ``A<TAB>B``; InvalidInput on a bad line."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the pairs file {path}: {exc}") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise InvalidInput(f"{path} line {number}: expected two file names separated by a tab")
        pairs.append((number, fields[0].strip(), fields[1].strip()))
    return pairs


def cmd_compare(args: argparse.Namespace) -> int:
    if bool(args.pairs) == bool(args.images):
        return fail(args, "usage", "give two images A B, or --pairs FILE", EXIT_INVALID)
    if args.images and len(args.images) != 2:
        return fail(args, "usage", "face compare takes exactly two images", EXIT_INVALID)
    try:
        pairs = read_pairs(args.pairs) if args.pairs else [(0, *args.images)]
        matcher = FaceMatcher(load_config_for(args).face)  # loaded once for every pair
    except ApplianceError as exc:
        return fail_exc(args, exc)
    worst = EXIT_OK
    for number, a, b in pairs:
        try:
            out = compare_files(matcher, a, b)
        except ApplianceError as exc:
            extra = {"line": number} if args.pairs else {}
            out = error_object(exc.code, exc.message, a=a, b=b, **extra)
            sys.stderr.write(f"appliance: {exc.message}\n")
            worst = max(worst, exit_code_for(exc))
        emit(out, args)
    return worst


def video_frames(path: str, still_s: float = 0.0, fps: float = 10.0):
    """(time s, RGB frame) of a video file; a still image is repeated for ``still_s`` seconds."""
    import cv2

    if not Path(path).is_file():
        raise InvalidInput(f"no such file: {path}")
    if Path(path).suffix.lower() in (".jpg", ".jpeg", ".png", ".jp2"):
        rgb = read_any(path)
        for i in range(int(still_s * fps) + 1):
            yield i / fps, rgb
        return
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InvalidInput(f"cannot open video {path}")
    rate = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield i / rate, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise InvalidInput(f"no frames could be decoded from {path}")


def cmd_liveness(args: argparse.Namespace) -> int:
    try:
        cfg = load_config_for(args).face
        quality = FaceQuality(cfg)
        challenges = CHALLENGES if args.challenge == "all" else (args.challenge,)
        results = []
        for challenge in challenges:
            frames = video_frames(args.video, still_s=cfg.liveness_time_limit_s + 1)
            results.append(check_frames(frames, challenge, quality, cfg).to_dict())
    except ApplianceError as exc:
        return fail_exc(args, exc)
    emit(
        {
            "ok": True,
            "file": args.video,
            "passed": all(r["result"] == PASSED for r in results),
            "checks": results,
        },
        args,
    )
    return EXIT_OK


def register(fsub) -> None:
    from appliance.cli import add_json_flag
    from appliance.service import add_config_args

    p = fsub.add_parser("compare", help="1:1: is it the same person? (match/no_match/cannot_tell)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="two images: A B")
    p.add_argument("--pairs", metavar="FILE", help="tab-separated pairs, one per line")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_compare)

    p = fsub.add_parser("liveness", help="run a liveness challenge over a recorded video")
    p.add_argument("video", help="video file (or a still image, shown for the whole time limit)")
    p.add_argument("--challenge", choices=(*CHALLENGES, "all"), default="all")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_liveness)
