"""The Synochip packet protocol of R307, R503, AS608 and ZFM fingerprint modules.

A packet is ``EF 01 | address (4) | type (1) | length (2) | payload | checksum (2)``, all big
endian. ``length`` counts the payload plus the checksum; the checksum is the 16-bit sum of the
type, both length bytes and the payload. A command packet (type 0x01) carries an instruction code
and its parameters; the module answers with an acknowledge packet (0x07) whose first payload byte
is a confirmation code (0x00 = OK). Images and templates travel in data packets (0x02) ending
with an end packet (0x08). After power-up the module sends the single ready byte 0x55.

This module is pure (no I/O): encoding, decoding, a resynchronising stream parser, the
confirmation codes as typed errors, the system parameters, and 4-bit image packing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.errors import DeviceError, DeviceTimeout, ProtocolError

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
READY_BYTE = 0x55

# packet types
COMMAND = 0x01
DATA = 0x02
ACK = 0x07
END = 0x08
PACKET_TYPES = (COMMAND, DATA, ACK, END)
MAX_PAYLOAD = 256  # the largest data packet size a module can be set to

# instruction codes
GEN_IMG = 0x01
IMG_2_TZ = 0x02
UP_IMAGE = 0x0A
DOWN_IMAGE = 0x0B
SET_SYS_PARA = 0x0E
READ_SYS_PARA = 0x0F
VFY_PWD = 0x13
TEMPLATE_NUM = 0x1D
AURA_LED_CONFIG = 0x35
CHECK_SENSOR = 0x36
SOFT_RESET = 0x3D
HANDSHAKE = 0x40
OPEN_LED = 0x50
CLOSE_LED = 0x51

# SetSysPara parameter numbers
PARAM_BAUD = 4  # value N: 9600 * N baud, N = 1..12
PARAM_SECURITY = 5  # 1..5
PARAM_PACKET_SIZE = 6  # 0..3: 32, 64, 128, 256 bytes

PACKET_SIZES = (32, 64, 128, 256)
STANDARD_BAUDS = tuple(9600 * n for n in range(1, 13))

# image geometry by module model: (rows, cols)
MODEL_IMAGE_SIZE: dict[str, tuple[int, int]] = {
    "r307": (288, 256),
    "r305": (288, 256),
    "as608": (288, 256),
    "zfm20": (288, 256),
    "zfm60": (288, 256),
    "r503": (192, 192),
}
AURA_MODELS = ("r503",)  # models with the AuraLedConfig ring LED

# AuraLedConfig control codes and colour indices
AURA_MODES = {
    "breathe": 0x01,
    "flash": 0x02,
    "on": 0x03,
    "off": 0x04,
    "fade_on": 0x05,
    "fade_off": 0x06,
}
AURA_COLORS = {
    "red": 0x01,
    "blue": 0x02,
    "purple": 0x03,
    "green": 0x04,
    "yellow": 0x05,
    "cyan": 0x06,
    "white": 0x07,
}


# --- errors ----------------------------------------------------------------------------------


class R30xError(DeviceError):
    """The module answered with a non-zero confirmation code."""

    code = "fp_module_error"

    def __init__(self, message: str, *, confirmation: int | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.confirmation = confirmation


class NoFinger(R30xError):
    """GenImg found no finger on the sensor (0x02)."""

    code = "fp_no_finger"


class ImageFailed(R30xError):
    """The module took a picture but it was unusable (0x03, 0x06, 0x07, 0x15)."""

    code = "fp_image_failed"


class WrongPassword(R30xError):
    """The module's handshake password differs from the configured one (0x13)."""

    code = "fp_wrong_password"


class PasswordRequired(R30xError):
    """The module wants VfyPwd first (0x21)."""

    code = "fp_password_required"


class TransferError(R30xError):
    """The module reports a serial transfer failure (0x01, 0x0D, 0x0E, 0x0F, 0x1D)."""

    code = "fp_transfer_error"


class BadParameter(R30xError):
    """A register number or value the module does not accept (0x1A, 0x1B, 0x1C, 0x20)."""

    code = "fp_bad_parameter"


class FlashError(R30xError):
    """Writing the module's flash failed (0x18)."""

    code = "fp_flash_error"


class SensorFault(R30xError):
    """The sensor hardware reports a fault (0x29, 0xFD)."""

    code = "fp_sensor_fault"


class Unsupported(R30xError):
    """The module does not know this instruction (0xFC, 0x19 on some firmware)."""

    code = "fp_unsupported"


class ModuleBusy(R30xError):
    """The module timed out internally or could not run the command now (0x26, 0xFE)."""

    code = "fp_module_busy"


class LibraryError(R30xError):
    """A template library operation failed (matching, storing, deleting)."""

    code = "fp_library_error"


