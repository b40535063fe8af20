"""Heartbeats from the kiosks: health now and counters since the previous beat.

A beat is ``{"seq", "sent_at", "health", "counters"}`` (appliance/store/heartbeat.py makes it).
``seq`` is the kiosk's own increasing number: a beat sent again after a lost answer is a
duplicate (200), and the latest state only moves forward, so beats queued during an outage and
sent in order later leave the newest one as the kiosk's state.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from appliance.errors import InvalidInput
from appliance.hub.counts import add, beat_items, local_hour
from appliance.hub.schema import device_state, heartbeats

MAX_BEAT_BYTES = 64 * 1024
FORBIDDEN_KEYS = ("name", "full_name", "id_number", "cccd", "portrait", "image", "photo")


def _scan(obj: Any, path: str = "") -> None:
    """A beat carries numbers and device states only; anything that looks personal is refused."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k).lower() in FORBIDDEN_KEYS:
                raise InvalidInput(f"heartbeat field {path}{k} is not allowed", code="bad_beat")
            _scan(v, f"{path}{k}.")
    elif isinstance(obj, list):
        for v in obj:
            _scan(v, path)


def parse_beat(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BEAT_BYTES:
        raise InvalidInput("heartbeat too large", code="bad_beat")
    try:
        beat = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("heartbeat is not JSON", code="bad_beat") from None
    if (
        not isinstance(beat, dict)
        or not isinstance(beat.get("seq"), int)
        or isinstance(beat.get("seq"), bool)
        or beat["seq"] < 0
        or not isinstance(beat.get("sent_ts"), int | float)
        or not isinstance(beat.get("health", {}), dict)
        or not isinstance(beat.get("counters", {}), dict)
    ):
        raise InvalidInput("heartbeat needs seq (int), sent_ts, health, counters", code="bad_beat")
    _scan(beat)
    return beat


def accept_beat(
    engine: Engine,
    device: dict[str, Any],
    beat: dict[str, Any],
    now: float | None = None,
    utc_offset_h: float = 7.0,
) -> tuple[int, dict[str, Any]]:
    now = time.time() if now is None else now
    period = beat.get("period")
    end = period[1] if isinstance(period, list) and len(period) == 2 else beat["sent_ts"]
    hour = local_hour(float(end) if isinstance(end, int | float) else now, utc_offset_h)
    body = json.dumps(beat, separators=(",", ":"), ensure_ascii=False)
    try:
        with engine.begin() as conn:
            conn.execute(
                heartbeats.insert().values(
                    device_id=device["id"],
                    seq=beat["seq"],
                    sent_ts=float(beat["sent_ts"]),
                    received_ts=now,
                    body=body,
                )
            )
            # The register made the state row (last_seq -1); only a newer beat moves it.
            conn.execute(
                update(device_state)
                .where(
                    device_state.c.device_id == device["id"], device_state.c.last_seq < beat["seq"]
                )
                .values(last_seq=beat["seq"], last_ts=now, body=body)
            )
            add(conn, hour, device["id"], beat_items(beat.get("counters") or {}))
    except IntegrityError:
        return 200, {"seq": beat["seq"], "duplicate": True}
    return 201, {"seq": beat["seq"], "duplicate": False}
