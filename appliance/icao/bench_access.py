"""``appliance bench card-access``: BAC vs PACE-GM (ECDH P-256) vs PACE + chip authentication.

One chip (COM, DG1, DG2 of 20 KB, DG13, DG14 with chip authentication, DG15, SOD; EF.CardAccess
offering PACE on P-256 only) read in each access mode, in one run: over pcscd + vpcd + pyscard
(a private pcscd, as ``appliance bench card``), in process, and in process with a modelled radio
link (3 ms per APDU, 424 kbit/s). Short APDUs only (231-byte blocks under 3DES, 223 under AES).
Per mode: APDUs, bytes, total and card I/O time; and the key agreement alone (establishing the
session: BAC's two commands, PACE's five; chip authentication's two plus its proof), measured
around those commands, plus the terminal's PACE arithmetic without any card.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.icao.files import BlockMemory

MODES = {  # name: (access, chip authentication)
    "bac": ("bac", False),
    "pace_p256": ("pace", False),
    "pace_p256_ca": ("pace", True),
}
MODELLED_LINK = (0.003, 424_000 / 8)


def access_chip(dg2_kb: float):
    """(image, pki): the bench chip of ``appliance bench card`` (DG2 of ``dg2_kb``), made again
    with chip authentication in DG14 and EF.CardAccess offering PACE on P-256."""
    from appliance.citizen import TEST_CITIZEN
    from appliance.icao.bench import bench_chip
    from appliance.icao.lds import parse_dg2
    from appliance.icao.personalise import build_card_access, personalise

    base, pki = bench_chip(int(dg2_kb * 1024))
    photo = parse_dg2(base.files["DG2"]).data
    image = personalise(TEST_CITIZEN, photo, pki, aa="rsa", ca=True)
    return image.with_file("CardAccess", build_card_access((12,))), pki


def _timed_reader(reader):
    """Wrap ``reader.transmit`` to time the access-control commands (MSE, GA, GET CHALLENGE,
    EXTERNAL AUTHENTICATE), protected or not."""
    spent = {"access_ms": 0.0, "ca_ms": 0.0}
    inner = reader.transmit
    state = {"ca": False}

    def transmit(apdu: bytes):
        t0 = time.perf_counter()
        out = inner(apdu)
        ins = apdu[1]
        if ins in (0x84, 0x82) or (ins in (0x22, 0x86) and apdu[0] & 0x0C == 0):
            spent["access_ms"] += (time.perf_counter() - t0) * 1000
        elif ins in (0x22, 0x86):
            spent["ca_ms"] += (time.perf_counter() - t0) * 1000
        return out

    reader.transmit = transmit
    return spent, state


def _read_once(reader, bac, can, trust, mode: str) -> dict[str, Any]:
    from appliance.icao.reader import read_card

    access, ca = MODES[mode]
    t0 = time.perf_counter()
    result = read_card(
        reader, bac, can=can, access=access, chip_auth=ca, trust_store=trust, extended=False,
        memory=BlockMemory(),
    )  # fmt: skip
    ms = (time.perf_counter() - t0) * 1000
    return {
        "apdus": result.stats.apdus,
        "bytes": result.stats.bytes,
        "ms": ms,
        "io_ms": result.stats.io_ms,
        "block_size": result.stats.block_size,
        "access": result.access.method,
        "curve": result.access.curve,
        "sm_cipher": result.access.sm_cipher,
        "chip_auth": result.chip_auth.status,
        "active_auth": result.active_auth.status,
        "passive_auth": result.passive_auth.status,
        "by_ins": result.stats.by_ins,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    med = {k: round(statistics.median(r[k] for r in runs), 2) for k in ("ms", "io_ms")}
    out = {k: first[k] for k in first if k not in ("ms", "io_ms")}
    out.update(med, runs=len(runs))
    for key in ("key_agreement_ms", "chip_auth_ms"):
        if key in first:
            out[key] = round(statistics.median(r[key] for r in runs), 2)
    return out


def _measure(reader, bac, can, trust, repeat: int) -> dict[str, Any]:
    spent, _ = _timed_reader(reader)
    out = {}
    for mode in MODES:
        _read_once(reader, bac, can, trust, mode)  # warm-up
        runs = []
        for _ in range(repeat):
            spent["access_ms"] = spent["ca_ms"] = 0.0
            run = _read_once(reader, bac, can, trust, mode)
            run["key_agreement_ms"], run["chip_auth_ms"] = spent["access_ms"], spent["ca_ms"]
            runs.append(run)
        out[mode] = _summary(runs)
    bac_ms = out["bac"]["ms"]
    for mode in MODES:
        out[mode]["time_vs_bac"] = round(out[mode]["ms"] / bac_ms, 2) if bac_ms else None
    return out


def bench_in_process(image, trust, repeat: int, latency=None) -> dict[str, Any]:
    from types import SimpleNamespace

    from appliance.hal.sim_card import SimCardReader
    from appliance.icao.emulator import CardEmulator

    cfg = SimpleNamespace(sim_fault="", sim_insert_after_s=0.0)
    reader = SimCardReader(cfg, CardEmulator(image, latency=latency), trust)
    reader.open()
    reader.insert()
    try:
        return _measure(reader, image.bac_input(), image.document_number[-6:], trust, repeat)
    finally:
        reader.close()


def bench_vpcd(image, pki, repeat: int) -> dict[str, Any]:
    from appliance.icao.emulator import CardEmulator
    from appliance.icao.pcsc_lab import READER_NAME, PcscdUnavailable, PrivatePcscd
    from appliance.icao.vpcd import VpcdClient

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
            cmd = [sys.executable, "-m", "appliance.icao.bench_access", "--child", READER_NAME,
                   tmp, str(repeat), image.document_number[-6:], *image.bac_input()]  # fmt: skip
            proc = subprocess.run(
                cmd, env={**os.environ, **lab.env}, capture_output=True, text=True, timeout=300
            )
        if proc.returncode != 0:
            return {"skipped": f"pyscard reader failed: {proc.stderr[-500:]}"}
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        client.stop()
        lab.close()


def _child(argv: list[str]) -> None:
    from types import SimpleNamespace

    from appliance.hal.card_pcsc import PcscCardReader
    from appliance.icao.passive import TrustStore

    name, trust_dir, repeat, can, *bac = argv
    reader = PcscCardReader(SimpleNamespace(reader=name, extended_length="off", backend="pcsc"))
    reader.open()
    if not reader.wait_card(10):
        raise SystemExit("no card on the virtual reader")
    trust = TrustStore.from_dir(trust_dir)
    print(json.dumps(_measure(reader, tuple(bac), can, trust, int(repeat))))
    reader.close()


def pace_arithmetic(repeat: int = 20) -> dict[str, float]:
    """The terminal's PACE-GM arithmetic alone (4 scalar multiplications and one addition), ms."""
    from appliance.icao.ecmath import curve
    from appliance.icao.pace import PARAMETER_CURVES, map_generator, random_scalar

    out = {}
    for pid, name in ((12, "P-256"), (13, "brainpoolP256r1")):
        c = curve(PARAMETER_CURVES[pid])
        other = c.mul(random_scalar(c), c.g)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            sk_map = random_scalar(c)
            c.mul(sk_map, c.g)
            mapped = map_generator(c, random_scalar(c), sk_map, other)
            sk = random_scalar(c)
            c.mul(sk, mapped)
            c.mul(sk, other)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = round(statistics.median(times), 2)
    return out


