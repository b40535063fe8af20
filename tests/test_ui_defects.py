"""The defects of the walk-through in issue #17, as a citizen, an attendant and an operator meet
them: Debian's Chromium (Playwright) against `appliance run --profile sim`, with the per-boot
token. Every screen passes the same checks as tests/test_ui_kiosk.py (targets, text size, nothing
off screen) and is saved under test-artifacts/screenshots/defects-*."""

from __future__ import annotations

import re

import pytest
from test_ui_kiosk import PIN, WAIT_MS, Kiosk, browser, screen  # noqa: F401 (fixture)

from appliance.provision import hash_secret

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def kiosks(tmp_path_factory):
    running: dict[str, Kiosk] = {}
    configs = {
        "commune": {"APPLIANCE_UI_IDLE_S": "60"},
        "nokey": {  # commune-kiosk without the office key installed
            "APPLIANCE_STORE_DEMO_OFFICE_KEY": "0",
            "APPLIANCE_STORE_OFFICE_PUBLIC_KEY": "/nonexistent/office_x25519.pub",
        },
        "gate": {
            "APPLIANCE_SERVICE_MODE": "checkin",
            "APPLIANCE_UI_GATE_RESULT_S": "1.5",
            "APPLIANCE_QR_SCANNER_DEDUPE_S": "0.1",
            "APPLIANCE_CLOCK_SYNCED": "0",  # a Pi that booted offline: no battery clock
        },
        "clone": {"APPLIANCE_CARD_READER_SIM_CARD_FAULT": "bad_aa"},  # a copied chip
        "operator": {
            "APPLIANCE_SERVICE_MODE": "operator",
            "APPLIANCE_UI_OPERATOR_PIN_HASH": hash_secret(PIN, n=2**10),
            "APPLIANCE_UI_PIN_MAX_ATTEMPTS": "1",
            "APPLIANCE_UI_PIN_LOCKOUT_S": "4",
        },
    }

    def get(name: str) -> Kiosk:
        if name not in running:
            running[name] = Kiosk(tmp_path_factory.mktemp("kiosk") / name, configs[name])
        return running[name]

    yield get
    for kiosk in running.values():
        kiosk.stop()


# the element's text is not cut (no wider or taller than its box)
FITS = """sel => { const e = document.querySelector(sel);
  return e.scrollWidth <= e.clientWidth + 1 && e.scrollHeight <= e.clientHeight + 1; }"""


def to_consent(s) -> None:
    s.wait("home")
    s.click("[data-flow='enrollment']")
    s.wait("enroll.scan")
    s.sim("qr")
    s.wait("enroll.confirm")
    s.cmd("confirm")
    s.wait("enroll.consent")


def test_1_retake_photo_after_the_fingers_then_save(browser, kiosks):  # noqa: F811
    k = kiosks("commune")
    with screen(browser, k, "defects-1-retake", "small") as s:
        to_consent(s)
        s.click("label[for='purpose-face']")
        s.click("label[for='purpose-fingerprints']")
        s.click("#consent-agree")
        for side in ("phải", "trái"):
            s.wait("enroll.finger", f"#finger-instruction:has-text('{side}')")
            s.sim("finger")
        s.at("enroll.review", "review")
        s.cmd("retake")
        s.wait("enroll.face")
        s.at("enroll.review", "review-after-retake")  # not "not available", not the start
        assert s.text().count("đã lấy") == 2  # the prints were kept
        s.cmd("save")
        s.at("enroll.receipt", "receipt", "#receipt-code")
        assert "rút lại" in s.text("#receipt-withdraw")
        assert s.page.get_attribute("body", "data-state") == "receipt"
        s.cmd("done")
        s.wait("home")


def test_2_a_kiosk_that_cannot_save_says_so_at_the_start(browser, kiosks):  # noqa: F811
    k = kiosks("nokey")
    assert k.health()["ui"]["enroll_blocked"] == "office_key_missing"
    with screen(browser, k, "defects-2-nokey", "small") as s:
        s.at("home", "home", "#enroll-blocked")
        assert s.page.query_selector("[data-flow='enrollment']") is None
        assert "OFFICE-KEY-MISSING" in s.text("#enroll-blocked")
        s.click("[data-flow='verification']")  # checking a card needs no saving
        s.wait("verify.scan")
        s.click("#start-over")
        s.wait("home")


