"""`make bundle` (image-build/bundle.sh) on a small stand-in image: slot A's file system cut out,
its version rewritten, a signed bundle that RAUC verifies; BREAK_SERVICE for the QEMU test."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from update_fakes import HAVE_RAUC, make_key

from appliance.update.rauc import RaucCli

REPO = Path(__file__).resolve().parent.parent
TOOLS = ("mkfs.ext4", "debugfs", "dumpe2fs", "sfdisk", "e2fsck")
pytestmark = pytest.mark.skipif(
    not HAVE_RAUC or not all(shutil.which(t) for t in TOOLS),
    reason="rauc, squashfs-tools or e2fsprogs/fdisk not installed",
)


def fake_image(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/cccd-release").write_text('NAME="CCCD kiosk"\nVERSION=0.1.0\n')
    (root / "usr/lib/systemd/system/appliance.service").write_text(
        "[Service]\nExecStart=/opt/appliance/venv/bin/appliance run\n"
    )
    ext4 = tmp_path / "root.ext4"
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", str(root), str(ext4), "16M"],
        check=True,
        capture_output=True,
    )
    img = tmp_path / "card.img"
    with open(img, "wb") as fh:
        fh.truncate(80 * 1024 * 1024)
    table = (
        "label: dos\nlabel-id: 0x0cccd0a1\nstart=2048, size=20480, type=c\n"
        "start=22528, size=40960, type=83\nstart=63488, size=40960, type=83\n"
        "start=104448, size=40960, type=83\n"
    )
    subprocess.run(["sfdisk", "--quiet", str(img)], input=table, text=True, check=True)
    with open(img, "r+b") as fh:
        fh.seek(22528 * 512)
        fh.write(ext4.read_bytes())
    return img


def run_bundle(tmp_path, img, key, cert, **env):
    out = tmp_path / "out"
    full = {
        **os.environ,
        "OUT": str(out),
        "BUNDLE_WORK": str(tmp_path / "bw"),
        "UPDATE_KEY": str(key),
        "UPDATE_CERT": str(cert),
        **env,
    }
    proc = subprocess.run(
        [str(REPO / "image-build/bundle.sh"), str(img)],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def read_file(bundle: Path, cert: Path, tmp_path: Path, path: str) -> str:
    dest = tmp_path / f"x-{bundle.stem}"
    subprocess.run(
        ["rauc", "extract", f"--keyring={cert}", str(bundle), str(dest)],
        check=True,
        capture_output=True,
    )
    proc = subprocess.run(
        ["debugfs", "-R", f"cat {path}", str(dest / "root.ext4")],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_bundle_of_the_image_root_with_a_new_version(tmp_path):
    key, cert = make_key(tmp_path, "office")
    img = fake_image(tmp_path)
    out = run_bundle(tmp_path, img, key, cert, VERSION="0.2.0")
    bundle = out / "cccd-kiosk-0.2.0.raucb"
    info = RaucCli(keyring=str(cert)).info(bundle)
    assert (info.compatible, info.version) == ("cccd-kiosk-arm64", "0.2.0")
    assert "VERSION=0.2.0" in read_file(bundle, cert, tmp_path, "/usr/lib/cccd-release")
    assert (out / "cccd-kiosk-0.2.0.raucb.sha256").read_text().split()[1] == bundle.name


def test_broken_service_bundle_for_the_rollback_test(tmp_path):
    key, cert = make_key(tmp_path, "office")
    out = run_bundle(tmp_path, fake_image(tmp_path), key, cert, VERSION="0.3.0", BREAK_SERVICE="1")
    bundle = out / "cccd-kiosk-0.3.0-broken.raucb"
    unit = read_file(bundle, cert, tmp_path, "/usr/lib/systemd/system/appliance.service")
    assert "ExecStart=/bin/false" in unit
