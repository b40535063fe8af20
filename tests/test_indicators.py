import time

import pytest

from appliance.config import load_config
from appliance.errors import InvalidInput
from appliance.hal.registry import create_device


@pytest.fixture
def ind():
    cfg = load_config("sim").indicators
    cfg.max_gate_pulse_ms = 200
    dev = create_device("indicators", cfg)
    dev.open()
    yield dev
    dev.close()


def pin_state(ind, name):
    return ind.factory.pin(getattr(ind.cfg, name)).state


def test_starts_released(ind):
    for name in ("led_green", "led_red", "gate_relay", "buzzer"):
        assert not pin_state(ind, name)


def test_gate_pulse_is_bounded(ind):
    ind.open_gate(10_000)  # asks far more than max_gate_pulse_ms
    assert pin_state(ind, "gate_relay")
    time.sleep(0.35)
    assert not pin_state(ind, "gate_relay")


def test_release_drops_relay_at_once(ind):
    ind.open_gate(150)
    ind.release()
    assert not pin_state(ind, "gate_relay")


def test_active_low_relay():
    cfg = load_config("sim").indicators
    cfg.relay_active_high = False
    dev = create_device("indicators", cfg)
    dev.open()
    assert dev.factory.pin(cfg.gate_relay).state  # released = high on an active-low board
    dev.open_gate(100)
    assert not dev.factory.pin(cfg.gate_relay).state
    dev.close()


def test_ok_and_error_leds(ind):
    ind.ok()
    time.sleep(0.05)
    assert pin_state(ind, "led_green") and not pin_state(ind, "led_red")
    ind.error()
    time.sleep(0.05)
    assert pin_state(ind, "led_red") and not pin_state(ind, "led_green")


def test_help_button_calls_back(ind):
    pressed = []
    ind.on_help(lambda: pressed.append(True))
    pin = ind.factory.pin(ind.cfg.help_button)
    pin.drive_low()
    time.sleep(0.1)
    pin.drive_high()
    assert pressed


def test_shared_pins_rejected():
    cfg = load_config("sim").indicators
    cfg.buzzer = cfg.led_red
    with pytest.raises(InvalidInput, match="share"):
        create_device("indicators", cfg).open()
