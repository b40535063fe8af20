"""BAC, and 3DES or AES secure messaging (ICAO 9303-11 sections 4.3 and 9.8), both sides.

AES (after PACE or chip authentication, section 9.8.7): AES-CBC whose IV is the send sequence
counter (16 bytes) encrypted with KSenc, AES-CMAC truncated to 8 bytes, padding to 16 bytes.

2-key 3DES in CBC mode with a zero IV, ISO/IEC 9797-1 padding method 2 and the retail MAC
(ISO/IEC 9797-1 MAC algorithm 3), from ``cryptography``'s decrepit TripleDES: a 2-key key is
passed as K1||K2||K1, single DES (inside the retail MAC) as K||K||K. The send sequence counter is
incremented before each command and before each response. A response whose MAC is wrong ends the
session (:class:`SecureMessagingError`).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from appliance.cccd.bac import BacKeys, kdf
from appliance.icao import tlv
from appliance.icao.apdu import Command
from appliance.icao.errors import BacFailed, LdsError, SecureMessagingError, status_error

log = logging.getLogger(__name__)

ZERO_IV = bytes(8)
SW_OK = 0x9000
SM_ERRORS = (0x6987, 0x6988)


# --- primitives -------------------------------------------------------------------------------


def _tdes(key: bytes) -> TripleDES:
    """A 2-key (16-byte) key as K1||K2||K1, a single-DES (8-byte) key as K||K||K."""
    return TripleDES(key + key[:8] if len(key) == 16 else key * 3)


def pad(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 0x80, then zeros to a multiple of ``block``."""
    return data + b"\x80" + bytes(-(len(data) + 1) % block)


def unpad(data: bytes) -> bytes:
    end = len(data.rstrip(b"\x00"))
    if end == 0 or data[end - 1] != 0x80:
        raise SecureMessagingError("decrypted data has no ISO 9797-1 padding")
    return data[: end - 1]


class TdesKey:
    """A 2-key 3DES key with its cipher objects made once (a session makes hundreds of calls).

    Not thread-safe: each side of a session owns its own instances.
    """

    block = 8
    name = "3des"

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._tdes = _tdes(key)
        self._des1 = _tdes(key[:8])
        self._final = Cipher(self._tdes, modes.ECB()).encryptor()  # stateless: reusable

    def encrypt(self, data: bytes, ssc: bytes = b"") -> bytes:
        """3DES-CBC with a zero IV; ``data`` must be a multiple of 8 bytes."""
        return Cipher(self._tdes, modes.CBC(ZERO_IV)).encryptor().update(data)

    def decrypt(self, data: bytes, ssc: bytes = b"") -> bytes:
        if len(data) % 8:
            raise SecureMessagingError("cryptogram is not a multiple of the block size")
        return Cipher(self._tdes, modes.CBC(ZERO_IV)).decryptor().update(data)

    def mac(self, data: bytes) -> bytes:
        """ISO/IEC 9797-1 MAC algorithm 3 over ``pad(data)``: single-DES CBC with K1 over all
        blocks but the last; the last (chained) block through 3DES K1-K2-K1, which is the same
        as its single-DES encryption with K1, decryption with K2 and encryption with K1."""
        padded = pad(data)
        chained = padded[-8:]
        if len(padded) > 8:
            cbc = Cipher(self._des1, modes.CBC(ZERO_IV)).encryptor().update(padded[:-8])
            chained = (int.from_bytes(cbc[-8:], "big") ^ int.from_bytes(chained, "big")).to_bytes(
                8, "big"
            )
        return self._final.update(chained)


class AesKey:
    """An AES key for secure messaging: CBC with IV = E(K, SSC), CMAC truncated to 8 bytes."""

    block = 16
    name = "aes"

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._aes = algorithms.AES(key)
        self._ecb = Cipher(self._aes, modes.ECB()).encryptor()

    def _iv(self, ssc: bytes) -> bytes:
        return self._ecb.update(ssc) if ssc else bytes(16)

    def encrypt(self, data: bytes, ssc: bytes = b"") -> bytes:
        return Cipher(self._aes, modes.CBC(self._iv(ssc))).encryptor().update(data)

    def decrypt(self, data: bytes, ssc: bytes = b"") -> bytes:
        if len(data) % 16:
            raise SecureMessagingError("cryptogram is not a multiple of the block size")
        return Cipher(self._aes, modes.CBC(self._iv(ssc))).decryptor().update(data)

    def mac(self, data: bytes) -> bytes:
        """AES-CMAC over ``pad(data)``, first 8 bytes."""
        cmac = CMAC(self._aes)
        cmac.update(pad(data, 16))
        return cmac.finalize()[:8]


def cipher_key(cipher: str, key: bytes) -> TdesKey | AesKey:
    return AesKey(key) if cipher == "aes" else TdesKey(key)


