"""Pages and the officers' API: role checks on every route, sessions, CSRF, login throttling."""

from __future__ import annotations

import re
import time

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from hub_support import Kiosk, local_now, office, register

from appliance.hub.auth import add_officer
from appliance.hub.config import HubSettings
from appliance.hub.heartbeats import accept_beat
from appliance.hub.ingest import Upload, ingest
from appliance.hub.registry import get_device
from appliance.hub.server import make_app

PASSWORD = "mật khẩu dài 123"
ROLES = ("technician", "commander", "records")
PUBLIC = {
    "/",
    "/login",
    "/logout",
    "/healthz",
    "/bundles",
    "/bundles/{bundle_id}",
    "/heartbeats",
    "/api/login",
    "/update/{channel}/manifest.json",  # the office's signed bytes, for the kiosks
    "/update/{channel}/{name}",  # the signed bundles beside them
}


@pytest.fixture
def hub(hub_engine, tmp_path):
    _, _, pub = office(tmp_path / "office")
    kiosk = Kiosk(tmp_path / "k")
    register(hub_engine, kiosk, "kiosk-1")
    register(hub_engine, Kiosk(tmp_path / "k2"), "kiosk-2", commune="00010")
    data = kiosk.bundle(pub)
    ingest(hub_engine, Upload(None, kiosk.headers(data), data))
    dev = get_device(hub_engine, "kiosk-1")
    accept_beat(
        hub_engine,
        dev,
        {
            "seq": 1,
            "sent_ts": time.time(),
            "period": [time.time() - 60, time.time()],
            "health": {
                "outbox_depth": 3,
                "clock_synchronized": True,
                "version": "0.1.0",
                "devices": {"camera": {"state": "ok"}},
            },
            "counters": {
                "captures_saved": 1,
                "verifications": {"genuine": 2},
                "checkins": {"by_decision": {"allow": 4}, "by_age_band": {"25-34": 4}},
            },
        },
    )
    for role in ROLES:
        add_officer(hub_engine, role, PASSWORD, role)
    settings = HubSettings(secure_cookies=False, login_max_failures=3)
    return hub_engine, settings, kiosk.headers(data)["Idempotency-Key"]


async def start(engine, settings) -> TestClient:
    c = TestClient(TestServer(make_app(engine, settings)), cookie_jar=CookieJar(unsafe=True))
    await c.start_server()
    return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def page_login(c: TestClient, user: str, password: str = PASSWORD):
    html = await (await c.get("/login")).text()
    return await c.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_of(html)},
        allow_redirects=False,
    )


def routes(bundle_id: str):
    """(method, path, roles allowed, needs the page CSRF token)."""
    fleet = {"technician", "commander"}
    return [
        ("GET", "/fleet", fleet, False),
        ("GET", "/kiosk/kiosk-1", fleet, False),
        ("POST", "/kiosk/kiosk-2/revoke", {"technician"}, True),
        ("GET", "/campaign", {"commander"}, False),
        ("GET", "/campaign.csv", {"commander"}, False),
        ("GET", "/records", {"records"}, False),
        ("GET", "/api/bundles", {"records"}, False),
        ("GET", f"/api/bundles/{bundle_id}", {"records"}, False),
        ("POST", f"/api/bundles/{bundle_id}/received", {"records"}, False),
        ("GET", "/api/devices", {"records"}, False),
        ("GET", "/api/devices?full=1", {"technician"}, False),
        ("GET", "/updates", fleet, False),
        ("POST", "/updates/stage", {"technician"}, True),
    ]


