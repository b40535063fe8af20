"""The defects of the walk-through in issue #17, each pinned by a test that failed before its fix
(workflows with fake adapters; the page-level ones are in tests/test_ui_defects.py)."""

from __future__ import annotations

import asyncio
import itertools

from test_workflow_fakes import Driver, fast_cfg


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


# --- 4. devices unplugged in the middle of a step --------------------------------------------


def _video(path, frames: int = 6):
    import cv2
    import numpy as np

    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        out.write(np.full((48, 64, 3), 20 * i, np.uint8))
    out.release()
    return path


def test_4_camera_unplugged_while_a_video_plays_is_device_unavailable_not_a_crash(tmp_path):
    import threading

    import pytest

    from appliance.config import CameraConfig
    from appliance.errors import DeviceUnavailable
    from appliance.hal.sim_camera import SimCamera

    cam = SimCamera(
        CameraConfig(backend="sim", sim_source=str(_video(tmp_path / "v.avi")), fps=2.0)
    )
    cam.open()
    assert cam.read().shape == (480, 640, 3)  # the next read waits half a second for its turn
    threading.Timer(0.1, cam.close).start()  # the device manager closes it: unplugged
    with pytest.raises(DeviceUnavailable):
        cam.read()


async def test_4_a_fingerprint_sensor_unplugged_while_waiting_for_a_finger_is_noticed():
    import threading
    import time
    from types import SimpleNamespace

    import pytest

    from appliance.errors import DeviceUnavailable
    from appliance.pipeline.workflows.service_adapters import GatedSensor

    sensor = SimpleNamespace(is_open=True, wait_finger=lambda timeout: True)
    gated = GatedSensor(sensor, threading.Event(), threading.Event())  # the demo's finger gate

    def unplug() -> None:
        sensor.is_open = False  # what DeviceManager._mark_down does (device.close())

    threading.Timer(0.2, unplug).start()
    t0 = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        gated.wait_finger(10.0)
    assert time.monotonic() - t0 < 2.0


def test_4_the_sim_sensor_closed_during_its_wait_says_it_is_gone():
    import threading

    import pytest

    from appliance.config import FingerprintConfig
    from appliance.errors import DeviceUnavailable
    from appliance.hal.sim_fingerprint import SimFingerprint

    sensor = SimFingerprint(FingerprintConfig(backend="sim", sim_finger_delay_s=1.0))
    sensor.open()
    threading.Timer(0.1, sensor.close).start()
    with pytest.raises(DeviceUnavailable):
        sensor.wait_finger(5.0)


# --- 5. verification -------------------------------------------------------------------------


async def test_5_the_chip_read_progress_moves_from_the_start_and_never_jumps(monkeypatch):
    import time
    from types import SimpleNamespace

    from test_workflow_adapters import FakeDevices

    from appliance.citizen import TEST_QR_PAYLOAD
    from appliance.config import load_config
    from appliance.hal.registry import create_device
    from appliance.pipeline.workflows.service_adapters import ServiceAdapters

    monkeypatch.setenv("APPLIANCE_CARD_READER_SIM_CARD_FAULT", "slow")  # ~0.5 s per exchange
    cfg = load_config("sim")
    reader = create_device("card_reader", cfg.device("card_reader"))
    reader.open()
    reader.insert()
    devices = FakeDevices()
    devices.present["card_reader"] = reader
    adapters = ServiceAdapters(SimpleNamespace(cfg=cfg, devices=devices))
    ident = adapters.identify(TEST_QR_PAYLOAD.encode())
    seen: list[tuple[float, float]] = []
    t0 = time.monotonic()
    chip = await adapters.read_chip(ident.bac, lambda v: seen.append((time.monotonic() - t0, v)))
    assert chip.passive == "verified"
    assert seen[-1][1] == 1.0  # done: the result screen replaces the bar at once
    seen = seen[:-1]
    values = [v for _, v in seen]
    assert values == sorted(values)  # never backwards
    first = next(t for t, v in seen if v > 0)
    assert first < 1.0, seen  # not "0%" for the first seconds (BAC alone takes ~1.5 s here)
    steps = [b - a for a, b in zip([0.0, *values], values, strict=False)]
    assert max(steps) <= 0.1, seen  # no 27% -> 90% jump
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    assert max(gaps) < 0.75, seen  # it keeps moving while the chip answers slowly


async def _verify_to_result(d: Driver) -> dict:
    await d.screen("home")
    d.send("start", flow="verification")
    await d.screen("verify.scan")
    d.adapters.qr.put_nowait(b"GOOD")
    await d.screen("verify.tap")
    d.adapters.card.set()
    return await d.screen("verify.result")


