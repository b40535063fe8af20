import json
import subprocess
import sys


def doctor(*args, env=None):
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, json.loads(proc.stdout), proc


def test_all_sim_devices_pass():
    rc, report, _ = doctor("--profile", "sim")
    assert rc == 0 and report["ok"] is True
    assert set(report["devices"]) == {
        "camera",
        "fingerprint",
        "card_reader",
        "qr_scanner",
        "indicators",
    }
    for dev in report["devices"].values():
        assert dev["ok"] is True and dev["fix"] is None and dev["detail"]


def test_failing_required_device_exits_1_with_fix():
    rc, report, proc = doctor("--profile", "sim", env={"APPLIANCE_CARD_READER_SIM_FAULT": "open"})
    assert rc == 1 and report["ok"] is False
    card = report["devices"]["card_reader"]
    assert card["ok"] is False
    assert card["detail"].startswith("open ") and " failed: " in card["detail"]
    assert card["tried"][-1].startswith("open ")
    assert card["fix"]
    assert "Traceback" not in proc.stderr


def test_optional_device_failure_does_not_fail(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("[camera]\nrequired = false\nsim_fault = 'open'\n")
    rc, report, _ = doctor("--profile", "sim", "--config", str(site))
    assert rc == 0 and report["ok"] is True
    assert report["devices"]["camera"]["ok"] is False


def test_relay_not_pulsed_without_actuate():
    _, report, _ = doctor("--profile", "sim")
    assert "relay" not in report["devices"]["indicators"]["detail"]
    _, report, _ = doctor("--profile", "sim", "--actuate")
    assert "gate relay pulsed" in report["devices"]["indicators"]["detail"]


def test_text_output_is_a_table():
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "doctor", "--profile", "sim"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # not a terminal, so JSON is the default when piped
    assert json.loads(proc.stdout)["ok"] is True
