"""The real kiosk outbox against the real hub over HTTPS (a CA made here), on both engines."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import pytest
from aiohttp import web
from hub_support import HubRunner, Kiosk, office, register
from sqlalchemy import text

from appliance.config import StoreConfig
from appliance.hub.config import HubSettings
from appliance.hub.registry import export_register, revoke_device
from appliance.hub.testing import make_ca
from appliance.store import Store, run_outbox, unseal, upload_once
from appliance.store.keys import load_device_registry
from appliance.store.testing import CONSENT_HASH, sample_images

FAULTS = ("503", "hang", "drop", "commit_then_drop", "commit_then_hang")


class Chaos:
    """Network and server failures in front of the real ingest: bundle k fails k % 4 times."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.order: dict[str, int] = {}
        self.seen: Counter[str] = Counter()
        self.hang_s = 0.6
        self.on = True

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        key = request.headers.get("Idempotency-Key")
        if not self.on or not key or not request.path.startswith("/bundles"):
            return await handler(request)
        n = self.requests[key]
        self.requests[key] += 1
        k = self.order.setdefault(key, len(self.order))
        mode = FAULTS[(k + n) % len(FAULTS)] if n < k % 4 else "ok"
        self.seen[mode] += 1
        if mode == "503":
            return web.Response(status=503)
        if mode == "hang":
            await asyncio.sleep(self.hang_s)
            return web.Response(status=503)
        if mode == "drop":
            request.transport.close()
            raise web.HTTPInternalServerError()
        resp = await handler(request)  # the real ingest: committed before it returns
        if mode == "commit_then_drop":
            request.transport.close()
            raise web.HTTPInternalServerError()
        if mode == "commit_then_hang":
            await asyncio.sleep(self.hang_s)
        return resp


@pytest.fixture
def tls(tmp_path):
    return make_ca(tmp_path / "tls")


def kiosk_cfg(url: str, ca, token_file, **kw) -> StoreConfig:
    base = dict(
        upload_url=f"{url}/bundles",
        upload_ca_file=str(ca),
        upload_token_file=str(token_file),
        upload_timeout_s=0.35,
        upload_connect_timeout_s=0.35,
        backoff_base_s=0.02,
        backoff_max_s=0.15,
        poll_s=0.2,
    )
    base.update(kw)
    return StoreConfig(**base)


def fill(store: Store, n: int) -> list[str]:
    consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    portrait, fingers = sample_images(3000, 4000)
    return [
        store.save_capture(
            {"note": "synthetic"},
            portrait=portrait,
            fingerprints=fingers,
            quality={},
            consent_id=consent,
            clock_synced=True,
        ).bundle_id
        for _ in range(n)
    ]


