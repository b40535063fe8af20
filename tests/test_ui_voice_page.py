"""The page's voice, pictograms, large print, help offer and language chooser, in Chromium.

Real UI server in-process (tests/ui_screens.py, with the kiosk token); the browser runs with the
autoplay policy the kiosk image sets. Screens are saved under test-artifacts/screenshots/voice/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui_voice_keys import pseudo_pack
from ui_screens import ARGS, CHROMIUM, SCREENS, ScreenServer, wait_hello, wait_js, wait_screen

from appliance.pipeline.face_guidance import GUIDANCE
from appliance.pipeline.finger_quality import INSTRUCTIONS

playwright_sync = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("no Debian chromium (apt install chromium)", allow_module_level=True)

pytestmark = pytest.mark.timeout(240)
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots" / "voice"
DATA = {name: (screen, data, step) for name, screen, data, step in SCREENS}

# every instruction a citizen must follow, and so must see drawn
INSTRUCTIONS_DRAWN = (
    [f"guidance.face.{c}" for c in GUIDANCE]
    + ["face.move_left", "face.move_right", "face.good", "face.captured"]
    + [f"guidance.finger.{c}" for c in INSTRUCTIONS]
    + ["finger.place", "finger.capturing", "finger.done"]
    + ["scan.body", "tap.body", "reading.body", "result.take_card"]
)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, server, size=(800, 480)):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    speech: list[tuple[str, int, str]] = []
    page.on(
        "response",
        lambda r: (
            speech.append(
                (r.url.split("/speech?", 1)[1], r.status, r.headers.get("content-type", ""))
            )
            if "/speech?" in r.url
            else None
        ),
    )
    page.goto(server.page_url)
    wait_hello(page)
    return page, speech


def show(server, page, name, **over):
    screen, data, step = DATA[name]
    seq = server.show(screen, {**data, **over}, step)
    wait_screen(page, seq)
    return seq


CONSENT = [
    "consent.title",
    "consent.intro",
    "consent.purpose.face",
    "consent.purpose.fingerprints",
    "consent.note",
]


def screen_words(page) -> list[str]:
    """The keys being said: the one playing and those queued after it."""
    urls = page.evaluate("[...KioskVoice.state.played.slice(-1), ...KioskVoice.state.queue]")
    return [u.split("key=")[1].split("&")[0] for u in urls]


def played(page) -> list[str]:
    return [u.split("?", 1)[1] for u in page.evaluate("KioskVoice.state.played")]


def test_each_new_screen_is_spoken_item_by_item_and_repeat_volume_work(tmp_path, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with ScreenServer(tmp_path, voice=True, volume=0.6) as server:
        page, speech = open_page(browser, server)
        show(server, page, "enroll.finger")
        want = "lang=vi&key=finger.place&finger=finger.name.right_index"
        wait_js(page, "w => KioskVoice.state.played.some(u => u.endsWith(w))", want)
        wait_js(page, "() => !KioskVoice.state.audio")  # played (or refused) to the end
        assert any(
            q == want and status in (200, 206) and ctype == "audio/wav"
            for q, status, ctype in speech
        )
        assert page.get_attribute("#voice-volume", "data-level") == "60"  # [ui] volume
        show(server, page, "enroll.consent")
        wait_js(page, "() => KioskVoice.state.queue.length === 4")  # one playing, four to go
        assert screen_words(page) == CONSENT
        page.click("#voice-repeat")  # from the start again
        wait_js(page, "() => KioskVoice.state.queue.length === 4")
        assert screen_words(page) == CONSENT
        assert page.get_attribute("#voice-repeat", "aria-label") == "Nghe lại"
        for level in ("30", "0"):
            page.click("#voice-volume")
            assert page.get_attribute("#voice-volume", "data-level") == level
        assert page.get_attribute("#voice-volume", "aria-label") == "Tắt tiếng"
        before = len(speech)
        show(server, page, "verify.tap")
        page.wait_for_timeout(400)
        assert len(speech) == before  # sound off: nothing fetched, nothing played
        page.screenshot(path=str(SHOTS / "tap-rail.png"))
        # live guidance is spoken when it changes, with its pictogram
        page.click("#voice-volume")  # back to full volume
        show(server, page, "enroll.face")
        server.update("guidance", {"verdict": "fail", "reasons": ["too_dark"], "progress": 0})
        wait_js(
            page,
            "() => KioskVoice.state.played.some(u => u.endsWith('key=guidance.face.too_dark'))",
        )
        assert page.get_attribute("#face-picto svg", "data-picto") == "guidance.face.too_dark"
        server.update(
            "guidance", {"verdict": "fail", "reasons": ["off_center"], "direction": "left"}
        )
        wait_js(page, "() => KioskVoice.state.played.some(u => u.endsWith('key=face.move_left'))")
        assert page.get_attribute("#face-picto svg", "data-picto") == "face.move_left"
        page.screenshot(path=str(SHOTS / "face-move-left.png"))


def test_voice_off_still_answers_repeat(tmp_path, browser):
    with ScreenServer(tmp_path, voice=False) as server:
        page, _ = open_page(browser, server)
        show(server, page, "verify.tap")
        page.wait_for_timeout(300)
        assert played(page) == []
        page.click("#voice-repeat")
        wait_js(page, "() => KioskVoice.state.played.length === 2")
        assert [u.split("key=")[1] for u in played(page)] == ["tap.title", "tap.body"]


def test_every_instruction_has_its_pictogram_on_its_screen(tmp_path, browser):
    with ScreenServer(tmp_path) as server:
        page, _ = open_page(browser, server)
        keys = set(page.evaluate("KioskPictograms.keys()"))
        assert set(INSTRUCTIONS_DRAWN) <= keys, set(INSTRUCTIONS_DRAWN) - keys
        for key in INSTRUCTIONS_DRAWN:
            shapes = page.evaluate("k => KioskPictograms.node(k).querySelectorAll('*').length", key)
            assert shapes >= 3, key
        show(server, page, "enroll.face")
        for code in GUIDANCE:
            server.update("guidance", {"verdict": "fail", "reasons": [code], "progress": 0})
            wait_js(
                page,
                "k => document.querySelector(`#face-picto svg[data-picto='${k}']`) !== null",
                f"guidance.face.{code}",
            )
        show(server, page, "enroll.finger")
        for n, code in enumerate(INSTRUCTIONS, start=2):
            server.update("finger", {"phase": "retry", "feedback": [code], "attempt": n})
            wait_js(
                page,
                "k => document.querySelector(`#finger-picto svg[data-picto='${k}']`) !== null",
                f"guidance.finger.{code}",
            )
            if code == "too_dry":
                page.screenshot(path=str(SHOTS / "finger-too-dry.png"))
        assert page.locator(".hand .hand-finger.target").count() == 1  # which finger
        for name, selector, key in (
            ("enroll.scan", "#main .illustration", "scan.body"),
            ("verify.tap", "#main .illustration", "tap.body"),
            ("verify.reading", "#card-picto svg", "reading.body"),
            ("verify.result", "#card-picto svg", "result.take_card"),
            ("enroll.finger_failed", "#finger-picto svg", "guidance.finger.too_dry"),
        ):
            show(server, page, name)
            assert page.get_attribute(selector, "data-picto") == key, name


def test_large_print_grows_the_text_and_resets_for_the_next_citizen(tmp_path, browser):
    with ScreenServer(tmp_path) as server:
        page, _ = open_page(browser, server)
        show(server, page, "home")

        def size() -> float:
            return page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")

        normal = size()
        page.click("#large-print")
        assert size() >= 1.2 * normal
        assert page.get_attribute("#large-print", "aria-pressed") == "true"
        show(server, page, "enroll.consent")
        assert size() >= 1.2 * normal  # kept through the session
        page.screenshot(path=str(SHOTS / "consent-large.png"))
        show(server, page, "home")  # the session ended
        assert size() == normal
        assert page.get_attribute("#large-print", "aria-pressed") == "false"


def test_help_offer_panel_calls_staff_or_skips_the_finger(tmp_path, browser):
    with ScreenServer(tmp_path) as server:
        page, _ = open_page(browser, server)
        seq = show(server, page, "enroll.finger")
        server.update("help_offer", {"kind": "finger", "skip": True})
        page.wait_for_selector("#help-offer #offer-skip")
        page.screenshot(path=str(SHOTS / "help-offer.png"))
        page.click("#offer-call")
        wait_js(page, "() => !document.getElementById('help-offer')")
        server.call(lambda: None)
        assert server.kiosk.help_calls == 1
        server.update("help_offer", {"kind": "finger", "skip": True})  # a reconnect resends it
        page.reload()
        wait_hello(page)
        page.wait_for_selector("#help-offer #offer-skip")
        page.click("#offer-skip")
        wait_js(page, "() => !document.getElementById('help-offer')")
        cmd = server.call(lambda: server.kiosk._queue.get_nowait())
        assert (cmd.name, server.kiosk.seq) == ("skip", seq)
        show(server, page, "enroll.face")
        server.update("help_offer", {"kind": "face", "skip": False})
        page.wait_for_selector("#help-offer #offer-call")
        assert page.locator("#offer-skip").count() == 0  # a face cannot be skipped


def test_language_chooser_lists_the_packs_present(tmp_path, browser):
    with ScreenServer(tmp_path, packs_dir=pseudo_pack(tmp_path / "packs")) as server:
        page, _ = open_page(browser, server)
        show(server, page, "home")
        page.click("#lang-btn")
        page.wait_for_selector("#lang-panel")
        names = page.locator("#lang-panel button").all_inner_texts()
        assert names == ["Tiếng Việt", "English", "⟦Pseudo⟧"]
        page.screenshot(path=str(SHOTS / "language-chooser.png"))
        page.click("#lang-panel [data-lang=en-xa]")
        wait_js(page, "() => document.documentElement.lang === 'en-xa'")
        assert server.kiosk.lang == "en-xa"
        assert page.inner_text("#main h1").startswith("⟦")


def test_staff_called_and_still_there_are_spoken_too(tmp_path, browser):
    with ScreenServer(tmp_path, voice=True) as server:
        page, _ = open_page(browser, server)
        show(
            server,
            page,
            "verify.tap",
        )
        page.click("#help-btn")  # the citizen asked: said even over the screen's words
        wait_js(
            page, "() => KioskVoice.state.played.some(u => u.endsWith('key=help.called.title'))"
        )
        assert server.kiosk.help_calls == 1
        page.click("#overlay-ok")
        screen, data, step = DATA["enroll.consent"]
        wait_screen(page, server.show(screen, data, step, timeout_s=1.5))  # "still there?" at once
        wait_js(
            page,
            "() => KioskVoice.state.played.concat(KioskVoice.state.queue)"
            ".some(u => u.endsWith('key=common.still_there'))",
        )
