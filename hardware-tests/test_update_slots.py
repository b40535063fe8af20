"""A/B updates on a real board: what only the board itself can show.

Needs: a kiosk booted from the built image (``/etc/rauc/system.conf``), root for ``rauc status``.
On a Raspberry Pi 4/400/CM4/5 also the firmware's tryboot support, which the Pi boot path of
docs/updates.md relies on (QEMU skips the Pi firmware stage, so nothing else can check it).
The whole round trip (install, ``reboot "0 tryboot"``, mark-good, a reset during the trial) is a
manual procedure in docs/updates.md; these checks say whether the board can do it at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.update.rauc import parse_status

SYSTEM_CONF = Path("/etc/rauc/system.conf")
MODEL = Path("/proc/device-tree/model")
TRYBOOT = Path("/proc/device-tree/chosen/bootloader/tryboot")


def _need_rauc_system() -> None:
    if not SYSTEM_CONF.exists():
        pytest.skip("not booted from the kiosk image (no /etc/rauc/system.conf)")
    if shutil.which("rauc") is None:
        pytest.skip("rauc not installed")
    if os.geteuid() != 0:
        pytest.skip("rauc status needs root")


def test_rauc_sees_two_root_slots_and_the_booted_one():
    _need_rauc_system()
    r = subprocess.run(
        ["rauc", "status", "--detailed", "--output-format=json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    status = parse_status(json.loads(r.stdout))
    assert {s.bootname for s in status.slots} == {"A", "B"}
    assert status.booted in ("A", "B")
    assert status.slot(status.booted).state == "booted"


def test_pi_firmware_supports_tryboot():
    if not MODEL.exists() or "Raspberry Pi" not in MODEL.read_text(errors="replace"):
        pytest.skip("not a Raspberry Pi")
    model = MODEL.read_text(errors="replace")
    if "Raspberry Pi 3" in model:
        pytest.skip("Pi 3: no tryboot in its firmware (U-Boot path, docs/updates.md)")
    # The firmware publishes the flag on every boot when it supports tryboot (0 = normal boot).
    assert TRYBOOT.exists(), "bootloader too old for tryboot: update the EEPROM (rpi-eeprom)"


BACKEND = Path("/usr/lib/appliance/rauc-pi-tryboot")


def _pi_tryboot_image() -> None:
    if not MODEL.exists() or "Raspberry Pi" not in MODEL.read_text(errors="replace"):
        pytest.skip("not a Raspberry Pi")
    if not SYSTEM_CONF.exists() or "bootloader=custom" not in SYSTEM_CONF.read_text():
        pytest.skip("this image boots the Pi without the tryboot back end (system-pi.conf)")
    if not BACKEND.exists():
        pytest.skip(f"{BACKEND} missing")


def test_pi_tryboot_back_end_agrees_with_the_firmware():
    """The back end's idea of the booted slot is the one the firmware booted, and it says
    tryboot exactly when the firmware did (only a real Pi can show both)."""
    _pi_tryboot_image()
    run = lambda *a: subprocess.run(  # noqa: E731
        ["sh", str(BACKEND), *a], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    cmdline = Path("/proc/cmdline").read_text().split()
    booted = next((a.split("=", 1)[1] for a in cmdline if a.startswith("rauc.slot=")), "")
    assert booted in ("A", "B"), "the slot's cmdline.txt must carry rauc.slot="
    assert run("get-current") == booted
    flag = TRYBOOT.read_bytes() if TRYBOOT.exists() else b"\0\0\0\0"
    in_tryboot = any(flag[:4])
    committed = run("get-primary") if not Path("/boot/firmware/tryboot-armed").exists() else None
    if not in_tryboot and committed is not None:
        assert committed == booted, "a plain boot must run config.txt's committed slot"
