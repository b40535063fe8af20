"""The fleet and campaign figures the pages show, and small inline SVG bar charts.

Fleet: each kiosk's latest heartbeat and what is wrong with it (problems first). Campaign, over
the last ``campaign_days``, from the counts summed at ingest (:mod:`appliance.hub.counts`):
captures per commune per day (the bundles' clear headers), verifications by result and
check-ins per hour and by age band (the heartbeats' counters).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from html import escape
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from appliance.hub.config import HubSettings
from appliance.hub.counts import local_hour
from appliance.hub.schema import counts, device_state, devices, heartbeats


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


def _since_hour(settings: HubSettings, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return local_hour(now - settings.campaign_days * 86400, settings.utc_offset_hours)


def captures_per_commune_day(engine: Engine, settings: HubSettings) -> list[dict[str, Any]]:
    """Captures per commune per local day, from the counts made as bundles arrived."""
    day = func.substr(counts.c.hour, 1, 10)
    with engine.connect() as conn:
        rows = conn.execute(
            select(day.label("day"), devices.c.commune_code, func.sum(counts.c.n).label("n"))
            .join(devices, devices.c.id == counts.c.device_id)
            .where(counts.c.metric == "capture", counts.c.hour >= _since_hour(settings))
            .group_by(day, devices.c.commune_code)
            .order_by(day, devices.c.commune_code)
        ).all()
    return [{"day": r.day, "commune_code": r.commune_code, "n": int(r.n)} for r in rows]


def counters(engine: Engine, settings: HubSettings) -> dict[str, Any]:
    """Verifications by result, check-ins per site per hour, by decision and by age band."""
    since = _since_hour(settings)
    with engine.connect() as conn:
        rows = conn.execute(
            select(counts.c.metric, counts.c.key, func.sum(counts.c.n).label("n"))
            .where(counts.c.metric != "capture", counts.c.hour >= since)
            .group_by(counts.c.metric, counts.c.key)
        ).all()
        hourly = conn.execute(
            select(devices.c.site, counts.c.hour, func.sum(counts.c.n).label("n"))
            .join(devices, devices.c.id == counts.c.device_id)
            .where(counts.c.metric == "checkin", counts.c.hour >= since)
            .group_by(devices.c.site, counts.c.hour)
            .order_by(counts.c.hour, devices.c.site)
        ).all()
    by: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        by[r.metric][r.key] = int(r.n)
    return {
        "verifications": by.get("verification", {}),
        "checkin_decisions": by.get("checkin", {}),
        "age_bands": dict(sorted(by.get("age_band", {}).items())),
        "checkins_per_hour": [
            {"site": r.site, "hour": f"{r.hour}:00", "n": int(r.n)} for r in hourly
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