def test_3_and_8_the_gate_refuses_a_2015_card_on_an_unsynchronised_clock(browser, kiosks):  # noqa: F811
    k = kiosks("gate")
    with screen(browser, k, "defects-3-gate", "small") as s:
        s.at("gate.ready", "ready", "#clock-unsynced")
        assert "chưa đồng bộ" in s.text("#clock-unsynced")
        s.sim("qr_expired")
        s.at("gate.result", "expired", "#gate-reason:has-text('hết hạn')")
        assert s.page.get_attribute("body", "class") == "gate-refuse"
        assert s.page.is_visible("#clock-unsynced")
        s.wait("gate.ready")
        s.sim("qr")  # valid until 2030: admitted, with the mark that expiry is judged by the floor
        s.at("gate.result", "admit-unsynced", "#gate-word")
        assert s.page.get_attribute("body", "class") == "gate-admit"
        s.wait("gate.ready")
        s.click("#lang-btn")  # a foreign visitor
        s.page.wait_for_selector("html[lang='en']", timeout=WAIT_MS)
        s.at("gate.ready", "ready-en", "#gate-no-cccd")
        assert "staff counter" in s.text("#gate-no-cccd")
        s.sim("qr_bad")
        s.wait("gate.result")
        s.page.wait_for_selector("html[lang='vi']", timeout=WAIT_MS)  # back for the next one
        s.wait("gate.ready")


def test_4_a_sensor_unplugged_while_waiting_for_the_finger_is_the_device_screen(browser, kiosks):  # noqa: F811
    k = kiosks("commune")
    with screen(browser, k, "defects-4-unplug", "small") as s:
        to_consent(s)
        s.click("label[for='purpose-fingerprints']")
        s.click("#consent-agree")
        s.wait("enroll.finger")
        s.page.wait_for_timeout(300)
        s.sim("unplug_fingerprint")  # no finger yet: the sensor goes while waiting
        s.at("error", "finger-unplugged", "#error-title[data-kind='device_unavailable']")
        assert "Máy quét vân tay" in s.text()
        s.click("#start-over")
        s.wait("home")


def test_5_and_6_the_keypad_and_the_result(browser, kiosks):  # noqa: F811
    k = kiosks("commune")
    with screen(browser, k, "defects-5-6", "large") as s:
        s.wait("home")
        s.click("[data-flow='verification']")
        s.wait("verify.scan")
        s.sim("qr_new_layout")
        s.at("verify.keypad", "keypad-dob", "#entry[data-field='dob']")
        assert s.text("[data-key='ok']") == "Tiếp tục"
        assert s.page.evaluate(FITS, "[data-key='ok']"), "the key's word is cut"
        s.digits("1503")
        s.click("[data-key='ok']")  # too few digits: said, not ignored
        s.at("verify.keypad", "keypad-short", "#keypad-hint:not([hidden])")
        s.digits("1991")  # the ID number says 1990: caught here, before any card
        s.wait("verify.keypad", "#entry:has-text('15/03/1991')")
        s.click("[data-key='ok']")
        s.at("verify.keypad", "keypad-year", "#keypad-error")
        assert "Năm sinh" in s.text("#keypad-error")
        s.digits("15031990")
        s.wait("verify.keypad", "#entry:has-text('15/03/1990')")  # every digit landed
        s.click("[data-key='ok']")
        s.at("verify.keypad", "keypad-expiry", "#entry[data-field='expiry']")
        assert "Có giá trị đến" in s.text("h1")
        s.digits("15032030")
        s.wait("verify.keypad", "#entry:has-text('15/03/2030')")  # every digit landed
        s.click("[data-key='ok']")
        s.wait("verify.tap")
        s.sim("card_on")
        s.at("verify.result", "result-1280", "#verdict")
        height = s.page.evaluate("document.getElementById('chip-photo').offsetHeight")
        assert height >= 200, height  # was 135 px at 1280x800
        assert "có chữ ký của cơ quan cấp thẻ" in s.text()
        s.sim("card_off")  # the citizen takes the card and leaves: the data goes with them
        s.wait("home")
        assert "NGUYỄN" not in s.page.content()


