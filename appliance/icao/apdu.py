"""Command APDUs (short and extended, ISO/IEC 7816-4), and the transport that counts them.

:class:`Transport` sends raw APDUs through a HAL :class:`~appliance.hal.base.CardReader`, keeps
the statistics a read reports (APDUs, bytes on the wire, time inside the reader) and enforces the
read's deadline on every APDU: the reader call runs in a worker thread and is abandoned when the
deadline passes (the card is then reset by the HAL, in the background), so one stalled chip cannot
hold the reader longer than the read's budget.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from appliance.errors import DeviceTimeout
from appliance.icao.errors import CardTimeout, ReadError

SW_OK = 0x9000
SHORT_MAX_LC = 255
SHORT_MAX_LE = 256
EXTENDED_MAX_LE = 65536
MAX_GET_RESPONSE = 64  # 61xx chains: at most this many GET RESPONSE (64 x 256 bytes = 16 KB)


@dataclass(frozen=True, slots=True)
class Command:
    """One command APDU. ``le`` None = no Le field; 256 (short) / 65536 (extended) = maximum."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @property
    def needs_extended(self) -> bool:
        return len(self.data) > SHORT_MAX_LC or (self.le is not None and self.le > SHORT_MAX_LE)

    def encode(self, extended: bool | None = None) -> bytes:
        """The APDU bytes; short unless ``extended`` is True or the lengths need it."""
        ext = self.needs_extended if extended is None else extended
        if not ext and self.needs_extended:
            raise ValueError("lengths need an extended APDU")
        head = bytes([self.cla, self.ins, self.p1, self.p2])
        data, le = self.data, self.le
        if not data and le is None:
            return head
        if not ext:
            body = bytes([len(data)]) + data if data else b""
            return head + body + (bytes([le % 256]) if le is not None else b"")
        if len(data) > 0xFFFF or (le is not None and not 0 < le <= EXTENDED_MAX_LE):
            raise ValueError("lengths too large for an extended APDU")
        body = b"\x00" + len(data).to_bytes(2, "big") + data if data else b"\x00"
        return head + body + ((le % 65536).to_bytes(2, "big") if le is not None else b"")


def parse_command(raw: bytes) -> tuple[Command, bool]:
    """Decode an APDU (card side): the command and whether it used extended lengths.

    Raises ValueError for a malformed APDU.
    """
    if len(raw) < 4:
        raise ValueError("APDU shorter than its header")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return Command(cla, ins, p1, p2), False
    if len(body) == 1:
        return Command(cla, ins, p1, p2, le=body[0] or 256), False
    if body[0] != 0:
        lc = body[0]
        if len(body) == 1 + lc:
            return Command(cla, ins, p1, p2, body[1:]), False
        if len(body) == 2 + lc:
            return Command(cla, ins, p1, p2, body[1:-1], body[-1] or 256), False
        raise ValueError("Lc does not match the APDU length")
    if len(body) == 3:
        return Command(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536), True
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise ValueError("extended Lc of zero")
    if len(body) == 3 + lc:
        return Command(cla, ins, p1, p2, body[3:]), True
    if len(body) == 5 + lc:
        le = int.from_bytes(body[-2:], "big") or 65536
        return Command(cla, ins, p1, p2, body[3:-2], le), True
    raise ValueError("extended Lc does not match the APDU length")


@dataclass
class IoStats:
    """What went over the wire during one read."""

    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    io_s: float = 0.0
    by_ins: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.bytes_sent + self.bytes_received


