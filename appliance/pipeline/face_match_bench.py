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


__all__ = ["MATCH", "bench_face_match", "chip_like", "wilson"]
