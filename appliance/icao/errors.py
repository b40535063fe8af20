"""Typed errors of the chip reader; ``code`` is part of the ``appliance card read`` contract.

Every error a card (honest or malicious) can provoke is one of these, so a caller never sees a
bare exception: ``no_card``, ``bac_failed`` or ``read_error`` (the class says more).
"""

from __future__ import annotations

from appliance.errors import DeviceError, DeviceTimeout, ProtocolError


class CardError(DeviceError):
    """Base of the chip reader's errors."""

    code = "card_error"


class NoCard(CardError):
    """No card on the reader, or it was taken off during the read."""

    code = "no_card"


class BacFailed(CardError):
    """The chip refused the BAC keys (wrong document number or dates) or answered wrongly."""

    code = "bac_failed"


class ReadError(CardError):
    """The chip could not be read to the end."""

    code = "read_error"


class StatusError(ReadError):
    """The chip answered a command with an error status word (``.sw``)."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(f"{message}: status {sw:04X} ({describe_sw(sw)})")
        self.sw = sw


class FileNotFound(StatusError):
    """6A82: the file is not on the chip."""


class AccessDenied(StatusError):
    """6982: the file needs an access right this reader does not have (e.g. DG3, EAC)."""


class SecureMessagingError(ReadError, ProtocolError):
    """A response failed its MAC, lacked secure messaging, or the chip ended the session."""


class LdsError(ReadError, ProtocolError):
    """A file's contents are malformed (TLV structure, ASN.1, an impossible length)."""


class FaceImageError(LdsError):
    """The face image (DG2) is over the decoding budget or does not decode."""


class FileTooLarge(ReadError):
    """A file claims more bytes than the configured maximum."""


class TruncatedFile(ReadError):
    """The chip ran out of bytes before the length its file header announced."""


class CardTimeout(ReadError, DeviceTimeout):
    """The read did not finish within its time budget (slow or stalled chip)."""


_SW_TEXT = {
    0x6282: "end of file reached before Le bytes",
    0x6300: "authentication failed",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed",
    0x6987: "secure messaging data objects missing",
    0x6988: "secure messaging data objects incorrect",
    0x6A80: "incorrect data",
    0x6A81: "function not supported",
    0x6A82: "file not found",
    0x6A86: "incorrect P1-P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters (offset outside the file)",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
    0x9000: "ok",
}


def describe_sw(sw: int) -> str:
    if sw in _SW_TEXT:
        return _SW_TEXT[sw]
    if sw >> 8 == 0x6C:
        return f"wrong Le, {sw & 0xFF or 256} bytes available"
    if sw >> 8 == 0x61:
        return f"{sw & 0xFF or 256} more bytes available"
    return "unknown"


def status_error(message: str, sw: int) -> StatusError:
    """The most specific :class:`StatusError` for ``sw``."""
    if sw == 0x6A82:
        return FileNotFound(message, sw)
    if sw == 0x6982:
        return AccessDenied(message, sw)
    return StatusError(message, sw)
