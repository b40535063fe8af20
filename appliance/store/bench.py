"""``appliance bench store``: seal + durable commit time per capture.

``appliance bench store [--count N] [--identity F] [--state-dir DIR] [--record DIR]`` saves N
captures of one identity (a JSON object like the chip reader's output; the built-in test citizen
by default) with a 50 KB portrait and two 70 KB fingerprint images, through
:meth:`Store.save_capture` exactly as the enrollment workflow does (seal, then one
``synchronous=FULL`` transaction), and prints ``median_ms`` and ``p95_ms`` (``meets_target``:
p95 under 50 ms). For comparison in the same run: sealing alone, and the same saves with
``synchronous=NORMAL`` (what full fsync costs). The images are random bytes (incompressible,
like JPEG/WSQ data) behind the right magic numbers. The state directory's file system and the
load average are reported: on tmpfs an fsync costs nothing, and a busy machine has long tails.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from appliance.cli_output import EXIT_OK, emit, fail
from appliance.store.testing import FINGER_BYTES, PORTRAIT_BYTES, sample_images

TARGET_MS = 50.0
TEXT_HASH = "0" * 64


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(times_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times_ms), 3),
        "p95_ms": round(_quantile(times_ms, 0.95), 3),
        "mean_ms": round(statistics.fmean(times_ms), 3),
        "max_ms": round(max(times_ms), 3),
    }


def filesystem_of(path: Path) -> str:
    """The file system type holding ``path`` (from /proc/mounts), or "unknown"."""
    best, fstype = "", "unknown"
    target = str(path.resolve())
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(
                best
            ):
                best, fstype = mount, fields[2]
    except OSError:
        pass
    return fstype


def _run_saves(
    state_dir: Path, office_pub, identity: dict, count: int, synchronous: str
) -> tuple[list[float], int, int]:
    from appliance.store.store import Store

    portrait, fingers = sample_images()
    quality = {
        "face": {"score": 87, "status": "ok"},
        "fingers": {"right_index": 62, "left_index": 58},
    }
    times: list[float] = []
    with Store.open(state_dir, office_public_key=office_pub, synchronous=synchronous) as store:
        consent = store.record_consent(["biometric_enrollment"], TEXT_HASH, "bench")
        for i in range(count + 3):  # 3 warm-up saves, not counted
            t0 = time.perf_counter()
            store.save_capture(
                identity,
                portrait=portrait,
                fingerprints=fingers,
                quality=quality,
                consent_id=consent,
            )
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1000)
        bundle_bytes = store.query("SELECT MAX(size) AS s FROM outbox")[0]["s"]
        db_bytes = store.disk_bytes()
    return times, bundle_bytes, db_bytes


def _seal_only(office_pub, identity: dict, count: int, state_dir: Path) -> list[float]:
    from appliance.store.bundle import Part, seal
    from appliance.store.keys import ensure_device_key

    key = ensure_device_key(state_dir)
    portrait, fingers = sample_images()
    parts = [Part("portrait", "image/jpeg", portrait)] + [
        Part(f"finger_{n}", "image/png", b) for n, b in fingers.items()
    ]
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        seal(
            "capture",
            {"identity": identity},
            parts,
            device_key=key,
            office_key=office_pub,
            bundle_id=uuid.uuid4().hex,
            created_at="2025-01-01T00:00:00+07:00",
            clock_synced=True,
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def cmd_bench_store(args: Any) -> int:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from appliance.benchcli import record
    from appliance.citizen import TEST_CITIZEN

    if args.count < 1:
        return fail(args, "usage", "--count must be at least 1")
    identity: dict = dict(TEST_CITIZEN)
    if args.identity:
        try:
            identity = json.loads(Path(args.identity).read_text(encoding="utf-8"))
        except OSError as exc:
            return fail(args, "unreadable", f"cannot read {args.identity}: {exc.strerror}")
        except ValueError as exc:
            return fail(args, "invalid_input", f"{args.identity} is not JSON: {exc}")
        if not isinstance(identity, dict):
            return fail(args, "invalid_input", f"{args.identity} must hold a JSON object")
    own_dir = args.state_dir is None
    base = Path(tempfile.mkdtemp(prefix="bench-store-")) if own_dir else Path(args.state_dir)
    full_dir, normal_dir = (
        base / f"full-{uuid.uuid4().hex[:8]}",
        base / f"normal-{uuid.uuid4().hex[:8]}",
    )
    office_pub = X25519PrivateKey.generate().public_key()
    try:
        full, bundle_bytes, db_bytes = _run_saves(
            full_dir, office_pub, identity, args.count, "FULL"
        )
        normal, _, _ = _run_saves(normal_dir, office_pub, identity, args.count, "NORMAL")
        seal_times = _seal_only(office_pub, identity, args.count, full_dir)
        fstype = filesystem_of(base)
    finally:
        if own_dir:  # a given --state-dir keeps the sealed captures, for a leak scan
            shutil.rmtree(base, ignore_errors=True)
    result = {
        "ok": True,
        "area": "store",
        "count": args.count,
        "portrait_bytes": PORTRAIT_BYTES,
        "fingerprint_bytes": [FINGER_BYTES, FINGER_BYTES],
        "bundle_bytes": bundle_bytes,
        "synchronous": "FULL",
        "filesystem": fstype,
        **_summary(full),
        "target_ms": TARGET_MS,
        "meets_target": _quantile(full, 0.95) < TARGET_MS,  # p95, not only the median
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seal_only": _summary(seal_times),
        "alternatives": {"synchronous_normal": _summary(normal)},
        "db_bytes_after": db_bytes,
        "kept": [] if own_dir else [str(full_dir), str(normal_dir)],
    }
    record("store", result, args.record)
    emit(result, args)
    return EXIT_OK


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("store", help="seal + durable commit time per capture")
    p.add_argument("--count", type=int, default=100, help="captures to save (default 100)")
    p.add_argument("--identity", type=Path, help="JSON object of identity fields")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where to write and keep the sealed captures (default: a temporary folder, removed)",
    )
    p.add_argument("--record", type=Path, help="also write the result under DIR (benchmarks/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench_store)
