"""RAUC behind a small interface: bundle info (signature checked), slot status, install, marks.

:class:`RaucCli` drives the ``rauc`` command (which talks to the RAUC service over D-Bus);
tests use a stand-in with the same methods. RAUC's own refusals are turned into typed
:class:`UpdateRefused` errors with a code a technician (and the hub) can act on.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from appliance.update.errors import UpdateFailed, UpdateRefused

log = logging.getLogger(__name__)

DEFAULT_KEYRING = "/etc/appliance/update-keyring.pem"


@dataclass(frozen=True)
class BundleInfo:
    compatible: str
    version: str


@dataclass(frozen=True)
class Slot:
    name: str  # rootfs.0
    bootname: str  # A
    state: str  # booted | active | inactive
    boot_status: str  # good | bad | ""
    version: str = ""  # version of the bundle last installed into it ("" = from the image)
    installed_at: str = ""
    install_status: str = ""


@dataclass(frozen=True)
class SystemStatus:
    compatible: str
    booted: str  # bootname of the running slot
    primary: str  # slot name the boot loader tries first next time
    slots: list[Slot] = field(default_factory=list)

    def slot(self, bootname: str) -> Slot | None:
        return next((s for s in self.slots if s.bootname == bootname), None)

    def primary_bootname(self) -> str:
        return next((s.bootname for s in self.slots if s.name == self.primary), "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "booted": self.booted,
            "next_boot": self.primary_bootname(),
            "slots": [
                {
                    "slot": s.bootname,
                    "device_slot": s.name,
                    "state": s.state,
                    "boot_status": s.boot_status,
                    "version": s.version,
                    "installed_at": s.installed_at,
                }
                for s in self.slots
            ],
        }


class Rauc(Protocol):
    def info(self, bundle: Path) -> BundleInfo: ...
    def status(self) -> SystemStatus: ...
    def install(self, bundle: Path) -> None: ...
    def mark(self, what: str, slot: str = "booted") -> None: ...


# RAUC 1.8's messages (seen with `rauc info --keyring`), first match wins.
_FOREIGN = "the bundle is signed by a key not in the keyring"
_REFUSALS: list[tuple[str, str, str]] = [
    ("Signature size is 0", "unsigned", "the bundle is not signed"),
    ("self-signed certificate", "foreign_key", _FOREIGN),
    ("unable to get local issuer", "foreign_key", _FOREIGN),
    ("certificate verify failed", "foreign_key", "the bundle's signer is not trusted"),
    ("content verify error", "tampered", "the bundle's content does not match its signature"),
    ("verification failure", "tampered", "the bundle's content does not match its signature"),
    ("signature verification failed", "tampered", "the bundle's signature does not verify"),
    ("Compatible mismatch", "incompatible", "the bundle is for another kind of device"),
    ("No such file", "missing", "no such bundle file"),
    ("Invalid bundle format", "bad_bundle", "not a RAUC bundle"),
    ("Failed to seek", "bad_bundle", "not a RAUC bundle"),
    ("squashfs", "bad_bundle", "not a RAUC bundle"),
]


def classify(stderr: str) -> UpdateRefused | None:
    """The typed refusal for RAUC's error text, or None when it is not a refusal."""
    if "failed to execute child process" in stderr.lower():
        return None  # a tool missing on this system (e.g. unsquashfs): an install failure
    for needle, code, message in _REFUSALS:
        if needle.lower() in stderr.lower():
            detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            return UpdateRefused(f"{message} ({detail})", code=code)
    return None


def parse_status(data: dict[str, Any]) -> SystemStatus:
    """``rauc status --detailed --output-format=json`` as a :class:`SystemStatus`."""
    slots = []
    entries = data.get("slots") or []
    if isinstance(entries, dict):
        entries = [{k: v} for k, v in entries.items()]
    for entry in entries:
        for name, s in entry.items():
            if (s.get("class") or "rootfs") != "rootfs":
                continue
            detail = s.get("slot_status") or {}
            bundle = detail.get("bundle") or {}
            installed = detail.get("installed") or {}
            slots.append(
                Slot(
                    name=name,
                    bootname=s.get("bootname") or "",
                    state=s.get("state") or "",
                    boot_status=s.get("boot_status") or "",
                    version=bundle.get("version") or "",
                    installed_at=installed.get("timestamp") or "",
                    install_status=detail.get("status") or "",
                )
            )
    return SystemStatus(
        compatible=data.get("compatible") or "",
        booted=data.get("booted") or "",
        primary=data.get("boot_primary") or "",
        slots=sorted(slots, key=lambda s: s.bootname),
    )


Runner = Callable[..., subprocess.CompletedProcess]


class RaucCli:
    """The real thing: the ``rauc`` command line (root, RAUC service on the system bus)."""

    def __init__(
        self,
        keyring: str = DEFAULT_KEYRING,
        binary: str = "rauc",
        run: Runner = subprocess.run,
        install_timeout_s: float = 3600.0,
    ) -> None:
        self.keyring = keyring
        self.binary = binary
        self._run = run
        self.install_timeout_s = install_timeout_s

    def _call(self, args: Sequence[str], timeout: float = 300.0) -> subprocess.CompletedProcess:
        try:
            return self._run(
                [self.binary, *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            raise UpdateFailed(
                f"{self.binary} is not installed on this system", code="no_rauc"
            ) from None
        except subprocess.TimeoutExpired:
            raise UpdateFailed(f"rauc {args[0]} did not finish within {timeout:.0f} s") from None

    def info(self, bundle: Path) -> BundleInfo:
        r = self._call(["info", f"--keyring={self.keyring}", "--output-format=json", str(bundle)])
        if r.returncode != 0:
            refusal = classify(r.stderr)
            if refusal:
                raise refusal
            raise UpdateFailed(f"rauc info failed: {r.stderr.strip()[-300:]}")
        try:
            data = json.loads(r.stdout)
            return BundleInfo(compatible=str(data["compatible"]), version=str(data["version"]))
        except (ValueError, KeyError, TypeError):
            raise UpdateFailed("rauc info printed no bundle description") from None

    def status(self) -> SystemStatus:
        r = self._call(["status", "--detailed", "--output-format=json"], timeout=60)
        if r.returncode != 0:
            raise UpdateFailed(f"rauc status failed: {r.stderr.strip()[-300:]}")
        try:
            return parse_status(json.loads(r.stdout))
        except (ValueError, AttributeError, TypeError):
            raise UpdateFailed("rauc status printed no slot description") from None

    def install(self, bundle: Path) -> None:
        r = self._call(["install", str(bundle)], timeout=self.install_timeout_s)
        if r.returncode != 0:
            refusal = classify(r.stderr)
            if refusal:
                raise refusal
            raise UpdateFailed(f"rauc install failed: {r.stderr.strip()[-300:]}")

    def mark(self, what: str, slot: str = "booted") -> None:
        if what not in ("good", "bad", "active"):
            raise ValueError(what)
        r = self._call(["status", f"mark-{what}", slot], timeout=60)
        if r.returncode != 0:
            raise UpdateFailed(f"rauc status mark-{what} {slot} failed: {r.stderr.strip()[-300:]}")
