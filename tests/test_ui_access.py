"""Attacks on the kiosk's socket: DNS rebinding, no Origin, no token, a second screen, deep JSON.

Each test is what an attacker on the same machine (or a web page the browser was tricked into
opening) tried; before ``appliance.kiosk_ui.access`` all of them got the citizen's screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from support import kiosk_url, wait_http

from appliance.config import load_config
from appliance.kiosk_ui.access import COOKIE, URL_FILE, KioskAccess
from appliance.service import Service

REPO = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def serving():
    """The sim service with its UI on a real loopback port; yields (service, base_url)."""
    cfg = load_config("sim", sim=True, env={"APPLIANCE_STORE_DEMO_OFFICE_KEY": "1"})
    service = Service(cfg)
    await service.devices.open_all()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c(service, stop)) for c in service.components]
    server = TestServer(service.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield service, f"http://127.0.0.1:{server.port}", server.port
    finally:
        stop.set()
        await server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        service.devices.close_all()


async def test_dns_rebinding_and_foreign_hosts_are_refused_even_with_the_token():
    async with serving() as (service, base, port):
        token_url = kiosk_url(base, service.cfg.state_dir)
        async with aiohttp.ClientSession() as s:
            for host in (f"evil.example:{port}", "127.0.0.1:1", f"127.0.0.2:{port}"):
                headers = {"Host": host, "Origin": f"http://{host}"}
                for path in ("/ws", "/", "/camera.mjpg", "/static/app.js", "/i18n/vi.json"):
                    async with s.get(base + path, headers=headers) as resp:
                        assert resp.status == 403, (host, path)
                async with s.get(token_url, headers=headers, allow_redirects=False) as resp:
                    assert resp.status == 403
            async with s.get(base + "/healthz") as resp:  # health stays reachable (forwarded)
                assert resp.status == 200


async def test_without_the_token_nothing_personal_is_served():
    async with serving() as (_service, base, port), aiohttp.ClientSession() as s:
        for path in ("/ws", "/", "/camera.mjpg", "/qr.svg?text=K7Q2", "/?token=" + "x" * 43):
            async with s.get(base + path) as resp:  # no Origin at all, no cookie
                assert resp.status == 403, path
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await s.ws_connect(base + "/ws", headers={"Origin": f"http://127.0.0.1:{port}"})
        assert err.value.status == 403


async def test_the_token_becomes_a_strict_httponly_cookie_and_the_page_loads():
    async with serving() as (service, base, port):
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.get(kiosk_url(base, service.cfg.state_dir), allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"] == "/"
                cookie = r.headers["Set-Cookie"]
                assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
                assert "SameSite=Strict" in cookie and "Path=/" in cookie
            async with s.get(base + "/") as r:
                assert r.status == 200 and '<html lang="vi">' in await r.text()
            async with s.get(base + "/camera.mjpg") as r:
                assert r.status == 204  # allowed; no face capture running
            ws = await s.ws_connect(base + "/ws", headers={"Origin": f"http://localhost:{port}"})
            hello = json.loads((await ws.receive()).data)
            assert hello["type"] == "hello"
            await ws.close()


async def test_one_controlling_screen_at_a_time():
    async with serving() as (service, base, _port):
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            await s.get(kiosk_url(base, service.cfg.state_dir))
            first = await s.ws_connect(base + "/ws")
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(base + "/ws")
            assert err.value.status == 409
            await first.close()
            for _ in range(100):  # the server notices the close
                if not _busy(service):
                    break
                await asyncio.sleep(0.02)
            second = await s.ws_connect(base + "/ws")
            assert json.loads((await second.receive()).data)["type"] == "hello"
            await second.close()


def _busy(service) -> bool:
    return service.extra_health["ui"]()["clients"] > 0


async def test_deep_json_and_huge_numbers_over_the_socket_log_no_traceback(caplog):
    caplog.set_level(logging.DEBUG)
    async with serving() as (service, base, _port):
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            await s.get(kiosk_url(base, service.cfg.state_dir))
            ws = await s.ws_connect(base + "/ws")
            await ws.send_str("[" * 30000 + "]" * 30000)
            await ws.send_str('{"type": "command", "name": "lang", "n": ' + "9" * 5000 + "}")
            await ws.send_json({"type": "command", "name": "lang", "args": {"lang": "en"}})
            async with asyncio.timeout(10):
                while True:
                    msg = json.loads((await ws.receive()).data)
                    if msg["type"] == "lang":
                        break
            assert msg["lang"] == "en"  # the socket survived both
            await ws.close()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_url_file_is_0640_new_per_start_and_kept_for_the_boot(tmp_path, monkeypatch):
    a = KioskAccess(tmp_path, 8080)
    path = a.write_url()
    assert path == tmp_path / URL_FILE and (path.stat().st_mode & 0o777) == 0o640
    assert path.read_text() == f"KIOSK_URL=http://127.0.0.1:8080/?token={a.token}\n"
    assert len(a.token) >= 43  # 256 bits
    assert KioskAccess(tmp_path, 8080).token != a.token  # no runtime dir: a new token per start
    run = tmp_path / "run"
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(run))
    b = KioskAccess(tmp_path, 8080)
    b.write_url()
    assert (run / URL_FILE).exists()
    assert KioskAccess(tmp_path, 8080).token == b.token  # a service restart within the boot


def test_demo_prints_the_url_with_its_token(service_proc, tmp_path):
    proc, base = service_proc("--profile", "sim", env={"APPLIANCE_STORE_DEMO_OFFICE_KEY": "1"})
    wait_http(base + "/healthz", timeout=60, proc=proc)
    state = Path(os.environ["APPLIANCE_STATE_DIR"])
    expected = kiosk_url(base, state)
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert f"kiosk screen: open {expected}" in out


def test_image_browser_may_open_only_the_loopback_kiosk_url():
    policy = json.loads(
        (REPO / "image-build/files/etc/chromium/policies/managed/cccd-kiosk.json").read_text()
    )
    assert policy["URLBlocklist"] == ["*"]
    assert policy["URLAllowlist"] == ["http://127.0.0.1:8080"]
    unit = (REPO / "systemd/kiosk.service").read_text()
    assert "EnvironmentFile=/run/appliance/kiosk-url" in unit
    assert unit.rstrip().count("${KIOSK_URL}") == 1 and "http://127.0.0.1:8080/\n" not in unit
    service = (REPO / "systemd/appliance.service").read_text()
    assert "RuntimeDirectory=appliance" in service and "RuntimeDirectoryPreserve=yes" in service
