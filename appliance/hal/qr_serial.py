"""QR scanner backend ``serial``: scanner modules on a UART or USB-CDC port (pyserial).

The module sends each code it reads followed by a terminator (``[qr_scanner] terminator``,
``"\\r"`` by default; ``"\\n"``, ``"\\r\\n"``, a name such as ``CR``/``LF``/``CRLF``/``TAB``,
or ``""`` for modules that send no terminator: a frame then ends after 100 ms of silence).
Bytes are kept as they arrived until the UTF-8 decode later on: only the framing is removed
(the terminator, stray CR/LF, NUL and STX/ETX around the frame). Frames of pure line noise are
dropped; an endless stream without a terminator is discarded after 4 KiB.

A module that is unplugged makes :meth:`read` raise :class:`DeviceUnavailable` and close the
port; :meth:`open` reopens it once it is back (the device manager retries on its own). Use a
stable path such as ``/dev/serial/by-id/usb-...`` so the module keeps its name across replugs.
"""

from __future__ import annotations

import codecs
import logging
import os
import time

from appliance.errors import BackendMissing, DeviceUnavailable, InvalidInput
from appliance.hal.base import QrScanner

log = logging.getLogger(__name__)

MAX_FRAME = 4096
GAP_S = 0.1  # end of frame for modules without a terminator
FRAMING = b"\r\n\x00\x02\x03 \t"
NOISE = frozenset(b"\x00\xff\r\n\x02\x03 \t")
TERMINATOR_NAMES = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "TAB": b"\t", "NONE": b""}


def terminator_bytes(value: str) -> bytes:
    """The terminator as bytes from the config: a literal, an escape (``\\r``) or a name."""
    if value.upper() in TERMINATOR_NAMES:
        return TERMINATOR_NAMES[value.upper()]
    try:
        text = codecs.decode(value, "unicode_escape") if "\\" in value else value
        return text.encode("latin-1")
    except (UnicodeError, ValueError):
        raise InvalidInput(
            f"qr_scanner.terminator {value!r}: use CR, LF, CRLF, TAB, NONE or an escape like \\r",
            code="config",
        ) from None


class SerialQrScanner(QrScanner):
    backend = "serial"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._port = None
        self._buf = bytearray()
        self._last_rx = 0.0
        self.terminator = terminator_bytes(cfg.terminator)
        self.frames = 0
        self.dropped = 0

    def location(self) -> str:
        return f"{self.cfg.port} at {self.cfg.baud} baud"

    def open(self) -> None:
        try:
            import serial
        except ImportError as exc:
            raise BackendMissing(
                "the serial QR scanner needs pyserial: pip install pyserial"
            ) from (exc)
        self.close()
        try:
            self._port = serial.Serial(self.cfg.port, self.cfg.baud, timeout=0.05, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open QR scanner port {self.cfg.port}: {exc}") from None
        self._buf.clear()
        self.is_open = True

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # the device may already be gone
                pass
        self._buf.clear()
        super().close()

    def fix_hint(self, exc: Exception) -> str | None:
        return (
            f"check that the scanner is plugged in and shows up as {self.cfg.port} "
            "(ls -l /dev/serial/by-id/), that the service user is in the dialout group, that no "
            "other program holds the port, and that the module is in serial (virtual COM) mode"
        )

    def check(self) -> None:
        if self.is_open and not os.path.exists(self.cfg.port):
            self._unplugged(FileNotFoundError(self.cfg.port))

    def _unplugged(self, exc: BaseException) -> None:
        self.close()
        raise DeviceUnavailable(f"QR scanner at {self.cfg.port} disconnected ({exc})") from None

    def _take_frame(self, now: float) -> bytes | None:
        """The next complete frame from the buffer, or None; noise frames are dropped here."""
        while True:
            if self.terminator:
                idx = self._buf.find(self.terminator)
                if idx < 0:
                    if len(self._buf) > MAX_FRAME:
                        log.warning("QR scanner: %d bytes without a terminator dropped",
                                    len(self._buf))  # fmt: skip
                        self.dropped += 1
                        self._buf.clear()
                    return None
                frame = bytes(self._buf[:idx])
                del self._buf[: idx + len(self.terminator)]
            else:
                if not self._buf or now - self._last_rx < GAP_S:
                    return None
                frame = bytes(self._buf[:MAX_FRAME])
                self._buf.clear()
            frame = frame.strip(FRAMING)
            if not frame:
                continue
            if len(frame) > MAX_FRAME:
                log.warning("QR scanner: a %d-byte frame dropped (too long)", len(frame))
                self.dropped += 1
                continue
            if all(b in NOISE for b in frame):
                log.debug("QR scanner: %d bytes of line noise dropped", len(frame))
                self.dropped += 1
                continue
            self.frames += 1
            return frame

    def read(self, timeout: float) -> bytes | None:
        """The next frame's bytes (framing removed), or None after ``timeout``."""
        self._require_open()
        import serial

        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            frame = self._take_frame(now)
            if frame is not None:
                return frame
            remaining = deadline - now
            if remaining <= 0:
                return None
            port = self._port
            assert port is not None
            try:
                wait = round(min(remaining, GAP_S / 2 if not self.terminator else 0.2), 2)
                if port.timeout != wait:  # setting it reconfigures the port: only on change
                    port.timeout = wait
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # pyserial raises SerialException (or OSError EIO) when the device vanished,
                # and TypeError/AttributeError when its fd was closed under it.
                self._unplugged(exc)
            if chunk:
                self._buf += chunk
                self._last_rx = time.monotonic()

    def probe(self) -> str:
        self._require_open()
        return f"port {self.cfg.port} open at {self.cfg.baud} baud; scan a code to test"
