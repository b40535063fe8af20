"""The module side of the R30x protocol on a pseudo-terminal, with fault injection.

:class:`R30xSimulator` opens a pty (``os.openpty``), answers the driver byte for byte from a
thread, and serves images from a folder, a list, a callable or the print generator. Its
``port`` is a symlink (like ``/dev/serial/by-id/...``) that :meth:`~R30xSimulator.unplug`
removes and :meth:`~R30xSimulator.replug` points at a fresh pty, so the real driver sees a
device vanish and come back.

What it models: the module's stored baud rate (bytes the driver sends at another rate are lost,
as on a real line: the pty's termios speed, which pyserial sets, is compared with the module's),
optional wire timing (each byte takes 10 bit-times at the module's rate), the ready byte 0x55
after power-up, the password, the data packet size, and these faults (:class:`Faults`): bad
checksums, dropped and extra bytes, slow answers, no finger, not ready for the first seconds,
baud changes refused, a module that never answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import select
import termios
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.hal import r30x_protocol as p

log = logging.getLogger(__name__)

ImageSource = str | Path | Sequence[np.ndarray] | Callable[[int], np.ndarray] | None

_SPEEDS = {getattr(termios, f"B{b}"): b for b in (9600, 19200, 38400, 57600, 115200, 230400)}


@dataclass
class Faults:
    """What goes wrong. Counters apply to the next N packets the module sends (-1: all)."""

    bad_checksum: int = 0  # corrupt the checksum
    drop_byte: int = 0  # lose one byte in the middle of the packet
    extra_bytes: int = 0  # send junk (with a fake 0xEF) before the packet
    packets: str = "any"  # which packets the counters hit: any | ack | data
    slow_s: float = 0.0  # wait this long before every answer
    no_finger: int = 0  # GenImg reports no finger this many times (-1: always)
    not_ready_s: float = 0.0  # after power-up: deaf this long, then the ready byte
    reject_baud: bool = False  # SetSysPara for the baud rate answers "bad register content"
    silent: bool = False  # never answer anything


@dataclass
class SimStats:
    commands: dict[int, int] = field(default_factory=dict)
    bytes_in: int = 0  # bytes received at the module's baud rate
    bytes_out: int = 0
    lost_bytes: int = 0  # bytes the driver sent at a wrong baud rate
    images_sent: int = 0


def _load_folder(folder: Path, size: tuple[int, int]) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(
        f for f in folder.iterdir() if f.suffix.lower() in (".png", ".bmp", ".jpg", ".jpeg", ".tif")
    )
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    out = []
    for f in files:
        with Image.open(f) as img:
            out.append(np.asarray(img.convert("L").resize((size[1], size[0]))))
    return out


class R30xSimulator:
    """A simulated R30x module on a pty. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        model: str = "r307",
        *,
        baud: int = 57600,
        address: int = p.DEFAULT_ADDRESS,
        password: int = 0,
        packet_size: int = 128,
        images: ImageSource = None,
        timing: bool = False,
        gen_img_s: float = 0.0,
        faults: Faults | None = None,
        finger: bool = True,
        link_dir: str | Path | None = None,
    ) -> None:
        self.model = model
        self.rows, self.cols = p.image_size(model)
        self.baud = baud
        self.address = address
        self.password = password
        self.packet_size = packet_size
        self.timing = timing
        self.gen_img_s = gen_img_s
        self.faults = faults or Faults()
        self.finger = finger
        self.stats = SimStats()
        self.led: dict[str, object] = {}
        self.sent: list[np.ndarray] = []  # the 8-bit images uploaded, as the driver should see them
        self._images = self._image_source(images)
        self._image_index = 0
        self._buffer: np.ndarray | None = None  # the module's image buffer
        self._verified = password == 0
        self._link_dir = Path(link_dir) if link_dir else None
        self._master = self._slave = -1
        self._threads: list[threading.Thread] = []
        self._inbox: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._rx = bytearray()
        self._ready_at = 0.0
        self._ready_sent = False
        self._line_free = 0.0
        self.plugged = False
        self._pty_name = ""

    # --- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> R30xSimulator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> str:
        """The path the driver opens (a stable symlink when ``link_dir`` was given)."""
        if self._link_dir:
            return str(self._link_dir / f"ttyR30x-{id(self):x}")
        return self._pty_name

    def start(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self._master)
        fcntl.fcntl(
            self._master, fcntl.F_SETFL, fcntl.fcntl(self._master, fcntl.F_GETFL) | os.O_NONBLOCK
        )
        self._pty_name = os.ttyname(self._slave)
        if self._link_dir:
            link = Path(self.port)
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self._pty_name)
        self.plugged = True
        self.power_cycle()
        self._stop.clear()
        self._inbox = queue.Queue()
        self._threads = [
            threading.Thread(target=self._receive, name="r30x-sim-rx", daemon=True),
            threading.Thread(target=self._serve, name="r30x-sim", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self._threads = []
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        if self._link_dir:
            with contextlib.suppress(FileNotFoundError):
                Path(self.port).unlink()
        self.plugged = False

    def unplug(self) -> None:
        """The cable is pulled: the pty and its symlink disappear."""
        self.stop()

    def replug(self) -> None:
        """Plugged back in: a new pty behind the same symlink, the module powers up again."""
        self.start()

    def power_cycle(self) -> None:
        """Power-up: deaf for ``faults.not_ready_s``, then the ready byte; the RAM is cleared."""
        self._ready_at = time.monotonic() + self.faults.not_ready_s
        self._ready_sent = False
        self._buffer = None
        self._verified = self.password == 0
        self._rx.clear()

    def place_finger(self) -> None:
        self.finger = True

    def lift_finger(self) -> None:
        self.finger = False

    # --- images ----------------------------------------------------------------------------

    def _image_source(self, images: ImageSource) -> Callable[[int], np.ndarray]:
        if images is None:
            from appliance.pipeline.fingerprint_synth import synthesize

            return lambda i: synthesize(i, self.rows, self.cols)
        if callable(images):
            return images
        if isinstance(images, str | Path):
            loaded = _load_folder(Path(images), (self.rows, self.cols))
            return lambda i: loaded[i % len(loaded)]
        frames = list(images)
        return lambda i: frames[i % len(frames)]

    def _take_image(self) -> np.ndarray:
        img = np.asarray(self._images(self._image_index), dtype=np.uint8)
        self._image_index += 1
        if img.shape != (self.rows, self.cols):
            raise ValueError(
                f"image {img.shape} does not fit a {self.model} ({self.rows}x{self.cols})"
            )
        return img

    # --- the wire ----------------------------------------------------------------------------

    def _driver_baud(self) -> int | None:
        try:
            speed = termios.tcgetattr(self._slave)[5]
        except (termios.error, OSError):
            return None
        return _SPEEDS.get(speed)

    def _write(self, data: bytes) -> None:
        """Send bytes, paced at the module's baud rate when ``timing`` is on."""
        byte_s = 10.0 / self.baud
        if self._driver_baud() != self.baud:
            data = bytes(len(data))  # the driver listens at another rate: it reads garbage
        now = time.monotonic()
        # a UART sends back to back while its FIFO is fed: keep the schedule across packets
        # unless the line has really been idle (sleep overshoot must not add up)
        start = self._line_free if now - self._line_free < 0.005 else now
        view = memoryview(data)
        sent = 0
        chunk = 64 if self.timing else 4096
        while sent < len(data) and not self._stop.is_set():
            _, writable, _ = select.select([], [self._master], [], 0.05)
            if not writable:
                continue
            try:
                n = os.write(self._master, view[sent : sent + chunk])
            except BlockingIOError:
                continue
            except OSError:
                return
            sent += n
            if self.timing:
                due = start + sent * byte_s
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        self.stats.bytes_out += sent
        self._line_free = start + len(data) * byte_s if self.timing else 0.0

    def _send_packet(self, ptype: int, payload: bytes) -> None:
        raw = bytearray(p.encode(ptype, payload, self.address))
        f = self.faults
        kind = "ack" if ptype == p.ACK else "data"
        hit = f.packets in ("any", kind)
        if hit and f.extra_bytes:
            raw[0:0] = b"\x00\xef\x13\x37"
            f.extra_bytes -= 1 if f.extra_bytes > 0 else 0
        if hit and f.bad_checksum:
            raw[-1] ^= 0x5A
            f.bad_checksum -= 1 if f.bad_checksum > 0 else 0
        if hit and f.drop_byte:
            del raw[len(raw) // 2]
            f.drop_byte -= 1 if f.drop_byte > 0 else 0
        self._write(bytes(raw))

    def _ack(self, confirmation: int, extra: bytes = b"") -> None:
        if self.faults.slow_s:
            time.sleep(self.faults.slow_s)
        self._send_packet(p.ACK, bytes((confirmation,)) + extra)

    # --- the module ---------------------------------------------------------------------------

    def _receive(self) -> None:
        """Read what the driver sends; bytes sent at a rate other than the module's are lost."""
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._master], [], [], 0.02)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                time.sleep(0.02)  # no reader on the other side yet
                continue
            if time.monotonic() < self._ready_at or self._driver_baud() != self.baud:
                self.stats.lost_bytes += len(data)
                continue
            self.stats.bytes_in += len(data)
            self._inbox.put(data)

    def _serve(self) -> None:
        """The module's firmware: one command at a time, in order."""
        while not self._stop.is_set():
            if not self._ready_sent and time.monotonic() >= self._ready_at:
                self._ready_sent = True
                if not self.faults.silent:
                    self._write(bytes((p.READY_BYTE,)))
            try:
                data = self._inbox.get(timeout=0.02)
            except queue.Empty:
                continue
            self._rx += data
            self._parse()

    def _parse(self) -> None:
        while True:
            start = self._rx.find(p.HEADER)
            if start < 0:
                del self._rx[: max(0, len(self._rx) - 1)]
                return
            del self._rx[:start]
            if len(self._rx) < 9:
                return
            length = int.from_bytes(self._rx[7:9], "big")
            if self._rx[6] not in p.PACKET_TYPES or not 2 <= length <= p.MAX_PAYLOAD + 3:
                del self._rx[0]
                continue
            if len(self._rx) < 9 + length:
                return
            raw = bytes(self._rx[: 9 + length])
            del self._rx[: 9 + length]
            try:
                pkt = p.decode(raw)
            except p.ChecksumError:
                self._ack(0x01)  # "error receiving the packet", as a real module answers
                continue
            if pkt.address != self.address or pkt.ptype != p.COMMAND or not pkt.payload:
                continue  # not for this module: real modules stay quiet
            if self.faults.silent:
                continue
            self._command(pkt.payload[0], pkt.payload[1:])

    def _command(self, ins: int, params: bytes) -> None:
        self.stats.commands[ins] = self.stats.commands.get(ins, 0) + 1
        if ins == p.VFY_PWD:
            ok = len(params) == 4 and int.from_bytes(params, "big") == self.password
            self._verified = self._verified or ok
            return self._ack(0x00 if ok else 0x13)
        if ins == p.HANDSHAKE:
            return self._ack(0x00)
        if not self._verified:
            return self._ack(0x21)
        if ins == p.READ_SYS_PARA:
            params_ = p.SysParams(0, 0x0009, 1000, 3, self.address, self.packet_size, self.baud)
            return self._ack(0x00, params_.to_bytes())
        if ins == p.SET_SYS_PARA:
            return self._set_sys_para(params)
        if ins == p.GEN_IMG:
            return self._gen_img()
        if ins == p.UP_IMAGE:
            return self._up_image()
        if ins == p.TEMPLATE_NUM:
            return self._ack(0x00, (0).to_bytes(2, "big"))
        if ins == p.CHECK_SENSOR:
            return self._ack(0x00)
        if ins == p.SOFT_RESET:
            self._ack(0x00)
            self.power_cycle()
            return None
        if ins == p.AURA_LED_CONFIG and self.model in p.AURA_MODELS and len(params) == 4:
            self.led = {
                "mode": params[0],
                "speed": params[1],
                "color": params[2],
                "count": params[3],
            }
            return self._ack(0x00)
        if ins in (p.OPEN_LED, p.CLOSE_LED) and self.model not in p.AURA_MODELS:
            self.led = {"on": ins == p.OPEN_LED}
            return self._ack(0x00)
        return self._ack(0xFC if self.model in p.AURA_MODELS else 0x01)

    def _set_sys_para(self, params: bytes) -> None:
        if len(params) != 2:
            return self._ack(0x1A)
        number, value = params
        if number == p.PARAM_BAUD:
            if self.faults.reject_baud or not 1 <= value <= 12:
                return self._ack(0x1B)
            self._ack(0x00)
            time.sleep(0.002)
            self.baud = 9600 * value  # the module switches after acknowledging
            return None
        if number == p.PARAM_PACKET_SIZE and value <= 3:
            self.packet_size = p.PACKET_SIZES[value]
            return self._ack(0x00)
        if number == p.PARAM_SECURITY and 1 <= value <= 5:
            return self._ack(0x00)
        return self._ack(0x1A)

    def _gen_img(self) -> None:
        f = self.faults
        if not self.finger or f.no_finger:
            if f.no_finger > 0:
                f.no_finger -= 1
            return self._ack(0x02)
        if self.gen_img_s:
            time.sleep(self.gen_img_s)
        self._buffer = self._take_image()
        return self._ack(0x00)

    def _up_image(self) -> None:
        if self._buffer is None:
            return self._ack(0x15)
        self._ack(0x00)
        data = p.pack_image(self._buffer)
        size = self.packet_size
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        for i, chunk in enumerate(chunks):
            if self._stop.is_set():
                return None
            self._send_packet(p.END if i == len(chunks) - 1 else p.DATA, chunk)
        self.sent.append(p.unpack_image(data, self.rows, self.cols))
        self.stats.images_sent += 1
        return None
