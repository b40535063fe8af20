"""Chip authentication (ICAO 9303-11 section 6.2, BSI TR-03110), the terminal side, ECDH.

With the chip's static key from DG14 (ChipAuthenticationPublicKeyInfo) and a fresh ephemeral
key: AES variants use MSE:Set AT (``00 22 41 A4``, protocol OID and key ID) and GENERAL
AUTHENTICATE (``7C { 80 PK }``); 3DES uses MSE:Set KAT (``00 22 41 A6``, ``91 PK``). Both answers
are still protected with the old keys; from then on secure messaging restarts with keys derived
from the shared secret and a send sequence counter of zero. Only the real chip, which holds the
private key, can answer the next command with a correct MAC: that answer is the proof.

Result: ``passed``, ``failed`` (refused, or the answer under the new keys does not verify) or
``not_supported`` (no CA info in DG14, a DH key: DH chip authentication is not implemented).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.icao import tlv
from appliance.icao.apdu import Command
from appliance.icao.errors import ReadError, SecureMessagingError
from appliance.icao.pace import oid_bytes, session_from_secret
from appliance.icao.secinfo import CaInfo, CaKey, ChipInfos
from appliance.icao.sm import SecureMessaging

log = logging.getLogger(__name__)

PASSED, FAILED, NOT_SUPPORTED = "passed", "failed", "not_supported"
PROBE = Command(0x00, 0xB0, 0x9E, 0x00, le=1)  # 1 byte of EF.COM by SFI: the first new-key answer


@dataclass
class ChipAuthResult:
    status: str
    algorithm: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "algorithm": self.algorithm, "message": self.message}


def not_supported(infos: ChipInfos | None) -> ChipAuthResult | None:
    """The ``not_supported`` result when DG14 offers no usable chip authentication."""
    if infos is None or not infos.ca:
        return ChipAuthResult(NOT_SUPPORTED, message="DG14 offers no chip authentication")
    if infos.ca_pair() is None:
        return ChipAuthResult(
            NOT_SUPPORTED, message="only DH chip authentication offered (not implemented)"
        )
    return None


def perform(
    send: Callable[[Command], tuple[bytes, int]],
    info: CaInfo,
    chip_key: CaKey,
    *,
    private_key: ec.EllipticCurvePrivateKey | None = None,
) -> SecureMessaging:
    """Run CA through ``send`` (protected by the current session); the new session. Raises
    ReadError (refused) or SecureMessagingError."""
    static = chip_key.key
    assert isinstance(static, ec.EllipticCurvePublicKey)
    key = private_key or ec.generate_private_key(static.curve)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    cipher, key_len = info.cipher
    key_id = tlv.encode(0x84, bytes([info.key_id])) if info.key_id is not None else b""
    if cipher == "aes":
        mse = tlv.encode(0x80, oid_bytes(info.oid)) + key_id
        _, sw = send(Command(0x00, 0x22, 0x41, 0xA4, mse))
        if sw != 0x9000:
            raise ReadError(f"the chip refused MSE:Set AT for chip authentication ({sw:04X})")
        _, sw = send(Command(0x00, 0x86, 0, 0, tlv.encode(0x7C, tlv.encode(0x80, public)), 256))
    else:
        _, sw = send(Command(0x00, 0x22, 0x41, 0xA6, tlv.encode(0x91, public) + key_id))
    if sw != 0x9000:
        raise ReadError(f"the chip refused chip authentication ({sw:04X})")
    shared = key.exchange(ec.ECDH(), static)
    return session_from_secret(shared, cipher, key_len)


def algorithm_name(info: CaInfo, chip_key: CaKey) -> str:
    cipher, size = info.cipher
    curve = chip_key.key.curve.name if isinstance(chip_key.key, ec.EllipticCurvePublicKey) else "?"
    return f"ecdh-{curve}-{cipher}-{size * 8}"


def authenticate(session: Any, infos: ChipInfos) -> ChipAuthResult:
    """Chip authentication on ``session`` (a CardSession under secure messaging); on success the
    session continues with the new keys. Never raises for what the chip answers."""
    unusable = not_supported(infos)
    if unusable is not None:
        return unusable
    info, chip_key = infos.ca_pair()
    name = algorithm_name(info, chip_key)
    try:
        new_sm = perform(lambda cmd: session.send(cmd), info, chip_key)
    except (ReadError, SecureMessagingError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        log.warning("chip authentication failed: %s", message)
        return ChipAuthResult(FAILED, name, message)
    session.sm = new_sm
    try:
        session.send(PROBE)  # any correctly MACed answer proves the chip's private key
        if new_sm.last_plain:
            raise SecureMessagingError("a bare status word under the new keys")
    except SecureMessagingError as exc:
        log.warning("chip authentication failed: %s", exc.message)
        return ChipAuthResult(FAILED, name, "the chip's answer under the new keys is wrong")
    log.info("chip authentication passed (%s)", name)
    return ChipAuthResult(PASSED, name)
