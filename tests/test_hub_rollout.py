"""The hub's update rollout: the office's signed stage set in the releases folder, the /updates
page (each kiosk's release and update state from its heartbeat), a technician staging a share
first, then all, and stopping; the kiosk polling the hub's manifest and bundle end to end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from hub_support import Kiosk, register
from test_update_poll_cli import NO_SERVICE, kiosk_cfg, rel
from update_fakes import HAVE_RAUC, BundleInfo, FakeRauc, make_bundle, make_key

from appliance.cli import main
from appliance.hub import rollouts
from appliance.hub.auth import add_officer
from appliance.hub.config import HubSettings
from appliance.hub.heartbeats import accept_beat
from appliance.hub.registry import get_device
from appliance.hub.server import make_app
from appliance.update import rollout
from appliance.update.installer import poll
from appliance.update.manifest import Manifest, load_keyring, load_manifest
from appliance.update.publish import load_private_key, sign_manifest
from appliance.update.state import UpdateState

PASSWORD = "mật khẩu dài 123"
BODY = os.urandom(40_000)
NAMES = [f"kiosk-{i:02d}" for i in range(12)]


def stage_set(folder, key, version="0.3.0", shares=(10, 100), body=BODY, stopped=True):
    """What `appliance update-manifest --stages` writes: one manifest per share, one stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"cccd-kiosk-{version}.raucb"
    (folder / name).write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    for pct in [*shares, *([None] if stopped else [])]:
        m = Manifest(
            version, "cccd-kiosk", "stable", name, digest, len(body), pct or 0, stopped=pct is None
        )
        (folder / f"cccd-kiosk-{version}.{pct or 'stopped'}.json").write_bytes(
            sign_manifest(m, load_private_key(key))
        )


@pytest.fixture
def hub(hub_engine, tmp_path):
    key, cert = make_key(tmp_path, "office")
    releases = tmp_path / "releases"
    stage_set(releases, key)
    for i, name in enumerate(NAMES):
        register(hub_engine, Kiosk(tmp_path / name), name, commune=f"{i + 1:05d}")
    for role in ("technician", "commander"):
        add_officer(hub_engine, role, PASSWORD, role)
    settings = HubSettings(
        secure_cookies=False, update_keyring=str(cert), releases_dir=str(releases)
    )
    return hub_engine, settings, key, cert


def beat(engine, name, seq, update):
    health = {"version": "0.2.0", "update": update, "devices": {}}
    accept_beat(
        engine,
        get_device(engine, name),
        {"seq": seq, "sent_ts": time.time(), "health": health, "counters": {}},
    )


