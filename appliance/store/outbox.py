"""Outbox: sealed bundles go to the office endpoint, each exactly once as a record.

Each bundle is sent as the raw bundle bytes (``Content-Type: application/vnd.cccd.sealed-bundle``)
with ``Idempotency-Key: <bundle_id>``, ``X-Bundle-SHA256`` and ``X-Device-Key-Id`` headers, and
``Authorization: Bearer <token>`` when ``[store] upload_token_file`` is set:

* ``upload_method = "PUT"``: ``PUT <upload_url>/<bundle_id>`` (or ``upload_url`` with
  ``{bundle_id}`` replaced), naturally idempotent;
* ``upload_method = "POST"``: ``POST <upload_url>``; the server must de-duplicate on the key.

Any 2xx, and 409 (the server already has it), is the acknowledgement. 5xx, 408, 429, 401, 403,
timeouts and dropped connections end the pass and are retried with exponential backoff and jitter
(``backoff_base_s`` doubling up to ``backoff_max_s``, times 0.5-1.0; ``Retry-After`` is honoured);
other 4xx answers park that one bundle for ``backoff_max_s``. Attempts and the next attempt time
are in the database, so retries survive restarts. The key never changes for a bundle, so a retry
after a lost response cannot make a second record at an office that honours it.

The URL must be ``https://``; plain ``http://`` is accepted only for a loopback host (tests).
The service starts :func:`run_outbox`; :func:`upload_once` is the one-shot, synchronous form.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from appliance.config import Config, StoreConfig
from appliance.errors import ConfigError
from appliance.store.errors import UploadError
from appliance.store.store import Store

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.cccd.sealed-bundle"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
ENDPOINT_STATUSES = {401, 403, 408, 425, 429}  # the endpoint, not this bundle, is the problem


def _scfg(cfg: Config | StoreConfig) -> StoreConfig:
    return cfg.store if isinstance(cfg, Config) else cfg


def check_upload_url(url: str) -> None:
    """https only (plain http to a loopback host is allowed for tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise ConfigError("must be an https:// URL (http only to 127.0.0.1)", key="store.upload_url")


def upload_target(scfg: StoreConfig, bundle_id: str) -> tuple[str, str]:
    """(method, URL) for one bundle."""
    method = scfg.upload_method.upper()
    url = scfg.upload_url
    if "{bundle_id}" in url:
        return method, url.replace("{bundle_id}", bundle_id)
    if method == "PUT":
        return method, f"{url.rstrip('/')}/{bundle_id}"
    return method, url


def backoff_delay(attempts: int, scfg: StoreConfig, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempts`` (1-based): doubling, capped, 50-100% jitter."""
    base = min(scfg.backoff_max_s, scfg.backoff_base_s * 2 ** max(0, min(attempts, 60) - 1))
    return base * (0.5 + 0.5 * (rng or random).random())


def _retry_after(value: str | None, scfg: StoreConfig) -> float | None:
    if not value:
        return None
    try:
        return min(scfg.backoff_max_s, max(0.0, float(value)))
    except ValueError:
        return None


class Uploader:
    """Uploads due bundles; one instance per loop (holds the token and TLS settings)."""

    def __init__(self, store: Store, scfg: StoreConfig) -> None:
        check_upload_url(scfg.upload_url)
        self.store = store
        self.scfg = scfg

    def session(self) -> aiohttp.ClientSession:
        ssl_ctx: ssl.SSLContext | bool = True
        if self.scfg.upload_ca_file:
            ssl_ctx = ssl.create_default_context(cafile=self.scfg.upload_ca_file)
        timeout = aiohttp.ClientTimeout(
            total=self.scfg.upload_timeout_s, sock_connect=self.scfg.upload_connect_timeout_s
        )
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_ctx, limit=2), timeout=timeout
        )

    def _headers(self, row: dict[str, Any]) -> dict[str, str]:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Idempotency-Key": row["bundle_id"],
            "X-Bundle-SHA256": row["sha256"],
            "X-Device-Key-Id": self.store.device_key.key_id,
        }
        if self.scfg.upload_token_file:
            try:
                token = Path(self.scfg.upload_token_file).read_text().strip()
            except OSError as exc:
                raise UploadError(
                    f"upload token file {self.scfg.upload_token_file}: {exc.strerror}"
                ) from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def upload(self, session: aiohttp.ClientSession, row: dict[str, Any]) -> None:
        """Send one bundle; returns when acknowledged, raises :class:`UploadError` otherwise."""
        data = await asyncio.to_thread(self.store.bundle_bytes, row["bundle_id"])
        if data is None:  # purged or withdrawn meanwhile
            return
        method, url = upload_target(self.scfg, row["bundle_id"])
        headers = self._headers(row)
        try:
            async with session.request(method, url, data=data, headers=headers) as resp:
                await resp.content.read(4096)
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except TimeoutError:
            raise UploadError("timed out") from None
        except aiohttp.ClientError as exc:
            raise UploadError(f"connection failed: {type(exc).__name__}") from None
        if 200 <= status < 300 or status == 409:
            return
        raise UploadError(
            f"HTTP {status}",
            status=status,
            retry=status >= 500 or status in ENDPOINT_STATUSES,
            retry_after=_retry_after(retry_after, self.scfg),
        )

    async def run_pass(
        self, session: aiohttp.ClientSession, now_ts: float | None = None
    ) -> dict[str, Any]:
        """Try every due bundle once; stops at the first endpoint-level failure."""
        stats: dict[str, Any] = {"attempted": 0, "uploaded": 0, "failed": 0, "endpoint_error": None}
        now_ts = time.time() if now_ts is None else now_ts
        rows = await asyncio.to_thread(self.store.due_bundles, now_ts)
        for row in rows:
            stats["attempted"] += 1
            try:
                await self.upload(session, row)
            except UploadError as exc:
                stats["failed"] += 1
                attempts = row["attempts"] + 1
                # An endpoint failure backs off; a bundle the server refuses waits the longest.
                delay = backoff_delay(attempts, self.scfg) if exc.retry else self.scfg.backoff_max_s
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                await asyncio.to_thread(
                    self.store.mark_failed, row["bundle_id"], exc.message, time.time() + delay
                )
                log.warning(
                    "upload of bundle %s failed (attempt %d): %s; retry in %.1f s",
                    row["bundle_id"],
                    attempts,
                    exc.message,
                    delay,
                )
                if exc.retry:
                    stats["endpoint_error"] = exc.message
                    stats["retry_after"] = exc.retry_after
                    break
                continue
            await asyncio.to_thread(self.store.mark_acked, row["bundle_id"], time.time(), "upload")
            stats["uploaded"] += 1
            log.info("bundle %s uploaded", row["bundle_id"])
        return stats


async def run_outbox(store: Store, cfg: Config | StoreConfig, stop: asyncio.Event) -> None:
    """Upload queued bundles until ``stop`` is set (the service runs this as a task)."""
    scfg = _scfg(cfg)
    if not scfg.upload_url:
        log.info("outbox: no [store] upload_url; bundles wait for `appliance export`")
        await stop.wait()
        return
    try:
        uploader = Uploader(store, scfg)
    except ConfigError as exc:
        log.error("outbox disabled: %s", exc.message)
        await stop.wait()
        return
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_new_bundle() -> None:
        loop.call_soon_threadsafe(wake.set)

    store.add_listener(on_new_bundle)
    failures = 0
    try:
        async with uploader.session() as session:
            while not stop.is_set():
                wake.clear()
                try:
                    stats = await uploader.run_pass(session)
                except Exception:  # a bug or a database error must not end the uploader
                    log.exception("outbox pass failed")
                    stats = {"attempted": 0, "endpoint_error": "internal error"}
                if stats["endpoint_error"]:
                    failures += 1
                    delay = backoff_delay(failures, scfg)
                    if stats.get("retry_after") is not None:
                        delay = max(delay, stats["retry_after"])
                else:
                    failures = 0
                    nxt = await asyncio.to_thread(store.next_due_ts)
                    delay = scfg.poll_s if nxt is None else min(scfg.poll_s, nxt - time.time())
                    if delay <= 0:
                        continue
                await _wait_any(stop, wake, delay)
    finally:
        store.remove_listener(on_new_bundle)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    tasks = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def upload_once(
    store: Store, cfg: Config | StoreConfig, *, now_ts: float | None = None
) -> dict[str, Any]:
    """One synchronous pass over the due bundles (for tests and ``appliance outbox --upload``).

    Must not be called from a running event loop (use :meth:`Uploader.run_pass` there).
    """
    scfg = _scfg(cfg)
    if not scfg.upload_url:
        raise ConfigError("no upload URL configured", key="store.upload_url")
    uploader = Uploader(store, scfg)

    async def _once() -> dict[str, Any]:
        async with uploader.session() as session:
            return await uploader.run_pass(session, now_ts)

    result = asyncio.run(_once())
    result["pending"] = store.outbox_status()["pending"]
    return result