def test_9_operator_title_whose_capture_countdown_and_send_now(browser, kiosks):  # noqa: F811
    k = kiosks("operator")
    with screen(browser, k, "defects-9-operator", "small") as s:
        s.wait("op.login")
        assert s.page.evaluate(FITS, "[data-key='ok']"), "the key's word is cut"
        s.digits("1111")
        s.click("[data-key='ok']")
        s.at("op.locked", "locked", "#locked-left")
        first = s.text("#locked-left")
        assert re.search(r"\d:\d\d", first), first
        s.page.wait_for_function(
            "t => document.getElementById('locked-left')?.textContent !== t",
            arg=first,
            timeout=WAIT_MS,
        )  # it counts down
        s.wait("op.login")
        s.digits(PIN)
        s.click("[data-key='ok']")
        s.wait("op.menu")
        s.cmd("new_capture")
        s.at("enroll.scan", "capture-scan")
        cut = s.page.evaluate(
            "(() => { const e = document.getElementById('title');"
            " return e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1; })()"
        )
        assert not cut and "Chế độ nhân viên" in s.text("#title")  # was "Chế độ nhân …"
        s.sim("qr")
        s.wait("enroll.confirm")
        s.cmd("confirm")
        whose = "#title:has-text('Nhân viên lấy cho NGUYỄN VĂN AN')"
        s.at("enroll.consent", "capture-consent", whose)
        s.click("label[for='purpose-face']")
        s.click("#consent-agree")
        s.at("enroll.face", "capture-face", whose)
        s.at("enroll.review", "capture-review", whose)
        s.cmd("save")
        s.wait("enroll.receipt", "#receipt-code")
        s.cmd("done")
        s.wait("op.menu")
        s.cmd("records")
        s.at("op.records", "records", "#send-now")
        s.click("#send-now")
        s.at("op.records", "sent-now", "#sent-now")
        assert "appliance export" in s.text("#sent-now")  # this kiosk has no upload address


def test_10_the_demo_panel_fits_800x480(browser, kiosks):  # noqa: F811
    k = kiosks("commune")
    with screen(browser, k, "defects-10-demo", "small") as s:
        s.wait("home")
        s.click("#demo-toggle")
        s.page.wait_for_selector("#demo-panel:not([hidden])", timeout=WAIT_MS)
        s.shot("demo-open")
        outside = s.page.evaluate(
            "[...document.querySelectorAll('#demo-panel button')]"
            ".filter(b => { const r = b.getBoundingClientRect();"
            " return r.bottom > innerHeight || r.right > innerWidth || r.left < 0; })"
            ".map(b => b.textContent)"
        )
        assert outside == []
        panel = s.page.evaluate(
            "(() => { const p = document.getElementById('demo-panel');"
            " return [p.scrollHeight, p.clientHeight]; })()"
        )
        assert panel[0] <= panel[1] + 1, panel  # no scrolling needed
        s.click("#demo-toggle")


def test_7_staff_codes_read_as_codes_not_snake_case(browser, kiosks):  # noqa: F811
    k = kiosks("commune")
    with screen(browser, k, "defects-7-codes", "small") as s:
        s.wait("home")
        s.click("[data-flow='verification']")
        s.wait("verify.scan")
        s.sim("qr_bad")
        s.at("error", "invalid-qr", "#error-detail")
        detail = s.text("#error-detail")
        assert "_" not in detail and re.search(r"[A-Z]+(-[A-Z]+)*", detail), detail
        s.click("#start-over")
        s.wait("home")


def test_5_a_copied_chip_says_what_to_do_next_and_fits_800x480(browser, kiosks):  # noqa: F811
    k = kiosks("clone")
    with screen(browser, k, "defects-5-clone", "small") as s:
        s.wait("home")
        s.click("[data-flow='verification']")
        s.wait("verify.scan")
        s.sim("qr")
        s.wait("verify.tap")
        s.sim("card_on")
        s.wait("verify.result", "#verdict")
        assert s.page.get_attribute("#verdict", "data-verdict") == "not_genuine"
        s.at("verify.result", "result-clone", "#next-step")
        assert "gặp cán bộ" in s.text("#next-step")
        s.cmd("done")
        s.wait("home")
