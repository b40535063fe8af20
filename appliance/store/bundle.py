"""Sealed bundles: a record and its images, encrypted to the office and signed by the device.

Encryption is HPKE (RFC 9180) base mode, as ``cryptography`` offers it: DHKEM(X25519,
HKDF-SHA256), HKDF-SHA256, AES-256-GCM, single shot. The kiosk holds only the office *public*
key, so once a bundle is sealed the kiosk itself cannot read it back. The whole bundle is then
signed with the device's Ed25519 key, so the office can tell which registered kiosk made it and
that not one byte changed.

Bundle format, version 1 (all integers big-endian)::

    offset      size  field
    0           4     magic b"CCSB"
    4           1     format version = 1
    5           1     suite = 1 (HPKE X25519/HKDF-SHA256/AES-256-GCM, Ed25519 signature)
    6           2     H: header length
    8           H     header: UTF-8 JSON object, keys sorted, no spaces (clear, no personal data)
    8+H         4     N: sealed length
    12+H        N     HPKE output: enc (32-byte ephemeral X25519 key) || ciphertext || 16-byte tag
    12+H+N      64    Ed25519 signature, by the device key, over bytes [0, 12+H+N)

Header keys: ``bundle_id`` (32 hex), ``kind`` (``capture``, ``checkin``,
``consent_withdrawal``), ``created_at`` (ISO 8601 with offset), ``clock_synced`` (true, false or
null = unknown), ``device_key_id`` and ``device_public_key`` (raw 32 bytes, base64), and
``office_key_id`` (the key it is sealed to). The HPKE ``info`` is ``b"cccd-sealed-bundle/1\\0"``
followed by bytes [0, 8+H), so the header cannot be swapped onto another ciphertext.

Plaintext: a 4-byte length J, a UTF-8 JSON object of J bytes ``{"bundle_id", "kind", "record",
"parts": [{"name", "content_type", "length", "sha256"}]}``, then the parts' bytes concatenated in
that order (portrait JPEG, fingerprint images...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from appliance.store.errors import (
    BundleMalformed,
    BundleTampered,
    UnknownDevice,
    WrongRecipient,
)
from appliance.store.keys import DeviceKey, key_id

MAGIC = b"CCSB"
VERSION = 1
SUITE_ID = 1
SIGNATURE_LEN = 64
ENC_LEN = 32
TAG_LEN = 16
INFO_PREFIX = b"cccd-sealed-bundle/1\x00"
FILE_SUFFIX = ".ccsb"
KINDS = ("capture", "checkin", "consent_withdrawal")
# Names that become file names at the office (``unseal --out``): nothing that can leave a folder.
BUNDLE_ID_RE = re.compile(r"[0-9a-f]{32}")
PART_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# What json.loads raises on hostile text besides JSONDecodeError: RecursionError (deep nesting),
# ValueError (an integer over Python's 4300-digit limit), UnicodeDecodeError.
_JSON_ERRORS = (ValueError, RecursionError)

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _json_default(obj: object) -> str:
    """Dates in records become ISO 8601; anything else that JSON lacks is refused."""
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def check_names(bundle_id: Any, part_names: list[Any]) -> None:
    """Raise :class:`BundleMalformed` unless every name is safe to use as a file name."""
    if not isinstance(bundle_id, str) or not BUNDLE_ID_RE.fullmatch(bundle_id):
        raise BundleMalformed("bundle id is not 32 lowercase hex digits")
    seen: set[str] = set()
    for name in part_names:
        if not isinstance(name, str) or not PART_NAME_RE.fullmatch(name):
            raise BundleMalformed(
                f"part name {str(name)[:40]!r} is not allowed (a-z, 0-9, _ and -, 1-64 chars)"
            )
        if name in seen:
            raise BundleMalformed(f"part name {name!r} appears twice")
        seen.add(name)


def _canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode()


@dataclass(frozen=True)
class Part:
    """One binary attachment (an image) of a sealed record."""

    name: str
    content_type: str
    data: bytes


def seal(
    kind: str,
    record: dict[str, Any],
    parts: list[Part],
    *,
    device_key: DeviceKey,
    office_key: X25519PublicKey,
    bundle_id: str,
    created_at: str,
    clock_synced: bool | None,
) -> bytes:
    """Encrypt ``record`` + ``parts`` to ``office_key`` and sign with ``device_key``."""
    if kind not in KINDS:
        raise ValueError(f"unknown bundle kind {kind!r}")
    try:
        check_names(bundle_id, [p.name for p in parts])
    except BundleMalformed as exc:
        raise ValueError(exc.message) from None
    header = {
        "bundle_id": bundle_id,
        "clock_synced": clock_synced,
        "created_at": created_at,
        "device_key_id": device_key.key_id,
        "device_public_key": base64.b64encode(device_key.public_raw).decode(),
        "kind": kind,
        "office_key_id": key_id(office_key),
    }
    header_bytes = _canonical(header)
    prefix = (
        MAGIC + bytes([VERSION, SUITE_ID]) + struct.pack(">H", len(header_bytes)) + header_bytes
    )
    inner = _canonical(
        {
            "bundle_id": bundle_id,
            "kind": kind,
            "record": record,
            "parts": [
                {
                    "name": p.name,
                    "content_type": p.content_type,
                    "length": len(p.data),
                    "sha256": hashlib.sha256(p.data).hexdigest(),
                }
                for p in parts
            ],
        }
    )
    plaintext = b"".join([struct.pack(">I", len(inner)), inner, *(p.data for p in parts)])
    sealed = _SUITE.encrypt(plaintext, office_key, info=INFO_PREFIX + prefix)
    signed = b"".join([prefix, struct.pack(">I", len(sealed)), sealed])
    return signed + device_key.private.sign(signed)


@dataclass
class ParsedBundle:
    """The clear framing of a bundle (nothing verified yet)."""

    header: dict[str, Any]
    prefix: bytes  # magic .. end of header: part of the HPKE info
    sealed: bytes
    signed: bytes
    signature: bytes


def parse(data: bytes) -> ParsedBundle:
    """Split a bundle into its fields; :class:`BundleMalformed` if the framing is wrong."""
    if len(data) < 12 + SIGNATURE_LEN or data[:4] != MAGIC:
        raise BundleMalformed("not a sealed bundle (no CCSB magic or too short)")
    if data[4] != VERSION or data[5] != SUITE_ID:
        raise BundleMalformed(f"unsupported bundle format {data[4]}/suite {data[5]}")
    (hlen,) = struct.unpack(">H", data[6:8])
    if 12 + hlen + SIGNATURE_LEN > len(data):
        raise BundleMalformed("bundle truncated (header length beyond the end)")
    (slen,) = struct.unpack(">I", data[8 + hlen : 12 + hlen])
    end = 12 + hlen + slen
    if end + SIGNATURE_LEN != len(data):
        raise BundleMalformed("bundle truncated or has trailing bytes (sealed length mismatch)")
    try:
        header = json.loads(data[8 : 8 + hlen].decode())
    except _JSON_ERRORS:
        raise BundleMalformed(
            "bundle header is not JSON (or nested or sized beyond limits)"
        ) from None
    need = (
        "bundle_id",
        "kind",
        "created_at",
        "device_key_id",
        "device_public_key",
        "office_key_id",
    )
    if not isinstance(header, dict) or any(not isinstance(header.get(k), str) for k in need):
        raise BundleMalformed("bundle header lacks required fields")
    check_names(header["bundle_id"], [])
    return ParsedBundle(header, data[: 8 + hlen], data[12 + hlen : end], data[:end], data[end:])


def embedded_signer(parsed: ParsedBundle) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(parsed.header["device_public_key"], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BundleMalformed("bundle header has an invalid device public key") from None


def verify_signature(
    parsed: ParsedBundle, devices: dict[str, Ed25519PublicKey] | None
) -> tuple[str, bool]:
    """Check the device signature; returns (signer key id, whether the signer is registered).

    With ``devices`` (the office's registry) the signer must be one of them, else
    :class:`UnknownDevice`. Without, the embedded key is used and only its fingerprint is known.
    """
    embedded = embedded_signer(parsed)
    signer_id = key_id(embedded)
    if signer_id != parsed.header["device_key_id"]:
        raise BundleTampered("device key id does not match the embedded device key")
    key = embedded
    if devices is not None:
        key = devices.get(signer_id)
        if key is None:
            raise UnknownDevice(
                f"bundle signed by device key {signer_id}, which is not among the "
                f"{len(devices)} registered device key(s)"
            )
    try:
        key.verify(parsed.signature, parsed.signed)
    except InvalidSignature:
        raise BundleTampered("device signature does not match: the bundle was altered") from None
    return signer_id, devices is not None


@dataclass
class UnsealedBundle:
    """A verified, decrypted bundle."""

    header: dict[str, Any]
    record: dict[str, Any]
    parts: dict[str, bytes]
    part_info: list[dict[str, Any]]
    signer_key_id: str
    signer_registered: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "bundle_id": self.header["bundle_id"],
            "kind": self.header["kind"],
            "created_at": self.header["created_at"],
            "clock_synced": self.header.get("clock_synced"),
            "signer_key_id": self.signer_key_id,
            "signer_registered": self.signer_registered,
            "parts": self.part_info,
        }


def unseal(
    data: bytes,
    office_private: X25519PrivateKey,
    devices: dict[str, Ed25519PublicKey] | None = None,
) -> UnsealedBundle:
    """Verify and decrypt a bundle (the office side). Raises a :class:`BundleError` subclass."""
    parsed = parse(data)
    signer_id, registered = verify_signature(parsed, devices)
    ours = key_id(office_private.public_key())
    if parsed.header["office_key_id"] != ours:
        raise WrongRecipient(
            f"bundle is sealed to office key {parsed.header['office_key_id']}, not to {ours}"
        )
    if len(parsed.sealed) < ENC_LEN + TAG_LEN:
        raise BundleMalformed("sealed payload too short")
    try:
        plaintext = _SUITE.decrypt(parsed.sealed, office_private, info=INFO_PREFIX + parsed.prefix)
    except (InvalidTag, ValueError):
        raise WrongRecipient("cannot decrypt with this office key") from None
    return _split_plaintext(plaintext, parsed.header, signer_id, registered)


def _split_plaintext(
    plaintext: bytes, header: dict[str, Any], signer_id: str, registered: bool
) -> UnsealedBundle:
    # The content was authenticated by AES-GCM; a mismatch here means a faulty (or hostile) sealer.
    layout = BundleMalformed("decrypted payload is not in the expected layout")
    try:
        (jlen,) = struct.unpack(">I", plaintext[:4])
        inner = json.loads(plaintext[4 : 4 + jlen].decode())
    except (struct.error, *_JSON_ERRORS):
        raise layout from None
    metas = inner.get("parts") if isinstance(inner, dict) else None
    if not isinstance(metas, list) or not all(isinstance(m, dict) for m in metas):
        raise layout
    check_names(header["bundle_id"], [m.get("name") for m in metas])
    offset = 4 + jlen
    parts: dict[str, bytes] = {}
    for meta in metas:
        length, digest = meta.get("length"), meta.get("sha256")
        if not isinstance(length, int) or length < 0 or not isinstance(digest, str):
            raise layout
        chunk = plaintext[offset : offset + length]
        offset += length
        if len(chunk) != length or hashlib.sha256(chunk).hexdigest() != digest:
            raise BundleMalformed(f"part {meta['name']!r} does not match its digest")
        parts[meta["name"]] = chunk
    if offset != len(plaintext):
        raise BundleMalformed("decrypted payload has trailing bytes")
    if inner.get("bundle_id") != header["bundle_id"] or inner.get("kind") != header["kind"]:
        raise BundleTampered("sealed content does not belong to this header")
    if not isinstance(inner.get("record"), dict):
        raise layout
    return UnsealedBundle(header, inner["record"], parts, metas, signer_id, registered)
