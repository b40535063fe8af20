"""The fleet and campaign figures the pages show, and small inline SVG bar charts.

Fleet: each kiosk's latest heartbeat and what is wrong with it (problems first). Campaign:
captures per commune per day (from the bundles' clear headers), verifications by result and
check-ins per hour and by age band (from the heartbeats' counters).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from appliance.hub.config import HubSettings
from appliance.hub.schema import bundles, device_state, devices, heartbeats


def problems_of(
    dev: dict[str, Any], beat: dict[str, Any], last_ts: float, s: HubSettings, now: float
) -> list[str]:
    """Short problem codes for one kiosk (the page translates them)."""
    if dev["revoked_at"] is not None:
        return ["revoked"]
    if not last_ts:
        return ["never_seen"]
    out = []
    if now - last_ts > s.stale_after_s:
        out.append("silent")
    h = beat.get("health", {})
    if (h.get("outbox_depth") or 0) >= s.backlog_warn:
        out.append("backlog")
    if (h.get("outbox_oldest_age_s") or 0) > 86400:
        out.append("old_backlog")
    free = h.get("disk_free_bytes")
    if free is not None and free < s.disk_warn_bytes:
        out.append("disk")
    if h.get("clock_synchronized") is False:
        out.append("clock")
    bad = [
        k
        for k, v in (h.get("devices") or {}).items()
        if isinstance(v, dict) and v.get("state") not in (None, "ok", "ready", "idle")
    ]
    if bad:
        out.append("devices")
    return out


def fleet(engine: Engine, settings: HubSettings, now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    with engine.connect() as conn:
        rows = conn.execute(
            select(devices, device_state.c.last_ts, device_state.c.body.label("beat")).join(
                device_state, device_state.c.device_id == devices.c.id, isouter=True
            )
        ).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        beat = json.loads(d.pop("beat") or "{}")
        d.pop("token_sha256", None)
        d.pop("public_key_pem", None)
        h = beat.get("health", {})
        devs = h.get("devices") or {}
        d.update(
            last_ts=d["last_ts"] or 0.0,
            problems=problems_of(d, beat, d["last_ts"] or 0.0, settings, now),
            version=h.get("version"),
            outbox_depth=h.get("outbox_depth"),
            outbox_oldest_age_s=h.get("outbox_oldest_age_s"),
            disk_free_bytes=h.get("disk_free_bytes"),
            clock=h.get("clock_synchronized"),
            device_states={
                k: (v.get("state") if isinstance(v, dict) else v) for k, v in devs.items()
            },
        )
        out.append(d)
    out.sort(key=lambda d: (not d["problems"], d["name"]))
    return out


def history(engine: Engine, device_id: int, limit: int = 200) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(heartbeats.c.seq, heartbeats.c.received_ts, heartbeats.c.body)
            .where(heartbeats.c.device_id == device_id)
            .order_by(heartbeats.c.seq.desc())
            .limit(limit)
        ).all()
    out = []
    for r in rows:
        beat = json.loads(r.body)
        h, c = beat.get("health", {}), beat.get("counters", {})
        out.append(
            {
                "seq": r.seq,
                "received_ts": r.received_ts,
                "outbox_depth": h.get("outbox_depth"),
                "disk_free_bytes": h.get("disk_free_bytes"),
                "clock": h.get("clock_synchronized"),
                "captures": c.get("captures_saved", 0),
                "verifications": sum((c.get("verifications") or {}).values()),
                "checkins": sum(((c.get("checkins") or {}).get("by_decision") or {}).values()),
            }
        )
    return out


def captures_per_commune_day(engine: Engine) -> list[dict[str, Any]]:
    day = func.substr(bundles.c.created_at, 1, 10)
    with engine.connect() as conn:
        rows = conn.execute(
            select(day.label("day"), devices.c.commune_code, func.count().label("n"))
            .join(devices, devices.c.id == bundles.c.device_id)
            .where(bundles.c.kind == "capture")
            .group_by(day, devices.c.commune_code)
            .order_by(day, devices.c.commune_code)
        ).all()
    return [dict(r._mapping) for r in rows]


def counters(engine: Engine, since: float = 0.0) -> dict[str, Any]:
    """Sums of the heartbeat counters: verifications, check-ins per site per hour, age bands."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(heartbeats.c.body, devices.c.site)
            .join(devices, devices.c.id == heartbeats.c.device_id)
            .where(heartbeats.c.received_ts >= since)
        ).all()
    verifications: dict[str, int] = defaultdict(int)
    decisions: dict[str, int] = defaultdict(int)
    bands: dict[str, int] = defaultdict(int)
    per_hour: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        beat = json.loads(r.body)
        c = beat.get("counters", {})
        for k, v in (c.get("verifications") or {}).items():
            verifications[k] += int(v)
        ch = c.get("checkins") or {}
        n = 0
        for k, v in (ch.get("by_decision") or {}).items():
            decisions[k] += int(v)
            n += int(v)
        for k, v in (ch.get("by_age_band") or {}).items():
            bands[k] += int(v)
        if n:
            end = (beat.get("period") or [0, beat.get("sent_ts", 0)])[1]
            hour = datetime.fromtimestamp(float(end)).astimezone().strftime("%Y-%m-%d %H:00")
            per_hour[(r.site, hour)] += n
    return {
        "verifications": dict(verifications),
        "checkin_decisions": dict(decisions),
        "age_bands": dict(sorted(bands.items())),
        "checkins_per_hour": [
            {"site": s, "hour": h, "n": n}
            for (s, h), n in sorted(per_hour.items(), key=lambda x: (x[0][1], x[0][0]))
        ],
    }


def bar_chart(items: list[tuple[str, int]], title: str, width: int = 400) -> str:
    """A horizontal bar chart as inline SVG (no script, no external asset)."""
    if not items:
        return ""
    top = max(v for _, v in items) or 1
    bar_h, label_w = 22, 135
    height = bar_h * len(items) + 30
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="t">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = 24 + i * bar_h
        w = max(1, int((width - label_w - 44) * value / top))
        parts.append(
            f'<text x="0" y="{y + 15}" class="l">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_h - 6}" class="b"/>'
            f'<text x="{label_w + w + 6}" y="{y + 15}" class="v">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
