"""System-update rollouts on the hub: which signed manifest each channel serves, and the fleet's
update state from its heartbeats (docs/updates.md, "Rollout from the hub").

The hub never holds the update-signing key. The office signs, per release, one manifest per
stage it may want (``appliance update-manifest ... --stages 10,100 --out-dir DIR``: a share of
the kiosks first, then all, and a *stopped* one) and copies them with the bundle into
``[hub] releases_dir``. The hub checks every manifest there against ``[hub] update_keyring`` (the
kiosks' keyring), and a technician picks, per channel, which release and stage is served at
``/update/<channel>/manifest.json``; the stage is kept in ``rollout_stage``. Serving is the
office's bytes unchanged, so the kiosk still verifies the office's signature itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from appliance.errors import ConfigError, InvalidInput
from appliance.hub.config import HubSettings
from appliance.hub.errors import NotFound
from appliance.hub.schema import device_state, devices, rollout_stage
from appliance.update import rollout
from appliance.update.errors import UpdateRefused
from appliance.update.manifest import MAX_MANIFEST_BYTES, Manifest, load_keyring, load_manifest
from appliance.update.version import Version

STOPPED = "stopped"
# Relative bundle URLs are the kiosk's to resolve (against the manifest's URL): checked here
# against a stand-in base and shown as the office wrote them.
_BASE = "https://hub.invalid/update/"


@dataclass
class Release:
    channel: str
    version: str
    sha256: str
    bundle: str  # the bundle's URL as the manifests give it (relative to the manifest's URL)
    stages: dict[str, tuple[str, bytes, Manifest]] = field(default_factory=dict)  # key -> file

    @property
    def shares(self) -> list[str]:
        """The stage keys a technician can choose, widest last, ``stopped`` at the end."""
        pcts = sorted((k for k in self.stages if k != STOPPED), key=int)
        return pcts + ([STOPPED] if STOPPED in self.stages else [])


@dataclass
class Catalogue:
    releases: dict[tuple[str, str], Release] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file name, why refused)

    def get(self, channel: str, version: str) -> Release:
        rel = self.releases.get((channel, version))
        if rel is None:
            raise NotFound(f"no release {version!r} on channel {channel!r} in the releases folder")
        return rel

    def sorted(self) -> list[Release]:
        return sorted(
            self.releases.values(), key=lambda r: (r.channel, Version(r.version)), reverse=True
        )


def stage_key(m: Manifest) -> str:
    if m.stopped:
        return STOPPED
    if m.sites:  # a per-site share cannot be one of the hub's stages: say so rather than guess
        raise UpdateRefused(
            "a staged manifest gives one share to every site (no --site)", code="bad_manifest"
        )
    return str(m.default_pct)


def scan(settings: HubSettings) -> Catalogue:
    """Every signed manifest in ``releases_dir``, checked; bad files are listed, not served."""
    if not settings.update_keyring or not settings.releases_dir:
        raise ConfigError(
            "set [hub] update_keyring (the kiosks' update certificate) and releases_dir",
            key="hub.update_keyring",
        )
    keyring = load_keyring(settings.update_keyring)
    cat = Catalogue()
    folder = Path(settings.releases_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            raw = path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
            m = load_manifest(raw, keyring, base_url=_BASE)
            key = stage_key(m)
        except UpdateRefused as exc:
            cat.problems.append((path.name, f"{exc.code}: {exc.message}"))
            continue
        except OSError as exc:
            cat.problems.append((path.name, str(exc.strerror)))
            continue
        rel = cat.releases.setdefault(
            (m.channel, m.version),
            Release(m.channel, m.version, m.sha256, m.bundle_url.removeprefix(_BASE)),
        )
        if (m.sha256, m.bundle_url.removeprefix(_BASE)) != (rel.sha256, rel.bundle):
            cat.problems.append((path.name, f"another bundle than the other {m.version} stages"))
        elif key in rel.stages:
            cat.problems.append((path.name, f"stage {key} of {m.version} twice"))
        else:
            rel.stages[key] = (path.name, raw, m)
    return cat


def staged(engine: Engine) -> dict[str, dict[str, Any]]:
    """channel -> {version, stage, staged_ts, staged_by}."""
    with engine.connect() as conn:
        rows = conn.execute(select(rollout_stage)).all()
    return {r.channel: dict(r._mapping) for r in rows}


def set_stage(
    engine: Engine, cat: Catalogue, channel: str, version: str, stage: str, officer: str
) -> dict[str, Any]:
    """Serve ``stage`` of ``version`` on ``channel`` (one release per channel at a time)."""
    rel = cat.get(channel, version)
    if stage not in rel.stages:
        what = "stopped manifest (--stopped)" if stage == STOPPED else f"manifest for {stage} %"
        raise InvalidInput(
            f"release {version} has no {what} in the releases folder; ask the office to sign one",
            code="no_stage",
        )
    row = {
        "channel": channel,
        "version": version,
        "stage": stage,
        "staged_ts": time.time(),
        "staged_by": officer,
    }
    with engine.begin() as conn:
        conn.execute(delete(rollout_stage).where(rollout_stage.c.channel == channel))
        conn.execute(rollout_stage.insert().values(**row))
    return row


def served(engine: Engine, settings: HubSettings, channel: str) -> bytes:
    """The manifest document the kiosks of ``channel`` get now (the office's bytes)."""
    now = staged(engine).get(channel)
    if now is None:
        raise NotFound(f"no release is staged on channel {channel!r}")
    rel = scan(settings).get(channel, now["version"])
    if now["stage"] not in rel.stages:
        raise NotFound(f"stage {now['stage']} of {now['version']} left the releases folder")
    return rel.stages[now["stage"]][1]


def bundle_path(settings: HubSettings, name: str) -> Path:
    """A bundle file in the releases folder (no other path is served)."""
    if "/" in name or name.startswith(".") or not name.endswith(".raucb"):
        raise NotFound("not a bundle name")
    path = Path(settings.releases_dir) / name
    if not settings.releases_dir or not path.is_file():
        raise NotFound(f"no bundle {name!r} on this hub")
    return path


def _update_state(h: dict[str, Any]) -> tuple[str, str]:
    """(state code, version it concerns) from a heartbeat's ``health.update``."""
    up = h.get("update") or {}
    if not isinstance(up, dict):
        return "unknown", ""
    if up.get("held"):
        return "installing", str(up.get("version") or "")
    pending = up.get("pending") or {}
    if isinstance(pending, dict) and pending.get("version"):
        return "trial", str(pending["version"])
    last = up.get("last") or {}
    if isinstance(last, dict) and last.get("result"):
        return str(last["result"]), str(last.get("version") or "")
    return "none", ""


def fleet_updates(engine: Engine, cat: Catalogue | None) -> list[dict[str, Any]]:
    """Each kiosk's running release, update state and place in the staged rollout."""
    now = staged(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(devices.c.name, devices.c.site, devices.c.revoked_at, device_state.c.body).join(
                device_state, device_state.c.device_id == devices.c.id, isouter=True
            )
        ).all()
    out = []
    for r in rows:
        h = json.loads(r.body or "{}").get("health", {}) if r.body else {}
        up = h.get("update") if isinstance(h.get("update"), dict) else {}
        state, about = _update_state(h)
        waves = {}
        for channel, st in now.items():
            rel = cat.releases.get((channel, st["version"])) if cat else None
            if rel and st["stage"] in rel.stages:
                m = rel.stages[st["stage"]][2]
                waves[channel] = rollout.selected(m, r.site, r.name)
        out.append(
            {
                "name": r.name,
                "site": r.site,
                "revoked": r.revoked_at is not None,
                "seen": bool(r.body),
                "release": up.get("release") or h.get("version") or "",
                "state": state,
                "state_version": about,
                "failed_versions": list(up.get("failed_versions") or []),
                "in_wave": waves,
            }
        )
    out.sort(key=lambda d: d["name"])
    return out
