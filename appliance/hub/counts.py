"""Campaign counts, added in the same transaction as the bundle or heartbeat they come from.

Hours are local (``[hub] utc_offset_hours``, 7 for Vietnam): a capture counts in the hour its
bundle was created (the kiosk's clock, from the clear header), a heartbeat's counters in the
hour its period ended. A kiosk sends one request at a time, so the rows of one kiosk are never
written by two processes at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.engine import Connection

from appliance.hub.schema import counts


def local_hour(ts: float, offset_h: float) -> str:
    tz = timezone(timedelta(hours=offset_h))
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H")


def hour_of_iso(iso: str, offset_h: float) -> str:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return "unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return local_hour(when.timestamp(), offset_h)


def add(conn: Connection, hour: str, device_id: int, items: list[tuple[str, str, int]]) -> None:
    """Add each (metric, key, n) to its row, creating it when new."""
    for metric, key, n in items:
        if not n:
            continue
        where = and_(
            counts.c.hour == hour,
            counts.c.device_id == device_id,
            counts.c.metric == metric,
            counts.c.key == key[:40],
        )
        done = conn.execute(update(counts).where(where).values(n=counts.c.n + n)).rowcount
        if not done:
            conn.execute(
                counts.insert().values(
                    hour=hour, device_id=device_id, metric=metric, key=key[:40], n=n
                )
            )


def _int(v: Any) -> int:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) and v > 0 else 0


def beat_items(counters: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The counters of one heartbeat as (metric, key, n); captures come from the bundles."""
    items: list[tuple[str, str, int]] = []
    for k, v in (counters.get("verifications") or {}).items():
        items.append(("verification", str(k), _int(v)))
    ch = counters.get("checkins") or {}
    for k, v in (ch.get("by_decision") or {}).items():
        items.append(("checkin", str(k), _int(v)))
    for k, v in (ch.get("by_age_band") or {}).items():
        items.append(("age_band", str(k), _int(v)))
    return items
