"""`appliance doctor` gives an actionable fix for every failure the simulators can inject."""

import json
import os
import subprocess
import sys

import pytest

from appliance.config import DEVICE_KINDS, load_config
from appliance.doctor import probe_device
from appliance.hal.base import DEFAULT_FIX

SIM_KINDS = [k for k in DEVICE_KINDS if k != "indicators"]


@pytest.mark.parametrize("fault", ["open", "timeout", "vanish"])
@pytest.mark.parametrize("kind", SIM_KINDS)
def test_every_sim_fault_is_caught_with_a_fix(kind, fault):
    cfg = load_config("sim")
    cfg.device(kind).sim_fault = fault
    result = probe_device(cfg, kind)
    assert result["ok"] is False
    assert f"sim_fault={fault}" in result["detail"]
    assert "sim_fault" in result["fix"] and DEFAULT_FIX[kind] in result["fix"]
    assert result["tried"][0] == "load backend sim"


def test_indicators_fault_has_gpio_fix():
    cfg = load_config("sim")
    cfg.indicators.sim_fault = "open"
    result = probe_device(cfg, "indicators")
    assert result["ok"] is False and "gpio group" in result["fix"]


def test_r30x_missing_port(tmp_path):
    cfg = load_config("sim")
    cfg.fingerprint.backend = "r30x"
    cfg.fingerprint.port = str(tmp_path / "ttyNOPE")
    result = probe_device(cfg, "fingerprint")
    assert result["ok"] is False
    assert "is missing" in result["fix"] and "UART" in result["fix"]


def test_r30x_silent_module_names_port_baud_and_wiring():
    from appliance.hal.r30x_sim import Faults, R30xSimulator

    sim = R30xSimulator(faults=Faults(silent=True))
    sim.start()
    try:
        cfg = load_config("sim")
        cfg.fingerprint.backend = "r30x"
        cfg.fingerprint.port = str(sim.port)
        cfg.fingerprint.open_timeout_s = 0.5
        cfg.fingerprint.ready_wait_s = 0.05
        result = probe_device(cfg, "fingerprint")
    finally:
        sim.stop()
    assert result["ok"] is False
    fix = result["fix"]
    assert f"no reply on {sim.port}" in fix
    assert "TX/RX are crossed" in fix and "/etc/appliance/appliance.toml" in fix


def test_r30x_wrong_password():
    from appliance.hal.r30x_sim import R30xSimulator

    sim = R30xSimulator(password=1234)
    sim.start()
    try:
        cfg = load_config("sim")
        cfg.fingerprint.backend = "r30x"
        cfg.fingerprint.port = str(sim.port)
        cfg.fingerprint.ready_wait_s = 0.05
        result = probe_device(cfg, "fingerprint")
    finally:
        sim.stop()
    assert result["ok"] is False
    assert "password" in result["fix"]


def test_real_backends_without_hardware_say_what_to_do(tmp_path):
    """pcsc without pcscd, v4l2 without a camera, serial QR without a port, r30x without a port."""
    env = {
        **os.environ,
        "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.sock"),
        "APPLIANCE_CARD_READER_BACKEND": "pcsc",
        "APPLIANCE_CAMERA_BACKEND": "v4l2",
        "APPLIANCE_CAMERA_DEVICE": str(tmp_path / "video9"),
        "APPLIANCE_QR_SCANNER_BACKEND": "serial",
        "APPLIANCE_QR_SCANNER_PORT": str(tmp_path / "ttyACM9"),
        "APPLIANCE_FINGERPRINT_BACKEND": "r30x",
        "APPLIANCE_FINGERPRINT_PORT": str(tmp_path / "serial0"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--json", "--profile", "sim"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    devices = report["devices"]
    assert "pcscd" in devices["card_reader"]["fix"]
    assert "video" in devices["camera"]["fix"]
    assert str(tmp_path / "ttyACM9") in devices["qr_scanner"]["fix"]
    assert str(tmp_path / "serial0") in devices["fingerprint"]["fix"]
    for name, dev in devices.items():
        if name != "indicators":
            assert dev["ok"] is False and dev["fix"], name
    assert "Traceback" not in proc.stderr
