"""Active authentication (ICAO 9303-11 section 6.1) with the DG15 key, both sides.

RSA: the chip signs an 8-byte challenge with ISO/IEC 9796-2 digital signature scheme 1 (partial
message recovery: ``6A || M1 || H(M1 || challenge) || BC``, or a two-byte ``xxCC`` trailer naming
the hash). ECDSA: a plain ``r || s`` signature (BSI TR-03111), with the hash named by DG14's
ActiveAuthenticationInfo, or found by trying the usual ones when DG14 does not say.
Result: ``passed``, ``failed`` or ``not_supported`` (no DG15).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from appliance.icao.apdu import Command
from appliance.icao.errors import ReadError
from appliance.icao.keys import PublicKey

log = logging.getLogger(__name__)

PASSED, FAILED, NOT_SUPPORTED = "passed", "failed", "not_supported"
TRAILER_HASHES = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}
HASH_TRAILERS = {name: ident for ident, name in TRAILER_HASHES.items()}
EC_HASHES = ("sha256", "sha1", "sha224", "sha384", "sha512")
_CRYPTO_HASH = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass
class ActiveAuthResult:
    status: str
    algorithm: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "algorithm": self.algorithm, "message": self.message}


# --- RSA, ISO/IEC 9796-2 scheme 1 -------------------------------------------------------------


def _rsa_recover(key: rsa.RSAPublicKey, signature: bytes) -> bytes | None:
    numbers = key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != size or not 0 < s < numbers.n:
        return None
    return pow(s, numbers.e, numbers.n).to_bytes(size, "big")


def verify_rsa_9796_2(key: rsa.RSAPublicKey, challenge: bytes, signature: bytes) -> str | None:
    """The hash name when ``signature`` is a valid 9796-2 signature over ``challenge``."""
    f = _rsa_recover(key, signature)
    if f is None or f[0] & 0xE0 != 0x60:  # '01' header, partial recovery bit set
        return None
    if f[-1] == 0xBC:
        hash_name, trailer = "sha1", 1
    elif f[-1] == 0xCC and f[-2] in TRAILER_HASHES:
        hash_name, trailer = TRAILER_HASHES[f[-2]], 2
    else:
        return None
    start = 1
    if f[0] & 0x0F == 0x0B:  # padding nibbles B..BA before M1
        border = f.find(b"\xba", 1)
        if border < 0 or any(b != 0xBB for b in f[1:border]):
            return None
        start = border + 1
    elif f[0] & 0x0F != 0x0A:
        return None
    hlen = hashlib.new(hash_name).digest_size
    if len(f) < start + hlen + trailer:
        return None
    m1 = f[start : len(f) - hlen - trailer]
    d = f[len(f) - hlen - trailer : len(f) - trailer]
    return hash_name if hashlib.new(hash_name, m1 + challenge).digest() == d else None


def sign_rsa_9796_2(key: rsa.RSAPrivateKey, challenge: bytes, hash_name: str = "sha1") -> bytes:
    """Card side: the 9796-2 scheme 1 signature of ``challenge`` (M1 random, fills capacity)."""
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    trailer = b"\xbc" if hash_name == "sha1" else bytes([HASH_TRAILERS[hash_name], 0xCC])
    hlen = hashlib.new(hash_name).digest_size
    m1 = os.urandom(size - hlen - len(trailer) - 1)
    f = b"\x6a" + m1 + hashlib.new(hash_name, m1 + challenge).digest() + trailer
    return pow(int.from_bytes(f, "big"), numbers.d, n).to_bytes(size, "big")


# --- ECDSA ------------------------------------------------------------------------------------


def verify_ecdsa(
    key: ec.EllipticCurvePublicKey, challenge: bytes, signature: bytes, hash_name: str | None
) -> str | None:
    """The hash name when ``signature`` (plain r||s, or DER) verifies over ``challenge``."""
    candidates = [hash_name] if hash_name else list(EC_HASHES)
    encodings = []
    if signature and len(signature) % 2 == 0:
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        encodings.append(utils.encode_dss_signature(r, s))
    if signature[:1] == b"\x30":
        encodings.append(signature)
    for name in candidates:
        for der in encodings:
            try:
                key.verify(der, challenge, ec.ECDSA(_CRYPTO_HASH[name]()))
                return name
            except (InvalidSignature, ValueError):
                continue
    return None


def sign_ecdsa_plain(
    key: ec.EllipticCurvePrivateKey, challenge: bytes, hash_name: str = "sha256"
) -> bytes:
    r, s = utils.decode_dss_signature(key.sign(challenge, ec.ECDSA(_CRYPTO_HASH[hash_name]())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# --- the protocol -----------------------------------------------------------------------------


def response_length(key: PublicKey) -> int:
    """The Le that fits the key's signature."""
    if isinstance(key, rsa.RSAPublicKey):
        return (key.key_size + 7) // 8
    return 2 * ((key.curve.key_size + 7) // 8)


def active_authentication(
    send: Callable[[Command, bool], tuple[bytes, int]],
    key: PublicKey | None,
    aa_hash: str | None = None,
    *,
    extended: bool = False,
    rng: Callable[[int], bytes] = os.urandom,
) -> ActiveAuthResult:
    """INTERNAL AUTHENTICATE with a fresh challenge; ``send(command, extended)`` goes through
    secure messaging. A chip that refuses the command fails (it announced AA with DG15)."""
    if key is None:
        return ActiveAuthResult(NOT_SUPPORTED, message="the chip has no DG15")
    challenge = rng(8)
    size = response_length(key)
    use_ext = extended and size > 231
    le = size if use_ext else 256
    try:
        signature, sw = send(Command(0x00, 0x88, 0x00, 0x00, challenge, le), use_ext)
    except ReadError as exc:
        if getattr(exc, "sw", None) is None:
            raise
        signature, sw = b"", exc.sw  # type: ignore[attr-defined]
    if sw != 0x9000:
        log.warning("active authentication: INTERNAL AUTHENTICATE answered %04X", sw)
        return ActiveAuthResult(FAILED, message=f"INTERNAL AUTHENTICATE answered {sw:04X}")
    if isinstance(key, rsa.RSAPublicKey):
        name = verify_rsa_9796_2(key, challenge, signature)
        algorithm = f"rsa-iso9796-2-{name}" if name else "rsa-iso9796-2"
    else:
        name = verify_ecdsa(key, challenge, signature, aa_hash)
        algorithm = f"ecdsa-{name or aa_hash or 'unknown'}"
    if name is None:
        log.warning("active authentication failed: the signature does not verify")
        return ActiveAuthResult(FAILED, algorithm, "the chip's signature does not verify")
    return ActiveAuthResult(PASSED, algorithm)
