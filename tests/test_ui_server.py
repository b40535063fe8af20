"""The UI server in-process (no browser): routes, WebSocket rules, the GPIO help button, texts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from support import kiosk_url

from appliance.config import load_config
from appliance.errors import ConfigError
from appliance.kiosk_ui.server import STATIC_DIR, check_ui_config
from appliance.kiosk_ui.texts import consent_hash, table
from appliance.pipeline.workflows.pin import operator_pin_hash, verify_pin
from appliance.provision import hash_secret
from appliance.service import Service


@contextlib.asynccontextmanager
async def running(profile: str = "sim", **env: str):
    """A Service with its devices open, the UI component running, and a test client."""
    demo = {"APPLIANCE_STORE_DEMO_OFFICE_KEY": "1"} if profile == "sim" else {}  # sim only
    cfg = load_config(profile, sim=profile == "sim", env=demo)
    for key, value in env.items():
        section, _, name = key.partition(".")
        setattr(getattr(cfg, section), name, type(getattr(getattr(cfg, section), name))(value))
    service = Service(cfg)
    await service.devices.open_all()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c(service, stop)) for c in service.components]
    client = TestClient(TestServer(service.app))
    await client.start_server()
    await client.get(kiosk_url("", service.cfg.state_dir))  # the kiosk's cookie
    try:
        yield service, client
    finally:
        stop.set()
        await client.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        service.devices.close_all()


async def receive_until(ws, predicate, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if predicate(data):
                return data


async def test_page_static_and_translations_are_served_with_a_strict_policy(tmp_path):
    async with running() as (_, client):
        resp = await client.get("/")
        assert resp.status == 200
        assert '<html lang="vi">' in await resp.text()
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp
        assert (await client.get("/static/app.js")).status == 200
        en = await (await client.get("/i18n/en.json")).json()
        assert en["home.title"] == "Welcome!"
        assert (await client.get("/i18n/fr.json")).status == 404


async def test_camera_preview_only_while_a_face_is_captured():
    async with running() as (_, client):
        assert (await client.get("/camera.mjpg")).status == 204


async def test_receipt_qr_svg_and_its_limits():
    async with running() as (_, client):
        resp = await client.get("/qr.svg", params={"text": "K7Q2-M4XD"})
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert "<svg" in await resp.text()
        assert (await client.get("/qr.svg", params={"text": "x" * 65})).status == 400
        assert (await client.get("/qr.svg")).status == 400


async def test_websocket_hello_then_screen_and_cross_origin_refused():
    async with running() as (_, client):
        bad = await client.get("/ws", headers={"Origin": "http://evil.example"})
        assert bad.status == 403
        ws = await client.ws_connect("/ws")
        hello = await receive_until(ws, lambda m: m["type"] == "hello")
        assert hello["mode"] == "enrollment" and hello["lang"] == "vi" and hello["sim"] is True
        assert "qr" in hello["sim_actions"] and hello["setup_problem"] is None
        screen = await receive_until(ws, lambda m: m["type"] == "screen")
        assert screen["screen"] == "home"
        await ws.send_json({"type": "command", "name": "lang", "args": {"lang": "en"}})
        assert (await receive_until(ws, lambda m: m["type"] == "lang"))["lang"] == "en"
        await ws.send_str("not json")  # ignored, the socket stays up
        await ws.send_json(
            {"type": "command", "name": "start", "args": {"flow": "enrollment"}, "seq": 0}
        )  # a stale seq: dropped
        await ws.send_json(
            {"type": "command", "name": "start", "args": {"flow": "verification"},
             "seq": screen["seq"]}
        )  # fmt: skip
        nxt = await receive_until(ws, lambda m: m["type"] == "screen")
        assert nxt["screen"] == "verify.scan"
        await ws.close()


async def test_gpio_help_button_signals_staff_and_every_screen():
    async with running() as (service, client):
        ws = await client.ws_connect("/ws")
        await receive_until(ws, lambda m: m["type"] == "screen")
        ind = service.devices.get("indicators")
        for _ in range(50):  # the component wires the button within its first pass
            if ind._help_callbacks:
                break
            await asyncio.sleep(0.05)
        pin = ind.factory.pin(ind.cfg.help_button)
        pin.drive_low()
        pin.drive_high()
        msg = await receive_until(ws, lambda m: m["type"] == "help")
        assert msg["source"] == "button"
        body = await (await client.get("/healthz")).json()
        assert body["ui"]["help_calls"] == 1 and body["ui"]["screen"] == "home"
        busy = ind.factory.pin(ind.cfg.led_busy)
        for _ in range(20):  # the busy LED blinks for staff
            if any(st.state for st in busy.states):
                break
            await asyncio.sleep(0.05)
        assert any(st.state for st in busy.states)
        await ws.close()


async def test_demo_controls_do_not_exist_with_real_devices():
    async with running("commune-kiosk") as (_, client):
        ws = await client.ws_connect("/ws")
        hello = await receive_until(ws, lambda m: m["type"] == "hello")
        assert hello["sim"] is False and hello["sim_actions"] == []
        await ws.send_json({"type": "sim", "action": "qr"})
        refused = await receive_until(ws, lambda m: m["type"] == "sim_refused")
        assert refused["action"] == "qr"
        await ws.close()


def test_every_text_the_page_uses_exists_in_both_languages():
    vi, en = table("vi"), table("en")
    assert set(vi) == set(en)
    assert all(v.strip() for v in [*vi.values(), *en.values()])
    script = (STATIC_DIR / "app.js").read_text()
    used = set(re.findall(r'\bt\("([a-z_.]+)"', script))
    assert len(used) > 60
    assert sorted(used - set(vi)) == []
    for prefix in ("error.title.", "error.body."):  # one friendly screen per error kind
        from appliance.pipeline.workflows.engine import ERROR_KINDS

        assert {prefix + k for k in ERROR_KINDS} <= set(vi)


def test_consent_hash_identifies_the_words_shown():
    a = consent_hash("vi", ["face", "fingerprints"], "2025-01")
    assert a == consent_hash("vi", ["face", "fingerprints"], "2025-01")
    assert re.fullmatch(r"[0-9a-f]{64}", a)
    assert a != consent_hash("en", ["face", "fingerprints"], "2025-01")
    assert a != consent_hash("vi", ["face"], "2025-01")
    assert a != consent_hash("vi", ["face", "fingerprints"], "2025-02")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("consent_purposes", ["face", "marketing"], "marketing"),
        ("consent_purposes", [], "at least one"),
        ("idle_s", 0.0, "more than 0"),
        ("language", "fr", "vi, en"),
        ("fingers", [], "finger sequence"),
        ("fingers", ["right_index", "right_toe"], "finger sequence"),
        ("operator_pin_hash", "1234", "scrypt"),
    ],
)
def test_bad_ui_config_is_refused(key, value, match):
    cfg = load_config("sim")
    setattr(cfg.ui, key, value)
    with pytest.raises(ConfigError, match=match):
        check_ui_config(cfg.ui)


def test_operator_pin_comes_from_provisioning_unless_configured(tmp_path):
    cfg = load_config("sim")
    env = {"APPLIANCE_CONFIG_DIR": str(tmp_path)}
    assert operator_pin_hash(cfg, env) == ""  # nothing provisioned: operator mode locked
    stored = hash_secret("2468", n=2**10)
    (tmp_path / "credentials.json").write_text(json.dumps({"operator_pin": stored}))
    assert operator_pin_hash(cfg, env) == stored
    assert verify_pin("2468", stored) and not verify_pin("2469", stored)
    assert not verify_pin("", stored) and not verify_pin("2468", "")
    cfg.ui.operator_pin_hash = hash_secret("1357", n=2**10)
    assert verify_pin("1357", operator_pin_hash(cfg, env))
