"""Enrollment and the commune kiosk's start screen, driven through the Kiosk with fake adapters."""

from __future__ import annotations

import asyncio

import pytest
from test_workflow_fakes import GOOD, Driver, fast_cfg

from appliance.errors import DeviceTimeout
from appliance.pipeline.workflows.engine import StepError


async def start_enrollment(d: Driver) -> None:
    await d.screen("home")
    d.send("start", flow="enrollment")
    await d.screen("enroll.scan")
    d.adapters.qr.put_nowait(b"GOOD")


async def test_happy_path_saves_once_and_shows_the_receipt_then_wipes():
    async with Driver() as d:
        await start_enrollment(d)
        data = await d.screen("enroll.confirm")
        assert data["full_name"] == "NGUYỄN VĂN AN"
        assert data["masked_id"] == "001******345"
        assert GOOD.id_number not in str(d.messages)  # the full ID never reaches a screen
        d.send("confirm")
        data = await d.screen("enroll.consent")
        assert data["purposes"] == ["face", "fingerprints"]
        assert d.adapters.calls.count("capture_face") == 0  # nothing biometric before consent
        d.send("consent", purposes=["fingerprints", "face"])
        await d.screen("enroll.review")
        assert d.adapters.calls[-3:] == ["capture_face", "finger:right_index", "finger:left_index"]
        assert any(m["type"] == "guidance" for m in d.messages)
        d.send("save")
        data = await d.screen("enroll.receipt")
        assert data["receipt_code"] == "K7Q-2M4X"
        [saved] = d.adapters.saved
        assert saved.consent.purposes == ["face", "fingerprints"]  # configured order
        assert saved.consent.text.sha256 == "hash-vi"
        assert [f.finger for f in saved.fingers] == ["right_index", "left_index"]
        assert saved.portrait.portrait_jpeg.startswith(b"\xff\xd8")
        assert "ok" in d.adapters.indicated
        child = d.kiosk.root
        d.send("done")
        await d.screen("home")
        steps = [s for s in d.screens() if s.startswith("enroll")]
        assert steps == [
            "enroll.scan/scan",
            "enroll.confirm/confirm",
            "enroll.consent/consent",
            "enroll.face/face",
            "enroll.finger/finger",
            "enroll.finger/finger",
            "enroll.review/review",
            "enroll.saving/saving",
            "enroll.receipt/receipt",
        ]
        assert child is not None and child.session == {}


async def test_consent_in_english_hashes_the_english_text():
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("lang", lang="en")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face"])
        await d.screen("enroll.review")
        d.send("save")
        await d.screen("enroll.receipt")
        assert d.adapters.saved[0].consent.text.language == "en"
        d.send("done")
        await d.screen("home")
        assert d.kiosk.lang == "vi"  # the next citizen starts in Vietnamese


@pytest.mark.parametrize("how", ["decline", "nothing_ticked", "unknown_purpose_only"])
async def test_declining_consent_ends_politely_and_keeps_nothing(how):
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        if how == "decline":
            d.send("decline")
        else:
            d.send("consent", purposes=[] if how == "nothing_ticked" else ["marketing"])
        await d.screen("enroll.declined")
        assert d.kiosk.root is not None
        d.send("done")
        await d.screen("home")
        assert d.adapters.saved == []
        assert not any(c.startswith(("capture", "finger", "save")) for c in d.adapters.calls)


async def test_only_the_ticked_purposes_are_captured():
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["fingerprints"])
        await d.screen("enroll.review")
        assert "capture_face" not in d.adapters.calls
        d.send("retake")  # no photo was taken: retake is not offered and is ignored
        d.send("save")
        await d.screen("enroll.receipt")
        assert d.adapters.saved[0].portrait is None
        assert len(d.adapters.saved[0].fingers) == 2


async def test_not_me_goes_back_to_scanning():
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("back")
        await d.screen("enroll.scan")
        assert d.adapters.calls.count("scan_qr") == 2


async def test_invalid_qr_shows_a_friendly_error_and_retry_scans_again():
    async with Driver() as d:
        await d.screen("home")
        d.send("start", flow="enrollment")
        await d.screen("enroll.scan")
        d.adapters.qr.put_nowait(b"garbage")
        data = await d.screen("error")
        assert data["kind"] == "invalid_qr" and data["can_retry"] and data["detail"] == "malformed"
        d.send("retry")
        await d.screen("enroll.scan")
        d.adapters.qr.put_nowait(b"GOOD")
        await d.screen("enroll.confirm")


