"""QR scanner backend ``hid`` (optional): keyboard-wedge scanners through evdev.

A scanner in keyboard (HID) mode "types" what it reads as key presses of a US keyboard and ends
with Enter. **Keyboard mode cannot carry Vietnamese text reliably**: a key press has no code for
``Ư`` or ``ặ``; scanners either drop such characters, type them as Alt+numpad sequences meant for
Windows code pages, or need a host keyboard layout the kiosk does not have. Names then arrive
damaged and the check-in is refused as invalid. Use a scanner in **serial (virtual COM) mode with
UTF-8 output** (backend ``serial``) wherever Vietnamese names matter; the ``hid`` backend is for
scanners that can do nothing else, and only ASCII is decoded here (other key presses mark the
frame as damaged: it is dropped with a warning).

``[qr_scanner] port`` is the input device (``/dev/input/by-id/usb-...-event-kbd``); the device is
grabbed so the scan does not also go to the kiosk browser. Needs ``pip install evdev`` and the
service user in the ``input`` group.
"""

from __future__ import annotations

import logging
import select
import time

from appliance.errors import BackendMissing, DeviceUnavailable
from appliance.hal.base import QrScanner

log = logging.getLogger(__name__)

# linux/input-event-codes.h
EV_KEY = 1
KEY_ENTER, KEY_KPENTER, KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 28, 96, 42, 54
_ROWS = {
    2: "1!", 3: "2@", 4: "3#", 5: "4$", 6: "5%", 7: "6^", 8: "7&", 9: "8*", 10: "9(", 11: "0)",
    12: "-_", 13: "=+", 15: "\t\t", 26: "[{", 27: "]}", 39: ";:", 40: "'\"", 41: "`~", 43: "\\|",
    51: ",<", 52: ".>", 53: "/?", 57: "  ", 55: "**", 74: "--", 78: "++", 98: "//",
    71: "77", 72: "88", 73: "99", 75: "44", 76: "55", 77: "66", 79: "11", 80: "22", 81: "33",
    82: "00", 83: "..",
}  # fmt: skip
for _code, _letter in zip(
    [*range(16, 26), *range(30, 39), *range(44, 51)], "qwertyuiopasdfghjklzxcvbnm", strict=True
):
    _ROWS[_code] = _letter + _letter.upper()
KEYMAP: dict[int, tuple[str, str]] = {code: (pair[0], pair[1]) for code, pair in _ROWS.items()}
IGNORED = frozenset({29, 97, 56, 100, 58, 69, 70})  # ctrl, alt, caps/num/scroll lock


class KeyDecoder:
    """Turns key events (code, value) into frames of ASCII text ended by Enter."""

    def __init__(self) -> None:
        self.shift = False
        self.chars: list[str] = []
        self.damaged = False

    def feed(self, code: int, value: int) -> bytes | None:
        """One key event (value 1 = down, 0 = up, 2 = repeat); a finished frame or None."""
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            self.shift = value != 0
            return None
        if value != 1:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            frame, damaged = "".join(self.chars), self.damaged
            self.chars, self.damaged = [], False
            if damaged:
                log.warning("HID QR scanner: a scan held keys with no ASCII meaning; dropped")
                return None
            return frame.encode("ascii") if frame else None
        pair = KEYMAP.get(code)
        if pair is None:
            if code not in IGNORED:
                self.damaged = True
            return None
        self.chars.append(pair[1] if self.shift else pair[0])
        return None


class HidQrScanner(QrScanner):
    backend = "hid"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._dev = None
        self._keys = KeyDecoder()
        self._frames: list[bytes] = []

    def location(self) -> str:
        return f"{self.cfg.port} (keyboard mode: ASCII only)"

    def open(self) -> None:
        try:
            import evdev
        except ImportError as exc:
            raise BackendMissing("the hid QR scanner needs evdev: pip install evdev") from exc
        self.close()
        try:
            dev = evdev.InputDevice(self.cfg.port)
            dev.grab()
        except OSError as exc:
            raise DeviceUnavailable(f"cannot open input device {self.cfg.port}: {exc}") from None
        self._dev = dev
        self._keys = KeyDecoder()
        self.is_open = True

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                dev.ungrab()
                dev.close()
            except OSError:
                pass
        super().close()

    def fix_hint(self, exc: Exception) -> str | None:
        return (
            "set [qr_scanner] port to the scanner's /dev/input/by-id/...-event-kbd and put the "
            "service user in the input group; better: switch the scanner to serial (virtual COM) "
            "mode"
        )

    def read(self, timeout: float) -> bytes | None:
        self._require_open()
        deadline = time.monotonic() + timeout
        while not self._frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            dev = self._dev
            assert dev is not None
            try:
                ready, _, _ = select.select([dev.fd], [], [], remaining)
                if not ready:
                    return None
                events = list(dev.read())
            except BlockingIOError:
                continue
            except OSError as exc:  # unplugged
                self.close()
                raise DeviceUnavailable(f"HID QR scanner {self.cfg.port} gone ({exc})") from None
            for ev in events:
                if ev.type == EV_KEY:
                    frame = self._keys.feed(ev.code, ev.value)
                    if frame:
                        self._frames.append(frame)
        return self._frames.pop(0)
