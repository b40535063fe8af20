"""``appliance bench card``: read a chip whose DG2 is 20 KB, in process and over pcscd + vpcd.

Block sizes 224 (JMRTD's), 231 (the most a short 3DES secure messaging response carries) and
extended length. Per configuration: APDUs (and the count the file sizes require at that block
size), bytes on the wire, time, time inside card I/O and the overhead outside it. The in-process
and vpcd links answer in well under a millisecond, far faster than a chip over the air, so the
run adds a chip with a modelled radio link (ISO 14443 at 424 kbit/s, 3 ms turnaround per APDU)
to show the overhead ratio a real read would see.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.icao import bench_access
from appliance.icao.files import EXTENDED_MAX, HEADER_LE, BlockMemory

MODES = {"short-224": (224, False), "short-231": (231, False), "extended": (EXTENDED_MAX, True)}
MODELLED_LINK = (0.003, 424_000 / 8)
FIXED_APDUS = 5  # EF.CardAccess probe, SELECT applet, GET CHALLENGE, EXTERNAL and INTERNAL AUTH
READ_FILES = ("COM", "DG1", "DG13", "DG15", "SOD", "DG2")


def expected_apdus(sizes: dict[str, int], block: int) -> int:
    """What the file sizes require: per file one header READ plus ceil(rest / block)."""
    reads = sum(1 + math.ceil(max(0, sizes[f] - HEADER_LE) / block) for f in READ_FILES)
    return FIXED_APDUS + reads


def bench_chip(dg2_bytes: int):
    """(image, pki) of the test citizen with a DG2 file of exactly ``dg2_bytes``."""
    from appliance.citizen import TEST_CITIZEN
    from appliance.icao.personalise import build_dg2, jpeg_of_size, personalise
    from appliance.icao.pki import generate_pki

    overhead = len(build_dg2(jpeg_of_size(4000))) - 4000
    photo = jpeg_of_size(dg2_bytes - overhead - 2)  # the DG2 length field grows by 2 bytes
    photo = jpeg_of_size(dg2_bytes - (len(build_dg2(photo)) - len(photo)))
    pki = generate_pki()
    return personalise(TEST_CITIZEN, photo, pki, aa="rsa"), pki


def _summary(stats: list[dict[str, Any]], sizes: dict[str, int], block: int) -> dict[str, Any]:
    ms = statistics.median(s["ms"] for s in stats)
    io_ms = statistics.median(s["io_ms"] for s in stats)
    overhead = statistics.median(s["ms"] - s["io_ms"] for s in stats)
    first = stats[0]
    return {
        "block_size": first["block_size"],
        "extended_length": first["extended_length"],
        "apdus": first["apdus"],
        "expected_apdus": expected_apdus(sizes, min(block, first["block_size"])),
        "bytes": first["bytes"],
        "ms": round(ms, 2),
        "io_ms": round(io_ms, 2),
        "overhead_ms": round(overhead, 2),
        "overhead_pct": round(100 * overhead / ms, 1) if ms else None,
        "passive_auth": first.get("passive_auth"),
        "active_auth": first.get("active_auth"),
        "runs": len(stats),
    }


def _read_once(reader, image, trust, block: int, ext: bool) -> dict[str, Any]:
    from appliance.icao.reader import read_card

    result = read_card(
        reader, image.bac_input(), trust_store=trust, block_size=block, extended=ext,
        memory=BlockMemory(),
    )  # fmt: skip
    return {
        **result.stats.to_dict(),
        "ms": result.stats.ms,
        "io_ms": result.stats.io_ms,
        "passive_auth": result.passive_auth.status,
        "active_auth": result.active_auth.status,
    }


def bench_in_process(image, trust, repeat: int, latency=None) -> dict[str, Any]:
    from types import SimpleNamespace

    from appliance.hal.sim_card import SimCardReader
    from appliance.icao.emulator import CardEmulator

    sizes = {name: len(data) for name, data in image.files.items()}
    out = {}
    for mode, (block, ext) in MODES.items():
        cfg = SimpleNamespace(sim_fault="", sim_insert_after_s=0.0)
        reader = SimCardReader(cfg, CardEmulator(image, latency=latency), trust)
        reader.open()
        reader.insert()
        _read_once(reader, image, trust, block, ext)  # warm-up
        stats = [_read_once(reader, image, trust, block, ext) for _ in range(repeat)]
        reader.close()
        out[mode] = _summary(stats, sizes, block)
    return out


def bench_vpcd(image, pki, repeat: int) -> dict[str, Any]:
    from appliance.icao.emulator import CardEmulator
    from appliance.icao.pcsc_lab import READER_NAME, PcscdUnavailable, PrivatePcscd
    from appliance.icao.vpcd import VpcdClient

    sizes = {name: len(data) for name, data in image.files.items()}
    try:
        lab = PrivatePcscd().start()
    except PcscdUnavailable as exc:
        return {"skipped": str(exc)}
    client = VpcdClient(CardEmulator(image), "127.0.0.1", lab.port).start()
    try:
        if not client.wait_connected(10):
            return {"skipped": "the emulator could not connect to vpcd"}
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "csca.pem").write_bytes(pki.csca_pem)
            cmd = [sys.executable, "-m", "appliance.icao.bench", "--child", READER_NAME, tmp,
                   str(repeat), *image.bac_input()]  # fmt: skip
            proc = subprocess.run(
                cmd, env={**os.environ, **lab.env}, capture_output=True, text=True, timeout=300
            )
        if proc.returncode != 0:
            return {"skipped": f"pyscard reader failed: {proc.stderr[-500:]}"}
        per_mode = json.loads(proc.stdout.strip().splitlines()[-1])
        return {mode: _summary(stats, sizes, MODES[mode][0]) for mode, stats in per_mode.items()}
    finally:
        client.stop()
        lab.close()


def _child(argv: list[str]) -> None:
    """In a fresh process (PCSCLITE_CSOCK_NAME set): read over pyscard in every mode."""
    from types import SimpleNamespace

    from appliance.hal.card_pcsc import PcscCardReader
    from appliance.icao.passive import TrustStore

    name, trust_dir, repeat, *bac = argv
    cfg = SimpleNamespace(reader=name, extended_length="on", backend="pcsc")
    reader = PcscCardReader(cfg)
    reader.open()
    if not reader.wait_card(10):
        raise SystemExit("no card on the virtual reader")
    trust = TrustStore.from_dir(trust_dir)
    image = SimpleNamespace(bac_input=lambda: tuple(bac))
    out = {}
    for mode, (block, ext) in MODES.items():
        _read_once(reader, image, trust, block, ext)  # warm-up
        out[mode] = [_read_once(reader, image, trust, block, ext) for _ in range(int(repeat))]
    reader.close()
    print(json.dumps(out))


def run(dg2_kb: float, repeat: int, vpcd: bool = True) -> dict[str, Any]:
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore

    t0 = time.perf_counter()
    image, pki = bench_chip(int(dg2_kb * 1024))
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)])
    sizes = {name: len(image.files[name]) for name in READ_FILES}
    results: dict[str, Any] = {
        "in_process": bench_in_process(image, trust, repeat),
        "in_process_modelled_link": bench_in_process(
            image, trust, max(1, repeat // 2), MODELLED_LINK
        ),
    }
    if vpcd:
        results["vpcd_pyscard"] = bench_vpcd(image, pki, repeat)
    rows = [r for t in results.values() for r in t.values() if isinstance(r, dict)]
    return {
        "ok": True,
        "file_bytes": sizes,
        "modelled_link": {"turnaround_ms": 3, "kbit_s": 424},
        "results": results,
        "goals": {
            "no_extra_apdus": all(r["apdus"] == r["expected_apdus"] for r in rows),
            "overhead_below_5pct": {
                f"{transport}/{mode}": r["overhead_pct"] < 5
                for transport, modes in results.items()
                for mode, r in modes.items()
                if isinstance(r, dict)
            },
        },
        "bench_s": round(time.perf_counter() - t0, 1),
    }


def cmd_bench(args) -> int:
    from appliance.benchcli import record
    from appliance.cli_output import emit

    result = run(args.dg2_kb, args.repeat, vpcd=not args.no_vpcd)
    record("card", result, args.record)
    emit(result, args)
    return 0


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("card", help="chip read: APDUs, bytes, time per block size")
    p.add_argument("--dg2-kb", type=float, default=20.0, help="DG2 size in KB (default 20)")
    p.add_argument("--repeat", type=int, default=5, help="reads per configuration")
    p.add_argument("--no-vpcd", action="store_true", help="skip the pcscd + vpcd + pyscard run")
    p.add_argument("--record", metavar="DIR", help="keep the result under DIR (benchmarks/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)
    bench_access.register_bench(bench_sub)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
