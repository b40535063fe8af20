"""The camera frame pipeline (downscaled search, last region, full frame), dedupe, scanner."""

import numpy as np
import pytest

from appliance.config import load_config
from appliance.errors import DeviceTimeout
from appliance.hal.base import Camera
from appliance.hal.registry import create_device
from appliance.pipeline.qr_frames import Deduper, QrFramePipeline
from appliance.pipeline.qr_synth import SceneSpec, render

PAYLOAD = "001090012345||NGUYỄN VĂN AN|15031990|Nam|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|10042021"


def frame(module_px: float, seed: int = 1, width: int = 1280, height: int = 720) -> np.ndarray:
    return render(PAYLOAD.encode(), SceneSpec(width, height, module_px=module_px), seed)


def test_large_code_found_in_the_downscaled_frame():
    pipe = QrFramePipeline("zxing")
    hit = pipe.find(frame(8.0))
    assert hit is not None and hit.stage == "down"
    assert hit.data.decode() == PAYLOAD
    x, y, w, h = hit.box  # in full-frame pixels, about the size of the QR (53 modules of 8 px)
    assert 300 < w < 600 and 300 < h < 600 and 0 <= x < 1280 and 0 <= y < 720


def test_small_code_needs_full_resolution_then_its_region():
    pipe = QrFramePipeline("zxing")
    small = frame(2.3, seed=4)
    first = pipe.find(small)
    assert first is not None and first.stage == "full"
    second = pipe.find(frame(2.3, seed=4))
    assert second is not None and second.stage == "roi"  # the region of the last hit
    assert second.box == pytest.approx(first.box, abs=3)
    assert pipe.stage_counts == {"down": 0, "roi": 1, "full": 1, "miss": 0}


def test_full_frame_pass_can_be_rationed_and_region_forgotten():
    pipe = QrFramePipeline("zxing", full_every=3)
    empty = np.full((720, 1280, 3), 128, np.uint8)
    for _ in range(3):
        assert pipe.find(empty) is None
    assert pipe.stage_counts["miss"] == 3
    pipe.last_box = (10, 10, 50, 50)
    for _ in range(QrFramePipeline.FORGET_AFTER + 1):
        pipe.find(empty)
    assert pipe.last_box is None


def test_deduper_window():
    d = Deduper(3.0)
    assert not d.is_repeat(b"a", now=100.0)
    assert d.is_repeat(b"a", now=101.0)
    assert not d.is_repeat(b"b", now=101.5)
    assert d.is_repeat(b"a", now=103.9)  # the window runs from the last sighting
    assert not d.is_repeat(b"a", now=107.0)
    d.is_repeat(b"c", now=200.0)  # old entries are pruned
    assert len(d) == 1


class FakeCamera(Camera):
    backend = "fake"

    def __init__(self, frames):
        super().__init__(None)
        self.frames = list(frames)
        self.reads = 0

    def open(self):
        self.is_open = True

    def read(self, timeout=2.0):
        if not self.frames:
            raise DeviceTimeout("no frame")
        self.reads += 1
        return self.frames.pop(0)


def qr_cfg(**kw):
    cfg = load_config("sim").qr_scanner
    cfg.backend = "camera"
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_camera_scanner_reports_a_held_card_once():
    card = frame(6.0, width=640, height=480)
    empty = np.full_like(card, 120)
    cam = FakeCamera([empty, card, card, card, empty])
    scanner = create_device("qr_scanner", qr_cfg(dedupe_s=5.0))
    scanner.open()
    scanner.attach(cam)
    assert scanner.read(timeout=2.0) == PAYLOAD.encode()
    assert scanner.read(timeout=0.3) is None  # the same card, still in view: not again
    assert cam.reads == 5
    scanner.close()


def test_camera_scanner_fed_by_another_component():
    scanner = create_device("qr_scanner", qr_cfg())
    scanner.open()
    assert not scanner.attached
    assert scanner.read(timeout=0.05) is None
    assert scanner.feed(frame(6.0, width=640, height=480)) == PAYLOAD.encode()
    assert scanner.read(timeout=0.05) == PAYLOAD.encode()
    assert "no camera attached" in scanner.location()
    scanner.attach(lambda: None)  # a camera that is down for now
    assert scanner.read(timeout=0.05) is None
    scanner.close()


def test_camera_scanner_with_the_sim_camera(tmp_path):
    from appliance.pipeline.qr_synth import save_frame

    save_frame(tmp_path / "card.png", frame(5.0, width=640, height=480))
    cam_cfg = load_config("sim").camera
    cam_cfg.sim_source = str(tmp_path)
    cam_cfg.fps = 50.0
    cam = create_device("camera", cam_cfg)
    cam.open()
    scanner = create_device("qr_scanner", qr_cfg())
    scanner.open()
    scanner.attach(cam)
    assert scanner.read(timeout=2.0) == PAYLOAD.encode()
    assert "a QR code in view" in scanner.probe()
    scanner.close()
    cam.close()


async def test_device_manager_shares_the_camera_with_the_scanner(tmp_path):
    from types import SimpleNamespace

    from appliance.hal.manager import DeviceManager
    from appliance.pipeline.qr_synth import save_frame

    save_frame(tmp_path / "card.png", frame(5.0, width=640, height=480))
    cfg = load_config("commune-kiosk", sim=True)
    cfg.qr_scanner.backend = "camera"
    cfg.camera.sim_source, cfg.camera.fps = str(tmp_path), 50.0
    service = SimpleNamespace(cfg=cfg, devices=DeviceManager(cfg))
    await service.devices.open_all()
    assert service.devices.get("qr_scanner").attached
    assert service.devices.get("qr_scanner").read(2.0) == PAYLOAD.encode()
    service.devices.close_all()