async def test_failed_finger_offers_retry_then_skip_records_it_unavailable():
    async with Driver() as d:
        d.adapters.finger_verdicts = ["fail", "none"]
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["fingerprints"])
        data = await d.screen("enroll.finger_failed")
        assert data["finger"] == "right_index" and data["feedback"] == ["too_dry"]
        d.send("retry")
        data = await d.screen("enroll.finger_failed")  # second attempt: no image at all
        d.send("skip")
        data = await d.screen("enroll.review")
        assert data["fingers"] == [
            {"finger": "right_index", "verdict": "unavailable"},
            {"finger": "left_index", "verdict": "pass"},
        ]


async def test_face_device_error_then_retry_resumes_at_the_face_step():
    async with Driver() as d:
        d.adapters.face_error = StepError("device_unavailable", device="camera")
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face"])
        data = await d.screen("error")
        assert data["kind"] == "device_unavailable" and data["device"] == "camera"
        d.adapters.face_error = None
        d.send("retry")
        await d.screen("enroll.review")


async def test_device_timeout_becomes_the_timeout_error_screen():
    async with Driver() as d:
        d.adapters.face_error = DeviceTimeout("camera did not answer")
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face"])
        assert (await d.screen("error"))["kind"] == "timeout"


async def test_save_failure_is_an_error_screen_and_retry_saves():
    async with Driver() as d:
        d.adapters.save_error = RuntimeError("disk full")
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face"])
        await d.screen("enroll.review")
        d.send("save")
        assert (await d.screen("error"))["kind"] == "save_failed"
        d.adapters.save_error = None
        d.send("retry")
        await d.screen("enroll.receipt")
        assert len(d.adapters.saved) == 1


async def test_idle_confirm_times_out_to_error_then_to_home_with_session_wiped():
    async with Driver(cfg=fast_cfg(idle_s=0.15, message_s=0.15)) as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("lang", lang="en")
        assert (await d.screen("error"))["kind"] == "timeout"
        await d.screen("home")
        assert d.kiosk.lang == "vi"
        assert "error/error" in d.screens()


async def test_touches_keep_a_waiting_screen_alive():
    async with Driver(cfg=fast_cfg(idle_s=0.2)) as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        for _ in range(6):  # 0.36 s in all, longer than idle_s
            await asyncio.sleep(0.06)
            d.send("touch")
        assert d.view["screen"] == "enroll.confirm"
        await d.screen("error", timeout=1)


async def test_stale_and_unknown_commands_are_ignored():
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm", seq=d.kiosk.seq - 1)  # typed on the previous screen
        d.send("save")  # not a command of this screen
        d.kiosk.handle({"type": "command", "name": 5})
        d.kiosk.handle("junk")
        await asyncio.sleep(0.05)
        assert d.view["screen"] == "enroll.confirm"


async def test_cancel_ends_the_session_and_returns_home():
    async with Driver() as d:
        await start_enrollment(d)
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("cancel", seq=12345)  # global: valid on any screen
        await d.screen("home")
        assert d.adapters.saved == []
        d.send("cancel")  # on the start screen: nothing to cancel
        await asyncio.sleep(0.02)
        assert d.view["screen"] == "home"


async def test_help_signals_staff_from_any_screen():
    async with Driver() as d:
        await d.screen("home")
        d.send("help", seq=-1)
        d.kiosk.call_help("button")
        helps = [m for m in d.messages if m["type"] == "help"]
        assert [h["source"] for h in helps] == ["screen", "button"]
        assert d.adapters.indicated.count("help") == 2
        assert d.kiosk.health()["help_calls"] == 2


async def test_home_idle_resets_the_language():
    async with Driver(cfg=fast_cfg(idle_s=0.1)) as d:
        await d.screen("home")
        d.send("lang", lang="en")
        assert d.kiosk.lang == "en"
        await asyncio.sleep(0.3)
        assert d.kiosk.lang == "vi"
        assert {"type": "lang", "lang": "vi"} in d.messages


async def test_a_new_screen_gets_hello_then_the_current_screen():
    async with Driver() as d:
        await d.screen("home")
        hello, screen = d.kiosk.hello()
        assert hello["type"] == "hello" and hello["mode"] == "enrollment" and hello["lang"] == "vi"
        assert screen["screen"] == "home" and screen["seq"] == d.kiosk.seq
