"""``appliance bench hub``: simulated kiosks against real hub processes on loopback.

For each configuration (SQLite and PostgreSQL, 1 and 2 ``appliance hub serve --reuse-port``
processes), on a fresh database: ``--kiosks`` kiosks (default 200) are registered, then

* phase 1: every kiosk uploads its ``--bundles`` sealed bundles (default 10 of ~200 KB,
  exactly the outbox's PUT with its headers), all kiosks at once, each one bundle at a time,
  retrying the same Idempotency-Key after a failure: **bundles/s**;
* phase 2: every kiosk sends a day of heartbeats at ``--heartbeat-s`` (default 600 s, so 144
  each), all kiosks at once as fast as answered (a closed loop): **heartbeats/s**, and the
  p50/p99 latency at that saturation;
* phase 3: ``--paced-s`` seconds of heartbeats at the province's real rate (2,000 kiosks, one a
  minute each: 33 a second), an open loop: **heartbeat p99 at the province's load**.

Each configuration has ``--budget-s`` (default 180 s); a phase cut short says so
(``complete: false``). Afterwards the database is read back: ``lost`` = acknowledged bundles
absent (or with other bytes), ``duplicated`` = a bundle id answered 201 twice or stored twice.
Alternatives are compared as ratios in the same run. ``target`` checks a province of 2,000
kiosks x 200 captures/day against one PostgreSQL process's measured bundle capacity (the share
must be under 5 %), and reports the share the province's heartbeats (one a minute) add.
PostgreSQL runs with fsync on; SQLite with ``synchronous=FULL``; both in the temporary folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import text

from appliance.cli_output import EXIT_OK, emit
from appliance.hub.db import open_engine
from appliance.hub.registry import register_device
from appliance.hub.testing import TempPostgres, free_port, postgres_bin
from appliance.store.bundle import DeviceKey, Part, key_id, seal

PROVINCE_KIOSKS = 2000
CAPTURES_PER_DAY = 200
PROVINCE_BEAT_S = 60.0
TARGET_SHARE = 0.05


def make_fleet(n: int, bundles: int, size: int) -> list[dict[str, Any]]:
    office = X25519PrivateKey.generate().public_key()
    fleet = []
    for i in range(n):
        priv = Ed25519PrivateKey.generate()
        dev = DeviceKey(priv, key_id(priv.public_key()))
        pem = dev.public_pem()
        items = []
        for _ in range(bundles):
            bid = os.urandom(16).hex()
            data = seal(
                "capture",
                {"bench": True},
                [Part("portrait.jpg", "image/jpeg", os.urandom(size))],
                device_key=dev,
                office_key=office,
                bundle_id=bid,
                created_at="2026-12-07T09:00:00+07:00",
                clock_synced=True,
            )
            items.append((bid, data, hashlib.sha256(data).hexdigest()))
        fleet.append({"name": f"bench-{i:04d}", "key": dev, "pem": pem, "bundles": items})
    return fleet


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def _put(session, base, kiosk, item, stats) -> None:
    bid, data, sha = item
    headers = {
        "Content-Type": "application/vnd.cccd.sealed-bundle",
        "Idempotency-Key": bid,
        "X-Bundle-SHA256": sha,
        "X-Device-Key-Id": kiosk["key"].key_id,
        "Authorization": f"Bearer {kiosk['token']}",
    }
    for _ in range(20):
        try:
            async with session.put(f"{base}/bundles/{bid}", data=data, headers=headers) as r:
                await r.read()
                if r.status in (200, 201):
                    stats["status"][r.status] += 1
                    if r.status == 201:
                        stats["created"][bid] += 1
                    stats["acked"][bid] = sha
                    return
                stats["errors"][r.status] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            stats["errors"][type(exc).__name__] += 1
        await asyncio.sleep(0.2)


async def _beats(session, base, kiosk, n, deadline, stats) -> None:
    headers = {"Authorization": f"Bearer {kiosk['token']}"}
    for seq in range(n):
        if time.monotonic() > deadline:
            stats["cut"] = True
            return
        body = {
            "seq": seq,
            "sent_ts": time.time(),
            "period": [0, 0],
            "health": {"version": "bench", "outbox_depth": 0, "clock_synchronized": True},
            "counters": {"captures_saved": 1, "verifications": {"genuine": 1}},
        }
        t0 = time.perf_counter()
        try:
            async with session.post(f"{base}/heartbeats", json=body, headers=headers) as r:
                await r.read()
                ok = r.status in (200, 201)
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            stats["latency"].append((time.perf_counter() - t0) * 1000)
        else:
            stats["beat_errors"] += 1


async def _paced(session, base, fleet, first_seq, rate, seconds, stats) -> None:
    """Heartbeats at a fixed total ``rate``/s spread over the kiosks (an open loop)."""
    n = int(rate * seconds)
    t0 = time.monotonic()
    tasks = []

    async def one(i: int) -> None:
        k = fleet[i % len(fleet)]
        seq = first_seq + i // len(fleet)
        body = {"seq": seq, "sent_ts": time.time(), "period": [0, 0], "health": {}, "counters": {}}
        t = time.perf_counter()
        try:
            async with session.post(
                f"{base}/heartbeats", json=body, headers={"Authorization": f"Bearer {k['token']}"}
            ) as r:
                await r.read()
                if r.status in (200, 201):
                    stats["paced"].append((time.perf_counter() - t) * 1000)
        except (aiohttp.ClientError, TimeoutError):
            stats["beat_errors"] += 1

    for i in range(n):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


async def _load(
    base: str, fleet: list[dict], beats: int, budget_s: float, paced_s: float
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "status": Counter(),
        "created": Counter(),
        "acked": {},
        "errors": Counter(),
        "latency": [],
        "paced": [],
        "beat_errors": 0,
        "cut": False,
    }
    timeout = aiohttp.ClientTimeout(total=60)
    start = time.monotonic()
    deadline = start + budget_s - paced_s
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=len(fleet)), timeout=timeout
    ) as session:

        async def bundles_of(k):
            for item in k["bundles"]:
                if time.monotonic() > deadline:
                    stats["cut"] = True
                    return
                await _put(session, base, k, item, stats)

        await asyncio.gather(*(bundles_of(k) for k in fleet))
        t1 = time.monotonic()
        await asyncio.gather(*(_beats(session, base, k, beats, deadline, stats) for k in fleet))
        t2 = time.monotonic()
        rate = PROVINCE_KIOSKS / PROVINCE_BEAT_S
        await _paced(session, base, fleet, beats + 1, rate, paced_s, stats)
    stats["bundle_s"], stats["beat_s"] = t1 - start, t2 - t1
    return stats


def _start_hubs(db_url: str, procs: int, port: int) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_HUB_MAX_BUNDLE_BYTES"] = str(16 * 1024 * 1024)
    out = []
    for _ in range(procs):
        out.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "appliance",
                    "hub",
                    "serve",
                    "--database",
                    db_url,
                    "--port",
                    str(port),
                    "--reuse-port",
                    "--log-level",
                    "WARNING",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return out


async def _wait_ready(base: str, procs: list[subprocess.Popen]) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a hub process died: " + (procs[0].stderr.read() or ""))
            try:
                async with s.get(base + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("hub did not start")


def run_config(engine: str, procs: int, db_url: str, fleet: list[dict], args: Any) -> dict:
    eng = open_engine(db_url)
    for k in fleet:
        k["token"] = register_device(
            eng,
            name=k["name"],
            public_key_pem=k["pem"],
            site="bench",
            commune_code="00004",
            profile="commune-kiosk",
        )["token"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hubs = _start_hubs(db_url, procs, port)
    try:
        asyncio.run(_wait_ready(base, hubs))
        beats = int(86400 / args.heartbeat_s)
        stats = asyncio.run(_load(base, fleet, beats, args.budget_s, args.paced_s))
    finally:
        for h in hubs:
            h.terminate()
        for h in hubs:
            h.wait(15)
    with eng.connect() as conn:
        stored = {
            r.bundle_id: r.sha256
            for r in conn.execute(text("SELECT bundle_id, sha256 FROM bundles")).all()
        }
        rows = conn.execute(text("SELECT COUNT(*) FROM bundles")).scalar_one()
        beat_rows = conn.execute(text("SELECT COUNT(*) FROM heartbeats")).scalar_one()
    eng.dispose()
    acked = stats["acked"]
    lost = sum(1 for bid, sha in acked.items() if stored.get(bid) != sha)
    duplicated = sum(n - 1 for n in stats["created"].values() if n > 1) + (rows - len(stored))
    total = sum(len(k["bundles"]) for k in fleet)
    lat = stats["latency"]
    return {
        "engine": engine,
        "processes": procs,
        "bundles_sent": total,
        "bundles_acked": len(acked),
        "lost": lost,
        "duplicated": duplicated,
        "bundles_per_s": round(len(acked) / stats["bundle_s"], 1) if stats["bundle_s"] else 0,
        "mb_per_s": round(len(acked) * args.size / 1e6 / stats["bundle_s"], 1),
        "heartbeats_acked": len(lat),
        "heartbeats_stored": beat_rows,  # both heartbeat phases
        "heartbeats_lost": max(0, len(lat) + len(stats["paced"]) - beat_rows),
        "heartbeats_per_s": round(len(lat) / stats["beat_s"], 1) if stats["beat_s"] else 0,
        "heartbeat_p50_ms": round(_quantile(lat, 0.5), 1),
        "heartbeat_p99_ms": round(_quantile(lat, 0.99), 1),
        "heartbeat_mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "province_rate_heartbeats": len(stats["paced"]),
        "province_rate_heartbeat_p50_ms": round(_quantile(stats["paced"], 0.5), 1),
        "province_rate_heartbeat_p99_ms": round(_quantile(stats["paced"], 0.99), 1),
        "errors": {str(k): v for k, v in stats["errors"].items()},
        "complete": not stats["cut"] and len(acked) == total,
        "wall_s": round(stats["bundle_s"] + stats["beat_s"], 1),
    }


def cmd_bench_hub(args: Any) -> int:
    from appliance.benchcli import record

    t0 = time.monotonic()
    fleet = make_fleet(args.kiosks, args.bundles, args.size)
    configs: list[dict[str, Any]] = []
    pg = None
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    try:
        for engine in args.engines.split(","):
            if engine == "postgresql":
                if postgres_bin() is None:
                    configs.append({"engine": engine, "skipped": "no PostgreSQL binaries"})
                    continue
                pg = pg or TempPostgres(durable=True).start()
            for procs in (1, 2):
                url = (
                    f"sqlite:///{tmp / f'{engine}-{procs}.db'}"
                    if engine == "sqlite"
                    else pg.new_database()
                )
                print(f"bench hub: {engine}, {procs} process(es)...", file=sys.stderr, flush=True)
                configs.append(run_config(engine, procs, url, fleet, args))
    finally:
        if pg:
            pg.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    by = {(c["engine"], c.get("processes")): c for c in configs if "skipped" not in c}
    ratios = {}
    for e in ("sqlite", "postgresql"):
        if (e, 1) in by and (e, 2) in by:
            ratios[f"{e}_2proc_vs_1proc_bundles"] = round(
                by[(e, 2)]["bundles_per_s"] / by[(e, 1)]["bundles_per_s"], 2
            )
            ratios[f"{e}_2proc_vs_1proc_heartbeats"] = round(
                by[(e, 2)]["heartbeats_per_s"] / by[(e, 1)]["heartbeats_per_s"], 2
            )
    if ("sqlite", 1) in by and ("postgresql", 1) in by:
        ratios["postgresql_vs_sqlite_bundles_1proc"] = round(
            by[("postgresql", 1)]["bundles_per_s"] / by[("sqlite", 1)]["bundles_per_s"], 2
        )
    need_bundles = PROVINCE_KIOSKS * CAPTURES_PER_DAY / 86400
    need_beats = PROVINCE_KIOSKS / PROVINCE_BEAT_S
    target: dict[str, Any] = {
        "province": f"{PROVINCE_KIOSKS} kiosks x {CAPTURES_PER_DAY} captures/day, "
        f"a heartbeat every {PROVINCE_BEAT_S:.0f} s",
        "needed_bundles_per_s": round(need_bundles, 2),
        "needed_heartbeats_per_s": round(need_beats, 1),
    }
    ref = by.get(("postgresql", 1))
    if ref and ref["bundles_per_s"] and ref["heartbeats_per_s"]:
        captures = need_bundles / ref["bundles_per_s"]
        beats_share = need_beats / ref["heartbeats_per_s"]
        target.update(
            captures_share_of_one_postgresql_process=round(captures, 4),
            meets_target=captures < TARGET_SHARE,
            heartbeats_share_of_one_postgresql_process=round(beats_share, 4),
            captures_and_heartbeats_share=round(captures + beats_share, 4),
        )
    result = {
        "ok": True,
        "area": "hub",
        "engine": ",".join(sorted({c["engine"] for c in configs})),
        "kiosks": args.kiosks,
        "bundles_per_kiosk": args.bundles,
        "bundle_bytes": args.size,
        "heartbeat_s": args.heartbeat_s,
        "budget_s": args.budget_s,
        "lost": sum(c.get("lost", 0) for c in configs),
        "duplicated": sum(c.get("duplicated", 0) for c in configs),
        "configs": configs,
        "ratios": ratios,
        "target": target,
        "note": "simulated kiosks, hub processes and the database share this machine's cores; "
        "plain HTTP on loopback (TLS is the reverse proxy's); synthetic random payloads",
        "total_s": round(time.monotonic() - t0, 1),
    }
    record("hub", result, args.record)
    emit(result, args)
    return EXIT_OK
