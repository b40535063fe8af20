"""The hub's ingest over HTTP, on SQLite and PostgreSQL: every answer the outbox relies on."""

from __future__ import annotations

import hashlib

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hub_support import Kiosk, office, register

from appliance.hub.config import HubSettings
from appliance.hub.registry import export_register, revoke_device
from appliance.hub.server import make_app
from appliance.store.bundle import unseal
from appliance.store.keys import load_device_registry


@pytest.fixture
def setup(tmp_path, hub_engine):
    priv, pub_path, pub = office(tmp_path / "office")
    a, b = Kiosk(tmp_path / "a"), Kiosk(tmp_path / "b")
    register(hub_engine, a, "kiosk-a")
    register(hub_engine, b, "kiosk-b", commune="00007")
    settings = HubSettings(office_public_key=str(pub_path), max_bundle_bytes=64 * 1024)
    return hub_engine, settings, priv, pub, a, b


async def client(engine, settings) -> TestClient:
    c = TestClient(TestServer(make_app(engine, settings)))
    await c.start_server()
    return c


async def put(c: TestClient, data: bytes, headers: dict, bid: str | None = None):
    bid = bid or headers["Idempotency-Key"]
    resp = await c.put(f"/bundles/{bid}", data=data, headers=headers)
    return resp.status, await resp.json()


async def test_new_repeat_and_conflict(setup):
    engine, settings, priv, pub, a, _ = setup
    c = await client(engine, settings)
    try:
        data = a.bundle(pub)
        assert (await put(c, data, a.headers(data)))[0] == 201
        status, body = await put(c, data, a.headers(data))
        assert status == 200 and body["duplicate"] is True
        bid = a.headers(data)["Idempotency-Key"]
        other = a.bundle(pub, bundle_id=bid, note="other bytes")
        status, body = await put(c, other, a.headers(other))
        assert status == 422 and body["error"]["code"] == "bundle_conflict"
        # POST with the key in the header is the same protocol
        data2 = a.bundle(pub)
        resp = await c.post("/bundles", data=data2, headers=a.headers(data2))
        assert resp.status == 201
        resp = await c.post("/bundles", data=data2, headers=a.headers(data2))
        assert resp.status == 200
    finally:
        await c.close()
    # committed: a fresh connection sees exactly those two, and they unseal
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT bundle_id, data FROM bundles")).all()
    assert {r.bundle_id for r in rows} == {bid, a.headers(data2)["Idempotency-Key"]}
    for r in rows:
        assert unseal(bytes(r.data), priv).header["bundle_id"] == r.bundle_id


async def test_refusals_have_the_right_status_and_code(setup, tmp_path):
    engine, settings, _, pub, a, b = setup
    _, _, other_pub = office(tmp_path / "other-office")
    c = await client(engine, settings)
    try:
        good = a.bundle(pub)
        h = a.headers(good)
        cases = []
        # SHA-256 header does not match the body
        cases.append((good, {**h, "X-Bundle-SHA256": "0" * 64}, None, 422, "sha256_mismatch"))
        # a byte changed in the ciphertext, header recomputed: the signature catches it
        bad = bytearray(good)
        bad[len(bad) - 64 - 10] ^= 1  # inside the ciphertext
        cases.append(
            (bytes(bad), a.headers(bytes(bad), h["Idempotency-Key"]), None, 422, "bundle_tampered")
        )
        # unsigned: the signature replaced by zeros
        unsigned = good[:-64] + bytes(64)
        cases.append(
            (unsigned, a.headers(unsigned, h["Idempotency-Key"]), None, 422, "bundle_tampered")
        )
        # not a bundle at all
        junk = b"hello" * 40
        hj = {**h, "X-Bundle-SHA256": hashlib.sha256(junk).hexdigest()}
        cases.append((junk, hj, None, 422, "bundle_malformed"))
        # foreign device: kiosk b's bundle sent with kiosk a's token
        foreign = b.bundle(pub)
        hf = {
            **b.headers(foreign),
            "Authorization": f"Bearer {a.token}",
            "X-Device-Key-Id": a.key.key_id,
        }
        cases.append((foreign, hf, None, 422, "device_mismatch"))
        # X-Device-Key-Id of another kiosk than the token's
        cases.append((good, {**h, "X-Device-Key-Id": b.key.key_id}, None, 403, "device_mismatch"))
        # sealed to another office
        wrong = a.bundle(other_pub)
        cases.append((wrong, a.headers(wrong), None, 422, "wrong_key"))
        # id format and agreement
        cases.append((good, {**h, "Idempotency-Key": "XYZ"}, "XYZ", 422, "bad_bundle_id"))
        cases.append((good, h, "0" * 32, 422, "id_mismatch"))
        # tokens
        cases.append((good, {**h, "Authorization": "Bearer nope"}, None, 403, "unknown_device"))
        no_auth = {k: v for k, v in h.items() if k != "Authorization"}
        cases.append((good, no_auth, None, 401, "no_token"))
        # too large
        big = b"\0" * (70 * 1024)
        hb = {**h, "X-Bundle-SHA256": hashlib.sha256(big).hexdigest()}
        cases.append((big, hb, None, 413, "too_large"))
        for data, headers, bid, status, code in cases:
            got_status, body = await put(c, data, headers, bid)
            assert (got_status, body["error"]["code"]) == (status, code), (code, body)
        # nothing of that was kept; the good one is still new
        assert (await put(c, good, h))[0] == 201
        revoke_device(engine, "kiosk-a")
        later = a.bundle(pub)
        status, body = await put(c, later, a.headers(later))
        assert status == 403 and body["error"]["code"] == "revoked_device"
        # a repeat of an accepted bundle from a revoked kiosk is refused too
        assert (await put(c, good, h))[0] == 403
    finally:
        await c.close()


def test_register_exports_what_unseal_reads(setup, tmp_path):
    engine, _, priv, pub, a, b = setup
    revoke_device(engine, "kiosk-b")
    out = export_register(engine, tmp_path / "devices")
    assert [d["name"] for d in out["devices"]] == ["kiosk-a"]
    registry = load_device_registry(tmp_path / "devices")
    assert set(registry) == {a.key.key_id}
    assert unseal(a.bundle(pub), priv, registry).signer_registered
    with pytest.raises(Exception) as info:
        unseal(b.bundle(pub), priv, registry)
    assert getattr(info.value, "code", "") == "unknown_device"
    both = export_register(engine, tmp_path / "all", include_revoked=True)
    assert len(both["devices"]) == 2


def test_migrations_build_exactly_the_schema(hub_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from appliance.hub.schema import metadata

    with hub_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
