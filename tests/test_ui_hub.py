"""The hub's pages in Debian's Chromium (Playwright): an office PC and a phone, both languages.

The real ``appliance hub serve`` runs on a seeded SQLite database; screenshots go to
``test-artifacts/screenshots/hub-*.png`` (the README's come from this test).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hub_support import Kiosk, local_now, office
from support import APPLIANCE, free_port, wait_http

from appliance.hub.auth import add_officer
from appliance.hub.db import open_engine
from appliance.hub.heartbeats import accept_beat
from appliance.hub.ingest import Upload, ingest
from appliance.hub.registry import get_device, register_device, revoke_device

playwright_sync = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "mật khẩu dài 123"
PC, PHONE = (1280, 800), (390, 844)

if not Path(CHROMIUM).exists():
    pytest.skip("no Debian chromium (apt install chromium)", allow_module_level=True)

pytestmark = pytest.mark.timeout(180)


def seed(engine, tmp_path: Path) -> None:
    """Four kiosks in three communes: one healthy, one with a backlog, one silent, one revoked."""
    _, _, pub = office(tmp_path / "office")
    now = time.time()
    sites = [
        ("tan-lap-01", "UBND xã Tân Lập", "00004", "commune-kiosk"),
        ("phuc-xa-01", "UBND phường Phúc Xá", "00001", "commune-kiosk"),
        ("van-mieu-gate", "Văn Miếu - Quốc Tử Giám", "00190", "tourist-gate"),
        ("field-kit-07", "Đội lưu động số 7", "00004", "field-kit"),
    ]
    for i, (name, site, commune, profile) in enumerate(sites):
        k = Kiosk(tmp_path / name)
        k.token = register_device(
            engine,
            name=name,
            public_key_pem=k.pub,
            site=site,
            commune_code=commune,
            profile=profile,
        )["token"]
        for day in range(5):
            for _ in range((i + 1) * (day + 2) % 7 + 1):
                when = local_now() - timedelta(days=4 - day)
                data = k.bundle(pub, created_at=when.replace(hour=9).isoformat())
                ingest(engine, Upload(None, k.headers(data), data))
        dev = get_device(engine, name)
        if name == "field-kit-07":
            revoke_device(engine, name)
            continue
        beats = 1 if name == "phuc-xa-01" else 12
        for seq in range(beats):
            gate = name == "van-mieu-gate"
            accept_beat(
                engine,
                dev,
                {
                    "seq": seq,
                    "sent_ts": now,
                    "period": [now - 3600 * (12 - seq), now - 3600 * (11 - seq)],
                    "health": {
                        "version": "0.1.0",
                        "clock_synchronized": True,
                        "outbox_depth": 35 if name == "tan-lap-01" else 0,
                        "outbox_oldest_age_s": 7200 if name == "tan-lap-01" else None,
                        "disk_free_bytes": 12 * 1024**3,
                        "devices": {
                            "camera": {"state": "ok"},
                            "card_reader": {"state": "ok"},
                            "fingerprint": {"state": "ok"},
                        },
                    },
                    "counters": {
                        "captures_saved": 0 if gate else 3,
                        "verifications": {} if gate else {"genuine": 2, "cannot_confirm": 1},
                        "checkins": {
                            "by_decision": {"allow": 20 + seq * 3, "deny": 2},
                            "by_age_band": {"18-24": 8, "25-34": 10 + seq, "65+": 4},
                        }
                        if gate
                        else {},
                    },
                },
                now=now - 3600 * (11 - seq) if name != "phuc-xa-01" else now - 7200,
            )
    for role in ("technician", "commander", "records"):
        add_officer(engine, role, PASSWORD, role)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hubui")
    url = f"sqlite:///{tmp / 'hub.db'}"
    engine = open_engine(url)
    seed(engine, tmp)
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_HUB_SECURE_COOKIES"] = "false"
    proc = subprocess.Popen(
        [*APPLIANCE, "hub", "serve", "--database", url, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", 30, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def login(browser, base: str, role: str, size=PC):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/login")
    page.fill("#username", role)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"hub-{name}.png"), full_page=True)


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_technician_sees_problems_first_and_a_kiosk_history(browser, hub):
    page = login(browser, hub, "technician")
    assert page.url.endswith("/fleet")
    rows = page.locator("#fleet tbody tr")
    names = [rows.nth(i).locator("td").first.inner_text().split("\n")[0] for i in range(4)]
    assert names[-1] == "van-mieu-gate"  # the only healthy one is last
    assert set(names[:3]) == {"field-kit-07", "phuc-xa-01", "tan-lap-01"}
    text = page.inner_text("#fleet")
    assert "mất liên lạc" in text and "tồn đọng" in text and "đã thu hồi" in text
    shot(page, "fleet-pc")
    page.click("text=tan-lap-01")
    page.wait_for_selector("#history")
    assert page.locator("#history tbody tr").count() == 12
    assert page.locator("svg.chart").count() == 1 and page.locator("button.danger").count() == 1
    shot(page, "kiosk-pc")
    assert page.errors == []  # type: ignore[attr-defined]
    page.close()
    phone = login(browser, hub, "technician", PHONE)
    assert fits(phone)
    shot(phone, "fleet-phone")
    phone.close()


def test_commander_sees_the_campaign_in_both_languages(browser, hub):
    page = login(browser, hub, "commander")
    page.goto(hub + "/campaign")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("#captures tbody tr").count() >= 10
    assert "Hồ sơ thu nhận theo xã" in page.inner_text("main")
    shot(page, "campaign-pc")
    page.click("text=English")
    page.wait_for_selector("text=Captures per commune per day")
    with page.expect_download() as dl:
        page.click("a[href='/campaign.csv?table=checkins']")
    body = Path(dl.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert body[0] == "site,hour,checkins" and len(body) > 5
    shot(page, "campaign-en-pc")
    page.close()
    phone = login(browser, hub, "commander", PHONE)
    phone.goto(hub + "/campaign")
    assert fits(phone)
    shot(phone, "campaign-phone")
    # a commander may not open the records officer's page
    resp = phone.goto(hub + "/records")
    assert resp.status == 403
    phone.close()


def test_records_officer_sees_what_waits(browser, hub):
    page = login(browser, hub, "records")
    assert page.url.endswith("/records")
    waiting = int(page.inner_text("#waiting"))
    assert waiting == page.locator("#bundles tbody tr").count() and waiting > 20
    shot(page, "records-pc")
    page.close()
