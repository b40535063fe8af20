"""hardware-tests/ on a machine without the devices: a required device on a real backend that
does not open FAILS with its reason (a dead sensor must not pass the field test); only simulated
and optional devices skip, each with a one-line reason."""

import os
import subprocess
import sys

import pytest
from support import REPO_ROOT


def run_suite(profile: str, tmp_path) -> tuple[int, list[str]]:
    env = {**os.environ, "APPLIANCE_PROFILE": profile, "PCSCLITE_CSOCK_NAME": str(tmp_path / "x")}
    for name in list(env):
        if name.startswith("APPLIANCE_HW_"):
            del env[name]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rEs", "-p", "no:cacheprovider", "-W", "ignore",
         "--tb=line", "hardware-tests"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    return proc.returncode, proc.stdout.splitlines()


def test_sim_profile_skips_everything_with_reasons(tmp_path):
    rc, lines = run_suite("sim", tmp_path)
    assert rc == 0, lines[-20:]
    assert "error" not in lines[-1] and "failed" not in lines[-1] and " passed" not in lines[-1]
    reasons = [line for line in lines if line.startswith("SKIPPED")]
    assert len(reasons) >= 10
    assert all(len(line.split(": ", 1)[-1]) > 10 for line in reasons)  # one-line reason each


@pytest.mark.parametrize(
    "profile, failing, skipping",
    [
        ("commune-kiosk", {"camera", "card_reader", "fingerprint", "indicators"}, set()),
        # the gate's camera, card reader and sensor are optional (required = false) there
        ("tourist-gate", {"indicators", "qr_scanner"}, {"camera", "card_reader", "fingerprint"}),
    ],
)
def test_a_required_real_device_that_does_not_open_fails(tmp_path, profile, failing, skipping):
    rc, lines = run_suite(profile, tmp_path)
    assert rc == 1, lines[-20:]  # the field test does not pass
    text = "\n".join(lines)
    for kind in failing:
        assert f"{kind} (" in text and "is required by the config but does not open" in text
    errors = {line.split("/")[1].split(".py")[0].removeprefix("test_") for line in lines
              if line.startswith("ERROR hardware-tests/")}  # fmt: skip
    names = {"gpio": "indicators"}
    assert {names.get(e, e) for e in errors} == failing
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    for kind in skipping:
        assert any(f"{kind} (" in line and "optional here" in line for line in skipped), kind
