"""The office side: sign a manifest for a bundle (``appliance update sign-manifest``).

The private key never goes on a kiosk or into an image; this runs on the office machine that
holds it (docs/updates.md, "Publishing a release").
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from appliance.update.errors import UpdateRefused
from appliance.update.manifest import FORMAT, Manifest, parse_payload, spki_fingerprint


def load_private_key(path: str | Path):
    try:
        return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UpdateRefused(f"cannot load signing key {path}: {exc}", code="bad_key") from None


def sign_bytes(key, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise UpdateRefused("signing key must be EC, RSA or Ed25519", code="bad_key")


def sign_manifest(manifest: Manifest, key) -> bytes:
    """The signed manifest document (bytes to serve) for ``manifest``."""
    payload = json.dumps(manifest.to_payload(), ensure_ascii=False, indent=1)
    # Never publish what a kiosk would refuse (a relative bundle_url is resolved by the kiosk).
    parse_payload(payload.encode("utf-8"), base_url="https://hub.invalid/update/")
    doc = {
        "format": FORMAT,
        "payload": payload,
        "signer": spki_fingerprint(key.public_key()),
        "signature": base64.b64encode(sign_bytes(key, payload.encode("utf-8"))).decode(),
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def file_digest(path: str | Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
