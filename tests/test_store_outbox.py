"""Outbox against a flaky local office endpoint: every bundle arrives exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter

import pytest
from aiohttp import web

from appliance.citizen import TEST_CITIZEN
from appliance.config import StoreConfig
from appliance.errors import ConfigError
from appliance.store import Store, run_outbox, unseal, upload_once
from appliance.store.outbox import backoff_delay, check_upload_url, upload_target
from appliance.store.testing import CONSENT_HASH, office_keys, sample_images

FAILURES = ("503", "hang", "drop", "store_then_drop", "store_then_hang", "500_retry_after")


class FlakyOffice:
    """An office endpoint that fails in every way a commune's network can, then recovers.

    It de-duplicates on ``Idempotency-Key`` as the office must: ``records`` counts the records
    created per bundle (must end at exactly 1), ``requests`` every request seen.
    """

    def __init__(self, script: list[str] | None = None) -> None:
        self.records: dict[str, bytes] = {}
        self.created: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.modes_seen: Counter[str] = Counter()
        self.script = script
        self.order: dict[str, int] = {}
        self.hang_s = 1.0
        self.auth: list[str | None] = []

    def _store(self, key: str, body: bytes) -> None:
        if key not in self.records:
            self.records[key] = body
            self.created[key] += 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.headers["Idempotency-Key"]
        body = await request.read()
        assert hashlib.sha256(body).hexdigest() == request.headers["X-Bundle-SHA256"]
        if request.method == "PUT":
            assert request.match_info["bundle_id"] == key
        self.auth.append(request.headers.get("Authorization"))
        n = self.requests[key]
        self.requests[key] += 1
        if self.script is not None:
            mode = self.script[n] if n < len(self.script) else "ok"
        else:  # bundle k fails k % 4 times, cycling through every kind of failure
            k = self.order.setdefault(key, len(self.order))
            mode = FAILURES[(k + n) % len(FAILURES)] if n < k % 4 else "ok"
        self.modes_seen[mode] += 1
        if mode == "503":
            return web.Response(status=503)
        if mode == "500_retry_after":
            return web.Response(status=500, headers={"Retry-After": "0"})
        if mode == "hang":
            await asyncio.sleep(self.hang_s)
            return web.Response(status=503)
        if mode == "drop":
            request.transport.close()
            raise web.HTTPInternalServerError()
        if mode == "store_then_drop":  # the record is made, the answer is lost
            self._store(key, body)
            request.transport.close()
            raise web.HTTPInternalServerError()
        if mode == "store_then_hang":
            self._store(key, body)
            await asyncio.sleep(self.hang_s)
            return web.Response(status=201)
        if mode == "400":
            return web.Response(status=400)
        duplicate = key in self.records
        self._store(key, body)
        return web.json_response(
            {"bundle_id": key, "duplicate": duplicate}, status=200 if duplicate else 201
        )


async def start(office: FlakyOffice, method: str = "PUT") -> tuple[web.AppRunner, str]:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    if method == "PUT":
        app.router.add_put("/bundles/{bundle_id}", office.handle)
    else:
        app.router.add_post("/bundles", office.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/bundles"


def fast_cfg(url: str, **kw) -> StoreConfig:
    base = dict(
        upload_url=url,
        upload_timeout_s=0.4,
        upload_connect_timeout_s=0.4,
        backoff_base_s=0.02,
        backoff_max_s=0.15,
        poll_s=0.2,
    )
    base.update(kw)
    return StoreConfig(**base)


def fill(store: Store, n: int) -> list[str]:
    consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    portrait, fingers = sample_images(3000, 4000)
    ids = []
    for _ in range(n):
        receipt = store.save_capture(
            dict(TEST_CITIZEN),
            portrait=portrait,
            fingerprints=fingers,
            quality={},
            consent_id=consent,
            clock_synced=True,
        )
        ids.append(receipt.bundle_id)
    return ids


async def wait_until(pred, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


@pytest.fixture
def office_key(tmp_path):
    return office_keys(tmp_path / "office")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_every_bundle_arrives_exactly_once_through_failures_and_restart(
    tmp_path, office_key, method
):
    office = FlakyOffice()
    office.hang_s = 0.5  # longer than the client's 0.25 s timeout
    runner, url = await start(office, method)
    cfg = fast_cfg(url, upload_method=method, upload_timeout_s=0.25)
    state = tmp_path / "state"
    try:
        store = Store.open(state, store_cfg=cfg, office_public_key=office_key[1])
        ids = fill(store, 6)
        stop = asyncio.Event()
        task = asyncio.create_task(run_outbox(store, cfg, stop))
        # A restart half-way: stop the uploader and close the store as the service would.
        await wait_until(lambda: len(office.records) >= 3, 20)
        stop.set()
        await asyncio.wait_for(task, 5)
        store.close()
        store = Store.open(state, store_cfg=cfg, office_public_key=office_key[1])
        ids += await asyncio.to_thread(fill, store, 3)  # more captures after the restart
        stop = asyncio.Event()
        task = asyncio.create_task(run_outbox(store, cfg, stop))
        await wait_until(lambda: store.outbox_status()["pending"] == 0, 30)
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await runner.cleanup()
    assert set(office.records) == set(ids)
    assert all(office.created[k] == 1 for k in ids), office.created
    for bundle_id in ids:
        out = unseal(office.records[bundle_id], office_key[0])
        assert out.header["bundle_id"] == bundle_id
    assert sum(office.requests.values()) > len(ids)  # failures really happened
    for mode in FAILURES:
        assert office.modes_seen[mode] > 0, office.modes_seen
    rows = store.list_captures()
    assert rows and all(r["state"] == "uploaded" and r["uploaded"] for r in rows)
    status = store.outbox_status()
    assert status["pending"] == 0 and status["acked"] == len(ids)
    store.close()


async def test_new_capture_wakes_the_uploader(tmp_path, office_key):
    office = FlakyOffice(script=[])
    runner, url = await start(office)
    cfg = fast_cfg(url, poll_s=30.0)  # only the wake-up can make this fast
    try:
        with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=office_key[1]) as store:
            stop = asyncio.Event()
            task = asyncio.create_task(run_outbox(store, cfg, stop))
            await asyncio.sleep(0.1)
            (bundle_id,) = await asyncio.to_thread(fill, store, 1)
            await wait_until(lambda: bundle_id in office.records, 5)
            stop.set()
            await asyncio.wait_for(task, 5)
    finally:
        await runner.cleanup()


async def test_refused_bundle_is_parked_not_lost(tmp_path, office_key):
    office = FlakyOffice(script=["400"])
    runner, url = await start(office)
    cfg = fast_cfg(url, backoff_max_s=0.3)
    try:
        with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=office_key[1]) as store:
            ids = fill(store, 2)
            first = await asyncio.to_thread(upload_once, store, cfg)
            # A 400 parks that bundle only: the pass goes on with the next one.
            assert first["attempted"] == 2 and first["failed"] == 2 and first["pending"] == 2
            status = store.outbox_status()
            assert status["last_error"] == "HTTP 400"
            await asyncio.sleep(0.35)
            second = await asyncio.to_thread(upload_once, store, cfg)
            assert second["uploaded"] == 2 and second["pending"] == 0
    finally:
        await runner.cleanup()
    assert set(office.records) == set(ids)


async def test_endpoint_down_ends_the_pass_and_backs_off(tmp_path, office_key):
    office = FlakyOffice(script=["503"])
    runner, url = await start(office)
    cfg = fast_cfg(url, backoff_base_s=5.0, backoff_max_s=10.0)
    try:
        with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=office_key[1]) as store:
            fill(store, 3)
            result = await asyncio.to_thread(upload_once, store, cfg)
            assert result["attempted"] == 1 and result["endpoint_error"] == "HTTP 503"
            # Rescheduled into the future: nothing is due now.
            import time

            assert store.due_bundles(time.time()) != []  # the two untried ones
            row = store.query("SELECT attempts, next_attempt_ts FROM outbox WHERE attempts > 0")
            assert len(row) == 1 and row[0]["next_attempt_ts"] > time.time() + 2
    finally:
        await runner.cleanup()


async def test_token_is_sent(tmp_path, office_key):
    office = FlakyOffice(script=[])
    runner, url = await start(office)
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = fast_cfg(url, upload_token_file=str(token))
    try:
        with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=office_key[1]) as store:
            fill(store, 1)
            assert (await asyncio.to_thread(upload_once, store, cfg))["uploaded"] == 1
    finally:
        await runner.cleanup()
    assert office.auth == ["Bearer s3cret"]


def test_url_rules_and_backoff():
    check_upload_url("https://office.example/bundles")
    check_upload_url("http://127.0.0.1:8443/x")
    for bad in ("http://office.example/bundles", "ftp://x", "office.example", ""):
        with pytest.raises(ConfigError):
            check_upload_url(bad)
    cfg = StoreConfig(upload_url="https://o.example/b/", backoff_base_s=1.0, backoff_max_s=60.0)
    assert upload_target(cfg, "ab") == ("PUT", "https://o.example/b/ab")
    cfg.upload_url = "https://o.example/b?id={bundle_id}"
    assert upload_target(cfg, "ab") == ("PUT", "https://o.example/b?id=ab")
    cfg.upload_method, cfg.upload_url = "post", "https://o.example/b"
    assert upload_target(cfg, "ab") == ("POST", "https://o.example/b")
    rng = random.Random(1)
    delays = [backoff_delay(n, cfg, rng) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0 and 4.0 <= delays[3] <= 8.0
    assert all(30.0 <= d <= 60.0 for d in delays[6:])  # capped, jittered
    assert len({round(d, 6) for d in delays[6:]}) > 1


async def test_no_upload_url_idles_until_stopped(tmp_path, office_key):
    with Store.open(tmp_path / "s", office_public_key=office_key[1]) as store:
        stop = asyncio.Event()
        task = asyncio.create_task(run_outbox(store, StoreConfig(), stop))
        await asyncio.sleep(0.05)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 2)