async def client(engine, settings, role):
    c = TestClient(TestServer(make_app(engine, settings)), cookie_jar=CookieJar(unsafe=True))
    await c.start_server()
    html = await (await c.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    resp = await c.post(
        "/login",
        data={"username": role, "password": PASSWORD, "csrf": csrf},
        allow_redirects=False,
    )
    assert resp.status == 303
    return c


async def stage(c, version, key, channel="stable"):
    html = await (await c.get("/updates")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    return await c.post(
        "/updates/stage",
        data={"csrf": csrf, "channel": channel, "version": version, "stage": key},
        allow_redirects=False,
    )


def test_scan_checks_every_manifest_and_lists_the_bad_ones(hub, tmp_path):
    _, settings, key, _ = hub
    releases = tmp_path / "releases"
    other_key, _ = make_key(tmp_path, "other")
    stage_set(releases, other_key, version="0.4.0")  # signed by a key the kiosks do not trust
    m = Manifest("0.5.0", "cccd-kiosk", "stable", "b.raucb", "a" * 64, 1, 10, {"xa": 50})
    (releases / "per-site.json").write_bytes(sign_manifest(m, load_private_key(key)))
    (releases / "junk.json").write_bytes(b"{not json")
    cat = rollouts.scan(settings)
    assert list(cat.releases) == [("stable", "0.3.0")]
    assert cat.get("stable", "0.3.0").shares == ["10", "100", "stopped"]
    why = dict(cat.problems)
    assert why["cccd-kiosk-0.4.0.10.json"].startswith("foreign_key")
    assert "one share to every site" in why["per-site.json"]
    assert why["junk.json"].startswith("bad_manifest")
    with pytest.raises(Exception) as exc:
        rollouts.scan(HubSettings())
    assert "update_keyring" in str(exc.value)


async def test_technician_stages_a_share_then_all_then_stops(hub):
    engine, settings, _, cert = hub
    beat(
        engine,
        "kiosk-00",
        1,
        {
            "release": "0.2.0",
            "held": False,
            "pending": None,
            "last": {"result": "rolled_back", "version": "0.2.9"},
            "failed_versions": ["0.2.9"],
        },
    )
    beat(engine, "kiosk-01", 1, {"release": "0.2.0", "held": True, "version": "0.3.0"})
    keyring = load_keyring(cert)
    c = await client(engine, settings, "technician")
    try:
        # Nothing staged yet: the kiosks' manifest URL answers 404, the page offers every stage.
        assert (await c.get("/update/stable/manifest.json")).status == 404
        html = await (await c.get("/updates?lang=en")).text()
        assert "0.3.0" in html and "Roll out to 10 %" in html
        assert "Stop the rollout" not in html  # nothing served yet: nothing to stop
        row = re.search(r"kiosk-00</a>.*?</tr>", html, re.S).group(0)
        assert "rolled back" in row and "0.2.9" in row and "0.2.0" in row
        assert "updating" in re.search(r"kiosk-01</a>.*?</tr>", html, re.S).group(0)

        assert (await stage(c, "0.3.0", "10")).status == 303
        assert "Stop the rollout" in await (await c.get("/updates?lang=en")).text()
        raw = await (await c.get("/update/stable/manifest.json")).read()
        m = load_manifest(raw, keyring, base_url="https://hub/update/stable/manifest.json")
        assert (m.version, m.default_pct, m.stopped) == ("0.3.0", 10, False)
        assert m.bundle_url == "https://hub/update/stable/cccd-kiosk-0.3.0.raucb"
        rows = {r["name"]: r for r in rollouts.fleet_updates(engine, rollouts.scan(settings))}
        first = {n for n, r in rows.items() if r["in_wave"]["stable"]}
        assert first == {n for n in NAMES if rollout.bucket("0.3.0", n) < 10}
        assert len(first) < len(NAMES)  # a share first, not everyone
        assert rollouts.staged(engine)["stable"]["staged_by"] == "technician"

        assert (await stage(c, "0.3.0", "100")).status == 303
        rows = rollouts.fleet_updates(engine, rollouts.scan(settings))
        assert all(r["in_wave"]["stable"] for r in rows)

        assert (await stage(c, "0.3.0", "stopped")).status == 303
        raw = await (await c.get("/update/stable/manifest.json")).read()
        m = load_manifest(raw, keyring, base_url="https://hub/update/stable/manifest.json")
        assert m.stopped and m.share_for("any-site") == 0
        rows = rollouts.fleet_updates(engine, rollouts.scan(settings))
        assert not any(r["in_wave"]["stable"] for r in rows)
        html = await (await c.get("/updates?lang=en")).text()
        assert re.search(r"<td>stopped<br>", html)

        # A stage the office did not sign is refused with the reason, nothing changes.
        resp = await stage(c, "0.3.0", "50")
        assert resp.status == 409 and "has no manifest for 50 %" in await resp.text()
        assert rollouts.staged(engine)["stable"]["stage"] == "stopped"
        assert (await stage(c, "9.9.9", "10")).status == 404
    finally:
        await c.close()


async def test_commander_sees_but_cannot_stage(hub):
    engine, settings, _, _ = hub
    c = await client(engine, settings, "commander")
    try:
        html = await (await c.get("/updates")).text()
        assert "Cập nhật hệ thống" in html and "0.3.0" in html
        assert 'action="/updates/stage"' not in html
        assert (await stage(c, "0.3.0", "100")).status == 403
        assert rollouts.staged(engine) == {}
    finally:
        await c.close()


async def test_a_release_without_a_stopped_manifest_says_it_cannot_be_stopped(hub, tmp_path):
    engine, settings, key, _ = hub
    stage_set(tmp_path / "releases", key, version="0.3.1", stopped=False)
    c = await client(engine, settings, "technician")
    try:
        html = await (await c.get("/updates?lang=en")).text()
        assert "this release cannot be stopped" in html
        resp = await stage(c, "0.3.1", "stopped")
        assert resp.status == 409 and "--stopped" in await resp.text()
    finally:
        await c.close()


async def test_bundles_are_served_with_range_and_nothing_else_is(hub):
    engine, settings, _, _ = hub
    c = TestClient(TestServer(make_app(engine, settings)))
    await c.start_server()
    try:
        resp = await c.get("/update/stable/cccd-kiosk-0.3.0.raucb", headers={"Range": "bytes=100-"})
        assert resp.status == 206 and await resp.read() == BODY[100:]
        assert (await c.get("/update/stable/absent.raucb")).status == 404
        assert (await c.get("/update/stable/..%2Fhub.db.raucb")).status == 404
        assert (await c.get("/update/stable/cccd-kiosk-0.3.0.10.json")).status == 404
    finally:
        await c.close()


async def test_a_kiosk_in_the_first_wave_installs_from_the_hub(hub, tmp_path):
    engine, settings, _, cert = hub
    srv = TestServer(make_app(engine, settings))
    c = TestClient(srv, cookie_jar=CookieJar(unsafe=True))
    await c.start_server()
    tech = await client(engine, settings, "technician")
    try:
        assert (await stage(tech, "0.3.0", "10")).status == 303
        inside = next(n for n in NAMES if rollout.bucket("0.3.0", n) < 10)
        outside = next(n for n in NAMES if rollout.bucket("0.3.0", n) >= 10)
        results = {}
        for name in (inside, outside):
            cfg = kiosk_cfg(tmp_path / name, cert)
            (tmp_path / name).mkdir(exist_ok=True)
            cfg.service.device_name = name
            cfg.update.manifest_url = str(srv.make_url("/update/stable/manifest.json"))
            rauc = FakeRauc()
            rauc.verify = lambda path: BundleInfo("cccd-kiosk", "0.3.0")
            out = await asyncio.to_thread(
                poll,
                cfg,
                rauc=rauc,
                state=UpdateState(cfg.update_dir),
                service_url=NO_SERVICE,
                sleep=lambda s: None,
                release_file=rel(tmp_path / name),
            )
            results[name] = (out["action"], rauc.installed_bytes)
        assert results[inside] == ("installed", [BODY])
        assert results[outside] == ("not_in_rollout", [])
    finally:
        await tech.close()
        await c.close()


@pytest.mark.skipif(not HAVE_RAUC, reason="rauc/mksquashfs not installed")
def test_office_writes_the_stage_set_the_hub_lists(tmp_path, capsys):
    key, cert = make_key(tmp_path, "office")
    bundle = make_bundle(tmp_path, "0.3.0", key, cert)
    out_dir = tmp_path / "releases"
    argv = [
        "update-manifest",
        str(bundle),
        "--key",
        str(key),
        "--keyring",
        str(cert),
        "--url",
        bundle.name,
        "--stages",
        "10,100",
        "--out-dir",
        str(out_dir),
        "--json",
    ]
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out)["written"]
    assert sorted(os.path.basename(w) for w in written) == [
        "cccd-kiosk-0.3.0.10.json",
        "cccd-kiosk-0.3.0.100.json",
        "cccd-kiosk-0.3.0.stopped.json",
    ]
    (out_dir / bundle.name).write_bytes(bundle.read_bytes())
    cat = rollouts.scan(HubSettings(update_keyring=str(cert), releases_dir=str(out_dir)))
    assert cat.problems == [] and cat.get("stable", "0.3.0").shares == ["10", "100", "stopped"]
    assert main([*argv[:-1], "--stages", "100,10", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage"
