"""Fuzz every parser that takes outside input, for a time budget (``make fuzz FUZZ_S=600``).

Each parser gets ``FUZZ_S / parsers`` seconds of hypothesis-generated input: random bytes or text,
and mutations (byte flips, cuts, splices, repeats) of a valid input, so the search reaches past
the first length check. A *crash* is any exception that is not the typed refusal the parser
promises (an :class:`appliance.errors.ApplianceError`); each distinct one (type and message head)
is reported with a reproducer. Prints one JSON object (``parsers: {name: {inputs, crashes,
distinct}}``) and, with ``--record DIR``, writes it there via ``appliance.benchcli.record``.
Exit 0 when no parser crashed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from appliance.errors import ApplianceError

Target = Callable[[bytes], Any]


def _seed_targets() -> dict[str, tuple[Target, list[bytes]]]:
    """name -> (parser taking bytes, valid seeds to mutate)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from appliance.cccd.mrz import parse_td1, td1_from_identity
    from appliance.cccd.qr import parse_qr
    from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
    from appliance.config import UiConfig, load_config
    from appliance.hal import r30x_protocol as r30x
    from appliance.hal.sim_card import sim_chip
    from appliance.icao import lds, tlv
    from appliance.pipeline.workflows.kiosk import Kiosk
    from appliance.store.bundle import Part, seal, unseal
    from appliance.store.keys import ensure_device_key

    chip, _trust = sim_chip()
    files = chip.files
    office = X25519PrivateKey.generate()
    device = ensure_device_key(Path(tempfile.mkdtemp(prefix="fuzz-key-")))
    bundle = seal(
        "capture",
        {"identity": TEST_CITIZEN},
        [Part("portrait", "image/jpeg", b"\xff\xd8" + b"x" * 200)],
        device_key=device,
        office_key=office.public_key(),
        bundle_id="ab" * 16,
        created_at="2025-06-01T09:00:00.000+07:00",
        clock_synced=True,
    )
    conf_dir = Path(tempfile.mkdtemp(prefix="fuzz-conf-"))
    shipped = (Path(__file__).resolve().parent.parent / "config" / "appliance.toml").read_bytes()

    def config(data: bytes) -> Any:
        path = conf_dir / "appliance.toml"
        path.write_bytes(data)
        return load_config("sim", path, env={})

    class _Adapters:
        def indicate(self, what: str) -> None:
            pass

    kiosk = Kiosk(UiConfig(), _Adapters(), "enrollment")

    def websocket(data: bytes) -> Any:
        # What UiServer.websocket does with a text frame: JSON, then the kiosk's handler.
        try:
            msg = json.loads(data.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return None
        return kiosk.handle(msg)

    def r30x_frames(data: bytes) -> Any:
        # The driver's reader over a port holding ``data``: packets until it runs dry.
        feed = bytearray(data)

        def read(n: int, deadline: float) -> bytes:
            out = bytes(feed[:n])
            del feed[:n]
            return out

        reader = r30x.PacketReader(read)
        while feed or reader.pending():
            reader.read_packet(0.0)

    def mrz(data: bytes) -> Any:
        return parse_td1(data.decode("utf-8", "replace"))

    def lds_any(parse: Callable[[bytes], Any]) -> Target:
        return parse

    def tlv_walk(data: bytes) -> Any:
        for item in tlv.iterate(data):
            if item.tag & 0x20 or item.tag > 0xFF:  # constructed: walk one level down
                tlv.children(item.value)

    return {
        "qr": (parse_qr, [TEST_QR_PAYLOAD.encode()]),
        "mrz": (mrz, [td1_from_identity(dict(TEST_CITIZEN)).encode()]),
        "tlv": (tlv_walk, [files["DG13"], files["COM"]]),
        "lds_com": (lds_any(lds.parse_com), [files["COM"]]),
        "lds_dg1": (lds_any(lds.parse_dg1), [files["DG1"]]),
        "lds_dg2": (lds_any(lds.parse_dg2), [files["DG2"]]),
        "lds_dg13": (lds_any(lds.parse_dg13), [files["DG13"]]),
        "lds_dg14": (
            lds_any(lds.parse_dg14),
            [f for f in [files.get("DG14")] if f],
        ),  # none on the sim chip
        "lds_dg15": (lds_any(lds.parse_dg15), [files["DG15"]]),
        "lds_sod": (lds_any(lds.parse_sod), [files["SOD"]]),
        "bundle": (lambda d: unseal(d, office), [bundle]),
        "r30x_frames": (r30x_frames, [r30x.encode(r30x.ACK, b"\x00\x01\x02")]),
        "config": (config, [shipped]),
        "websocket": (
            websocket,
            [b'{"type": "command", "name": "lang", "args": {"lang": "en"}, "seq": 1}'],
        ),
    }


@st.composite
def _mutant(draw, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "set"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            data = data[:pos] + data[pos + draw(st.integers(1, 64)) :]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=32))
        elif op == "repeat" and data:
            chunk = data[pos : pos + draw(st.integers(1, 16))]
            data[pos:pos] = chunk * draw(st.integers(1, 200))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF]))
    return bytes(data)


def fuzz_one(name: str, target: Target, seeds: list[bytes], budget_s: float) -> dict[str, Any]:
    stats: dict[str, Any] = {"inputs": 0, "crashes": 0, "distinct": {}}
    deadline = time.monotonic() + budget_s
    strategy = st.one_of(_mutant([s for s in seeds if s] or [b"\x00"]), st.binary(max_size=512))

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(data: bytes) -> None:
        if time.monotonic() > deadline:
            return
        stats["inputs"] += 1
        try:
            target(data)
        except ApplianceError:
            pass  # the typed refusal the parser promises
        except Exception as exc:  # a crash: anything else
            stats["crashes"] += 1
            key = f"{type(exc).__name__}: {str(exc)[:80]}"
            stats["distinct"].setdefault(key, data[:200].hex())

    while time.monotonic() < deadline:
        run()
    stats["distinct"] = [{"error": k, "input_hex_head": v} for k, v in stats["distinct"].items()]
    print(f"fuzz {name}: {stats['inputs']} inputs, {stats['crashes']} crashes", file=sys.stderr)
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_S", 60)))
    ap.add_argument("--only", help="comma-separated parser names")
    ap.add_argument("--record", type=Path, help="also write the result under DIR (benchmarks/)")
    args = ap.parse_args(argv)
    targets = _seed_targets()
    if args.only:
        targets = {k: v for k, v in targets.items() if k in args.only.split(",")}
    each = args.seconds / max(1, len(targets))
    result: dict[str, Any] = {"ok": True, "area": "fuzz", "seconds": args.seconds, "parsers": {}}
    for name, (target, seeds) in targets.items():
        result["parsers"][name] = fuzz_one(name, target, seeds, each)
    result["inputs"] = sum(p["inputs"] for p in result["parsers"].values())
    result["crashes"] = sum(p["crashes"] for p in result["parsers"].values())
    result["ok"] = result["crashes"] == 0
    if args.record:
        from appliance.benchcli import record

        record("fuzz", result, args.record)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
