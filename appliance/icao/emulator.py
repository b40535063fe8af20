"""A virtual CCCD chip: the card side of everything the reader does (DOMAIN.md section 5).

ICAO LDS1 applet ``A0000002471001``, SELECT of the MF answered with 6D00 (EF.CardAccess is
selected directly), BAC and 3DES secure messaging (a wrong command MAC or a plain command ends
the session), READ BINARY by file or short file identifier and with the odd instruction,
INTERNAL AUTHENTICATE (active authentication), DG3 protected with 6982. PACE (Generic Mapping,
ECDH, AES; with the MRZ or the CAN = last 6 ID digits) at MF level as EF.CardAccess offers it,
and chip authentication (ECDH, AES) under secure messaging with the DG14 key
(:mod:`appliance.icao.pace_card`). ``access``: ``both`` (PACE and BAC), ``pace`` (EXTERNAL
AUTHENTICATE refused) or ``bac`` (no EF.CardAccess, MSE:Set AT for PACE refused); ``ca``: off
refuses chip authentication. READ BINARY with Le=00 under secure messaging returns what fits a
short response with 9000 (231 bytes under 3DES, 223 under AES).

Knobs: ``max_le`` (a larger READ BINARY Le is refused with ``refusal_sw``; ``0x6C00`` means
"6C + the size that works"), ``extended_length`` (off: extended APDUs get 6700 and the ATR does
not announce them), ``sfi`` (off: READ BINARY with SFI gets 6A86), ``plain_errors`` (a refused
Le, a missing or protected file are answered with a bare status word, without secure
messaging, as some chips do),
``latency`` (seconds per APDU, bytes per second: a modelled radio link, for benchmarks). Fault
modes for tests:
``wrong_mac`` (response MACs are corrupted after ``fault_after`` protected responses),
``truncated_tlv`` (``fault_file`` is shorter than its header says), ``oversized_length``
(``fault_file``'s header claims 16 MB), ``slow`` (every response waits ``slow_s``), ``bad_aa``
(active authentication signed with the wrong key), ``bad_ca`` (chip authentication with a key
that is not DG14's).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appliance.errors import InvalidInput
from appliance.icao import tlv
from appliance.icao.active import sign_ecdsa_plain, sign_rsa_9796_2
from appliance.icao.apdu import Command, build_atr, parse_command
from appliance.icao.errors import LdsError, SecureMessagingError
from appliance.icao.lds import AID_EMRTD, FILES
from appliance.icao.pace import can_password, mrz_password
from appliance.icao.pace_card import CardChipAuth, CardPace
from appliance.icao.personalise import ChipImage, build_card_access, new_aa_key
from appliance.icao.secinfo import parse_chip_infos
from appliance.icao.sm import SecureMessaging, card_mutual_auth

log = logging.getLogger(__name__)

FAULTS = ("", "wrong_mac", "truncated_tlv", "oversized_length", "slow", "bad_aa", "bad_ca")
ACCESS = ("both", "pace", "bac")
SW_OK = 0x9000
SHORT_RESPONSE_MAX = 256
_BY_FID = {info.fid: info for info in FILES.values()}
_BY_SFI = {info.sfi: info for info in FILES.values()}
_MF_LEVEL = {"CardAccess"}


def protected_size(plain: int, block: int = 8) -> int:
    """Bytes of a protected response carrying ``plain`` bytes (DO87, DO99, DO8E)."""
    if not plain:
        return 4 + 10
    do87 = 1 + plain + 1 + (-(plain + 1)) % block
    return 1 + len(tlv.encode_length(do87)) + do87 + 4 + 10


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class CardEmulator:
    """The chip. :meth:`process` takes a command APDU and returns the response APDU."""

    def __init__(
        self,
        image: ChipImage,
        *,
        max_le: int | None = None,
        refusal_sw: int = 0x6700,
        extended_length: bool = True,
        sfi: bool = True,
        fault: str = "",
        fault_after: int = 3,
        fault_file: str = "DG2",
        slow_s: float = 0.5,
        plain_errors: bool = False,
        latency: tuple[float, float] | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        access: str | None = None,
        ca: bool = True,
        can: str | None = None,
        pace_params: tuple[int, ...] = (13, 12),
        pace: CardPace | None = None,
    ) -> None:
        if fault not in FAULTS:
            raise InvalidInput(f"unknown card fault {fault!r}: use one of {', '.join(FAULTS[1:])}")
        if access is None:  # a chip made with EF.CardAccess offers PACE, others BAC only
            access = "both" if "CardAccess" in image.files else "bac"
        if access not in ACCESS:
            raise InvalidInput(f"unknown card access {access!r}: use one of {', '.join(ACCESS)}")
        self.image = image
        self.max_le = max_le
        self.refusal_sw = refusal_sw
        self.extended_length = extended_length
        self.sfi = sfi
        self.fault = fault
        self.fault_after = fault_after
        self.slow_s = slow_s
        self.plain_errors = plain_errors
        self.latency = latency
        self._refused = False
        self.rng = rng
        self.atr = build_atr(extended_length)
        self.files = dict(image.files)
        self.access = access
        self.pace = None
        if access == "bac":
            self.files.pop("CardAccess", None)
        else:
            if "CardAccess" not in self.files:
                self.files["CardAccess"] = build_card_access(pace_params)
            infos = parse_chip_infos(self.files["CardAccess"][0:]).pace
            passwords = {1: mrz_password(image.bac.mrz_information)}
            passwords[2] = can_password(can or image.document_number[-6:])
            self.pace = pace or CardPace(infos, passwords, rng=rng)
        ca_key = image.ca_key
        if fault == "bad_ca" and ca_key is not None:  # a clone: DG14 copied, not its private key
            ca_key = ec.generate_private_key(ca_key.curve)
        self.chip_auth = None
        if ca and ca_key is not None:
            self.chip_auth = CardChipAuth(ca_key, image.ca_oid or CardChipAuth.DEFAULT_OID)
        self._next_sm: SecureMessaging | None = None
        if fault == "truncated_tlv":
            self.files[fault_file] = self.files[fault_file][
                : max(10, len(self.files[fault_file]) - 100)
            ]
        elif fault == "oversized_length":
            content = self.files[fault_file]
            self.files[fault_file] = content[:1] + b"\x83\xff\xff\xff" + content[4:]
        self._wrong_aa_key = (
            new_aa_key("ec" if isinstance(image.aa_key, ec.EllipticCurvePrivateKey) else "rsa")
            if fault == "bad_aa"
            else None
        )
        self._lock = threading.Lock()
        self._reset_due = False
        self.commands = 0
        self.reset()

    def reset(self) -> None:
        """Power cycle: no application selected, no session."""
        self.applet = False
        self.current: str | None = None
        self.sm: SecureMessaging | None = None
        self.rnd_ic: bytes | None = None
        self._protected_responses = 0
        if getattr(self, "pace", None) is not None:
            self.pace.reset()

    def reset_when_idle(self) -> None:
        """The reader gave up on a command: power-cycle before the next one (the command being
        processed, if any, is still answered, to nobody), without waiting."""
        self._reset_due = True

    # --- entry point --------------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        with self._lock:
            if self._reset_due:
                self._reset_due = False
                self.reset()
            if self.fault == "slow":
                time.sleep(self.slow_s)
            self.commands += 1
            response = self._process(bytes(apdu))
            if self.latency is not None:  # a modelled chip: turnaround + bytes over the air
                per_apdu, bytes_per_s = self.latency
                time.sleep(per_apdu + (len(apdu) + len(response)) / bytes_per_s)
            return response

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def _process(self, apdu: bytes) -> bytes:
        try:
            cmd, extended = parse_command(apdu)
        except ValueError:
            return _sw(0x6700)
        if extended and not self.extended_length:
            return _sw(0x6700)
        if cmd.cla & 0x0C == 0x0C:
            return self._protected(cmd, extended)
        if self.sm is not None:
            log.debug("plain command during secure messaging: session ended")
            self.sm = None
        self._next_sm = None
        data, sw = self._dispatch(cmd, extended, secure=False)
        if self._next_sm is not None:  # PACE established
            self.sm, self._next_sm = self._next_sm, None
            self.applet, self.current, self._protected_responses = False, None, 0
        return data + _sw(sw)

    def _protected(self, cmd: Command, extended: bool) -> bytes:
        if self.sm is None:
            return _sw(0x6987)
        sm = self.sm
        try:
            inner = self.sm.unwrap_command(cmd)
        except (SecureMessagingError, LdsError):
            self.sm = None
            return _sw(0x6988)
        self._refused = False
        if not extended and inner.le == SHORT_RESPONSE_MAX and inner.ins in (0xB0, 0xB1):
            inner = Command(
                inner.cla, inner.ins, inner.p1, inner.p2, inner.data, sm.max_short_plain
            )
        self._next_sm = None
        data, sw = self._dispatch(inner, extended, secure=True)
        if self.plain_errors and (self._refused or sw in (0x6A82, 0x6982)):
            return _sw(sw)  # a bare status word: this chip's SSC now differs from the reader's
        limit = SHORT_RESPONSE_MAX if not extended else 65536
        if protected_size(len(data), sm.block) > limit:  # the protected response would not fit
            data, sw = b"", 0x6700
        body = sm.wrap_response(data, sw, bool(inner.ins & 1))
        if self._next_sm is not None:  # chip authentication: new keys from the next command on
            self.sm, self._next_sm = self._next_sm, None
            self._protected_responses = 0
        self._protected_responses += 1
        if self.fault == "wrong_mac" and self._protected_responses > self.fault_after:
            body = body[:-1] + bytes([body[-1] ^ 0x01])
        return body + _sw(sw)

    # --- commands -----------------------------------------------------------------------------

    def _dispatch(self, cmd: Command, extended: bool, secure: bool) -> tuple[bytes, int]:
        handler = {
            0xA4: self._select,
            0xB0: self._read_binary,
            0xB1: self._read_binary_odd,
            0x84: self._get_challenge,
            0x82: self._external_authenticate,
            0x88: self._internal_authenticate,
            0x22: self._manage_security_environment,
            0x86: self._general_authenticate,
        }.get(cmd.ins)
        chaining_ok = cmd.ins == 0x86 and cmd.cla & 0xF0 == 0x10
        if handler is None or (cmd.cla & 0xF0 not in (0x00,) and not chaining_ok):
            return b"", 0x6D00 if handler is None else 0x6E00
        return handler(cmd, secure)

    def _file_access(self, name: str, secure: bool) -> int:
        if name not in self.files:
            return 0x6A82
        if name in _MF_LEVEL:  # EF.CardAccess: readable at any time (a second read, no reset)
            return SW_OK
        if not self.applet:
            return 0x6A82
        if not secure:
            return 0x6982
        return SW_OK

    def _select(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if cmd.p1 == 0x04:
            if cmd.data == AID_EMRTD:
                self.applet, self.current = True, None
                return b"", SW_OK
            return b"", 0x6A82
        if cmd.data == b"\x3f\x00":
            return b"", 0x6D00  # CCCD chips refuse to select the MF
        if cmd.p1 not in (0x00, 0x02) or len(cmd.data) != 2:
            return b"", 0x6A86
        info = _BY_FID.get(int.from_bytes(cmd.data, "big"))
        if info is None:
            return b"", 0x6A82
        sw = self._file_access(info.name, secure)
        if sw == SW_OK:
            self.current = info.name
        return b"", sw

    def _content(self, name: str) -> tuple[bytes | None, int]:
        if name in self.image.protected:
            return None, 0x6982
        return self.files[name], SW_OK

    def _refuse(self, le: int) -> tuple[bytes, int] | None:
        if self.max_le is not None and le > self.max_le:
            self._refused = True
            if self.refusal_sw == 0x6C00:
                return b"", 0x6C00 | (self.max_le & 0xFF)
            return b"", self.refusal_sw
        return None

    def _read_binary(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if cmd.p1 & 0x80:
            if not self.sfi:
                return b"", 0x6A86
            info = _BY_SFI.get(cmd.p1 & 0x1F)
            if info is None:
                return b"", 0x6A82
            sw = self._file_access(info.name, secure)
            if sw != SW_OK:
                return b"", sw
            self.current, offset = info.name, cmd.p2
        else:
            if self.current is None:
                return b"", 0x6986
            offset = (cmd.p1 << 8 | cmd.p2) & 0x7FFF
        le = cmd.le or 256
        content, error = self._readable(offset, le)
        if error:
            return error
        chunk = content[offset : offset + le]
        return chunk, SW_OK if len(chunk) == le else 0x6282

    def _readable(self, offset: int, le: int) -> tuple[bytes, tuple[bytes, int] | None]:
        """The current file's content, or the status a READ BINARY at ``offset`` gets instead."""
        content, sw = self._content(self.current)
        if content is None:
            return b"", (b"", sw)
        refused = self._refuse(le)
        if refused:
            return b"", refused
        if offset >= len(content):
            return b"", (b"", 0x6B00)
        return content, None

    def _read_binary_odd(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if self.current is None:
            return b"", 0x6986
        try:
            offset_do = tlv.parse(cmd.data)
        except LdsError:
            return b"", 0x6A80
        if offset_do.tag != 0x54 or not 1 <= len(offset_do.value) <= 3:
            return b"", 0x6A80
        offset = int.from_bytes(offset_do.value, "big")
        le = cmd.le or 256
        content, error = self._readable(offset, le)
        if error:
            return error
        room = next(le - h for h in (2, 3, 4, 5) if 1 + len(tlv.encode_length(le - h)) == h)
        chunk = content[offset : offset + room]
        return tlv.encode(0x53, chunk), SW_OK if len(chunk) == room else 0x6282

    def _get_challenge(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if not self.applet:
            return b"", 0x6985
        if cmd.le != 8:
            return b"", 0x6700
        self.rnd_ic = self.rng(8)
        return self.rnd_ic, SW_OK

    def _manage_security_environment(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        p1p2 = cmd.p1 << 8 | cmd.p2
        if p1p2 == 0xC1A4 and not secure:
            return b"", self.pace.set_at(cmd.data) if self.pace is not None else 0x6D00
        if p1p2 == 0x41A4 and secure and self.chip_auth is not None:
            return b"", self.chip_auth.set_at(cmd.data)
        if p1p2 == 0x41A6 and secure and self.chip_auth is not None:  # MSE:Set KAT (3DES CA)
            try:
                public = tlv.find(tlv.children(cmd.data), 0x91)
            except LdsError:
                public = None
            sm = self.chip_auth.agree(public) if public else None
            self._next_sm = sm
            return b"", SW_OK if sm else 0x6A80
        return b"", 0x6A80 if self.pace is not None or self.chip_auth is not None else 0x6D00

    def _general_authenticate(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if secure:
            if self.chip_auth is None:
                return b"", 0x6D00
            data, sw, self._next_sm = self.chip_auth.general_authenticate(cmd.data)
            return data, sw
        if self.pace is None:
            return b"", 0x6D00
        data, sw, self._next_sm = self.pace.general_authenticate(cmd.cla, cmd.data)
        return data, sw

    def _external_authenticate(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        if self.access == "pace":
            return b"", 0x6985  # a PACE-only chip: no BAC
        if self.rnd_ic is None:
            return b"", 0x6985
        rnd_ic, self.rnd_ic = self.rnd_ic, None
        result = card_mutual_auth(self.image.bac, rnd_ic, cmd.data, self.rng(16))
        if result is None:
            return b"", 0x6300
        response, keys = result
        self.sm = SecureMessaging(keys.ks_enc, keys.ks_mac, keys.ssc)
        self._protected_responses = 0
        return response, SW_OK

    def _internal_authenticate(self, cmd: Command, secure: bool) -> tuple[bytes, int]:
        key = self._wrong_aa_key or self.image.aa_key
        if key is None:
            return b"", 0x6D00
        if not secure:
            return b"", 0x6982
        if len(cmd.data) != 8:
            return b"", 0x6A80
        if isinstance(key, rsa.RSAPrivateKey):
            return sign_rsa_9796_2(key, cmd.data), SW_OK
        return sign_ecdsa_plain(key, cmd.data, self.image.aa_hash), SW_OK
