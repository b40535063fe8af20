"""The device register: which kiosks may upload, with which key and bearer token.

A token is issued once at registration (printed for the technician to put on the kiosk) and
only its SHA-256 is kept. ``export_register`` writes the registered public keys as a folder of
``<name>.pub`` files, the form ``appliance unseal --devices DIR`` reads.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from appliance.errors import InvalidInput
from appliance.hub.errors import DeviceRefused, NotFound
from appliance.hub.names import COMMUNE_RE, NAME_RE, PROFILES
from appliance.hub.schema import device_state, devices
from appliance.store.bundle import key_id


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_public_key(pem: str | bytes) -> Ed25519PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InvalidInput("not a PEM public key (device_ed25519.pub)", code="bad_key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("not an Ed25519 device key", code="bad_key")
    return key


def register_device(
    engine: Engine,
    *,
    name: str,
    public_key_pem: str,
    site: str,
    commune_code: str,
    profile: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Register a kiosk; returns its row plus ``token`` (shown this once only)."""
    if not NAME_RE.match(name):
        raise InvalidInput("name: letters, digits, . _ - (at most 100)", code="bad_name")
    if not COMMUNE_RE.match(commune_code):
        raise InvalidInput("commune code must be 5 digits", code="bad_commune")
    if profile not in PROFILES:
        raise InvalidInput(f"profile must be one of {', '.join(PROFILES)}", code="bad_profile")
    if not site.strip():
        raise InvalidInput("site must not be empty", code="bad_site")
    key = parse_public_key(public_key_pem)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    token = secrets.token_urlsafe(32)
    row = {
        "key_id": key_id(key),
        "public_key_pem": pem,
        "name": name,
        "site": site.strip(),
        "commune_code": commune_code,
        "profile": profile,
        "token_sha256": token_hash(token),
        "registered_at": time.time() if now is None else now,
        "revoked_at": None,
    }
    try:
        with engine.begin() as conn:
            dev_id = conn.execute(devices.insert().values(**row)).inserted_primary_key[0]
            conn.execute(
                device_state.insert().values(device_id=dev_id, last_seq=-1, last_ts=0.0, body="{}")
            )
    except IntegrityError:
        raise InvalidInput(
            f"a device named {name!r} or with key {row['key_id']} is already registered",
            code="already_registered",
        ) from None
    out = {k: v for k, v in row.items() if k != "token_sha256"}
    return {**out, "token": token}


def revoke_device(engine: Engine, name: str, now: float | None = None) -> dict[str, Any]:
    with engine.begin() as conn:
        res = conn.execute(
            update(devices)
            .where(devices.c.name == name, devices.c.revoked_at.is_(None))
            .values(revoked_at=time.time() if now is None else now)
        )
    if res.rowcount == 0:
        known = get_device(engine, name)
        if known is None:
            raise NotFound(f"no device named {name!r}")
        return {**known, "already_revoked": True}
    return {**get_device(engine, name), "already_revoked": False}  # type: ignore[dict-item]


def rotate_token(engine: Engine, name: str) -> str:
    """Issue a new token for a kiosk (the old one stops working at once); returns it."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        res = conn.execute(
            update(devices).where(devices.c.name == name).values(token_sha256=token_hash(token))
        )
    if res.rowcount == 0:
        raise NotFound(f"no device named {name!r}")
    return token


def device_by_key(engine: Engine, key_id_: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(devices).where(devices.c.key_id == key_id_)).first()
    return _public(row) if row else None


def _public(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d.pop("token_sha256", None)
    return d


def get_device(engine: Engine, name: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(devices).where(devices.c.name == name)).first()
    return _public(row) if row else None


def list_devices(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(devices).order_by(devices.c.name)).all()
    return [_public(r) for r in rows]


def device_for_token(conn: Any, authorization: str | None) -> dict[str, Any]:
    """The active device whose bearer token this is; :class:`DeviceRefused` otherwise."""
    if not authorization or not authorization.startswith("Bearer "):
        raise DeviceRefused("no device token (Authorization: Bearer)", code="no_token", status=401)
    digest = token_hash(authorization[7:].strip())
    row = conn.execute(select(devices).where(devices.c.token_sha256 == digest)).first()
    if row is None:
        raise DeviceRefused("unknown device token", code="unknown_device")
    if row.revoked_at is not None:
        raise DeviceRefused(f"device {row.name} is revoked", code="revoked_device")
    return dict(row._mapping)


def export_register(engine: Engine, out_dir: str | Path, *, include_revoked: bool = False) -> dict:
    """Write ``<name>.pub`` per device into ``out_dir`` for ``appliance unseal --devices``.

    Revoked devices are left out unless asked: their earlier bundles are still genuine, so an
    officer unsealing an old pull passes ``--include-revoked``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dev in list_devices(engine):
        if dev["revoked_at"] is not None and not include_revoked:
            continue
        (out / f"{dev['name']}.pub").write_text(dev["public_key_pem"])
        written.append({"name": dev["name"], "key_id": dev["key_id"]})
    return {"out": str(out), "devices": written}
