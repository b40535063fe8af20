"""Fingerprint sensor on a real board (R307/R503/AS608 on the UART).

Needs: ``fingerprint.backend = "r30x"`` and the module wired (see docs/fingerprint.md). The
capture test needs ``APPLIANCE_HW_INTERACTIVE=1`` (put a finger on the sensor when asked).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hwsupport import open_real


@pytest.fixture
def sensor(hw_config):
    dev = open_real(hw_config, "fingerprint")
    yield dev
    dev.close()


def test_handshake(sensor):
    assert sensor.probe()


def test_led(sensor):
    """The module must acknowledge both commands (confirmation code 0)."""
    from appliance.hal.r30x_protocol import AURA_MODELS, Unsupported

    try:
        on = sensor.led("blue", "on")
    except Unsupported as exc:
        if sensor.cfg.model.lower() in AURA_MODELS:
            raise  # an R503 has the ring: "unsupported" means a wrong model or a broken module
        pytest.skip(f"the {sensor.cfg.model} answers that its firmware has no LED control: {exc}")
    assert on == 0, f"LED on: confirmation code 0x{on:02X}"
    off = sensor.led("blue", "off")
    assert off == 0, f"LED off: confirmation code 0x{off:02X}"


def test_image_upload_at_configured_baud(sensor):
    if os.environ.get("APPLIANCE_HW_INTERACTIVE") != "1":
        pytest.skip("capture: set APPLIANCE_HW_INTERACTIVE=1 and put a finger on the sensor")
    print("Put a finger on the sensor...")
    assert sensor.wait_finger(timeout=15), "no finger detected in 15 s"
    progress = []
    img = sensor.capture(progress=progress.append)
    assert img.dtype == np.uint8 and img.shape == sensor.image_size
    assert progress and progress[-1] == 1.0
    assert img.std() > 10, "image is flat: check the sensor window"
