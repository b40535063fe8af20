"""The defects of the walk-through in issue #17, each pinned by a test that failed before its fix
(workflows with fake adapters; the page-level ones are in tests/test_ui_defects.py)."""

from __future__ import annotations

import asyncio

from test_workflow_fakes import Driver


async def _enroll_to_consent(d: Driver) -> None:
    await d.screen("home")
    d.send("start", flow="enrollment")
    await d.screen("enroll.scan")
    d.adapters.qr.put_nowait(b"GOOD")
    await d.screen("enroll.confirm")
    d.send("confirm")
    await d.screen("enroll.consent")


# --- 1. "Chụp lại ảnh" after the fingerprints ---------------------------------------------


async def test_1_retake_photo_after_the_fingers_keeps_the_prints_and_returns_to_review():
    async with Driver() as d:
        await _enroll_to_consent(d)
        d.send("consent", purposes=["face", "fingerprints"])
        data = await d.screen("enroll.review")
        assert len(data["fingers"]) == 2
        d.send("retake")
        await d.screen("enroll.face")
        data = await d.screen("enroll.review")  # not a crash, not the fingers again
        assert [f["verdict"] for f in data["fingers"]] == ["pass", "pass"]
        assert d.adapters.calls.count("capture_face") == 2
        assert sum(c.startswith("finger:") for c in d.adapters.calls) == 2
        d.send("save")
        await d.screen("enroll.receipt")
        assert len(d.adapters.saved[0].fingers) == 2


# --- 2. a kiosk that cannot save ------------------------------------------------------------


async def test_2_a_kiosk_that_cannot_save_says_so_at_the_start_and_offers_no_enrollment():
    d = Driver()
    d.adapters.save_problem = lambda: "office_key_missing"
    async with d:
        data = await d.screen("home")
        assert data["flows"] == ["verification"]
        assert data["enroll_blocked"] == "office_key_missing"
        d.send("start", flow="enrollment")  # a stale page, a forged message: still refused
        await asyncio.sleep(0.05)
        assert d.view["screen"] == "home"
        assert "scan_qr" not in d.adapters.calls
        d.send("start", flow="verification")
        await d.screen("verify.scan")
    assert d.kiosk.health()["enroll_blocked"] == "office_key_missing"


async def test_2_operator_capture_is_not_offered_either_when_saving_cannot_work():
    d = Driver("operator")
    d.adapters.save_problem = lambda: "office_key_missing"
    async with d:
        await d.screen("op.login")
        d.send("pin", pin=d.adapters.pin)
        data = await d.screen("op.menu")
        assert data["capture_blocked"] == "office_key_missing"
        d.send("new_capture")
        await asyncio.sleep(0.05)
        assert d.view["screen"] == "op.menu"


async def test_2_a_kiosk_that_can_save_offers_both():
    async with Driver() as d:
        data = await d.screen("home")
        assert data["flows"] == ["enrollment", "verification"]
        assert data["enroll_blocked"] is None


def test_2_doctor_says_a_commune_kiosk_without_the_office_key_cannot_save(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "APPLIANCE_STORE_OFFICE_PUBLIC_KEY": str(tmp_path / "absent.pub")}
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--json", "--profile", "sim"],
        capture_output=True, text=True, timeout=60,
        env={**env, "APPLIANCE_STORE_DEMO_OFFICE_KEY": "0"},
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["ok"] is False
    assert report["saving"]["code"] == "office_key_missing" and report["saving"]["fix"]
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--json", "--profile", "sim"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert json.loads(proc.stdout)["saving"]["ok"] is True  # the sim's demo key
