"""``appliance bench face-match``: FMR and FNMR of the 1:1 comparison on real photographs.

Genuine pairs: two different photos of one person in ``identities/``; impostor pairs: photos of
two people. The second photo of every pair is degraded as a chip stores its portrait
(:func:`chip_like`: the 3:4 centre, 300-480 px high, JPEG quality 30-60, or JPEG 2000). The
threshold is chosen on the development people (FMR <= ``target_fmr``) and the configured one is
then measured on the final-measurement people (every fourth), with 95% Wilson intervals.
Impostor pairs share photos, so they are not independent: the intervals are optimistic.
"""

from __future__ import annotations

import argparse
import io
import itertools
import math
import random
import time
from typing import Any

import numpy as np

from appliance.cli_output import EXIT_OK, emit
from appliance.config import load_config_for
from appliance.imageio import read_image
from appliance.pipeline.face_data import identities, require_faces_dir
from appliance.pipeline.face_match import CANNOT_TELL, MATCH, FaceMatcher, decode_image


def chip_like(rgb: np.ndarray, rng: random.Random, fmt: str = "jpeg") -> np.ndarray:
    """The image as a chip would hold it: centre 3:4 crop, 300-480 px high, strong compression."""
    import cv2
    from PIL import Image

    h, w = rgb.shape[:2]
    cw = min(w, int(h * 0.75))
    crop = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    height = rng.randint(300, 480)
    crop = cv2.resize(crop, (int(height * 0.75), height), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    if fmt == "jp2":  # JPEG 2000 at 20-40:1, as a 15-20 KB chip portrait
        Image.fromarray(crop).save(
            buf, "JPEG2000", quality_mode="rates", quality_layers=[rng.randint(20, 40)]
        )
    else:
        Image.fromarray(crop).save(buf, "JPEG", quality=rng.randint(30, 60))
    return decode_image(buf.getvalue())


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of the proportion k/n."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    r = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(max(0.0, c - r), 6), round(min(1.0, c + r), 6)]


def embed_people(matcher: FaceMatcher, people: dict, fmt: str, seed: int) -> dict[str, Any]:
    """(person, live sample, chip sample) per photo, and the time per embedding."""
    rng = random.Random(seed)
    out, times = [], []
    for person, photos in people.items():
        for photo in photos:
            rgb = read_image(photo, "RGB")
            t0 = time.perf_counter()
            live = matcher.sample(rgb)
            times.append((time.perf_counter() - t0) * 1000)
            out.append((person, live, matcher.sample(chip_like(rgb, rng, fmt))))
    return {"samples": out, "ms": times}


def pair_scores(matcher: FaceMatcher, samples: list) -> dict[str, list]:
    """Similarities of every ordered pair of photos (live of one, chip of the other)."""
    scores: dict[str, list] = {
        "genuine": [],
        "impostor": [],
        "cannot_genuine": [0],
        "cannot_impostor": [0],
    }
    for (p1, live, _), (p2, _, chip) in itertools.permutations(samples, 2):
        if live is chip:
            continue
        kind = "genuine" if p1 == p2 else "impostor"
        result = matcher.compare(live, chip)
        if result.decision == CANNOT_TELL:
            scores[f"cannot_{kind}"][0] += 1
        else:
            scores[kind].append(result.similarity)
    return scores


def rates(scores: dict[str, list], thr: float) -> dict[str, Any]:
    gen, imp = np.asarray(scores["genuine"]), np.asarray(scores["impostor"])
    fn, fm = int((gen < thr).sum()), int((imp >= thr).sum())
    return {
        "threshold": round(thr, 4),
        "genuine_pairs": len(gen),
        "impostor_pairs": len(imp),
        "cannot_tell": {
            "genuine": scores["cannot_genuine"][0],
            "impostor": scores["cannot_impostor"][0],
        },
        "fnmr": round(fn / max(len(gen), 1), 5),
        "fnmr_ci95": wilson(fn, len(gen)),
        "fmr": round(fm / max(len(imp), 1), 6),
        "fmr_ci95": wilson(fm, len(imp)),
    }


def threshold_for_fmr(scores: dict[str, list], target: float) -> float:
    """The lowest similarity threshold whose FMR is at most ``target``."""
    imp = np.sort(np.asarray(scores["impostor"]))
    k = math.floor(target * len(imp))  # impostors allowed at or above the threshold
    return float(imp[len(imp) - k - 1] + 1e-6) if len(imp) > k else 0.0


def bench_face_match(cfg, target_fmr: float = 0.001, fmt: str = "jpeg") -> dict[str, Any]:
    root = require_faces_dir()
    matcher = FaceMatcher(cfg.face)
    result: dict[str, Any] = {
        "area": "face-match",
        "chip_format": fmt,
        "configured_threshold": cfg.face.match_threshold,
    }
    times: list[float] = []
    for split, final in (("development", False), ("final_measurement", True)):
        people = identities(root, final=final)
        emb = embed_people(matcher, people, fmt, seed=7 if not final else 11)
        times += emb["ms"]
        scores = pair_scores(matcher, emb["samples"])
        row: dict[str, Any] = {"people": len(people), "photos": len(emb["samples"])}
        row["at_configured_threshold"] = rates(scores, cfg.face.match_threshold)
        if not final:  # choosing is done here only
            chosen = threshold_for_fmr(scores, target_fmr)
            row["threshold_for_target_fmr"] = rates(scores, chosen)
            row["at_fnmr_5_percent"] = rates(scores, float(np.quantile(scores["genuine"], 0.05)))
        result[split] = row
    arr = np.asarray(times)
    result["embed_ms_per_face"] = {
        "mean": round(float(arr.mean()), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
    }
    result["target"] = {"fmr": target_fmr, "fnmr": 0.05}
    return result


def cmd_bench(args: argparse.Namespace) -> int:
    from appliance.benchcli import record

    result = bench_face_match(load_config_for(args), fmt=args.chip_format)
    emit(result, args)
    suffix = "" if args.chip_format == "jpeg" else "-jp2"
    record(f"face-match{suffix}", result, args.record)
    return EXIT_OK


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag
    from appliance.service import add_config_args

    p = bench_sub.add_parser("face-match", help="FMR/FNMR of live vs chip-like portraits")
    p.add_argument("--chip-format", choices=("jpeg", "jp2"), default="jpeg")
    p.add_argument("--record", metavar="DIR", help="write the result to DIR/face-match-DATE.json")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)

    p = bench_sub.add_parser("face-verify", help='the whole "look at the camera" step')
    p.add_argument("--record", metavar="DIR", help="write the result to DIR/face-verify-DATE.json")
    add_config_args(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_bench_verify)


__all__ = ["MATCH", "bench_face_match", "chip_like", "wilson"]


def bench_look_at_camera(cfg, clip: str | None = None) -> dict[str, Any]:
    """The whole step for a cooperative person: a real recorded head-turn clip as the camera,
    one of its frames degraded as a chip portrait; plus the sim's still portrait (must fail)."""
    from appliance.hal.sim import SIM_DATA
    from appliance.pipeline.face_liveness import CHALLENGES
    from appliance.pipeline.face_match_cli import video_frames
    from appliance.pipeline.face_verify import look_at_camera

    matcher = FaceMatcher(cfg.face)
    out: dict[str, Any] = {}
    root = require_faces_dir() / "video"
    clips = {
        "turn_left": "headturn_webcam_yaw_pitch_roll.avi",
        "turn_right": "headturn_webcam_yaw_pitch_roll.avi",
        "blink": "blink_frontal_vlog_woman.mp4",
    }
    for challenge in CHALLENGES:
        path = str(root / clips[challenge])
        _, first = next(iter(video_frames(path)))
        t0 = time.perf_counter()
        chip = matcher.sample(chip_like(first, random.Random(3)))
        chip_ms = (time.perf_counter() - t0) * 1000
        frames = list(video_frames(path))
        outcome = look_at_camera(iter(frames), chip, challenge, matcher)
        passed_at = outcome.liveness["elapsed_s"]
        used = sum(1 for t, _ in frames if t <= passed_at)
        out[challenge] = {
            "clip": clips[challenge],
            **outcome.record(),
            "challenge_s_in_clip": passed_at,
            "frames_processed": used,
            "ms": {
                "chip_embed": round(chip_ms, 1),
                **{k: round(v, 1) for k, v in outcome.ms.items()},
            },
            "processing_s": round((chip_ms + sum(outcome.ms.values())) / 1000, 2),
        }
    still = video_frames(
        str(SIM_DATA / "camera" / "portrait.jpg"), still_s=cfg.face.liveness_time_limit_s + 1
    )
    chip = matcher.sample(decode_image((SIM_DATA / "citizen_portrait.jpg").read_bytes()))
    out["sim_still_portrait"] = look_at_camera(still, chip, "blink", matcher).record()
    return out


def cmd_bench_verify(args: argparse.Namespace) -> int:
    import os

    from appliance.benchcli import record

    load = os.getloadavg()
    result = {"area": "face-verify", **bench_look_at_camera(load_config_for(args))}
    result["load_average"] = {
        "before": [round(v, 2) for v in load],
        "after": [round(v, 2) for v in os.getloadavg()],
    }
    emit(result, args)
    record("face-verify", result, args.record)
    return EXIT_OK
