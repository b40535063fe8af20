"""Who gets a release first: a deterministic share of the kiosks of each site.

A device's bucket (0.00-99.99) comes from SHA-256 of the release version and the device's name, so
the same device always answers the same for a release (no state, no coordination), raising a
site's share only adds devices (those already in stay in), and different releases pick
different first devices.
"""

from __future__ import annotations

import hashlib

from appliance.update.manifest import Manifest


def bucket(version: str, device: str) -> float:
    """This device's place (0 <= bucket < 100) in the rollout of ``version``."""
    digest = hashlib.sha256(f"cccd-rollout\n{version}\n{device}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 / 100


def selected(manifest: Manifest, site: str, device: str) -> bool:
    """Is this device in the manifest's rollout for its site?"""
    share = manifest.share_for(site)
    return share >= 100 or bucket(manifest.version, device) < share