# confirmation code -> (exception class, machine code, message)
CONFIRMATIONS: dict[int, tuple[type[R30xError], str, str]] = {
    0x01: (TransferError, "fp_packet_receive", "the module could not receive the packet"),
    0x02: (NoFinger, "fp_no_finger", "no finger on the sensor"),
    0x03: (ImageFailed, "fp_enroll_failed", "the module failed to take the image"),
    0x06: (ImageFailed, "fp_image_disorderly", "the image is too disorderly to use"),
    0x07: (ImageFailed, "fp_image_too_small", "too few features in the image"),
    0x08: (LibraryError, "fp_no_match", "the fingerprints do not match"),
    0x09: (LibraryError, "fp_not_found", "no matching fingerprint in the library"),
    0x0A: (LibraryError, "fp_combine_failed", "the feature files could not be combined"),
    0x0B: (BadParameter, "fp_address_beyond_library", "page address beyond the library"),
    0x0C: (LibraryError, "fp_template_read", "error reading the template"),
    0x0D: (TransferError, "fp_template_upload", "error uploading the template"),
    0x0E: (TransferError, "fp_data_receive", "the module cannot receive the data packets"),
    0x0F: (TransferError, "fp_image_upload", "error uploading the image"),
    0x10: (LibraryError, "fp_delete_failed", "failed to delete the template"),
    0x11: (LibraryError, "fp_clear_failed", "failed to clear the library"),
    0x13: (WrongPassword, "fp_wrong_password", "wrong module password"),
    0x15: (ImageFailed, "fp_no_valid_image", "no valid primary image in the buffer"),
    0x18: (FlashError, "fp_flash_write", "error writing the module's flash"),
    0x19: (Unsupported, "fp_undefined", "undefined error (unknown instruction?)"),
    0x1A: (BadParameter, "fp_invalid_register", "invalid register number"),
    0x1B: (BadParameter, "fp_register_content", "incorrect register content"),
    0x1C: (BadParameter, "fp_notepad_page", "wrong notepad page number"),
    0x1D: (TransferError, "fp_port_failed", "the module failed to operate its serial port"),
    0x1F: (LibraryError, "fp_library_full", "the fingerprint library is full"),
    0x20: (BadParameter, "fp_address_incorrect", "the module address is incorrect"),
    0x21: (PasswordRequired, "fp_password_required", "the password must be verified first"),
    0x22: (LibraryError, "fp_template_empty", "the template is empty"),
    0x24: (LibraryError, "fp_library_empty", "the fingerprint library is empty"),
    0x26: (ModuleBusy, "fp_module_timeout", "the module timed out"),
    0x27: (LibraryError, "fp_already_exists", "the fingerprint already exists"),
    0x29: (SensorFault, "fp_sensor_hardware", "sensor hardware error"),
    0xFC: (Unsupported, "fp_unsupported", "unsupported command"),
    0xFD: (SensorFault, "fp_hardware_error", "module hardware error"),
    0xFE: (ModuleBusy, "fp_command_failed", "command execution failure"),
}


def error_for(confirmation: int, what: str = "") -> R30xError:
    """The typed error for a non-zero confirmation code."""
    cls, code, message = CONFIRMATIONS.get(
        confirmation, (R30xError, "fp_module_error", "unknown module error")
    )
    prefix = f"{what}: " if what else ""
    return cls(
        f"{prefix}{message} (code 0x{confirmation:02X})", confirmation=confirmation, code=code
    )


class ChecksumError(ProtocolError):
    """A packet's checksum does not match its contents."""

    code = "fp_checksum"


class FramingError(ProtocolError):
    """Bytes that do not form a packet (bad header, type or length), or an unexpected packet."""

    code = "fp_framing"


class ImageSizeError(ProtocolError):
    """The uploaded image has a different number of bytes than the configured model's size."""

    code = "fp_image_size"


class ReadTimeout(DeviceTimeout):
    """The module did not send the expected bytes in time."""

    code = "fp_timeout"


# --- packets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    ptype: int
    payload: bytes
    address: int = DEFAULT_ADDRESS

    @property
    def confirmation(self) -> int:
        """The confirmation code of an acknowledge packet."""
        if self.ptype != ACK or not self.payload:
            raise FramingError(f"expected an acknowledge packet, got type 0x{self.ptype:02X}")
        return self.payload[0]


