"""Static checks of the image recipe (image-build/): the build itself runs in `make image-test`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IMAGE = REPO / "image-build"
FILES = IMAGE / "files"
SCRIPTS = ["build.sh", "customize.sh", "boot-test.sh", "deps.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse(script):
    proc = subprocess.run(["bash", "-n", str(IMAGE / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_initramfs_scripts_parse_as_posix_sh():
    sh = shutil.which("dash") or shutil.which("sh")
    for rel in ("scripts/init-bottom/appliance-overlay", "hooks/appliance-overlay"):
        path = FILES / "etc/initramfs-tools" / rel
        proc = subprocess.run([sh, "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert path.stat().st_mode & 0o111, f"{rel} must be executable"


def test_no_hard_coded_mirror():
    # The mirror comes from the build machine's apt sources; a host name would break elsewhere.
    for script in SCRIPTS:
        text = (IMAGE / script).read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"https?://[a-z0-9.-]+\.(org|com|net)", code), script
    assert "apt-get indextargets" in (IMAGE / "build.sh").read_text()


def test_binfmt_set_up_by_the_build_itself():
    text = (IMAGE / "build.sh").read_text()
    assert "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc" in text
    assert "update-binfmts --enable qemu-aarch64" in text


def test_initramfs_module_list():
    conf = (FILES / "etc/initramfs-tools/conf.d/appliance").read_text()
    assert re.search(r"^MODULES=list$", conf, re.M)
    modules = {
        line.strip()
        for line in (FILES / "etc/initramfs-tools/modules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # Pi 4 SD (sdhci_iproc), Pi 3 SD host (bcm2835), QEMU virt (virtio), the root's overlay.
    assert {
        "sdhci_iproc",
        "bcm2835",
        "mmc_block",
        "virtio_blk",
        "ext4",
        "vfat",
        "overlay",
    } <= modules
    build = (IMAGE / "build.sh").read_text() + (IMAGE / "customize.sh").read_text()
    assert "dpkg-divert" in build and "update-initramfs -c -k all" in build


def test_data_partition_binds_what_must_survive():
    text = (IMAGE / "customize.sh").read_text()
    fstab = text[text.index("/etc/fstab") : text.index("EOF", text.index("/etc/fstab") + 20)]
    for target in ("/var/lib/appliance", "/etc/appliance", "/var/log/journal"):
        assert re.search(rf"^\S+\s+{re.escape(target)}\s+none\s+bind", fstab, re.M), target
    # The root is not in fstab: systemd would remount the overlay with the root's options.
    assert not re.search(r"^\S+\s+/\s", fstab, re.M)


def test_board_rules():
    gpio = (FILES / "etc/udev/rules.d/60-appliance-gpio.rules").read_text()
    assert 'KERNEL=="gpiochip*"' in gpio and 'GROUP="gpio"' in gpio
    serial = (FILES / "etc/udev/rules.d/61-appliance-serial0.rules").read_text()
    assert 'SYMLINK+="serial0"' in serial
    polkit = (FILES / "etc/polkit-1/rules.d/60-appliance-pcscd.rules").read_text()
    assert "org.debian.pcsc-lite.access_pcsc" in polkit and '"appliance"' in polkit
    network = (FILES / "etc/systemd/network/50-wired.network").read_text()
    assert "Type=ether" in network  # usb0 under QEMU's raspi3b, eth0 on a Pi


def test_units_installed_are_the_repo_units():
    text = (IMAGE / "customize.sh").read_text()
    for unit in ("appliance.service", "appliance-firstboot.service", "appliance-purge.timer"):
        assert unit in text and (REPO / "systemd" / unit).is_file()
    assert "kiosk.service" in text