async def wait_until(pred, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(pred):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


def hub_rows(engine) -> dict[str, bytes]:
    with engine.connect() as conn:
        return {
            r.bundle_id: bytes(r.data)
            for r in conn.execute(text("SELECT bundle_id, data FROM bundles")).all()
        }


def setup_kiosk(tmp_path, hub_engine, state_name="state"):
    """A kiosk store whose device key is registered at the hub; returns (kiosk, token file)."""
    state = tmp_path / state_name
    kiosk = Kiosk(state)  # the same device key the Store will load from state/keys
    register(hub_engine, kiosk, f"kiosk-{state_name}")
    token_file = tmp_path / f"{state_name}.token"
    token_file.write_text(kiosk.token + "\n")
    return kiosk, state, token_file


@pytest.mark.timeout(120)
async def test_exactly_once_through_faults_and_restarts_of_both_sides(tmp_path, hub_db_url, tls):
    priv, pub_path, _ = office(tmp_path / "office")
    chaos = Chaos()
    settings = HubSettings(
        port=0,
        tls_cert=str(tls["cert"]),
        tls_key=str(tls["key"]),
        office_public_key=str(pub_path),
    )
    hub = HubRunner(hub_db_url, settings, (chaos.middleware,))
    await hub.start()
    _, state, token_file = setup_kiosk(tmp_path, hub.engine)
    cfg = kiosk_cfg(hub.url, tls["ca"], token_file)
    store = Store.open(state, store_cfg=cfg, office_public_key=pub_path)
    try:
        ids = await asyncio.to_thread(fill, store, 6)
        stop = asyncio.Event()
        task = asyncio.create_task(run_outbox(store, cfg, stop))
        await wait_until(lambda: len(hub_rows(hub.engine)) >= 2, 30)
        # The hub restarts (a new process would open a new engine on the same database)...
        await hub.stop()
        await asyncio.sleep(0.3)  # the kiosk meets a closed port meanwhile
        await hub.start()
        await wait_until(lambda: len(hub_rows(hub.engine)) >= 4, 30)
        # ...and the kiosk restarts with bundles still queued, then captures more.
        stop.set()
        await asyncio.wait_for(task, 5)
        store.close()
        store = Store.open(state, store_cfg=cfg, office_public_key=pub_path)
        ids += await asyncio.to_thread(fill, store, 3)
        stop = asyncio.Event()
        task = asyncio.create_task(run_outbox(store, cfg, stop))
        await wait_until(lambda: store.outbox_status()["pending"] == 0, 60)
        stop.set()
        await asyncio.wait_for(task, 5)
        rows = hub_rows(hub.engine)
        export_register(hub.engine, tmp_path / "devices")
    finally:
        store.close()
        if not hub.task.done():
            await hub.stop()
    assert sorted(rows) == sorted(ids)  # every bundle, no extra
    registry = load_device_registry(tmp_path / "devices")
    for bid, data in rows.items():
        out = unseal(data, priv, registry)
        assert out.header["bundle_id"] == bid and out.signer_registered
        assert out.record["identity"] == {"note": "synthetic"} and len(out.parts) == 3
    for mode in FAULTS:
        assert chaos.seen[mode] > 0, chaos.seen
    assert sum(chaos.requests.values()) > len(ids)


async def test_refusals_through_the_real_outbox(tmp_path, hub_db_url, tls):
    _, pub_path, _ = office(tmp_path / "office")
    settings = HubSettings(port=0, tls_cert=str(tls["cert"]), tls_key=str(tls["key"]))
    hub = HubRunner(hub_db_url, settings)
    await hub.start()
    try:
        # 1. a tampered bundle (bytes changed on the kiosk, digest recomputed): 422, parked
        _, state, token_file = setup_kiosk(tmp_path, hub.engine, "a")
        cfg = kiosk_cfg(hub.url, tls["ca"], token_file, backoff_max_s=30.0)
        with Store.open(state, store_cfg=cfg, office_public_key=pub_path) as store:
            (bid,) = fill(store, 1)
            data = bytearray(store.bundle_bytes(bid))
            data[-80] ^= 1
            with store.transaction() as conn:
                conn.execute("UPDATE bundles SET data = ? WHERE bundle_id = ?", (bytes(data), bid))
                conn.execute(
                    "UPDATE outbox SET sha256 = ? WHERE bundle_id = ?",
                    (hashlib.sha256(data).hexdigest(), bid),
                )
            out = await asyncio.to_thread(upload_once, store, cfg)
            assert out["uploaded"] == 0 and out["pending"] == 1
            assert store.outbox_status()["last_error"] == "HTTP 422"
            # 2. unsigned: the signature zeroed
            (bid2,) = fill(store, 1)
            data2 = store.bundle_bytes(bid2)[:-64] + bytes(64)
            with store.transaction() as conn:
                conn.execute("UPDATE bundles SET data = ? WHERE bundle_id = ?", (data2, bid2))
                conn.execute(
                    "UPDATE outbox SET sha256 = ? WHERE bundle_id = ?",
                    (hashlib.sha256(data2).hexdigest(), bid2),
                )
            out = await asyncio.to_thread(upload_once, store, cfg)
            assert out["uploaded"] == 0 and out["failed"] == 1
        # 3. a foreign device: not registered, borrowing kiosk a's token
        foreign_state = tmp_path / "foreign"
        with Store.open(foreign_state, store_cfg=cfg, office_public_key=pub_path) as store:
            fill(store, 1)
            out = await asyncio.to_thread(upload_once, store, cfg)
            assert out["uploaded"] == 0 and out["endpoint_error"] == "HTTP 403"
        # 4. a revoked device: 403 (the outbox keeps it queued and backs off)
        _, state_b, token_b = setup_kiosk(tmp_path, hub.engine, "b")
        cfg_b = kiosk_cfg(hub.url, tls["ca"], token_b)
        revoke_device(hub.engine, "kiosk-b")
        with Store.open(state_b, store_cfg=cfg_b, office_public_key=pub_path) as store:
            fill(store, 1)
            out = await asyncio.to_thread(upload_once, store, cfg_b)
            assert out["endpoint_error"] == "HTTP 403" and out["pending"] == 1
        # 5. a kiosk that does not trust the hub's certificate sends nothing
        _, state_c, token_c = setup_kiosk(tmp_path, hub.engine, "c")
        cfg_c = kiosk_cfg(hub.url, tls["ca"], token_c)
        cfg_c.upload_ca_file = ""  # the system trust store does not know the test CA
        with Store.open(state_c, store_cfg=cfg_c, office_public_key=pub_path) as store:
            fill(store, 1)
            out = await asyncio.to_thread(upload_once, store, cfg_c)
            assert out["uploaded"] == 0 and "connection failed" in out["endpoint_error"]
        assert hub_rows(hub.engine) == {}
    finally:
        await hub.stop()
