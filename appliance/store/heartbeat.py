"""Heartbeats to the office hub: the kiosk's health now and what it did since the last beat.

Every ``[hub] heartbeat_s`` the kiosk queues one beat in its database and sends the queue, oldest
first, as ``POST <hub>/heartbeats`` (the hub is ``[store] upload_url`` without its last path
segment; the same CA file and bearer token as the outbox). A beat the hub does not acknowledge
stays queued and goes, in order, once the hub answers again; ``seq`` lets the hub drop repeats.

A beat: ``{"seq", "sent_ts", "period": [from_ts, to_ts], "health": {...}, "counters": {...}}``.
``health`` is what ``/healthz`` shows plus the outbox depth and oldest age, free disk and the
version; ``counters`` are ``captures_saved``, ``verifications`` by result (genuine,
cannot_confirm, not_genuine, unfinished) and ``checkins`` by decision and by age band. Counts and
device states only: never a name, an ID number or an image. Captures and check-ins are counted
from the database over the beat's period (exact across restarts); verifications are counted in
memory when a workflow ends, so a crash can lose at most one period's verification counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from appliance import __version__
from appliance.config import StoreConfig
from appliance.store.store import Store

log = logging.getLogger(__name__)

MAX_QUEUED = 20000  # about two weeks at one beat a minute; older beats are dropped first
_verifications: Counter[str] = Counter()
TABLE = """CREATE TABLE IF NOT EXISTS hub_heartbeats (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, period_from REAL NOT NULL, period_to REAL NOT NULL,
    body TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0)"""


def count_outcome(workflow: str, outcome: str) -> None:
    """Called by the workflow engine when a workflow ends (verification results are counted)."""
    if workflow != "verification":
        return
    result = outcome.split(":", 1)[1] if outcome.startswith("read:") else "unfinished"
    _verifications[result] += 1


def take_verifications() -> dict[str, int]:
    out = dict(_verifications)
    _verifications.clear()
    return out


def heartbeat_url(scfg: StoreConfig) -> str:
    """``https://hub/bundles`` (or ``.../bundles/{bundle_id}``) -> ``https://hub/heartbeats``."""
    parts = urlsplit(scfg.upload_url.replace("{bundle_id}", ""))
    path = parts.path.rstrip("/")
    path = path.rsplit("/", 1)[0] if "/" in path else ""
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/heartbeats", "", ""))


def ensure_queue(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(TABLE)


def _counters(store: Store, since: float, until: float) -> dict[str, Any]:
    caps = store.query(
        "SELECT COUNT(*) AS n FROM captures WHERE created_ts > ? AND created_ts <= ?",
        (since, until),
    )[0]["n"]
    rows = store.query(
        "SELECT decision, COALESCE(age_band, 'unknown') AS band, COUNT(*) AS n FROM checkins"
        " WHERE created_ts > ? AND created_ts <= ? GROUP BY decision, band",
        (since, until),
    )
    by_decision: Counter[str] = Counter()
    by_band: Counter[str] = Counter()
    for r in rows:
        by_decision[r["decision"]] += r["n"]
        by_band[r["band"]] += r["n"]
    return {
        "captures_saved": caps,
        "verifications": take_verifications(),
        "checkins": {"by_decision": dict(by_decision), "by_age_band": dict(by_band)},
    }


def _health(service: Any, store: Store, now: float) -> dict[str, Any]:
    health = service.health() if service is not None else {"store": store.health()}
    outbox = store.outbox_status()
    oldest = store.query("SELECT MIN(created_ts) AS t FROM outbox WHERE state = 'pending'")[0]["t"]
    try:
        free = shutil.disk_usage(Path(store.path).parent).free
    except (OSError, AttributeError):
        free = None
    return {
        **health,
        "version": __version__,
        "outbox_depth": outbox["pending"],
        "outbox_oldest_age_s": round(now - oldest, 1) if oldest else None,
        "disk_free_bytes": free,
    }


def queue_beat(store: Store, service: Any = None, now: float | None = None) -> int:
    """Build the beat for the period since the previous one and queue it; returns its seq."""
    now = time.time() if now is None else now
    ensure_queue(store)
    last = store.query("SELECT MAX(period_to) AS t FROM hub_heartbeats")[0]["t"]
    since = float(last) if last is not None else 0.0  # the first beat counts everything
    beat = {
        "sent_ts": now,
        "period": [since, now],
        "health": _health(service, store, now),
        "counters": _counters(store, since, now),
    }
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO hub_heartbeats (period_from, period_to, body) VALUES (?, ?, ?)",
            (since, now, json.dumps(beat, default=str, ensure_ascii=False)),
        )
        seq = int(cur.lastrowid)
        # sent beats are kept only as the marker of the last period; the queue is bounded
        conn.execute("DELETE FROM hub_heartbeats WHERE sent = 1 AND seq < ?", (seq,))
        conn.execute("DELETE FROM hub_heartbeats WHERE seq <= ?", (seq - MAX_QUEUED,))
    return seq


def queued(store: Store) -> list[dict[str, Any]]:
    ensure_queue(store)
    return store.query("SELECT seq, body FROM hub_heartbeats WHERE sent = 0 ORDER BY seq")


def _mark_sent(store: Store, seq: int) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE hub_heartbeats SET sent = 1 WHERE seq = ?", (seq,))


class Sender:
    """Sends queued beats in order over the outbox's channel (CA file, bearer token)."""

    def __init__(self, store: Store, scfg: StoreConfig) -> None:
        self.store = store
        self.scfg = scfg
        self.url = heartbeat_url(scfg)

    def session(self) -> aiohttp.ClientSession:
        ssl_ctx: ssl.SSLContext | bool = True
        if self.scfg.upload_ca_file:
            ssl_ctx = ssl.create_default_context(cafile=self.scfg.upload_ca_file)
        timeout = aiohttp.ClientTimeout(
            total=self.scfg.upload_timeout_s, sock_connect=self.scfg.upload_connect_timeout_s
        )
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=1), timeout=timeout
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.scfg.upload_token_file:
            try:
                token = Path(self.scfg.upload_token_file).read_text().strip()
            except OSError:
                return headers
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def drain(self, session: aiohttp.ClientSession) -> int:
        """Send every queued beat, oldest first; stops at the first failure. Returns sent count."""
        sent = 0
        for row in await asyncio.to_thread(queued, self.store):
            body = json.loads(row["body"])
            body["seq"] = row["seq"]
            try:
                async with session.post(self.url, json=body, headers=self._headers()) as resp:
                    await resp.read()
                    ok = 200 <= resp.status < 300
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.info("heartbeat not sent (%s); %s queued", type(exc).__name__, "beats")
                return sent
            if not ok:
                log.warning("heartbeat %d refused by the hub: HTTP %d", row["seq"], status)
                return sent
            await asyncio.to_thread(_mark_sent, self.store, row["seq"])
            sent += 1
        return sent


async def run_heartbeats(
    store: Store, scfg: StoreConfig, every_s: float, stop: asyncio.Event, service: Any = None
) -> None:
    """Queue a beat every ``every_s`` and send the queue, until ``stop`` is set."""
    sender = Sender(store, scfg)
    async with sender.session() as session:
        while not stop.is_set():
            try:
                await asyncio.to_thread(queue_beat, store, service)
                await sender.drain(session)
            except Exception:  # a bug or a database error must not end the kiosk's reporting
                log.exception("heartbeat failed")
            try:
                await asyncio.wait_for(stop.wait(), every_s)
            except TimeoutError:
                pass
