"""Test stand-ins for the update package: a RAUC with two slots, and test signing keys."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.update.rauc import BundleInfo, Slot, SystemStatus

HAVE_RAUC = shutil.which("rauc") is not None and shutil.which("mksquashfs") is not None


def make_key(folder: Path, name: str = "office") -> tuple[Path, Path]:
    """A P-256 key and its self-signed certificate (the office's update-signing pair)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} update signing")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{name}.key.pem", folder / f"{name}.cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def make_bundle(folder: Path, version: str, key: Path, cert: Path, *, compatible="cccd-kiosk"):
    """A small real RAUC bundle (plain format) signed with ``key``."""
    src = folder / f"src-{version}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "root.ext4").write_bytes(version.encode() * 4096)
    (src / "manifest.raucm").write_text(
        f"[update]\ncompatible={compatible}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
        "[image.rootfs]\nfilename=root.ext4\n"
    )
    out = folder / f"{version}-{key.stem}.raucb"
    out.unlink(missing_ok=True)
    subprocess.run(
        ["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    return out


class FakeRauc:
    """Two slots A and B, like RAUC with the GRUB back end: install writes the other slot and
    makes it primary; mark-good/bad change the booted slot's boot status."""

    def __init__(self, booted="A", compatible="cccd-kiosk", infos=None, verify=None):
        self.compatible = compatible
        self.booted = booted
        self.primary = booted
        self.versions = {"A": "", "B": ""}
        self.boot_status = {"A": "good", "B": "good"}
        self.infos = infos or {}  # bundle path -> BundleInfo (or an exception to raise)
        self.verify = verify  # a callable doing the real check (RaucCli.info), if given
        self.installed: list[Path] = []
        self.installed_bytes: list[bytes] = []
        self.marks: list[tuple[str, str]] = []

    def info(self, bundle):
        if self.verify is not None:
            return self.verify(bundle)
        found = self.infos[Path(bundle)]
        if isinstance(found, Exception):
            raise found
        return found

    def status(self):
        slots = [
            Slot(
                name=f"rootfs.{i}",
                bootname=b,
                state="booted" if b == self.booted else "inactive",
                boot_status=self.boot_status[b],
                version=self.versions[b],
            )
            for i, b in enumerate("AB")
        ]
        return SystemStatus(
            self.compatible, self.booted, f"rootfs.{'AB'.index(self.primary)}", slots
        )

    def install(self, bundle):
        info = self.info(bundle)
        other = "B" if self.booted == "A" else "A"
        self.versions[other] = info.version
        self.boot_status[other] = "good"
        self.primary = other
        self.installed.append(Path(bundle))
        self.installed_bytes.append(Path(bundle).read_bytes() if Path(bundle).exists() else b"")

    def mark(self, what, slot="booted"):
        other = "B" if self.booted == "A" else "A"
        name = {"booted": self.booted, "other": other}.get(slot, slot)
        self.marks.append((what, name))
        if what == "bad":
            self.boot_status[name] = "bad"
            self.primary = "B" if name == "A" else "A"
        elif what == "good":
            self.boot_status[name] = "good"

    def boot(self):
        """The boot loader: the primary slot if it is not bad, else the other."""
        self.booted = (
            self.primary
            if self.boot_status[self.primary] != "bad"
            else ("B" if self.primary == "A" else "A")
        )


__all__ = ["HAVE_RAUC", "BundleInfo", "FakeRauc", "make_bundle", "make_key"]
