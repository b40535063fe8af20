"""Camera on a real board (picamera2 CSI or a v4l2 USB webcam).

Needs: ``camera.backend`` picamera2 or v4l2 and the camera connected. The exposure test needs
``APPLIANCE_HW_INTERACTIVE=1`` (it asks you to cover the lens).
"""

from __future__ import annotations

import os
import time

import pytest
from hwsupport import open_real


@pytest.fixture
def camera(hw_config):
    cam = open_real(hw_config, "camera")
    yield cam
    cam.close()


def test_frames_at_configured_size_and_rate(camera, hw_config):
    cfg = hw_config.camera
    camera.read()  # warm-up
    t0 = time.monotonic()
    frames = [camera.read() for _ in range(30)]
    fps = 30 / (time.monotonic() - t0)
    assert all(f.shape == (cfg.height, cfg.width, 3) for f in frames)
    assert fps >= 0.8 * cfg.fps, f"{fps:.1f} fps measured, {cfg.fps} configured"


def test_exposure_responds_to_light(camera):
    if os.environ.get("APPLIANCE_HW_INTERACTIVE") != "1":
        pytest.skip("exposure: set APPLIANCE_HW_INTERACTIVE=1 (you will cover the lens)")
    bright = float(camera.read().mean())
    input("Cover the lens completely, then press Enter... ")
    time.sleep(1.0)
    dark = float(camera.read().mean())
    assert dark < bright * 0.5, f"covered {dark:.0f} vs open {bright:.0f}"