async def test_5_taking_the_card_away_clears_the_result_with_the_personal_data():
    async with Driver() as d:
        data = await _verify_to_result(d)
        assert data["fields"]["full_name"] == "NGUYỄN VĂN AN"
        await asyncio.sleep(0.1)
        assert d.view["screen"] == "verify.result"  # the card is still on the reader
        d.adapters.card.clear()  # the citizen takes the card and leaves
        await d.screen("home", timeout=2.0)
        assert "NGUYỄN" not in str(d.kiosk.view)


async def test_5_a_result_that_is_not_genuine_says_what_to_do_next():
    async with Driver() as d:
        d.adapters.chip.passive = "failed"
        data = await _verify_to_result(d)
        assert data["auth"]["overall"] == "not_genuine"
        assert data["next_step"] == "see_officer"
    async with Driver() as d:
        d.adapters.chip.passive = "chain_unknown"
        data = await _verify_to_result(d)
        assert data["next_step"] == "try_again_or_officer"


# --- 6. the keypad path ----------------------------------------------------------------------


async def test_6_a_birth_year_that_contradicts_the_id_is_caught_on_the_date_of_birth_keypad():
    async with Driver() as d:
        await d.screen("home")
        d.send("start", flow="verification")
        await d.screen("verify.scan")
        d.adapters.qr.put_nowait(b"NEW")
        await d.screen("verify.keypad", "keypad_dob")
        d.send("digits", value="15031991")  # the ID number says 1990
        data = await d.screen("verify.keypad", "keypad_dob")
        assert data["error"] == "year_mismatch" and data["field"] == "dob"
        assert "wait_card" not in d.adapters.calls and "read_chip" not in d.adapters.calls
        d.send("digits", value="15031990")
        await d.screen("verify.keypad", "keypad_expiry")
        d.send("digits", value="15031980")  # before the birth date: said on the expiry keypad
        data = await d.screen("verify.keypad", "keypad_expiry")
        assert data["error"] == "date_order"
        d.send("digits", value="15032030")
        await d.screen("verify.tap")


# --- 8. the gate -----------------------------------------------------------------------------


async def test_8_the_gate_returns_to_vietnamese_for_the_next_visitor():
    from appliance.pipeline.workflows.adapters import GateResult

    async with Driver("checkin", fast_cfg(gate_result_s=0.1, idle_s=0.3)) as d:
        await d.screen("gate.ready")
        d.send("lang", lang="en")
        assert d.kiosk.lang == "en"
        d.adapters.gate.put_nowait(GateResult(True, "admit", None, "001******345", 42))
        await d.screen("gate.result")
        assert d.kiosk.lang == "en"  # the visitor reads the answer in the language chosen
        await d.screen("gate.ready")
        assert d.kiosk.lang == "vi"  # the next one starts in Vietnamese
        d.send("lang", lang="en")  # switched, then walked away without scanning
        await asyncio.sleep(0.5)
        assert d.kiosk.lang == "vi"


# --- 9. operator -----------------------------------------------------------------------------


async def _operator_menu(d: Driver) -> None:
    await d.screen("op.login")
    d.send("pin", pin=d.adapters.pin)
    await d.screen("op.menu")


async def test_9_every_capture_screen_says_whose_capture_it_is():
    async with Driver("operator") as d:
        await _operator_menu(d)
        d.send("new_capture")
        await d.screen("enroll.scan")
        d.adapters.qr.put_nowait(b"GOOD")
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face", "fingerprints"])
        await d.screen("enroll.review")
    whose = {"full_name": "NGUYỄN VĂN AN", "masked_id": "001******345"}
    shown = [m for m in d.messages if m["type"] == "screen"]
    for screen in ("enroll.consent", "enroll.face", "enroll.finger", "enroll.review"):
        views = [m for m in shown if m["screen"] == screen]
        assert views and all(m["data"].get("subject") == whose for m in views), screen


async def test_9_the_lockout_says_how_long_in_seconds():
    async with Driver("operator", fast_cfg(pin_max_attempts=1, pin_lockout_s=3.0)) as d:
        await d.screen("op.login")
        d.send("pin", pin="0000")
        data = await d.screen("op.locked")
        assert 2 <= data["seconds"] <= 3 and data["until_s"] == data["seconds"]


async def test_9_records_that_wait_can_be_sent_now():
    async with Driver("operator") as d:
        d.adapters.send_now = lambda: asyncio.sleep(0, {"queued": 1, "upload": True})
        await _operator_menu(d)
        d.send("records")
        data = await d.screen("op.records", "records")
        while data.get("loading"):
            data = await d.screen("op.records")
        assert data["can_send"] is True  # one row waits
        d.send("send_now")
        data = await d.screen("op.records")
        while data.get("loading"):
            data = await d.screen("op.records")
        assert data["sent_now"] == {"queued": 1, "upload": True}
