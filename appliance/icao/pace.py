"""PACE (ICAO 9303-11 section 4.4, BSI TR-03110): the terminal side, and what both sides share.

Supported: Generic Mapping with ECDH on the standard curves (parameter IDs 8, 10, 12, 13, 15,
16, 17, 18: secp192r1, secp224r1, P-256, brainpoolP256r1, P-384, brainpoolP384r1,
brainpoolP512r1, P-521) and with DH on the RFC 5114 1024/160 group (ID 0), 3DES or
AES-128/192/256 secure messaging, with the MRZ or the CAN as password. Not supported (a chip
offering only these gets :class:`PaceNotSupported`): the 2048-bit DH groups (IDs 1, 2),
Integrated Mapping, Chip Authentication Mapping.

Steps (the reader's commands): MSE:Set AT (``00 22 C1 A4``: protocol OID, password reference,
parameter ID when several are offered), then four GENERAL AUTHENTICATE (``10 86`` chained, the
last ``00 86``): the encrypted nonce, the mapping keys, the ephemeral keys, the tokens. The
session then runs secure messaging with the derived keys and a send sequence counter of zero.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.cccd.bac import kdf as kdf_3des
from appliance.icao import tlv
from appliance.icao.apdu import Command
from appliance.icao.dhgroup import DH_GROUPS, DhGroup
from appliance.icao.ecmath import Curve, curve
from appliance.icao.errors import BacFailed, LdsError, SecureMessagingError
from appliance.icao.sm import SecureMessaging, cipher_key

log = logging.getLogger(__name__)

OID_PACE = "0.4.0.127.0.7.2.2.4"
MAPPINGS = {"1": ("GM", "DH"), "2": ("GM", "ECDH"), "3": ("IM", "DH"), "4": ("IM", "ECDH"),
            "6": ("CAM", "ECDH")}  # fmt: skip
CIPHERS = {"1": ("3des", 16), "2": ("aes", 16), "3": ("aes", 24), "4": ("aes", 32)}
PARAMETER_CURVES: dict[int, type[ec.EllipticCurve]] = {
    8: ec.SECP192R1,
    10: ec.SECP224R1,
    12: ec.SECP256R1,
    13: ec.BrainpoolP256R1,
    15: ec.SECP384R1,
    16: ec.BrainpoolP384R1,
    17: ec.BrainpoolP512R1,
    18: ec.SECP521R1,
}
CURVE_NAMES = {12: "P-256", 15: "P-384", 18: "P-521", 8: "P-192", 10: "P-224"}
PASSWORD_MRZ, PASSWORD_CAN = 1, 2
KeyGen = Callable[[Curve | DhGroup], int]


def domain(info: PaceInfo) -> Curve | DhGroup:
    """The curve (ECDH) or group (DH) of a supported PACEInfo."""
    if info.agreement == "DH":
        return DH_GROUPS[info.parameter_id]
    return curve(PARAMETER_CURVES[info.parameter_id])


class PaceFailed(BacFailed):
    """PACE was offered and started but did not establish a session (wrong CAN or MRZ, or a
    chip that answered wrongly)."""

    code = "pace_failed"


class PaceNotSupported(PaceFailed):
    """The chip's PACE offer cannot be used: unsupported mapping or domain parameters, or the
    chip refused MSE:Set AT. A BAC fallback is allowed."""


@dataclass(frozen=True, slots=True)
class PaceInfo:
    oid: str
    version: int
    parameter_id: int | None

    @property
    def mapping(self) -> str:
        return MAPPINGS.get(self.oid.split(".")[-2], ("?", "?"))[0]

    @property
    def agreement(self) -> str:
        return MAPPINGS.get(self.oid.split(".")[-2], ("?", "?"))[1]

    @property
    def cipher(self) -> tuple[str, int]:
        return CIPHERS.get(self.oid.split(".")[-1], ("?", 0))

    @property
    def curve_name(self) -> str | None:
        if self.agreement == "DH":
            group = DH_GROUPS.get(self.parameter_id if self.parameter_id is not None else -1)
            return group.name if group else None
        cls = PARAMETER_CURVES.get(self.parameter_id or -1)
        if cls is None:
            return None
        return CURVE_NAMES.get(self.parameter_id or -1, cls.name)

    def supported(self) -> bool:
        if self.mapping != "GM" or self.cipher[1] == 0:
            return False
        if self.agreement == "DH":
            return self.parameter_id in DH_GROUPS
        return self.agreement == "ECDH" and self.parameter_id in PARAMETER_CURVES

    def to_dict(self) -> dict[str, object]:
        return {
            "oid": self.oid,
            "mapping": self.mapping,
            "agreement": self.agreement,
            "cipher": f"{self.cipher[0]}-{self.cipher[1] * 8}",
            "parameter_id": self.parameter_id,
            "curve": self.curve_name,
            "supported": self.supported(),
        }


def pace_oid(mapping: str = "GM", agreement: str = "ECDH", cipher: str = "aes-128") -> str:
    number = next(k for k, v in MAPPINGS.items() if v == (mapping, agreement))
    name, bits = cipher.split("-")
    suffix = next(k for k, v in CIPHERS.items() if v == (name, int(bits) // 8))
    return f"{OID_PACE}.{number}.{suffix}"


def oid_bytes(oid: str) -> bytes:
    return core.ObjectIdentifier(oid).contents


# --- key derivation ---------------------------------------------------------------------------


def kdf(secret: bytes, counter: int, cipher: str, key_len: int) -> bytes:
    """ICAO 9303-11 section 9.7.1: SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256."""
    if cipher == "3des":
        return kdf_3des(secret, counter)
    digest = hashlib.sha1 if key_len == 16 else hashlib.sha256
    return digest(secret + counter.to_bytes(4, "big")).digest()[:key_len]


def mrz_password(mrz_information: str) -> bytes:
    """K = SHA-1(document number, date of birth, date of expiry with their check digits)."""
    return hashlib.sha1(mrz_information.encode("ascii")).digest()


def can_password(can: str) -> bytes:
    if not (can.isascii() and can.isdigit() and len(can) == 6):
        raise ValueError("the CAN is 6 digits")
    return can.encode("ascii")


def auth_token(ks_mac: bytes, cipher: str, oid: str, point: bytes, tag: int = 0x86) -> bytes:
    """T = MAC(KSmac, 7F49 { 06 OID, 86 public point (84 public value for DH) }) (TR-03110,
    9303-11 section 4.4.3.4)."""
    data = tlv.encode(0x7F49, tlv.encode(0x06, oid_bytes(oid)) + tlv.encode(tag, point))
    if cipher == "aes":
        from cryptography.hazmat.primitives.ciphers import algorithms
        from cryptography.hazmat.primitives.cmac import CMAC

        mac = CMAC(algorithms.AES(ks_mac))
        mac.update(data)
        return mac.finalize()[:8]
    return cipher_key("3des", ks_mac).mac(data)


def nonce_cipher(k_pi: bytes, cipher: str):
    """The cipher of the PACE nonce: CBC with a zero IV under K_pi."""
    key = cipher_key(cipher, k_pi)
    return (lambda data: key.encrypt(data)), (lambda data: key.decrypt(data))


def random_scalar(c: Curve | DhGroup) -> int:
    return 1 + secrets.randbelow(c.n - 1)


def map_generator(c: Curve | DhGroup, s: int, sk_map: int, pk_map_other):
    """Generic Mapping: G~ = s * G + H with H = SK_map * PK_map(other side) (for DH, in
    multiplicative notation: g~ = g^s * h)."""
    h = c.mul(sk_map, pk_map_other)
    if h is None:
        raise SecureMessagingError("PACE mapping gave the point at infinity")
    mapped = c.add(c.mul(s, c.g), h)
    if mapped is None:
        raise SecureMessagingError("PACE mapped generator is the point at infinity")
    return mapped


def session_from_secret(shared_x: bytes, cipher: str, key_len: int) -> SecureMessaging:
    ks_enc, ks_mac = kdf(shared_x, 1, cipher, key_len), kdf(shared_x, 2, cipher, key_len)
    block = 16 if cipher == "aes" else 8
    return SecureMessaging(ks_enc, ks_mac, bytes(block), cipher)


# --- parsing the dynamic authentication data ------------------------------------------------


def dynamic_data(data: bytes, tag: int) -> bytes:
    """The value of ``tag`` inside a ``7C`` response (SecureMessagingError when absent)."""
    try:
        inner = tlv.unwrap(data, 0x7C, "GENERAL AUTHENTICATE response")
        found = tlv.find(tlv.children(inner), tag)
    except LdsError as exc:
        raise SecureMessagingError(f"malformed PACE response: {exc.message}") from None
    if found is None:
        raise SecureMessagingError(f"PACE response without data object {tag:02X}")
    return found


# --- the terminal ---------------------------------------------------------------------------


@dataclass
class PaceResult:
    sm: SecureMessaging
    info: PaceInfo
    password: str  # "can" | "mrz"

    def to_dict(self) -> dict[str, object]:
        cipher, size = self.info.cipher
        return {
            "method": "pace",
            "mapping": self.info.mapping,
            "curve": self.info.curve_name,
            "sm_cipher": f"{cipher}-{size * 8}",
            "password": self.password,
        }


def choose(infos: list[PaceInfo]) -> PaceInfo | None:
    """The first supported PACEInfo (AES before 3DES, the chip's order otherwise)."""
    usable = [i for i in infos if i.supported()]
    usable.sort(key=lambda i: i.cipher[0] != "aes")
    return usable[0] if usable else None


def perform_pace(
    send: Callable[[Command], tuple[bytes, int]],
    info: PaceInfo,
    password: bytes,
    password_ref: int,
    *,
    several_offered: bool = False,
    keygen: KeyGen = random_scalar,
) -> SecureMessaging:
    """The terminal side of PACE; ``send`` transmits a plain command. Raises
    :class:`PaceNotSupported` (MSE:Set AT refused, unusable parameters) or :class:`PaceFailed`."""
    if not info.supported():
        raise PaceNotSupported(f"PACE {info.mapping}/{info.agreement} is not implemented")
    cipher, key_len = info.cipher
    c = domain(info)
    mse = tlv.encode(0x80, oid_bytes(info.oid)) + tlv.encode(0x83, bytes([password_ref]))
    if several_offered:
        mse += tlv.encode(0x84, bytes([info.parameter_id]))
    _, sw = send(Command(0x00, 0x22, 0xC1, 0xA4, mse))
    if sw != 0x9000:
        raise PaceNotSupported(f"the chip refused MSE:Set AT for PACE (status {sw:04X})")

    def step(tag: int | None, value: bytes, answer: int, last: bool = False) -> bytes:
        body = tlv.encode(tag, value) if tag is not None else b""
        data, sw = send(Command(0x00 if last else 0x10, 0x86, 0, 0, tlv.encode(0x7C, body), 256))
        if sw != 0x9000:
            what = "the password (CAN or MRZ) is wrong" if last else "PACE step refused"
            raise PaceFailed(f"{what}: GENERAL AUTHENTICATE answered {sw:04X}")
        return dynamic_data(data, answer)

    try:
        k_pi = kdf(password, 3, cipher, key_len)
        _, decrypt = nonce_cipher(k_pi, cipher)
        z = step(None, b"", 0x80)
        s = int.from_bytes(decrypt(z), "big")
        sk_map = keygen(c)
        pk_map = c.mul(sk_map, c.g)
        pk_map_ic = c.decode(step(0x81, c.encode(pk_map), 0x82))
        if pk_map_ic == pk_map:
            raise PaceFailed("the chip echoed the terminal's mapping key")
        mapped = map_generator(c, s, sk_map, pk_map_ic)
        sk = keygen(c)
        pk = c.mul(sk, mapped)
        pk_ic_raw = step(0x83, c.encode(pk), 0x84)
        pk_ic = c.decode(pk_ic_raw)
        if pk_ic == pk:
            raise PaceFailed("the chip echoed the terminal's ephemeral key")
        shared = c.mul(sk, pk_ic)
        if shared is None:
            raise PaceFailed("PACE key agreement gave the point at infinity")
        sm = session_from_secret(c.secret(shared), cipher, key_len)
        t_ifd = auth_token(sm.ks_mac, cipher, info.oid, c.encode(pk_ic), c.token_tag)
        t_ic = step(0x85, t_ifd, 0x86, last=True)
    except SecureMessagingError as exc:
        raise PaceFailed(f"PACE failed: {exc.message}") from None
    expected = auth_token(sm.ks_mac, cipher, info.oid, c.encode(pk), c.token_tag)
    if not hmac.compare_digest(t_ic, expected):
        raise PaceFailed("the chip's PACE authentication token is wrong")
    log.info("PACE established (%s, %s)", info.curve_name, sm.cipher)
    return sm