def checksum(ptype: int, payload: bytes) -> int:
    length = len(payload) + 2
    return (ptype + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode(ptype: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    """The bytes of one packet."""
    if ptype not in PACKET_TYPES:
        raise ValueError(f"unknown packet type 0x{ptype:02X}")
    if len(payload) > MAX_PAYLOAD + 1:
        raise ValueError(f"payload of {len(payload)} bytes is too long")
    length = len(payload) + 2
    return (
        HEADER
        + address.to_bytes(4, "big")
        + bytes((ptype, length >> 8, length & 0xFF))
        + payload
        + checksum(ptype, payload).to_bytes(2, "big")
    )


def command(instruction: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    return encode(COMMAND, bytes((instruction,)) + params, address)


def decode(data: bytes) -> Packet:
    """Decode exactly one packet (raises :class:`FramingError` / :class:`ChecksumError`)."""
    if len(data) < 11 or data[:2] != HEADER:
        raise FramingError(f"not a packet: {data[:12].hex()}")
    ptype, length = data[6], int.from_bytes(data[7:9], "big")
    if ptype not in PACKET_TYPES or not 2 <= length <= MAX_PAYLOAD + 3:
        raise FramingError(f"bad packet type 0x{ptype:02X} or length {length}")
    if len(data) != 9 + length:
        raise FramingError(f"packet length {length} does not match {len(data) - 9} bytes")
    payload = bytes(data[9 : 9 + length - 2])
    got = int.from_bytes(data[9 + length - 2 : 9 + length], "big")
    if got != checksum(ptype, payload):
        raise ChecksumError(f"checksum 0x{got:04X} != 0x{checksum(ptype, payload):04X}")
    return Packet(ptype, payload, int.from_bytes(data[2:6], "big"))


class PacketReader:
    """Parses packets from a byte source, skipping junk until the next header (resync).

    ``read(n, deadline)`` returns up to ``n`` bytes (fewer, or none, when the deadline
    passed); the reader keeps its own buffer so one call may fetch many packets' worth.
    """

    def __init__(self, read: Callable[[int, float], bytes]) -> None:
        self._read = read
        self._buf = bytearray()
        self.skipped = 0  # junk bytes dropped while resynchronising

    def clear(self) -> None:
        self._buf.clear()

    def pending(self) -> bytes:
        return bytes(self._buf)

    def _fill(self, n: int, deadline: float, what: str) -> None:
        while len(self._buf) < n:
            chunk = self._read(n - len(self._buf), deadline)
            if not chunk:
                raise ReadTimeout(f"no answer from the fingerprint module ({what})")
            self._buf += chunk

    def read_byte(self, deadline: float) -> int:
        self._fill(1, deadline, "ready byte")
        b = self._buf[0]
        del self._buf[0]
        return b

    def read_packet(self, deadline: float) -> Packet:
        """The next well-framed packet; junk before a header is skipped."""
        while True:
            self._fill(2, deadline, "packet header")
            start = self._buf.find(HEADER)
            if start < 0:
                # keep a trailing 0xEF: it may be the first half of a header
                keep = 1 if self._buf[-1] == HEADER[0] else 0
                self.skipped += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                continue
            if start:
                self.skipped += start
                del self._buf[:start]
            self._fill(9, deadline, "packet header")
            ptype, length = self._buf[6], int.from_bytes(self._buf[7:9], "big")
            if ptype not in PACKET_TYPES or not 2 <= length <= MAX_PAYLOAD + 3:
                # not a real header: drop its first byte and look again
                self.skipped += 1
                del self._buf[0]
                continue
            self._fill(9 + length, deadline, "packet body")
            raw = bytes(self._buf[: 9 + length])
            del self._buf[: 9 + length]
            return decode(raw)


# --- system parameters and images ------------------------------------------------------------


@dataclass(frozen=True)
class SysParams:
    """ReadSysPara's 16 bytes."""

    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size: int  # bytes per data packet
    baud: int

    @classmethod
    def from_bytes(cls, data: bytes) -> SysParams:
        if len(data) < 16:
            raise FramingError(f"system parameters need 16 bytes, got {len(data)}")
        word = lambda i: int.from_bytes(data[i : i + 2], "big")  # noqa: E731
        size_code = word(12)
        if size_code > 3:
            raise FramingError(f"bad packet size code {size_code}")
        return cls(
            status=word(0),
            system_id=word(2),
            library_size=word(4),
            security_level=word(6),
            address=int.from_bytes(data[8:12], "big"),
            packet_size=PACKET_SIZES[size_code],
            baud=9600 * word(14),
        )

    def to_bytes(self) -> bytes:
        words = (self.status, self.system_id, self.library_size, self.security_level)
        out = b"".join(w.to_bytes(2, "big") for w in words) + self.address.to_bytes(4, "big")
        return (
            out
            + PACKET_SIZES.index(self.packet_size).to_bytes(2, "big")
            + (self.baud // 9600).to_bytes(2, "big")
        )


def image_size(model: str) -> tuple[int, int]:
    """(rows, cols) of a model's image."""
    try:
        return MODEL_IMAGE_SIZE[model.lower()]
    except KeyError:
        raise ValueError(
            f"unknown fingerprint module model {model!r}: use one of {', '.join(MODEL_IMAGE_SIZE)}"
        ) from None


def unpack_image(data: bytes, rows: int, cols: int) -> np.ndarray:
    """4-bit pixels (high nibble first) to an 8-bit image; nibble v becomes v * 17 (0..255)."""
    if len(data) * 2 != rows * cols:
        raise ImageSizeError(
            f"image has {len(data)} bytes, a {cols}x{rows} image needs {rows * cols // 2}"
        )
    packed = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = packed >> 4
    out[1::2] = packed & 0x0F
    return (out * 17).reshape(rows, cols)


def pack_image(image: np.ndarray) -> bytes:
    """An 8-bit image to the module's 4-bit format (the top nibble of each pixel)."""
    flat = np.asarray(image, dtype=np.uint8).reshape(-1)
    if flat.size % 2:
        raise ValueError("an image needs an even number of pixels")
    return ((flat[0::2] & 0xF0) | (flat[1::2] >> 4)).astype(np.uint8).tobytes()