def max_short_plain(block: int) -> int:
    """The most plaintext a short (256-byte) protected response carries: 231 bytes under 3DES,
    223 under AES (DO87 with its padding indicator, DO99, DO8E)."""
    n = 256
    while 1 + 3 + (n // block + 1) * block + 4 + 10 > 256:
        n -= 1
    return n


def encrypt(key: bytes, data: bytes) -> bytes:
    """3DES-CBC with a zero IV; ``data`` must be a multiple of 8 bytes."""
    return TdesKey(key).encrypt(data)


def decrypt(key: bytes, data: bytes) -> bytes:
    return TdesKey(key).decrypt(data)


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 (retail MAC) over ``pad(data)``."""
    return TdesKey(key).mac(data)


# --- secure messaging -------------------------------------------------------------------------


class SecureMessaging:
    """One secure messaging session (session keys + send sequence counter)."""

    def __init__(self, ks_enc: bytes, ks_mac: bytes, ssc: bytes, cipher: str = "3des") -> None:
        self.ks_enc = ks_enc
        self.ks_mac = ks_mac
        self.cipher = cipher
        self._enc = cipher_key(cipher, ks_enc)
        self._mac = cipher_key(cipher, ks_mac)
        self.block = self._enc.block
        self.max_short_plain = max_short_plain(self.block)
        self.ssc = int.from_bytes(ssc, "big")
        self.ended = False
        self.last_plain = False  # the last response was a bare status word (no MAC)

    def _next(self) -> bytes:
        self.ssc += 1
        return (self.ssc % (1 << (8 * self.block))).to_bytes(self.block, "big")

    def _end(self, message: str) -> SecureMessagingError:
        self.ended = True
        return SecureMessagingError(message)

    # reader side

    def wrap(self, cmd: Command, extended: bool = False) -> bytes:
        """The protected APDU for ``cmd`` (Le in DO97: one byte, two when ``extended``)."""
        if self.ended:
            raise SecureMessagingError("the secure messaging session has ended")
        cla = cmd.cla | 0x0C
        header = bytes([cla, cmd.ins, cmd.p1, cmd.p2])
        ssc = self._next()
        dos = b""
        if cmd.data:
            cryptogram = self._enc.encrypt(pad(cmd.data, self.block), ssc)
            dos += (
                tlv.encode(0x85, cryptogram)
                if cmd.ins & 1
                else tlv.encode(0x87, b"\x01" + cryptogram)
            )
        if cmd.le is not None:
            le = (cmd.le % 65536).to_bytes(2, "big") if extended else bytes([cmd.le % 256])
            dos += tlv.encode(0x97, le)
        mac = self._mac.mac(ssc + pad(header, self.block) + dos)
        dos += tlv.encode(0x8E, mac)
        outer_ext = extended or len(dos) > 255
        return Command(cla, cmd.ins, cmd.p1, cmd.p2, dos, 65536 if outer_ext else 256).encode(
            outer_ext
        )

    def unwrap(self, data: bytes, sw: int) -> tuple[bytes, int]:
        """Check and decrypt a protected response; returns (plain data, status word)."""
        if self.ended:
            raise SecureMessagingError("the secure messaging session has ended")
        ssc = self._next()
        self.last_plain = not data
        if not data:
            if sw in SM_ERRORS:
                raise self._end(f"the chip ended secure messaging (status {sw:04X})")
            if sw == SW_OK:
                raise self._end("the chip answered without secure messaging (no MAC)")
            return b"", sw  # a plain error status carries no data to trust
        try:
            items = tlv.children(data)
        except LdsError as exc:
            raise self._end(f"malformed secure messaging response: {exc.message}") from None
        if not items or items[-1].tag != 0x8E or len(items[-1].value) != 8:
            raise self._end("response without a MAC (DO8E)")
        macced = data[: len(data) - 10]
        if not hmac.compare_digest(self._mac.mac(ssc + macced), items[-1].value):
            raise self._end("response MAC is wrong: secure messaging session ended")
        plain = b""
        inner_sw: int | None = None
        for item in items[:-1]:
            if item.tag == 0x87:
                if not item.value or item.value[0] != 0x01:
                    raise self._end("DO87 without the 01 padding indicator")
                plain = unpad(self._enc.decrypt(item.value[1:], ssc))
            elif item.tag == 0x85:
                plain = unpad(self._enc.decrypt(item.value, ssc))
            elif item.tag == 0x99:
                if len(item.value) != 2:
                    raise self._end("DO99 is not a status word")
                inner_sw = int.from_bytes(item.value, "big")
            else:
                raise self._end(f"unexpected data object {item.tag:X} in a protected response")
        if inner_sw is None:
            raise self._end("response without its protected status word (DO99)")
        return plain, inner_sw

    # card side

    def unwrap_command(self, cmd: Command) -> Command:
        """Verify and decrypt a protected command (card side)."""
        ssc = self._next()
        items = tlv.children(cmd.data)
        if not items or items[-1].tag != 0x8E or len(items[-1].value) != 8:
            raise SecureMessagingError("command without a MAC")
        header = bytes([cmd.cla, cmd.ins, cmd.p1, cmd.p2])
        macced = cmd.data[: len(cmd.data) - 10]
        mac = self._mac.mac(ssc + pad(header, self.block) + macced)
        if not hmac.compare_digest(mac, items[-1].value):
            raise SecureMessagingError("command MAC is wrong")
        data, le = b"", None
        for item in items[:-1]:
            if item.tag == 0x87 and item.value[:1] == b"\x01":
                data = unpad(self._enc.decrypt(item.value[1:], ssc))
            elif item.tag == 0x85:
                data = unpad(self._enc.decrypt(item.value, ssc))
            elif item.tag == 0x97 and len(item.value) <= 2:
                raw = int.from_bytes(item.value, "big")
                le = raw or (256 if len(item.value) < 2 else 65536)
            else:
                raise SecureMessagingError(f"unexpected data object {item.tag:X} in a command")
        return Command(cmd.cla & ~0x0C & 0xFF, cmd.ins, cmd.p1, cmd.p2, data, le)

    def wrap_response(self, data: bytes, sw: int, odd_ins: bool = False) -> bytes:
        """The protected response data objects (the status word goes after them)."""
        ssc = self._next()
        dos = b""
        if data:
            cryptogram = self._enc.encrypt(pad(data, self.block), ssc)
            dos += (
                tlv.encode(0x85, cryptogram) if odd_ins else tlv.encode(0x87, b"\x01" + cryptogram)
            )
        dos += tlv.encode(0x99, sw.to_bytes(2, "big"))
        return dos + tlv.encode(0x8E, self._mac.mac(ssc + dos))


# --- BAC --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionKeys:
    ks_enc: bytes
    ks_mac: bytes
    ssc: bytes


def session_keys(k_ifd: bytes, k_ic: bytes, rnd_ic: bytes, rnd_ifd: bytes) -> SessionKeys:
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    return SessionKeys(kdf(seed, 1), kdf(seed, 2), rnd_ic[4:] + rnd_ifd[4:])


def mutual_auth_data(keys: BacKeys, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes) -> bytes:
    """EXTERNAL AUTHENTICATE data: E.IFD || M.IFD."""
    e_ifd = encrypt(keys.kenc, rnd_ifd + rnd_ic + k_ifd)
    return e_ifd + retail_mac(keys.kmac, e_ifd)


def check_mutual_auth_response(
    keys: BacKeys, response: bytes, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes
) -> SessionKeys:
    """Verify E.IC || M.IC and derive the session keys (raises :class:`BacFailed`)."""
    if len(response) != 40:
        raise BacFailed(f"mutual authentication answer has {len(response)} bytes, expected 40")
    e_ic, m_ic = response[:32], response[32:]
    if not hmac.compare_digest(retail_mac(keys.kmac, e_ic), m_ic):
        raise BacFailed("the chip's authentication cryptogram has a wrong MAC")
    plain = decrypt(keys.kenc, e_ic)
    if plain[:8] != rnd_ic or plain[8:16] != rnd_ifd:
        raise BacFailed("the chip did not return the challenges it was given")
    return session_keys(k_ifd, plain[16:32], rnd_ic, rnd_ifd)


def perform_bac(
    send: Callable[[bytes], tuple[bytes, int]],
    keys: BacKeys,
    rng: Callable[[int], bytes] = os.urandom,
) -> SecureMessaging:
    """GET CHALLENGE + EXTERNAL AUTHENTICATE with the document's BAC keys (reader side)."""
    rnd_ic, sw = send(Command(0x00, 0x84, 0x00, 0x00, le=8).encode())
    if sw != SW_OK or len(rnd_ic) != 8:
        raise BacFailed(str(status_error("GET CHALLENGE failed", sw).message))
    rnd_ifd, k_ifd = rng(8), rng(16)
    data = mutual_auth_data(keys, rnd_ic, rnd_ifd, k_ifd)
    response, sw = send(Command(0x00, 0x82, 0x00, 0x00, data, 40).encode())
    if sw != SW_OK:
        raise BacFailed(
            f"the chip refused the BAC key (status {sw:04X}): check the document number, "
            "date of birth and date of expiry"
        )
    sk = check_mutual_auth_response(keys, response, rnd_ic, rnd_ifd, k_ifd)
    log.info("BAC established")
    return SecureMessaging(sk.ks_enc, sk.ks_mac, sk.ssc)


def card_mutual_auth(
    keys: BacKeys, rnd_ic: bytes, data: bytes, k_ic: bytes
) -> tuple[bytes, SessionKeys] | None:
    """Card side of EXTERNAL AUTHENTICATE: (E.IC || M.IC, session keys), or None when the
    terminal's cryptogram is wrong."""
    if len(data) != 40:
        return None
    e_ifd, m_ifd = data[:32], data[32:]
    if not hmac.compare_digest(retail_mac(keys.kmac, e_ifd), m_ifd):
        return None
    plain = decrypt(keys.kenc, e_ifd)
    rnd_ifd, rnd_ic_echo, k_ifd = plain[:8], plain[8:16], plain[16:32]
    if rnd_ic_echo != rnd_ic:
        return None
    e_ic = encrypt(keys.kenc, rnd_ic + rnd_ifd + k_ic)
    return e_ic + retail_mac(keys.kmac, e_ic), session_keys(k_ifd, k_ic, rnd_ic, rnd_ifd)
