"""Install a bundle into the other slot: checks first (signature, device kind, version), then
the idle hold, then RAUC; and the hub's path (manifest, rollout, resumed download, install).

Nothing is written to a slot before every check passed; RAUC itself switches the boot order only
after the slot is completely written, so a power cut mid-install leaves the running slot first.
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.update import rollout
from appliance.update.download import download
from appliance.update.errors import UpdateRefused
from appliance.update.idle import release_hold, request_hold
from appliance.update.manifest import load_keyring, load_manifest
from appliance.update.rauc import Rauc, SystemStatus
from appliance.update.state import UpdateState
from appliance.update.version import Version, check_upgrade

log = logging.getLogger(__name__)

RELEASE_FILE = Path("/usr/lib/cccd-release")  # VERSION=... written into each root file system


def release_file_version(release_file: Path | None = None) -> str:
    """``VERSION=`` of the running root's release file; "" when there is none (off an image)."""
    try:
        for line in (release_file or RELEASE_FILE).read_text("utf-8").splitlines():
            if line.startswith("VERSION="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def running_version(status: SystemStatus, release_file: Path | None = None) -> str:
    """The system's version: the release file of the running root, else the package's."""
    if found := release_file_version(release_file):
        return found
    booted = status.slot(status.booted)
    return booted.version if booted and booted.version else __version__


def other_slot(status: SystemStatus) -> str:
    others = [s.bootname for s in status.slots if s.bootname != status.booted]
    return others[0] if others else ""


def install_bundle(
    bundle: Path,
    *,
    rauc: Rauc,
    state: UpdateState,
    service_url: str,
    allow_downgrade: bool = False,
    release_file: Path | None = None,
    hold: bool = True,
    expected_version: str = "",
) -> dict[str, Any]:
    """Check and install ``bundle``; a refusal is recorded and raised, nothing changed.

    ``expected_version``: the manifest's version, which the bundle's own must equal."""
    try:
        info = rauc.info(bundle)  # RAUC checks the signature against the keyring here
        if expected_version and info.version != expected_version:
            raise UpdateRefused(
                f"bundle is version {info.version}, the manifest says {expected_version}",
                code="version_mismatch",
            )
        status = rauc.status()
        if status.compatible and info.compatible != status.compatible:
            raise UpdateRefused(
                f"bundle is for {info.compatible!r}, this device is {status.compatible!r}",
                code="incompatible",
            )
        running = running_version(status, release_file)
        direction = check_upgrade(running, info.version, allow_downgrade=allow_downgrade)
    except UpdateRefused as exc:
        state.record("refused", "", f"{bundle.name}: {exc.message}")
        raise
    target = other_slot(status)
    if hold:
        request_hold(service_url, info.version)
    try:
        log.info("installing %s %s -> %s into slot %s", direction, running, info.version, target)
        rauc.install(bundle)
    except Exception as exc:
        state.record("failed", info.version, f"install: {getattr(exc, 'message', exc)}")
        if hold:
            release_hold(service_url)
        raise
    os.sync()  # the boot loader's new order on disk before anything can cut the power
    state.set_pending(info.version, target, running)
    state.record("installed", info.version, f"{direction} from {running} into slot {target}")
    # The hold is kept: the reboot follows, and it expires by itself if it does not.
    return {
        "ok": True,
        "action": "installed",
        "direction": direction,
        "from": running,
        "version": info.version,
        "slot": target,
        "reboot_needed": True,
    }


def fetch_manifest(url: str, timeout_s: float, ca_file: str) -> bytes:
    ctx = ssl.create_default_context(cafile=ca_file or None) if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=timeout_s, context=ctx) as resp:
        return resp.read(64 * 1024 + 1)


def poll(
    cfg: Any,
    *,
    rauc: Rauc,
    state: UpdateState,
    service_url: str,
    fetch: Callable[[str], bytes] | None = None,
    sleep: Callable[[float], None] | None = None,
    release_file: Path | None = None,
) -> dict[str, Any]:
    """One look at the hub: install the offered release when it is for this device."""
    up = cfg.update
    if not up.manifest_url:
        return {"ok": True, "action": "no_manifest_url"}
    raw = (fetch or (lambda u: fetch_manifest(u, up.timeout_s, up.ca_file)))(up.manifest_url)
    manifest = load_manifest(
        raw, load_keyring(up.keyring), base_url=up.manifest_url, channel=up.channel
    )
    status = rauc.status()
    running = running_version(status, release_file)
    device = cfg.service.device_name
    base = {"ok": True, "version": manifest.version, "running": running}
    if status.compatible and manifest.compatible != status.compatible:
        return {**base, "action": "incompatible"}
    if Version(manifest.version) <= Version(running):
        return {**base, "action": "up_to_date"}
    if manifest.version in state.failed_versions():
        return {**base, "action": "skipped_failed_before"}
    if not rollout.selected(manifest, up.site, device):
        return {**base, "action": "not_in_rollout", "share_pct": manifest.share_for(up.site)}
    kwargs = {"sleep": sleep} if sleep else {}
    bundle = download(
        manifest,
        cfg.update_dir,
        timeout_s=up.timeout_s,
        retries=up.retries,
        ca_file=up.ca_file,
        **kwargs,
    )
    try:
        result = install_bundle(
            bundle,
            rauc=rauc,
            state=state,
            service_url=service_url,
            release_file=release_file,
            expected_version=manifest.version,
        )
    except UpdateRefused:
        bundle.unlink(missing_ok=True)  # never useful again; the data partition is small
        raise
    bundle.unlink(missing_ok=True)  # written into the slot: the copy only takes space
    return result
