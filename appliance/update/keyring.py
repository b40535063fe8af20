"""The kiosk's update keyring: the office's update-signing certificate(s), checked before use.

``appliance provision`` installs it as ``/etc/appliance/update-keyring.pem`` (RAUC's
``[keyring] path`` and the key the hub's manifests are checked with, docs/updates.md "Keys").
What goes in is refused unless it is one or more PEM X.509 certificates whose keys this kiosk can
check signatures with (EC P-256/P-384/P-521, RSA of at least 2048 bits, Ed25519), and never when
the file also carries a private key: that key must stay on the office's signing machine.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from appliance.update.errors import UpdateRefused
from appliance.update.manifest import spki_fingerprint

MAX_KEYRING_BYTES = 64 * 1024
_PRIVATE_MARKERS = (b"PRIVATE KEY-----", b"-----BEGIN ENCRYPTED")


@dataclass(frozen=True)
class Keyring:
    pem: bytes  # normalised: the certificates only, PEM, one after the other
    fingerprints: tuple[str, ...]  # SHA-256 of each public key (the manifests' ``signer``)
    subjects: tuple[str, ...]
    warnings: tuple[str, ...]


def _refuse(message: str) -> UpdateRefused:
    return UpdateRefused(f"update keyring: {message}", code="bad_keyring")


def _key_kind(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise _refuse(f"EC curve {key.curve.name} is not supported (use P-256)")
        return f"EC {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise _refuse(f"RSA key of {key.key_size} bits is too short (at least 2048)")
        return f"RSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    raise _refuse(f"{type(key).__name__} keys cannot sign updates (use EC P-256, RSA or Ed25519)")


def check_keyring(data: bytes, *, now: datetime.datetime | None = None) -> Keyring:
    """Validate a keyring file's bytes; raises :class:`UpdateRefused` (``bad_keyring``)."""
    if not data.strip():
        raise _refuse("the file is empty")
    if len(data) > MAX_KEYRING_BYTES:
        raise _refuse(f"larger than {MAX_KEYRING_BYTES} bytes; a keyring is a few certificates")
    if any(marker in data for marker in _PRIVATE_MARKERS):
        raise _refuse(
            "the file holds a PRIVATE KEY; put only the certificate on a kiosk "
            "(the signing key stays on the office's signing machine)"
        )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise _refuse("no PEM certificate (-----BEGIN CERTIFICATE-----) in the file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _refuse("a PEM certificate in the file cannot be read") from None
    now = now or datetime.datetime.now(datetime.UTC)
    warnings = []
    fingerprints, subjects = [], []
    for cert in certs:
        _key_kind(cert)
        subject = cert.subject.rfc4514_string() or "(no subject)"
        if cert.not_valid_after_utc < now:
            # Not refused: a Pi without a clock may think it is 1970 or 2038; RAUC's own check
            # uses the signing time. Said, so the office renews it.
            warnings.append(
                f"update certificate {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}"
            )
        fingerprints.append(spki_fingerprint(cert.public_key()))
        subjects.append(subject)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return Keyring(pem, tuple(fingerprints), tuple(subjects), tuple(warnings))