class _Worker:
    """One daemon thread that makes the reader calls, so that the caller can stop waiting."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.stuck = False
        threading.Thread(target=self._run, name="card-transmit", daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, arg, box, done = job
            try:
                box.append((True, fn(arg)))
            except BaseException as exc:  # handed to the caller's thread
                box.append((False, exc))
            done.set()

    def call(self, fn, arg, timeout: float):
        box: list = []
        done = threading.Event()
        self._jobs.put((fn, arg, box, done))
        if not done.wait(max(0.0, timeout)):
            self.stuck = True
            self._jobs.put(None)  # the thread ends once the stalled call returns
            return None
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if not self.stuck:
            self._jobs.put(None)


class Transport:
    """Raw APDUs through a HAL card reader, counted and bounded by a deadline.

    With a deadline, each reader call runs in a worker thread; a call still running when the
    deadline passes is abandoned (:class:`CardTimeout`) and the reader's ``abort_transmit()``
    (when it has one) resets the card once the call returns.
    """

    def __init__(self, reader, *, deadline: float | None = None) -> None:
        self.reader = reader
        self.deadline = deadline
        self.stats = IoStats()
        self._worker: _Worker | None = None

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _call(self, raw: bytes) -> tuple[bytes, int]:
        if self.deadline is None:
            return self.reader.transmit(raw)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise CardTimeout("the card read ran out of time (slow or stalled chip)")
        if self._worker is None:
            self._worker = _Worker()
        result = self._worker.call(self.reader.transmit, raw, remaining)
        if result is None:
            self._worker = None
            abort = getattr(self.reader, "abort_transmit", None)
            if abort is not None:
                abort()
            raise CardTimeout("the chip did not answer within the read's time budget (stalled)")
        return result

    def transmit(self, raw: bytes) -> tuple[bytes, int]:
        data, sw = self._transmit_one(raw)
        fetches = 0
        while sw >> 8 == 0x61 and raw[0] & 0x0C == 0:  # T=0 style: fetch the rest (plain only)
            fetches += 1
            if fetches > MAX_GET_RESPONSE:
                raise ReadError(f"the chip asked for more than {MAX_GET_RESPONSE} GET RESPONSE")
            more, sw = self._transmit_one(bytes([raw[0], 0xC0, 0, 0, sw & 0xFF]))
            data += more
        return bytes(data), sw

    def _transmit_one(self, raw: bytes) -> tuple[bytes, int]:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CardTimeout("the card read ran out of time (slow or stalled chip)")
        t0 = time.perf_counter()
        try:
            data, sw = self._call(bytes(raw))
        except DeviceTimeout as exc:
            if isinstance(exc, CardTimeout):
                raise
            raise CardTimeout(f"the chip did not answer: {exc.message}") from exc
        finally:
            self.stats.io_s += time.perf_counter() - t0
        stats = self.stats
        stats.apdus += 1
        stats.bytes_sent += len(raw)
        stats.bytes_received += len(data) + 2
        key = f"{raw[1]:02X}" if len(raw) > 1 else "??"
        stats.by_ins[key] = stats.by_ins.get(key, 0) + 1
        return bytes(data), sw


# --- ATR --------------------------------------------------------------------------------------


def build_atr(extended_length: bool) -> bytes:
    """A contactless-style ATR (``3B 8n 80 01 <historical bytes> TCK``) whose card capabilities
    (compact-TLV tag 7) say whether extended Lc/Le fields are supported."""
    hist = bytes([0x80, 0x73, 0x80, 0x01, 0x40 if extended_length else 0x00])
    body = bytes([0x80 | len(hist), 0x80, 0x01]) + hist
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ATR (empty when it cannot be parsed)."""
    if len(atr) < 2:
        return b""
    count = atr[1] & 0x0F
    pos, td = 2, atr[1]
    while True:
        pos += bin(td & 0xF0).count("1") - (1 if td & 0x80 else 0)
        if not td & 0x80:
            break
        if pos >= len(atr):
            return b""
        td = atr[pos]
        pos += 1
    return atr[pos : pos + count] if pos + count <= len(atr) else b""


def atr_extended_length(atr: bytes) -> bool:
    """Whether the ATR's card capabilities announce extended Lc and Le fields."""
    hist = historical_bytes(atr)
    if not hist or hist[0] != 0x80:
        return False
    pos = 1
    while pos < len(hist):
        tag, length = hist[pos] >> 4, hist[pos] & 0x0F
        value = hist[pos + 1 : pos + 1 + length]
        if tag == 0x7 and len(value) >= 3:
            return bool(value[2] & 0x40)
        pos += 1 + length
    return False
