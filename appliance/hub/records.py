"""The records officer's side of the bundles: list, fetch, mark received; and retention.

The hub deletes a bundle's ciphertext ``purge_after_days`` after the officer marked it
received (the row and its clear metadata stay, so a late repeat upload is still answered 200).
Heartbeat history older than ``heartbeat_days`` is deleted; the latest state of each kiosk stays.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Engine

from appliance.hub.config import HubSettings
from appliance.hub.errors import NotFound
from appliance.hub.ingest import check_id
from appliance.hub.schema import bundles, devices, heartbeats

LIST_COLUMNS = (
    bundles.c.bundle_id,
    bundles.c.sha256,
    bundles.c.size,
    bundles.c.kind,
    bundles.c.created_at,
    bundles.c.clock_synced,
    bundles.c.received_ts,
    bundles.c.pulled_ts,
    bundles.c.purged_ts,
    devices.c.name.label("device"),
    devices.c.commune_code,
)


def list_bundles(
    engine: Engine, *, since: float | None = None, include_pulled: bool = False, limit: int = 500
) -> list[dict[str, Any]]:
    """Bundles received at or after ``since`` (hub clock), oldest first; by default only those
    not yet marked received. At most ``limit``: page on with the last one's ``received_ts``."""
    q = select(*LIST_COLUMNS).join(devices, devices.c.id == bundles.c.device_id)
    if since is not None:
        q = q.where(bundles.c.received_ts >= since)
    if not include_pulled:
        q = q.where(bundles.c.pulled_ts.is_(None))
    q = (
        q.where(bundles.c.purged_ts.is_(None))
        .order_by(bundles.c.received_ts, bundles.c.bundle_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q).all()]


def bundle_data(engine: Engine, bundle_id: str) -> tuple[bytes, str]:
    check_id(bundle_id, "bundle id")
    with engine.connect() as conn:
        row = conn.execute(
            select(bundles.c.data, bundles.c.sha256).where(bundles.c.bundle_id == bundle_id)
        ).first()
    if row is None:
        raise NotFound(f"no bundle {bundle_id}")
    if row.data is None:
        raise NotFound(f"bundle {bundle_id} was purged", code="purged")
    return bytes(row.data), row.sha256


def mark_received(engine: Engine, bundle_id: str, sha256: str, now: float | None = None) -> bool:
    """Mark a bundle received by the office; the caller proves it has the bytes (its SHA-256)."""
    check_id(bundle_id, "bundle id")
    with engine.begin() as conn:
        row = conn.execute(
            select(bundles.c.sha256, bundles.c.pulled_ts).where(bundles.c.bundle_id == bundle_id)
        ).first()
        if row is None:
            raise NotFound(f"no bundle {bundle_id}")
        if row.sha256 != sha256:
            raise NotFound("SHA-256 does not match the bundle on the hub", code="sha256_mismatch")
        if row.pulled_ts is not None:
            return False
        conn.execute(
            update(bundles)
            .where(bundles.c.bundle_id == bundle_id)
            .values(pulled_ts=time.time() if now is None else now)
        )
    return True


def purge(engine: Engine, settings: HubSettings, now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    cutoff = now - settings.purge_after_days * 86400
    with engine.begin() as conn:
        purged = conn.execute(
            update(bundles)
            .where(and_(bundles.c.pulled_ts < cutoff, bundles.c.purged_ts.is_(None)))
            .values(data=None, purged_ts=now)
        ).rowcount
        beats = conn.execute(
            delete(heartbeats).where(
                heartbeats.c.received_ts < now - settings.heartbeat_days * 86400
            )
        ).rowcount
    return {"bundles_purged": purged, "heartbeats_deleted": beats}
