"""The Raspberry Pi tryboot back end for RAUC (rauc-pi-tryboot) against a stand-in FAT partition:
install arms a one-boot trial, mark-good in tryboot mode commits it, a failed or reset trial
leaves the committed slot. (The firmware itself only on a real Pi: hardware-tests.)"""

import subprocess
from pathlib import Path

import pytest

SCRIPT = (
    Path(__file__).resolve().parent.parent / "image-build/files/usr/lib/appliance/rauc-pi-tryboot"
)


class Pi:
    def __init__(self, tmp: Path) -> None:
        self.boot = tmp / "firmware"
        self.boot.mkdir()
        (self.boot / "config.txt").write_text("[all]\nkernel=vmlinuz\nos_prefix=slot-A/\n")
        self.cmdline = tmp / "cmdline"
        self.flag = tmp / "tryboot"
        self.power_on("A", tryboot=False)

    def power_on(self, slot: str, tryboot: bool) -> None:
        self.cmdline.write_text(
            f"console=tty0 root=PARTUUID=0cccd0a1-0{2 if slot == 'A' else 3} rauc.slot={slot}\n"
        )
        self.flag.write_bytes(bytes([0, 0, 0, 1 if tryboot else 0]))

    def firmware_boot(self, tryboot_reboot: bool) -> str:
        """What the Pi firmware boots: tryboot.txt for one 'reboot 0 tryboot', else config.txt."""
        use = (
            "tryboot.txt"
            if tryboot_reboot and (self.boot / "tryboot.txt").exists()
            else "config.txt"
        )
        prefix = [
            ln for ln in (self.boot / use).read_text().splitlines() if ln.startswith("os_prefix=")
        ]
        slot = prefix[-1].removeprefix("os_prefix=slot-").rstrip("/")
        self.power_on(slot, tryboot=use == "tryboot.txt")
        return slot

    def run(self, *args: str) -> str:
        env = {
            "BOOT_DIR": str(self.boot),
            "PROC_CMDLINE": str(self.cmdline),
            "TRYBOOT_FLAG": str(self.flag),
            "PATH": "/usr/bin:/bin",
        }
        proc = subprocess.run(
            ["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def armed(self) -> bool:
        return (self.boot / "tryboot-armed").exists()


@pytest.fixture
def pi(tmp_path):
    return Pi(tmp_path)


def test_fresh_card(pi):
    assert pi.run("get-primary") == "A"
    assert pi.run("get-state", "A") == "good" and pi.run("get-state", "B") == "bad"


def test_install_trial_and_commit(pi):
    pi.run("set-state", "B", "bad")  # RAUC: the target slot is not bootable while written
    pi.run("set-primary", "B")  # ... and the next boot once it is
    assert pi.run("get-primary") == "B" and pi.armed()
    assert "os_prefix=slot-A/" in (pi.boot / "config.txt").read_text()  # committed: still A
    assert pi.firmware_boot(tryboot_reboot=True) == "B"
    pi.run("set-state", "B", "good")  # appliance update --confirm: healthy
    assert "os_prefix=slot-B/" in (pi.boot / "config.txt").read_text()
    assert not pi.armed() and not (pi.boot / "tryboot.txt").exists()
    assert pi.firmware_boot(tryboot_reboot=False) == "B"  # a plain reboot stays on B
    assert pi.run("get-primary") == "B"


def test_failed_or_reset_trial_boots_the_committed_slot(pi):
    pi.run("set-primary", "B")
    assert pi.firmware_boot(tryboot_reboot=True) == "B"
    # The trial hangs; the watchdog resets the board: a reset is not a tryboot reboot.
    assert pi.firmware_boot(tryboot_reboot=False) == "A"
    pi.run("set-state", "B", "bad")  # --confirm on A: rolled back
    assert not pi.armed() and pi.run("get-primary") == "A"
    assert pi.run("get-state", "B") == "bad"


def test_mark_good_outside_tryboot_does_not_commit(pi):
    pi.run("set-primary", "B")
    pi.power_on("B", tryboot=False)  # B running without the firmware's trial flag: not a trial
    pi.run("set-state", "B", "good")
    assert "os_prefix=slot-A/" in (pi.boot / "config.txt").read_text()


def test_get_current_is_the_booted_slot(pi):
    assert pi.run("get-current") == "A"
    pi.run("set-primary", "B")
    assert pi.firmware_boot(tryboot_reboot=True) == "B"
    assert pi.run("get-current") == "B"  # from rauc.slot= on the command line
    pi.cmdline.write_text("console=tty0\n")  # a kernel command line without rauc.slot=
    assert pi.run("get-current") == "B"  # tryboot mode: the trial slot of tryboot.txt
    pi.power_on("A", tryboot=False)
    pi.cmdline.write_text("console=tty0\n")
    assert pi.run("get-current") == "A"  # otherwise config.txt's committed slot


def test_bad_arguments_are_refused(pi):
    env = {"BOOT_DIR": str(pi.boot), "PATH": "/usr/bin:/bin"}
    for args in (["set-primary", "C"], ["set-state", "A", "maybe"], ["frobnicate"]):
        proc = subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True)
        assert proc.returncode == 2, args
