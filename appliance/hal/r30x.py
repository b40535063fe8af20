"""R307 / R503 / AS608 / ZFM fingerprint modules over a UART (pyserial): backend ``r30x``.

On :meth:`R30xSensor.open` the driver listens for the module's ready byte, then looks for the
module: the configured rate, the upload rate, then the standard ones (the module keeps its rate
in flash, so it may not be what the config says), handshaking with VfyPwd at each; it logs and
reports which rate answered. It reads the system parameters (data packet size), and raises the
rate to ``upload_baud`` with SetSysPara when the module accepts it (the 36 KiB image of an R307
takes about 7 s at 57600 baud and 3.5 s at 115200).

Every read has a deadline; junk before a packet header is skipped (resync); a garbled answer
(bad checksum or framing, timeout, or the module's own "packet receive error") is retried a
bounded number of times; an image upload that went wrong is asked for again (the image stays
in the module's buffer). Each confirmation code the module reports raises its typed error
(:mod:`appliance.hal.r30x_protocol`). A pulled cable surfaces as :class:`DeviceUnavailable`
from any call or from :meth:`check`; :meth:`open` works again once it is back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import serial

from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal import r30x_protocol as p
from appliance.hal.base import FingerprintSensor

log = logging.getLogger(__name__)

SERIAL_TIMEOUT = 0.02  # granularity of reads; deadlines are enforced on top
PROBE_TIMEOUT = 0.15  # per handshake attempt while looking for the module's baud rate
IMAGE_FRESH_S = 1.0  # an image taken by wait_finger() this recently is uploaded by capture()
_TRANSIENT = (p.ChecksumError, p.FramingError, p.ReadTimeout)


def candidate_bauds(configured: int, upload: int) -> list[int]:
    """Rates to try on open, most likely first, each once."""
    order = [configured, upload, 57600, 115200, 9600, 19200, 38400, *p.STANDARD_BAUDS]
    out: list[int] = []
    for b in order:
        if b in p.STANDARD_BAUDS and b not in out:
            out.append(b)
    return out


class R30xSensor(FingerprintSensor):
    """A Synochip-protocol module on a serial port."""

    backend = "r30x"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        try:
            self.image_size = p.image_size(cfg.model)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self._ser: serial.Serial | None = None
        self._reader = p.PacketReader(self._read)
        self._lock = threading.RLock()
        self._image_at: float | None = None
        self.baud: int | None = None  # the rate the module answered at (after any raise)
        self.found_baud: int | None = None  # the rate it answered at on open
        self.ready_seen = False
        self.params: p.SysParams | None = None
        self.baud_note = ""
        self.retries_used = 0

    # --- serial plumbing -----------------------------------------------------------------------

    def _port_lost(self, exc: Exception) -> DeviceUnavailable:
        self._close_port()
        return DeviceUnavailable(f"fingerprint module on {self.cfg.port} disconnected ({exc})")

    def _read(self, n: int, deadline: float) -> bytes:
        ser = self._ser
        if ser is None:
            raise DeviceUnavailable("fingerprint module is not open")
        try:
            while True:
                chunk = ser.read(max(n, ser.in_waiting))
                if chunk or time.monotonic() >= deadline:
                    return chunk
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from None

    def _write(self, data: bytes) -> None:
        if self._ser is None:
            raise DeviceUnavailable("fingerprint module is not open")
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from None

    def _wire_s(self, nbytes: int) -> float:
        """Seconds ``nbytes`` take on the line at the current rate (10 bits a byte)."""
        return nbytes * 10.0 / (self.baud or self.cfg.baud)

    def _drain(self, quiet_s: float | None = None, limit_s: float = 12.0) -> int:
        """Throw away input until the line has been quiet for ``quiet_s`` (bounded)."""
        quiet = quiet_s if quiet_s is not None else max(0.05, self._wire_s(40))
        self._reader.clear()
        dropped = 0
        end = time.monotonic() + limit_s
        last = time.monotonic()
        while time.monotonic() < end:
            chunk = self._read(4096, time.monotonic() + SERIAL_TIMEOUT)
            now = time.monotonic()
            if chunk:
                dropped += len(chunk)
                last = now
            elif now - last >= quiet:
                break
        return dropped

    def _set_port_baud(self, baud: int) -> None:
        assert self._ser is not None
        try:
            self._ser.baudrate = baud
            self._ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise self._port_lost(exc) from None
        self._reader.clear()
        self.baud = baud

    def _close_port(self) -> None:
        if self._ser is not None:
            try:
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
        self._ser = None
        self.is_open = False

    # --- transactions --------------------------------------------------------------------------

    def _exchange(self, instruction: int, params: bytes, timeout: float) -> p.Packet:
        """Send one command and read its acknowledge packet (no retry)."""
        self._write(p.command(instruction, params, self.cfg.address))
        deadline = time.monotonic() + timeout + self._wire_s(12 + len(params) + 12 + 32)
        while True:
            pkt = self._reader.read_packet(deadline)
            if pkt.ptype == p.ACK:
                return pkt
            # a data packet left over from an interrupted upload: skip it

    def transact(
        self,
        instruction: int,
        params: bytes = b"",
        *,
        what: str = "",
        timeout: float | None = None,
        retries: int | None = None,
        answer_len: int = 1,
    ) -> p.Packet:
        """One command with bounded retries; raises the typed error of a failure code.

        ``answer_len``: payload bytes a successful answer carries (a shorter one is a stale
        answer to an earlier command, and is retried).
        """
        what = what or f"instruction 0x{instruction:02X}"
        timeout = self.cfg.timeout_s if timeout is None else timeout
        retries = self.cfg.retries if retries is None else retries
        with self._lock:
            self._require_open()
            last: Exception | None = None
            for attempt in range(retries + 1):
                if attempt:
                    self.retries_used += 1
                    log.info("fingerprint %s: retry %d after %s", what, attempt, last)
                    self._drain()
                try:
                    pkt = self._exchange(instruction, params, timeout)
                except _TRANSIENT as exc:
                    last = exc
                    continue
                if pkt.confirmation == 0x01 and attempt < retries:
                    last = p.error_for(0x01, what)  # the module got our packet garbled
                    continue
                if pkt.confirmation != 0x00:
                    raise p.error_for(pkt.confirmation, what)
                if len(pkt.payload) < answer_len:
                    last = p.FramingError(
                        f"{what}: answer of {len(pkt.payload)} bytes is too short"
                    )
                    continue
                return pkt
            assert last is not None
            raise last

    # --- open / close --------------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            self._close_port()
            port = self.cfg.port
            try:
                self._ser = serial.Serial(
                    port, self.cfg.baud, timeout=SERIAL_TIMEOUT, write_timeout=5.0, exclusive=True
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._ser = None
                raise DeviceUnavailable(f"cannot open fingerprint port {port}: {exc}") from None
            self.baud = self.cfg.baud
            self.is_open = True
            try:
                self._find_module()
                self.params = p.SysParams.from_bytes(
                    self.transact(p.READ_SYS_PARA, what="ReadSysPara", answer_len=17).payload[1:]
                )
                self._raise_baud()
            except (DeviceUnavailable, p.R30xError):
                self._close_port()
                raise
            except Exception as exc:
                self._close_port()
                raise DeviceUnavailable(f"fingerprint module on {port}: {exc}") from exc
            log.info(
                "fingerprint module %s on %s: answered at %d baud (configured %d)%s%s",
                self.cfg.model,
                port,
                self.found_baud,
                self.cfg.baud,
                ", ready byte seen" if self.ready_seen else "",
                f"; {self.baud_note}" if self.baud_note else "",
            )

    def _find_module(self) -> None:
        """Handshake at the candidate rates until the module answers (bounded by time)."""
        cands = candidate_bauds(self.cfg.baud, self.cfg.upload_baud)
        deadline = time.monotonic() + max(self.cfg.open_timeout_s, 0.1)
        # a module that was just powered sends 0x55 when it is ready
        ready_deadline = time.monotonic() + self.cfg.ready_wait_s
        while time.monotonic() < ready_deadline:
            chunk = self._read(64, ready_deadline)
            if p.READY_BYTE in chunk:
                self.ready_seen = True
                break
        self._reader.clear()
        password = self.cfg.password.to_bytes(4, "big")
        rounds = 0
        while True:
            # a slow module gets more time on each round
            timeout = min(PROBE_TIMEOUT * 2**rounds, max(self.cfg.timeout_s, PROBE_TIMEOUT))
            queue = list(cands)
            garbled: set[int] = set()
            while queue:
                baud = queue.pop(0)
                if time.monotonic() >= deadline:
                    tried = ", ".join(str(b) for b in cands)
                    raise DeviceUnavailable(
                        f"no answer from a fingerprint module on {self.cfg.port} at {tried} baud"
                    )
                self._set_port_baud(baud)
                try:
                    pkt = self._exchange(p.VFY_PWD, password, timeout)
                except p.ChecksumError:
                    if baud not in garbled:  # a packet came, so likely the right rate: again
                        garbled.add(baud)
                        queue.insert(0, baud)
                    continue
                except _TRANSIENT:
                    if self._reader.pending().endswith(bytes((p.READY_BYTE,))):
                        self.ready_seen = True  # it has just powered up: ask again at this rate
                        queue.insert(0, baud)
                    continue
                # any well-formed answer means the rate is right
                self.found_baud = baud
                if pkt.confirmation == 0x01:  # it got our packet garbled: ask properly
                    self.transact(p.VFY_PWD, password, what="VfyPwd")
                elif pkt.confirmation != 0x00:
                    raise p.error_for(pkt.confirmation, "VfyPwd")
                return
            rounds += 1

    def _raise_baud(self) -> None:
        target = self.cfg.upload_baud
        if not target or target == self.baud:
            return
        if target not in p.STANDARD_BAUDS:
            self.baud_note = f"upload_baud {target} is not 9600 x 1..12: kept {self.baud}"
            return
        old = self.baud
        assert old is not None
        try:
            self.transact(p.SET_SYS_PARA, bytes((p.PARAM_BAUD, target // 9600)), what="SetSysPara")
        except p.R30xError as exc:
            self.baud_note = f"module refused {target} baud ({exc.message}): kept {old}"
            return
        time.sleep(max(0.005, self._wire_s(2)))
        self._set_port_baud(target)
        try:
            self.transact(p.VFY_PWD, self.cfg.password.to_bytes(4, "big"), what="VfyPwd", retries=1)
        except _TRANSIENT:
            self._set_port_baud(old)
            self.transact(p.VFY_PWD, self.cfg.password.to_bytes(4, "big"), what="VfyPwd")
            self.baud_note = f"module did not answer at {target} baud: kept {old}"
            return
        self.baud_note = f"raised to {target} baud"

    def close(self) -> None:
        with self._lock:
            self._close_port()

    # --- liveness ------------------------------------------------------------------------------

    def check(self) -> None:
        if self._ser is None:
            raise DeviceUnavailable(f"fingerprint module on {self.cfg.port} is not open")
        if not os.path.exists(self.cfg.port):
            self._close_port()
            raise DeviceUnavailable(f"fingerprint module on {self.cfg.port} was unplugged")
        if not self._lock.acquire(blocking=False):
            return  # busy with a capture: that is alive enough
        try:
            self.transact(p.HANDSHAKE, what="HandShake", timeout=0.5, retries=1)
        except p.Unsupported:
            pass
        except p.R30xError:
            pass  # it answered, so it is there
        except (p.ReadTimeout, p.ProtocolError) as exc:
            raise DeviceUnavailable(f"fingerprint module stopped answering: {exc}") from None
        finally:
            self._lock.release()

    def location(self) -> str:
        return self.cfg.port

    def probe(self) -> str:
        self._require_open()
        prm = self.params
        pkt = self.transact(p.TEMPLATE_NUM, what="TemplateNum", answer_len=3)
        count = int.from_bytes(pkt.payload[1:3], "big")
        rows, cols = self.image_size
        return (
            f"{self.cfg.model.upper()} answered at {self.found_baud} baud "
            f"(configured {self.cfg.baud}{', ready byte seen' if self.ready_seen else ''}); "
            f"now {self.baud} baud{f' ({self.baud_note})' if self.baud_note else ''}; "
            f"image {cols}x{rows}; packets {prm.packet_size if prm else '?'} bytes; "
            f"library {prm.library_size if prm else '?'} ({count} stored)"
        )

    def fix_hint(self, exc: Exception) -> str | None:
        port = self.cfg.port
        msg = str(exc)
        if isinstance(exc, p.WrongPassword):
            return "set [fingerprint] password to the module's password (factory default 0)"
        if "Permission denied" in msg:
            return f"add the service user to the 'dialout' group (it cannot open {port})"
        if "No such file" in msg or "could not open port" in msg or "unplugged" in msg:
            return (
                f"{port} is missing: check the USB-serial cable, or on a Raspberry Pi enable the "
                "UART (raspi-config > Interface > Serial: login shell off, hardware on) and use "
                "/dev/serial0"
            )
        if "no answer" in msg:
            return (
                f"no reply on {port} at any standard baud rate (configured "
                f"{self.cfg.baud}): check the wiring: TX/RX are crossed (module TX to the Pi's "
                "RX, GPIO15 pin 10; module RX to TX, GPIO14 pin 8), power and GND (R503: 3.3 V, "
                "also on its touch/LED pin), and port and baud in [fingerprint] of "
                "/etc/appliance/appliance.toml"
            )
        if isinstance(exc, p.ImageSizeError):
            return f"[fingerprint] model = {self.cfg.model!r} does not match the module: check it"
        return None

    # --- the sensor interface ------------------------------------------------------------------

    def gen_img(self) -> None:
        """Take an image into the module's buffer (raises :class:`NoFinger` without a finger)."""
        self.transact(p.GEN_IMG, what="GenImg")
        self._image_at = time.monotonic()

    def wait_finger(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.gen_img()
                return True
            except (p.NoFinger, p.ImageFailed):
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.cfg.poll_s, max(0.0, deadline - time.monotonic())))

    def capture(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        with self._lock:
            fresh = self._image_at is not None and time.monotonic() - self._image_at < IMAGE_FRESH_S
            if not fresh:
                self.gen_img()
            self._image_at = None
            return self.upload_image(progress)

    def upload_image(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        """UpImage: the image in the module's buffer as 8-bit grey, with bounded retries."""
        rows, cols = self.image_size
        expected = rows * cols // 2
        with self._lock:
            last: Exception | None = None
            for attempt in range(self.cfg.retries + 1):
                if attempt:
                    self.retries_used += 1
                    log.info("fingerprint upload: retry %d after %s", attempt, last)
                    self._drain()
                skipped_before = self._reader.skipped
                try:
                    self.transact(p.UP_IMAGE, what="UpImage")
                    data = self._receive_image(expected, progress)
                    return p.unpack_image(bytes(data), rows, cols)
                except _TRANSIENT as exc:
                    last = exc
                except p.ImageSizeError as exc:
                    if self._reader.skipped == skipped_before:
                        raise  # a clean stream of the wrong size: the model setting is wrong
                    last = exc  # bytes were lost on the way: ask again
            assert last is not None
            raise last

    def _receive_image(self, expected: int, progress: Callable[[float], None] | None) -> bytearray:
        rows, cols = self.image_size
        size = self.params.packet_size if self.params else 128
        per_packet = self.cfg.timeout_s + self._wire_s(size + 11)
        data = bytearray()
        while True:
            pkt = self._reader.read_packet(time.monotonic() + per_packet)
            if pkt.ptype not in (p.DATA, p.END):
                raise p.FramingError(f"unexpected packet type 0x{pkt.ptype:02X} in the image")
            data += pkt.payload
            if len(data) > expected:
                raise p.ImageSizeError(
                    f"the module sent more than the {expected} bytes of a {cols}x{rows} "
                    f"{self.cfg.model} image"
                )
            if progress:
                progress(len(data) / expected)
            if pkt.ptype == p.END:
                break
        if len(data) != expected:
            raise p.ImageSizeError(
                f"the module sent {len(data)} bytes; a {cols}x{rows} {self.cfg.model} image "
                f"has {expected}"
            )
        return data

    def led(self, color: str = "blue", mode: str = "on") -> int:
        """R503: the AuraLedConfig ring; R307/AS608: OpenLED/CloseLED.

        Returns the module's confirmation code (0: done). A module without LED control raises
        :class:`~appliance.hal.r30x_protocol.Unsupported` (callers that only decorate, like the
        capture guidance, catch it); no answer raises the transfer error.
        """
        if mode not in p.AURA_MODES:
            raise InvalidInput(f"unknown LED mode {mode!r}: use {', '.join(p.AURA_MODES)}")
        if self.cfg.model.lower() in p.AURA_MODELS:
            if color not in p.AURA_COLORS:
                raise InvalidInput(f"unknown LED colour {color!r}: use {', '.join(p.AURA_COLORS)}")
            speed = 0x80 if mode in ("breathe", "flash") else 0x00
            count = 0  # 0: forever
            params = bytes((p.AURA_MODES[mode], speed, p.AURA_COLORS[color], count))
            return self.transact(p.AURA_LED_CONFIG, params, what="AuraLedConfig").confirmation
        instruction = p.CLOSE_LED if mode in ("off", "fade_off") else p.OPEN_LED
        return self.transact(instruction, what="LED", retries=0).confirmation
