"""``appliance bench cccd``: parse 10,000 distinct QR payloads (bytes and str), plus MRZ parsing
and BAC key derivation on the same people, each as seconds per run and microseconds per item."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from appliance.cccd.bac import bac_keys_from_td1
from appliance.cccd.expiry import expiry_date
from appliance.cccd.ids import century_sex_digit
from appliance.cccd.mrz import build_td1, parse_td1
from appliance.cccd.provinces import provinces
from appliance.cccd.qr import build_payload, parse_qr

FAMILY = ["NGUYỄN", "TRẦN", "LÊ", "PHẠM", "HOÀNG", "VŨ", "ĐẶNG", "BÙI", "ĐỖ", "HỒ"]
MIDDLE = ["VĂN", "THỊ", "HỮU", "ĐỨC", "NGỌC", "MINH", "XUÂN"]
GIVEN = ["AN", "BÌNH", "CÚC", "DŨNG", "HÀ", "HẠNH", "KHÁNH", "LỢI", "NGA", "PHƯƠNG", "THẢO"]
TODAY = date(2025, 6, 1)


def synthetic_identities(count: int, seed: int = 3) -> list[dict[str, Any]]:
    """``count`` valid, distinct identities (same shape as ``appliance.citizen.TEST_CITIZEN``)."""
    rng = random.Random(seed)
    codes = sorted(provinces())
    people = []
    for i in range(count):
        dob = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 90))
        issued = max(dob, date(2021, 1, 1)) + timedelta(days=rng.randrange(1500))
        issued = min(issued, TODAY)
        sex = rng.choice(("male", "female"))
        code = rng.choice(codes)
        province = provinces()[code]
        people.append(
            {
                "id_number": f"{code}{century_sex_digit(dob.year, sex)}{dob.year % 100:02d}{i:06d}",
                "old_id_number": f"{rng.randrange(10**9):09d}" if rng.random() < 0.5 else None,
                "full_name": f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                "date_of_birth": dob.isoformat(),
                "sex": sex,
                "address": f"Số {i % 300 + 1} Phố X, Phường Y, Quận Z, {province}",
                "issue_date": issued.isoformat(),
            }
        )
    return people


def _time(fn: Callable[[Any], Any], items: Sequence[Any], repeats: int) -> dict[str, float]:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return {"seconds": round(best, 4), "us_per_item": round(best / len(items) * 1e6, 2)}


def run(count: int = 10_000, repeats: int = 3) -> dict[str, Any]:
    count, repeats = max(1, count), max(1, repeats)
    people = synthetic_identities(count)
    texts = [build_payload(p) for p in people]
    raw = [t.encode("utf-8") for t in texts]
    mrzs = []
    for p in people:
        dob, issued = date.fromisoformat(p["date_of_birth"]), date.fromisoformat(p["issue_date"])
        mrzs.append(
            build_td1(p["id_number"], dob, p["sex"], expiry_date(dob, issued), p["full_name"])
        )
    parsed = [parse_qr(r, today=TODAY) for r in raw]  # raises if a payload is not valid
    if any(q.layout != "cccd-2021" for q in parsed):
        raise RuntimeError("a synthetic payload did not parse as the 2021 layout")
    tds = [parse_td1(m, today=TODAY) for m in mrzs]
    results = {
        "qr_parse_bytes": _time(lambda r: parse_qr(r, today=TODAY), raw, repeats),
        "qr_parse_str": _time(lambda t: parse_qr(t, today=TODAY), texts, repeats),
        "mrz_parse": _time(lambda m: parse_td1(m, today=TODAY), mrzs, repeats),
        "bac_keys_from_mrz": _time(bac_keys_from_td1, tds, repeats),
    }
    return {
        "area": "cccd",
        "count": count,
        "repeats": repeats,
        "timing": "best of repeats, single thread",
        "results": results,
    }


def cmd_bench(args) -> int:
    from appliance.benchcli import record

    result = run(args.count, args.repeats)
    print(json.dumps(result, indent=2))
    record("cccd", result, args.record)
    return 0


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("cccd", help="QR payload parsing (10,000 payloads), MRZ, BAC keys")
    p.add_argument("--count", type=int, default=10_000, help="payloads per run (default 10000)")
    p.add_argument("--repeats", type=int, default=3, help="runs; the best is reported")
    p.add_argument("--record", metavar="DIR", help="write the result under DIR (benchmarks/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
