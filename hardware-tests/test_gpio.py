"""GPIO indicators on a real board: LEDs, buzzer, help button, relay (opt-in), loopback jumper.

Needs: backend ``gpiozero`` with real pins. The relay test also needs ``APPLIANCE_HW_RELAY=1``
(it moves the gate). The loopback test needs a jumper from ``APPLIANCE_HW_LOOP_OUT`` to
``APPLIANCE_HW_LOOP_IN`` (BCM numbers).
"""

from __future__ import annotations

import os
import time

import pytest
from hwsupport import open_real


@pytest.fixture
def indicators(hw_config):
    dev = open_real(hw_config, "indicators")
    yield dev
    dev.close()


def test_leds_and_buzzer_toggle(indicators):
    for name in ("green", "red", "busy", "buzzer"):
        out = indicators.pin(name)
        out.on()
        assert out.value, f"{name} did not switch on"
        time.sleep(0.2)
        out.off()
        assert not out.value, f"{name} did not switch off"


def test_help_button_reads(indicators):
    assert indicators.pin("help").is_pressed in (True, False)


@pytest.mark.relay
def test_relay_pulse(indicators):
    if os.environ.get("APPLIANCE_HW_RELAY") != "1":
        pytest.skip("relay: set APPLIANCE_HW_RELAY=1 to let this test move the gate")
    indicators.open_gate(300)
    assert indicators.gate_open()
    time.sleep(0.5)
    assert not indicators.gate_open(), "relay still energised after the pulse"


def test_loopback_jumper(hw_config):
    out_pin, in_pin = (
        os.environ.get("APPLIANCE_HW_LOOP_OUT"),
        os.environ.get("APPLIANCE_HW_LOOP_IN"),
    )
    if not (out_pin and in_pin):
        pytest.skip("loopback: set APPLIANCE_HW_LOOP_OUT and APPLIANCE_HW_LOOP_IN and fit a jumper")
    if hw_config.indicators.backend != "gpiozero":
        pytest.skip("loopback: needs real pins (indicators.backend = gpiozero)")
    from gpiozero import DigitalInputDevice, DigitalOutputDevice

    with DigitalOutputDevice(int(out_pin)) as out, DigitalInputDevice(int(in_pin)) as inp:
        for level in (True, False, True):
            out.value = level
            time.sleep(0.05)
            assert bool(inp.value) == level, f"jumper {out_pin}->{in_pin} did not follow {level}"
