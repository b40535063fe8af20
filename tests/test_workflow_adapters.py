"""The service adapters' own logic: error mapping, identity, typed dates, preview, sensor gate."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from appliance.citizen import TEST_QR_PAYLOAD
from appliance.config import load_config
from appliance.errors import DeviceError, DeviceTimeout, DeviceUnavailable, InvalidInput
from appliance.kiosk_ui.sim_controls import NEW_LAYOUT_QR
from appliance.pipeline.workflows.engine import StepError
from appliance.pipeline.workflows.service_adapters import (
    GatedSensor,
    Preview,
    PreviewCamera,
    ServiceAdapters,
    _finger_event,
)


class FakeDevices:
    def __init__(self) -> None:
        self.slots = {k: None for k in ("camera", "fingerprint", "card_reader", "qr_scanner")}
        self.slots["indicators"] = None
        self.failures: list[tuple[str, str]] = []
        self.present: dict[str, object] = {}

    def get(self, kind):
        return self.present.get(kind)

    def report_failure(self, kind, exc):
        self.failures.append((kind, exc.message))


@pytest.fixture
def adapters():
    service = SimpleNamespace(cfg=load_config("sim"), devices=FakeDevices())
    return ServiceAdapters(service)


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (DeviceTimeout("no answer"), "timeout", "camera"),
        (DeviceUnavailable("unplugged"), "device_unavailable", "camera"),
        (DeviceError("bad bytes", code="protocol"), "device_unavailable", "protocol"),
        (InvalidInput("model refused", code="model"), "not_available", "model"),
        (KeyError("bug"), "not_available", "internal"),
    ],
)
async def test_device_call_errors_become_friendly_step_errors(adapters, exc, kind, detail):
    def boom():
        raise exc

    with pytest.raises(StepError) as info:
        await adapters.call("camera", boom)
    assert (info.value.kind, info.value.detail, info.value.device) == (kind, detail, "camera")
    unplugged = isinstance(exc, DeviceUnavailable)
    assert adapters.devices.failures == ([("camera", "unplugged")] if unplugged else [])


async def test_a_missing_device_is_device_unavailable(adapters):
    with pytest.raises(StepError) as info:
        await adapters.wait_card()
    assert info.value.kind == "device_unavailable" and info.value.device == "card_reader"


def test_identify_masks_and_carries_the_chip_key(adapters):
    ident = adapters.identify(TEST_QR_PAYLOAD.encode())
    assert ident.masked_id == "001******345" and ident.full_name == "NGUYỄN VĂN AN"
    assert ident.bac == ("090012345", "900315", "300315")
    assert ident.record["id_number"] == "001090012345" and "ok" not in ident.record


def test_expiry_without_a_synchronised_clock_is_judged_against_the_time_floor(
    adapters, monkeypatch
):
    from appliance.kiosk_ui.sim_controls import expired_qr

    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "1")
    assert adapters.identify(expired_qr().encode()).expired is True
    assert adapters.identify(TEST_QR_PAYLOAD.encode()).expired is False
    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "0")
    # issue #17: expired in 2015, before the time floor (the build date at least): expired
    assert adapters.identify(expired_qr().encode()).expired is True
    ident = adapters.identify(TEST_QR_PAYLOAD.encode())  # valid until 2030: cannot be said
    assert ident.expired is None and ident.masked_id == "001******345"
    assert adapters.clock_status()["synced"] is False


def test_identify_new_layout_has_no_chip_key_and_garbage_is_invalid_qr(adapters):
    ident = adapters.identify(NEW_LAYOUT_QR.encode())
    assert ident.layout == "unknown" and ident.bac is None and ident.full_name is None
    with pytest.raises(StepError) as info:
        adapters.identify(b"https://example.com")
    assert info.value.kind == "invalid_qr" and info.value.detail == "malformed"


def test_typed_dates_make_the_chip_key_or_say_what_is_wrong(adapters):
    assert adapters.bac_from_dates("001090012345", "1990-03-15", "2030-03-15") == (
        "090012345",
        "900315",
        "300315",
    )
    assert adapters.bac_from_dates("001090012345", "1990-03-15", None)[2] == "991231"
    with pytest.raises(InvalidInput) as info:
        adapters.bac_from_dates("001090012345", "1991-03-15", None)
    assert info.value.code == "year_mismatch"
    with pytest.raises(InvalidInput) as info:
        adapters.bac_from_dates("001090012345", "1990-03-15", "1989-01-01")
    assert info.value.code == "date_order"


async def test_save_without_a_store_is_a_save_error_not_a_crash(adapters):
    adapters.store_error = "no office public key"
    with pytest.raises(StepError) as info:
        await adapters.save_enrollment(object())
    assert info.value.kind == "save_failed" and info.value.message == "no office public key"


def test_finger_capture_events_become_screen_updates():
    assert _finger_event("right_index", {"event": "place_finger", "attempt": 2}) == {
        "phase": "place",
        "finger": "right_index",
        "attempt": 2,
    }
    assert _finger_event("right_index", {"event": "progress", "fraction": 0.51234})["progress"] == (
        0.512
    )
    retry = _finger_event(
        "right_index",
        {
            "event": "attempt",
            "number": 1,
            "verdict": "fail",
            "score": 12.0,
            "feedback": ["too_dry"],
        },
    )
    assert retry["phase"] == "retry" and retry["feedback"] == ["too_dry"]
    assert _finger_event("right_index", {"event": "done", "results": []}) is None


async def test_preview_hands_out_new_frames_and_ends_with_the_capture():
    preview = Preview()
    assert await preview.next_frame(0, timeout=0.05) is None  # not active: nothing
    preview.active = True
    waiter = asyncio.create_task(preview.next_frame(0, timeout=2))
    await asyncio.sleep(0.01)
    preview.publish(b"jpeg-1")
    assert await waiter == (1, b"jpeg-1")
    assert await preview.next_frame(1, timeout=0.05) is None  # stalled
    waiter = asyncio.create_task(preview.next_frame(1, timeout=2))
    await asyncio.sleep(0.01)
    preview.stop()
    assert await waiter is None and preview.jpeg is None


def test_preview_camera_tees_frames_at_a_bounded_rate():
    frames = SimpleNamespace(read=lambda timeout=2.0: np.zeros((480, 640, 3), np.uint8))
    sent: list[bytes] = []
    cam = PreviewCamera(frames, sent.append, max_fps=1000)
    cam.read()
    assert sent and sent[0][:2] == b"\xff\xd8"
    slow = PreviewCamera(frames, sent.append, max_fps=0.1)
    for _ in range(5):
        slow.read()
    assert len(sent) == 2  # one per 10 s


def test_gated_sensor_waits_for_the_demo_finger_and_can_be_abandoned():
    sensor = SimpleNamespace(wait_finger=lambda timeout: True, capture=lambda p=None: "image")
    gate, cancel = threading.Event(), threading.Event()
    gated = GatedSensor(sensor, cancel, gate)
    t0 = time.monotonic()
    assert gated.wait_finger(0.2) is False  # no finger placed
    assert time.monotonic() - t0 >= 0.2
    gate.set()
    assert gated.wait_finger(1.0) is True and not gate.is_set()  # each finger needs a press
    cancel.set()
    t0 = time.monotonic()
    assert gated.wait_finger(5.0) is False and time.monotonic() - t0 < 1.0
    assert gated.capture() == "image"  # everything else goes to the sensor
