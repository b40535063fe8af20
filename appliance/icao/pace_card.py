"""The chip's side of PACE (Generic Mapping, ECDH) and of chip authentication (ECDH), for the
emulator. The private keys and the nonce can be given (the ICAO 9303-11 Appendix G worked
example replays byte for byte); otherwise they are random.

Status words: MSE:Set AT with an unknown protocol, password or parameter ID 6A80; a GENERAL
AUTHENTICATE out of order 6985; a wrong terminal token (wrong CAN/MRZ) 6300.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.icao import tlv
from appliance.icao.errors import LdsError, SecureMessagingError
from appliance.icao.pace import (
    PaceInfo,
    auth_token,
    domain,
    dynamic_data,
    kdf,
    map_generator,
    nonce_cipher,
    oid_bytes,
    random_scalar,
    session_from_secret,
)
from appliance.icao.secinfo import OID_CA
from appliance.icao.sm import SecureMessaging

log = logging.getLogger(__name__)

SW_OK = 0x9000


def _fields(data: bytes) -> dict[int, bytes]:
    return {item.tag: item.value for item in tlv.children(data)}


class CardPace:
    """One chip's PACE state machine. ``passwords``: reference (1 MRZ, 2 CAN) -> K."""

    def __init__(
        self,
        infos: list[PaceInfo],
        passwords: dict[int, bytes],
        *,
        rng: Callable[[int], bytes] = os.urandom,
        private_keys: Iterator[int] | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.infos = infos
        self.passwords = passwords
        self.rng = rng
        self.private_keys = private_keys
        self.nonce = nonce
        self.reset()

    def reset(self) -> None:
        self.info: PaceInfo | None = None
        self.k_pi: bytes | None = None
        self.step = 0

    def _key(self, c) -> int:
        return next(self.private_keys) if self.private_keys is not None else random_scalar(c)

    def set_at(self, data: bytes) -> int:
        """MSE:Set AT for PACE."""
        self.reset()
        try:
            fields = _fields(data)
        except LdsError:
            return 0x6A80
        oid, ref, pid = fields.get(0x80), fields.get(0x83), fields.get(0x84)
        offered = [i for i in self.infos if _oid_is(i.oid, oid)]
        if pid is not None:
            offered = [i for i in offered if i.parameter_id == int.from_bytes(pid, "big")]
        if not offered or ref is None or len(ref) != 1 or ref[0] not in self.passwords:
            return 0x6A80
        info = offered[0]
        cipher, key_len = info.cipher
        self.info, self.step = info, 1
        self.k_pi = kdf(self.passwords[ref[0]], 3, cipher, key_len)
        return SW_OK

    def general_authenticate(
        self, cla: int, data: bytes
    ) -> tuple[bytes, int, SecureMessaging | None]:
        """(response data, status, the new session after the last step)."""
        info = self.info
        if info is None or self.step == 0:
            return b"", 0x6985, None
        last = self.step == 4
        if (cla & 0x10 == 0) != last:
            self.reset()
            return b"", 0x6985, None
        c = domain(info)
        cipher, key_len = info.cipher
        try:
            if self.step == 1:
                if data != b"\x7c\x00":
                    raise SecureMessagingError("step 1 carries no data")
                self.s = self.nonce or self.rng(16 if cipher == "aes" else 8)
                encrypt, _ = nonce_cipher(self.k_pi, cipher)
                self.step = 2
                return tlv.encode(0x7C, tlv.encode(0x80, encrypt(self.s))), SW_OK, None
            if self.step == 2:
                pk_map_ifd = c.decode(dynamic_data(data, 0x81))
                sk_map = self._key(c)
                pk_map = c.mul(sk_map, c.g)
                self.mapped = map_generator(c, int.from_bytes(self.s, "big"), sk_map, pk_map_ifd)
                self.step = 3
                return tlv.encode(0x7C, tlv.encode(0x82, c.encode(pk_map))), SW_OK, None
            if self.step == 3:
                self.pk_ifd = dynamic_data(data, 0x83)
                pk_ifd = c.decode(self.pk_ifd)
                sk = self._key(c)
                self.pk_ic = c.encode(c.mul(sk, self.mapped))
                shared = c.mul(sk, pk_ifd)
                if shared is None or self.pk_ic == self.pk_ifd:
                    raise SecureMessagingError("degenerate key agreement")
                self.sm = session_from_secret(c.secret(shared), cipher, key_len)
                self.step = 4
                return tlv.encode(0x7C, tlv.encode(0x84, self.pk_ic)), SW_OK, None
            t_ifd = dynamic_data(data, 0x85)
            expected = auth_token(self.sm.ks_mac, cipher, info.oid, self.pk_ic, c.token_tag)
            if not hmac.compare_digest(t_ifd, expected):
                log.debug("PACE: wrong terminal token (wrong password)")
                self.reset()
                return b"", 0x6300, None
            t_ic = auth_token(self.sm.ks_mac, cipher, info.oid, self.pk_ifd, c.token_tag)
            sm = self.sm
            self.reset()
            return tlv.encode(0x7C, tlv.encode(0x86, t_ic)), SW_OK, sm
        except (SecureMessagingError, LdsError):
            self.reset()
            return b"", 0x6A80, None


def _oid_is(dotted: str, raw: bytes | None) -> bool:
    return raw is not None and oid_bytes(dotted) == raw


class CardChipAuth:
    """Chip authentication (ECDH, AES or 3DES) with the chip's static DG14 key."""

    DEFAULT_OID = f"{OID_CA}.2.2"  # id-CA-ECDH-AES-CBC-CMAC-128

    def __init__(self, key: ec.EllipticCurvePrivateKey, oid: str = DEFAULT_OID) -> None:
        self.key = key
        self.oid = oid
        self.armed = False

    def set_at(self, data: bytes) -> int:
        """MSE:Set AT for chip authentication (AES); the protocol OID must be ours."""
        try:
            fields = _fields(data)
        except LdsError:
            return 0x6A80
        if not _oid_is(self.oid, fields.get(0x80)):
            return 0x6A80
        self.armed = True
        return SW_OK

    def agree(self, public: bytes) -> SecureMessaging | None:
        """The new session keys from the terminal's ephemeral key, or None when it is bad."""
        cipher, key_len = ("aes", 16) if self.oid.endswith(".2") else ("3des", 16)
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(self.key.curve, public)
            shared = self.key.exchange(ec.ECDH(), peer)
        except ValueError:
            return None
        return session_from_secret(shared, cipher, key_len)

    def general_authenticate(self, data: bytes) -> tuple[bytes, int, SecureMessaging | None]:
        if not self.armed:
            return b"", 0x6985, None
        self.armed = False
        try:
            public = dynamic_data(data, 0x80)
        except SecureMessagingError:
            return b"", 0x6A80, None
        sm = self.agree(public)
        return (tlv.encode(0x7C, b""), SW_OK, sm) if sm else (b"", 0x6A80, None)

    def public_point(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
