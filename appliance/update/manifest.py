"""The hub's update manifest: what release is offered, where, to whom; signed by the office.

The document (docs/updates.md, "Manifest") is JSON::

    {"format": "cccd-update-manifest/1",
     "payload": "<JSON text of the fields below>",
     "signer": "<SHA-256 of the signing certificate's public key, hex>",
     "signature": "<base64 signature of the payload's UTF-8 bytes>"}

The signature covers the payload's exact bytes (no canonical-JSON rules for a hub in another
language to get wrong). It is made with the office's update-signing key, the same key that signs
the RAUC bundles, and checked against the same keyring (``/etc/rauc/keyring.pem``): ECDSA with
SHA-256 (P-256/P-384 certificates), RSA PKCS#1 v1.5 with SHA-256, or Ed25519.

Payload fields: ``version``, ``compatible`` (RAUC compatible string), ``channel``, ``bundle_url``
(absolute, or relative to the manifest's URL), ``sha256`` and ``size`` of the bundle file,
``rollout`` (``{"default_pct": 0-100, "sites": {"<site>": 0-100}}``), ``stopped`` (a halted
rollout), optional ``released_at`` and ``notes``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from appliance.update.errors import UpdateRefused
from appliance.update.version import Version

FORMAT = "cccd-update-manifest/1"
MAX_MANIFEST_BYTES = 64 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Manifest:
    version: str
    compatible: str
    channel: str
    bundle_url: str
    sha256: str
    size: int
    default_pct: int = 0
    sites: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    released_at: str = ""
    notes: str = ""

    def share_for(self, site: str) -> int:
        """The rollout share (percent) of a site: its own entry, else the default."""
        if self.stopped:
            return 0
        return self.sites.get(site, self.default_pct)

    def to_payload(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "compatible": self.compatible,
            "channel": self.channel,
            "bundle_url": self.bundle_url,
            "sha256": self.sha256,
            "size": self.size,
            "rollout": {"default_pct": self.default_pct, "sites": dict(self.sites)},
            "stopped": self.stopped,
            "released_at": self.released_at,
            "notes": self.notes,
        }


def spki_fingerprint(public_key: Any) -> str:
    """SHA-256 of a public key's DER SubjectPublicKeyInfo, hex (what ``signer`` names)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def load_keyring(path: str | Path) -> list[x509.Certificate]:
    """The certificates of a PEM keyring (RAUC's ``[keyring] path``)."""
    try:
        data = Path(path).read_bytes()
        certs = x509.load_pem_x509_certificates(data)
    except OSError as exc:
        raise UpdateRefused(
            f"cannot read the update keyring {path}: {exc.strerror}", code="no_keyring"
        ) from None
    except ValueError:
        raise UpdateRefused(
            f"the update keyring {path} holds no PEM certificate", code="no_keyring"
        ) from None
    return certs


def verify_signature(public_key: Any, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _bad(message: str) -> UpdateRefused:
    return UpdateRefused(f"update manifest: {message}", code="bad_manifest")


def parse_document(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _bad(f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(f"not a {FORMAT} document")
    if not isinstance(doc.get("payload"), str):
        raise _bad("no payload")
    return doc


def verify_document(doc: dict[str, Any], keyring: list[x509.Certificate]) -> bytes:
    """The payload's bytes once its signature verifies against the keyring; refused otherwise."""
    payload = doc["payload"].encode("utf-8")
    sig_text, signer = doc.get("signature"), doc.get("signer")
    if not sig_text:
        raise UpdateRefused("update manifest is not signed", code="unsigned")
    try:
        signature = base64.b64decode(str(sig_text), validate=True)
    except (binascii.Error, ValueError):
        raise UpdateRefused("update manifest signature is not base64", code="unsigned") from None
    known = {spki_fingerprint(c.public_key()): c for c in keyring}
    cert = known.get(str(signer or "").lower())
    if cert is None:
        # Not one of ours by name; a signature by our key under a wrong name is still accepted
        # only if it verifies (the name is a hint, the signature is the proof).
        for candidate in keyring:
            if verify_signature(candidate.public_key(), signature, payload):
                return payload
        raise UpdateRefused(
            "update manifest is signed by a key that is not in this kiosk's keyring",
            code="foreign_key",
        )
    if not verify_signature(cert.public_key(), signature, payload):
        raise UpdateRefused(
            "update manifest signature does not match its content (tampered)", code="tampered"
        )
    return payload


def _pct(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise _bad(f"{where} must be a whole percent 0-100")
    return value


def parse_payload(payload: bytes, base_url: str = "") -> Manifest:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("payload is not JSON") from None
    if not isinstance(data, dict):
        raise _bad("payload is not an object")

    def text(key: str, required: bool = True) -> str:
        value = data.get(key, "" if not required else None)
        if not isinstance(value, str) or (required and not value):
            raise _bad(f"{key} missing or not text")
        return value

    version = text("version")
    Version(version)  # refuses what is not a release version
    if not _NAME.match(text("channel")):
        raise _bad("channel must be a short name")
    digest = text("sha256").lower()
    if not _HEX64.match(digest):
        raise _bad("sha256 must be 64 hex digits")
    size = data.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise _bad("size must be a positive whole number of bytes")
    url = urljoin(base_url, text("bundle_url")) if base_url else text("bundle_url")
    if urlparse(url).scheme not in ("http", "https", "file"):
        raise _bad(f"bundle_url {url!r} is not http(s) or file")
    rollout = data.get("rollout", {})
    if not isinstance(rollout, dict) or not isinstance(rollout.get("sites", {}), dict):
        raise _bad("rollout must be {default_pct, sites}")
    sites = {str(k): _pct(v, f"rollout.sites.{k}") for k, v in rollout.get("sites", {}).items()}
    stopped = data.get("stopped", False)
    if not isinstance(stopped, bool):
        raise _bad("stopped must be true or false")
    return Manifest(
        version=version,
        compatible=text("compatible"),
        channel=text("channel"),
        bundle_url=url,
        sha256=digest,
        size=size,
        default_pct=_pct(rollout.get("default_pct", 0), "rollout.default_pct"),
        sites=sites,
        stopped=stopped,
        released_at=text("released_at", required=False),
        notes=text("notes", required=False),
    )


def load_manifest(
    raw: bytes, keyring: list[x509.Certificate], *, base_url: str = "", channel: str = ""
) -> Manifest:
    """Parse, verify and validate a manifest document; refuses one for another channel."""
    payload = verify_document(parse_document(raw), keyring)
    manifest = parse_payload(payload, base_url)
    if channel and manifest.channel != channel:
        raise UpdateRefused(
            f"manifest is for channel {manifest.channel!r}, this kiosk follows {channel!r}",
            code="wrong_channel",
        )
    return manifest
