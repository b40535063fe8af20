"""``appliance bench hub`` registration, importable without the ``hub`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cmd_bench_hub(args: Any) -> int:
    # The benchmark needs the hub extra (SQLAlchemy), which a kiosk image does not carry.
    from appliance.hub.bench import cmd_bench_hub as run

    return run(args)


def register_bench(bench_sub) -> None:
    from appliance.cli import add_json_flag

    p = bench_sub.add_parser("hub", help="simulated kiosks against the office hub")
    p.add_argument("--kiosks", type=int, default=200)
    p.add_argument("--bundles", type=int, default=10, help="bundles per kiosk")
    p.add_argument("--size", type=int, default=200_000, help="payload bytes per bundle")
    p.add_argument("--heartbeat-s", type=float, default=600.0, help="a day of beats at this rate")
    p.add_argument("--budget-s", type=float, default=180.0, help="time limit per configuration")
    p.add_argument(
        "--paced-s",
        type=float,
        default=20.0,
        help="seconds of heartbeats at the province's rate (2,000 kiosks, one a minute)",
    )
    p.add_argument("--engines", default="sqlite,postgresql")
    p.add_argument("--record", type=Path, help="also write the result under DIR (benchmarks/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_bench_hub)