async def test_every_route_checks_the_role(hub):
    engine, settings, bundle_id = hub
    table = routes(bundle_id)
    app = make_app(engine, settings)
    registered = {r.canonical for r in app.router.resources()}
    tested = {
        re.sub(r"\?.*", "", p)
        .replace(bundle_id, "{bundle_id}")
        .replace("kiosk-1", "{name}")
        .replace("kiosk-2", "{name}")
        for _, p, _, _ in table
    }
    assert registered - PUBLIC == tested  # a new route must be added to this table
    # anonymous: pages go to the login page, API answers 401
    c = await start(engine, settings)
    try:
        for method, path, _, _ in table:
            resp = await c.request(method, path, allow_redirects=False)
            if path.startswith("/api/"):
                assert resp.status == 401, path
            else:
                assert resp.status == 303 and resp.headers["Location"] == "/login", path
    finally:
        await c.close()
    for role in ROLES:
        c = await start(engine, settings)
        try:
            assert (await page_login(c, role)).status == 303
            html = await (await c.get("/fleet" if role != "records" else "/records")).text()
            page_csrf = csrf_of(html)
            api = await c.post("/api/login", json={"username": role, "password": PASSWORD})
            token = (await api.json())["token"]
            for method, path, allowed, form in table:
                kw = {"allow_redirects": False}
                if path.startswith("/api/"):
                    kw["headers"] = {"Authorization": f"Bearer {token}"}
                    if path.endswith("/received"):
                        kw["headers"]["X-Bundle-SHA256"] = "0" * 64
                if form:
                    kw["data"] = {"csrf": page_csrf}
                resp = await c.request(method, path, **kw)
                if role in allowed:
                    # received with a wrong digest is refused on its merits, not the role
                    assert resp.status in (200, 303, 404), (role, path, resp.status)
                else:
                    assert resp.status == 403, (role, path, resp.status)
        finally:
            await c.close()


async def test_pages_show_the_fleet_campaign_and_csv(hub):
    engine, settings, _ = hub
    c = await start(engine, settings)
    try:
        await page_login(c, "commander")
        html = await (await c.get("/fleet")).text()
        assert html.index("kiosk-2") < html.index("kiosk-1")  # never seen: a problem, first
        assert "chưa kết nối" in html and 'lang="vi"' in html
        html = await (await c.get("/fleet?lang=en")).text()
        assert "never connected" in html and 'lang="en"' in html
        html = await (await c.get("/campaign")).text()  # the language stays chosen
        assert "<svg" in html and "Captures per commune per day" in html
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        csv_text = (await (await c.get("/campaign.csv?table=captures")).read()).decode("utf-8-sig")
        today = local_now().date().isoformat()
        assert csv_text.splitlines() == ["day,commune_code,captures", f"{today},00004,1"]
        csv_text = (await (await c.get("/campaign.csv?table=verifications")).read()).decode(
            "utf-8-sig"
        )
        assert "genuine,2" in csv_text
        resp = await c.get("/kiosk/kiosk-1")
        assert resp.status == 200 and "Content-Security-Policy" in resp.headers
    finally:
        await c.close()


async def test_csrf_logout_and_throttling(hub):
    engine, settings, _ = hub
    c = await start(engine, settings)
    try:
        # a login form without the matching cookie token is refused
        resp = await c.post(
            "/login",
            data={"username": "technician", "password": PASSWORD, "csrf": "forged"},
            allow_redirects=False,
        )
        assert resp.status == 403
        await page_login(c, "technician")
        resp = await c.post("/kiosk/kiosk-2/revoke", data={"csrf": "forged"})
        assert resp.status == 403 and get_device(engine, "kiosk-2")["revoked_at"] is None
        html = await (await c.get("/kiosk/kiosk-2")).text()
        resp = await c.post("/kiosk/kiosk-2/revoke", data={"csrf": csrf_of(html)})
        assert resp.status == 200 and get_device(engine, "kiosk-2")["revoked_at"] is not None
        html = await (await c.get("/fleet")).text()
        await c.post("/logout", data={"csrf": csrf_of(html)})
        resp = await c.get("/fleet", allow_redirects=False)
        assert resp.status == 303
        # throttling: after 3 failures even the right password is refused for a while
        for _ in range(3):
            assert (await page_login(c, "records", "wrong")).status == 401
        assert (await page_login(c, "records")).status == 429
        resp = await c.post("/api/login", json={"username": "records", "password": PASSWORD})
        assert resp.status == 429 and (await resp.json())["error"]["code"] == "throttled"
        # another account is not affected
        assert (await page_login(c, "commander")).status == 303
    finally:
        await c.close()