def run(dg2_kb: float, repeat: int, vpcd: bool = True) -> dict[str, Any]:
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore

    t0 = time.perf_counter()
    image, pki = access_chip(dg2_kb)
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)])
    results: dict[str, Any] = {}
    if vpcd:
        results["vpcd_pyscard"] = bench_vpcd(image, pki, repeat)
    results["in_process"] = bench_in_process(image, trust, repeat)
    results["in_process_modelled_link"] = bench_in_process(
        image, trust, max(1, repeat // 2), MODELLED_LINK
    )
    return {
        "ok": True,
        "file_bytes": {k: len(v) for k, v in image.files.items() if k != "DG3"},
        "modes": {k: {"access": a, "chip_auth": c} for k, (a, c) in MODES.items()},
        "modelled_link": {"turnaround_ms": 3, "kbit_s": 424},
        "results": results,
        "pace_terminal_arithmetic_ms": pace_arithmetic(),
        "bench_s": round(time.perf_counter() - t0, 1),
    }


def cmd_bench(args) -> int:
    from appliance.benchcli import record
    from appliance.cli_output import emit

    result = run(args.dg2_kb, args.repeat, vpcd=not args.no_vpcd)
    record("card-access", result, args.record)
    emit(result, args)
    return 0


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("card-access", help="chip read with BAC vs PACE vs PACE + CA")
    p.add_argument("--dg2-kb", type=float, default=20.0, help="DG2 size in KB (default 20)")
    p.add_argument("--repeat", type=int, default=5, help="reads per mode")
    p.add_argument("--no-vpcd", action="store_true", help="skip the pcscd + vpcd + pyscard run")
    p.add_argument("--record", metavar="DIR", help="keep the result under DIR (benchmarks/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
