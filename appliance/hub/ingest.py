"""Accepting one sealed bundle, exactly as the kiosk outbox sends it (appliance/store/outbox.py).

Checks, in order: the device token (401 none, 403 unknown or revoked), ``X-Device-Key-Id``
against the registered key (403), the id format and that URL, ``Idempotency-Key`` and header
agree (422), the size (413), ``X-Bundle-SHA256`` (422), the framing and the Ed25519 signature
against *that device's* registered key (422 ``bundle_malformed``/``bundle_tampered``/
``device_mismatch``), the office key it is sealed to when the hub knows it (422 ``wrong_key``).
Then one transaction: a new id is stored and committed before the answer (201); the same id
with the same SHA-256 is a repeat (200); the same id with other bytes is 422
``bundle_conflict`` (never 409, which the outbox would take as an acknowledgement).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from appliance.errors import InvalidInput
from appliance.hub.counts import add, hour_of_iso
from appliance.hub.errors import DeviceRefused, RefusedBundle
from appliance.hub.registry import device_for_token, parse_public_key
from appliance.hub.schema import bundles
from appliance.store.bundle import KINDS, parse, verify_signature

BUNDLE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Upload:
    """One request's parts the hub looks at."""

    bundle_id: str | None  # from the URL (PUT); None for POST
    headers: dict[str, str]
    body: bytes


def check_id(bundle_id: str | None, what: str) -> str:
    if not bundle_id or not BUNDLE_ID_RE.match(bundle_id):
        raise RefusedBundle(f"{what} is not a bundle id (32 hex digits)", code="bad_bundle_id")
    return bundle_id


def _verify(upload: Upload, device: dict[str, Any], office_key_id: str | None) -> dict[str, Any]:
    h = upload.headers
    key = h.get("Idempotency-Key")
    check_id(key, "Idempotency-Key")
    if upload.bundle_id is not None and check_id(upload.bundle_id, "URL") != key:
        raise RefusedBundle("URL and Idempotency-Key name different bundles", code="id_mismatch")
    sha = (h.get("X-Bundle-SHA256") or "").lower()
    if not SHA_RE.match(sha):
        raise RefusedBundle("X-Bundle-SHA256 missing or not hex", code="bad_sha256")
    if hashlib.sha256(upload.body).hexdigest() != sha:
        raise RefusedBundle("body does not match X-Bundle-SHA256", code="sha256_mismatch")
    try:
        parsed = parse(upload.body)
    except InvalidInput as exc:
        raise RefusedBundle(exc.message, code=exc.code) from None
    header = parsed.header
    if header["bundle_id"] != key:
        raise RefusedBundle("sealed header names another bundle id", code="id_mismatch")
    if header["kind"] not in KINDS:
        raise RefusedBundle(f"unknown bundle kind {header['kind']!r}", code="bundle_malformed")
    if header["device_key_id"] != device["key_id"]:
        raise RefusedBundle(
            f"bundle is signed by device key {header['device_key_id']}, not by this "
            f"kiosk's registered key {device['key_id']}",
            code="device_mismatch",
        )
    registered: Ed25519PublicKey = parse_public_key(device["public_key_pem"])
    try:
        verify_signature(parsed, {device["key_id"]: registered})
    except InvalidInput as exc:
        raise RefusedBundle(exc.message, code=exc.code) from None
    if office_key_id and header["office_key_id"] != office_key_id:
        raise RefusedBundle(
            f"bundle is sealed to office key {header['office_key_id']}, not this office's",
            code="wrong_key",
        )
    return {
        "bundle_id": key,
        "sha256": sha,
        "size": len(upload.body),
        "kind": header["kind"],
        "created_at": header["created_at"][:40],
        "clock_synced": header.get("clock_synced")
        if isinstance(header.get("clock_synced"), bool)
        else None,
        "office_key_id": header["office_key_id"],
    }


def ingest(
    engine: Engine,
    upload: Upload,
    *,
    office_key_id: str | None = None,
    now: float | None = None,
    utc_offset_h: float = 7.0,
) -> tuple[int, dict[str, Any]]:
    """Check and keep one bundle: (HTTP status, JSON body). Raises the typed refusals."""
    with engine.connect() as conn:
        device = device_for_token(conn, upload.headers.get("Authorization"))
    if upload.headers.get("X-Device-Key-Id") != device["key_id"]:
        raise DeviceRefused("X-Device-Key-Id is not this token's device", code="device_mismatch")
    meta = _verify(upload, device, office_key_id)
    row = {
        **meta,
        "device_id": device["id"],
        "received_ts": time.time() if now is None else now,
        "data": upload.body,
    }
    try:
        with engine.begin() as conn:
            conn.execute(bundles.insert().values(**row))
            if meta["kind"] == "capture":
                hour = hour_of_iso(meta["created_at"], utc_offset_h)
                add(conn, hour, device["id"], [("capture", "", 1)])
        return 201, {"bundle_id": meta["bundle_id"], "duplicate": False}
    except IntegrityError:
        pass  # the id exists (perhaps inserted by another process a moment ago)
    with engine.connect() as conn:
        old = conn.execute(
            select(bundles.c.sha256, bundles.c.device_id).where(
                bundles.c.bundle_id == meta["bundle_id"]
            )
        ).first()
    if old is not None and old.sha256 == meta["sha256"] and old.device_id == device["id"]:
        return 200, {"bundle_id": meta["bundle_id"], "duplicate": True}
    raise RefusedBundle(
        f"bundle {meta['bundle_id']} was already received with other content",
        code="bundle_conflict",
    )
