"""``appliance bench face-conditions``: does each real photograph give its condition's reason?

Reads ``conditions/labels.json`` of the face research photographs (see
:mod:`appliance.pipeline.face_data`); nothing is tuned on them. For every labelled condition the
reason code it should give (:data:`EXPECTED`) is looked for among the image's reasons. Also
brightens development people's identity photos (there is no over-exposed example) and counts
how often ``too_bright`` is given.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

import numpy as np

from appliance.cli_output import EXIT_OK, emit
from appliance.config import FaceConfig
from appliance.imageio import read_image
from appliance.pipeline.face_data import identities, require_faces_dir
from appliance.pipeline.face_quality import FaceQuality

# condition label -> the reason code that should be given; None: ICAO does not refuse it
# (clear glasses) or the kiosk has no measure for it (head covering)
EXPECTED: dict[str, str | None] = {
    "yaw": "yaw",
    "pitch": "pitch",
    "roll": "roll",
    "eyes_closed": "eyes_closed",
    "eyes_closed_one": "eyes_closed",
    "mouth_open": "mouth_open",
    "side_light": "uneven_light",
    "dark": "too_dark",
    "blurred": "blurry",
    "small_face": "face_too_small",
    "two_or_more_faces": "multiple_faces",
    "no_face": "no_face",
    "glasses": None,
    "hat": None,
}
BRIGHTEN_GAINS = (1.6, 2.2, 3.0)


def conditions_report(quality: FaceQuality) -> dict[str, Any]:
    root = require_faces_dir() / "conditions"
    labels = json.loads((root / "labels.json").read_text())
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"images": 0, "given": 0, "files": []})
    images = []
    for name, entry in sorted(labels.items()):
        a = quality.assess(read_image(root / name, "RGB"))
        images.append({"file": name, "conditions": entry["conditions"], "reasons": a.reasons})
        for cond in entry["conditions"]:
            code = EXPECTED.get(cond)
            row = per[cond]
            row["expected"] = code
            row["images"] += 1
            hit = code in a.reasons if code else None  # None: not a refusal reason
            row["given"] += int(bool(hit))
            row["files"].append({"file": name, "hit": hit, "reasons": a.reasons})
    return {"per_condition": dict(sorted(per.items())), "images": images}


def brightened_report(quality: FaceQuality) -> dict[str, Any]:
    """Development people's first photo at several brightness gains: share given too_bright."""
    people = identities(require_faces_dir(), final=False)
    out = {}
    for gain in BRIGHTEN_GAINS:
        given = faces = 0
        for photos in people.values():
            img = read_image(photos[0], "RGB").astype(np.float32)
            a = quality.assess(np.clip(img * gain, 0, 255).astype(np.uint8))
            given += "too_bright" in a.reasons
            faces += "no_face" not in a.reasons
        out[f"gain_{gain}"] = {"images": len(people), "too_bright": given, "face_found": faces}
    return out


def closed_eyes_report(quality: FaceQuality, max_yaw: float = 20.0) -> dict[str, Any]:
    """Development people's photos (|yaw| <= ``max_yaw``) and the same photos with generated
    closed eyes: how often each eye measure (the iris model's, Face Mesh's) falls under
    ``min_eyes_open``, i.e. open eyes refused and closed eyes caught."""
    from appliance.pipeline.face_eyes import close_eyes, mesh_opening

    t = quality.cfg.min_eyes_open
    rows = []
    for photos in identities(require_faces_dir(), final=False).values():
        for photo in photos:
            rgb = read_image(photo, "RGB")
            a = quality.assess(rgb)
            yaw = a.measures["head_pose_yaw"].raw
            if a.landmarks is None or yaw is None or abs(yaw) > max_yaw:
                continue
            shut = close_eyes(rgb, a.landmarks.points)
            b = quality.assess(shut)
            if b.landmarks is None:
                continue
            mesh_a, mesh_b = (
                min(mesh_opening(a.landmarks.points)),
                min(mesh_opening(b.landmarks.points)),
            )
            rows.append([a.measures["eyes_open"].raw, mesh_a, b.measures["eyes_open"].raw, mesh_b])
    v = np.array(rows, dtype=float)

    def rates(col_open: int, col_shut: int) -> dict[str, Any]:
        return {
            "open_refused": round(float(np.mean(v[:, col_open] < t)), 4),
            "closed_caught": round(float(np.mean(v[:, col_shut] < t)), 4),
            "open_p2_p5_p50": np.percentile(v[:, col_open], [2, 5, 50]).round(3).tolist(),
            "closed_p50": round(float(np.median(v[:, col_shut])), 3),
        }

    return {"photos": len(rows), "min_eyes_open": t, "iris_model": rates(0, 2),
            "face_mesh": rates(1, 3)}  # fmt: skip


def cmd_bench(args: argparse.Namespace) -> int:
    from appliance.benchcli import record

    quality = FaceQuality(FaceConfig())
    result: dict[str, Any] = {"area": "face-conditions", **conditions_report(quality)}
    result["brightened_development_identities"] = brightened_report(quality)
    result["generated_closed_eyes_development"] = closed_eyes_report(quality)
    result["summary"] = {
        cond: f"{row['given']}/{row['images']}" if row["expected"] else "not refused"
        for cond, row in result["per_condition"].items()
    }
    emit(result, args)
    record("face-conditions", result, args.record)
    return EXIT_OK


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser(
        "face-conditions", help="reason codes on the real labelled condition photographs"
    )
    p.add_argument("--record", metavar="DIR", help="write to DIR/face-conditions-DATE.json")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
    from appliance.pipeline.face_background import register

    register(bench_sub)
