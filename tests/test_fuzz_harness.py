"""The fuzz harness itself (``make fuzz``): it reaches every parser and reports crashes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import fuzz

from appliance.errors import InvalidInput


def test_a_crash_is_counted_and_a_typed_refusal_is_not():
    def parser(data: bytes):
        if data[:1] == b"\x00":
            raise InvalidInput("refused")  # typed: fine
        if len(data) > 3:
            raise ValueError("untyped")  # a crash
        return data

    out = fuzz.fuzz_one("demo", parser, [b"\x00abc", b"hello"], budget_s=0.5)
    assert out["inputs"] > 0 and out["crashes"] > 0
    assert out["distinct"] and out["distinct"][0]["error"].startswith("ValueError: untyped")


def test_every_parser_of_outside_input_is_a_target():
    targets = fuzz._seed_targets()
    assert {"qr", "mrz", "tlv", "lds_dg1", "lds_dg2", "lds_dg13", "lds_sod", "bundle",
            "r30x_frames", "config", "websocket"} <= set(targets)  # fmt: skip
    for name, (target, seeds) in targets.items():
        for seed in seeds:
            try:
                target(seed)  # the valid seed parses (a mutation then starts from a real input)
            except Exception as exc:  # pragma: no cover - a broken seed is a harness bug
                raise AssertionError(f"{name}: seed does not parse: {exc!r}") from None
