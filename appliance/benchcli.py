"""``appliance bench ...``: every area's benchmark, printing JSON, recorded under benchmarks/."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

# Modules with a ``register_bench(bench_subparsers)`` function.
BENCH_MODULES: list[str] = [
    "appliance.cccd.bench",
    "appliance.icao.bench",
    "appliance.pipeline.qr_bench",
    "appliance.store.bench",
    "appliance.pipeline.finger_cli",
    "appliance.pipeline.face_cli",
    "appliance.hub.bench_cli",
    "appliance.pipeline.face_conditions",
    "appliance.pipeline.face_match_bench",
]


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
        # x86: "model name"; Raspberry Pi: "Model" (the board) or "Hardware"
        cpu = next((fields[k] for k in ("model name", "model", "hardware") if k in fields), cpu)
        if "model name" not in fields and "cpu part" in fields:
            cpu += f" (cpu part {fields['cpu part']})"
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "date": date.today().isoformat(),
    }


def record(area: str, result: dict[str, Any], out_dir: str | Path | None) -> Path | None:
    """Write ``result`` with the machine info to ``out_dir/<area>-<date>.json`` when asked."""
    if not out_dir:
        return None
    path = Path(out_dir) / f"{area}-{date.today().isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"machine": machine_info(), **result}, indent=2, ensure_ascii=False) + "\n"
    )
    print(f"recorded {path}", file=sys.stderr)
    return path


def register(sub) -> None:
    from appliance.cli import _Parser

    bench = sub.add_parser("bench", help="benchmarks (JSON); --record DIR keeps the result")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    for name in BENCH_MODULES:
        importlib.import_module(name).register_bench(bench_sub)
