"""Reading elementary files: header first, size cap, block size that steps down and is remembered.

* A file is selected by its short file identifier inside the first READ BINARY (one APDU less
  per file); a chip that refuses SFI reads gets SELECT by file identifier instead, for the rest
  of the session and for later cards with the same ATR.
* The first 8 bytes give the file's tag and length; a file larger than ``max_file_bytes`` is
  refused before any more is read (a chip claiming 16 MB gets one APDU, not 70 000).
* The rest is read in blocks of the current block size: the largest the chip and reader take.
  Under 3DES secure messaging a short response carries at most 231 bytes; larger blocks need
  extended length, used only when both the card (ATR) and the reader say they support it.
  On 6700, 6282 without data, 6B00 or 6Cxx the block size steps down (6Cxx: to the size the
  chip names, but never below ``MIN_BLOCK``: a smaller 6Cxx caps that one APDU only) and stays
  down. What worked is remembered per ATR in a :class:`BlockMemory`, by the reader and only after
  a read that passive authentication verified, and never below ``MIN_REMEMBERED``: a hostile
  card cannot slow down the cards after it.
* Offsets past 32 767 use READ BINARY with the odd instruction (B1, offset in DO54).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import DeviceError, DeviceUnavailable
from appliance.icao import tlv
from appliance.icao.apdu import Command
from appliance.icao.errors import (
    CardTimeout,
    FileTooLarge,
    LdsError,
    NoCard,
    ReadError,
    TruncatedFile,
    status_error,
)
from appliance.icao.lds import EfInfo
from appliance.icao.session import CardSession

log = logging.getLogger(__name__)

HEADER_LE = 8
SHORT_SM_MAX = 231  # plaintext bytes a 256-byte short response carries under 3DES SM
JMRTD_BLOCK = 224
EXTENDED_MAX = 0xFEFF  # plaintext per extended response, leaving room for the SM objects
LADDER = (EXTENDED_MAX, 8192, 4096, 2048, 1024, SHORT_SM_MAX, JMRTD_BLOCK, 160, 128, 96, 64, 32)
MIN_BLOCK = 32  # a 6Cxx naming less caps one APDU; the block size itself stays at least this
MIN_REMEMBERED = 128  # a smaller block size is never carried over to the next card
STEP_DOWN_SW = (0x6700, 0x6B00, 0x6282)
SFI_REFUSED_SW = (0x6A86, 0x6A81, 0x6A80, 0x6D00, 0x6E00, 0x6B00, 0x6986)
MAX_OFFSET_B0 = 0x7FFF

Progress = Callable[[str, int, int], None]


@dataclass
class ReadPlan:
    """How to read one chip: current block size, extended length, SFI reads."""

    block: int
    extended: bool
    sfi: bool = True


class BlockMemory:
    """What worked, per chip type (ATR), for the next card of the same kind (bounded LRU)."""

    def __init__(self, size: int = 32) -> None:
        self._plans: OrderedDict[bytes, ReadPlan] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, atr: bytes) -> ReadPlan | None:
        with self._lock:
            plan = self._plans.get(atr)
            if plan is not None:
                self._plans.move_to_end(atr)
                return ReadPlan(plan.block, plan.extended, plan.sfi)
            return None

    def put(self, atr: bytes, plan: ReadPlan) -> None:
        """Remember ``plan`` (call only after a verified read); a block size under
        ``MIN_REMEMBERED`` is not remembered (a chip that needs it gets its own step-downs)."""
        if plan.block < MIN_REMEMBERED:
            log.info("block size %d not remembered (below %d)", plan.block, MIN_REMEMBERED)
            return
        with self._lock:
            self._plans[atr] = ReadPlan(plan.block, plan.extended, plan.sfi)
            self._plans.move_to_end(atr)
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()


MEMORY = BlockMemory()


class _SessionLost(Exception):
    """A command's fate is unknown to one side (an extended APDU the reader could not carry, a
    bare status word under secure messaging): the session must be rebuilt."""


class FileReader:
    """Reads whole files through a (protected) :class:`CardSession`."""

    def __init__(
        self,
        session: CardSession,
        plan: ReadPlan,
        *,
        max_file_bytes: int = 65536,
        progress: Progress | None = None,
    ) -> None:
        self.session = session
        self.plan = plan
        self.max_file_bytes = max_file_bytes
        self.progress = progress
        self.step_downs = 0
        if not plan.extended:
            plan.block = min(plan.block, self.short_max)

    @property
    def short_max(self) -> int:
        """The most plaintext one short protected response carries: 231 bytes under 3DES secure
        messaging, 223 under AES (and 231 in the clear, as before)."""
        sm = self.session.sm
        return sm.max_short_plain if sm is not None else SHORT_SM_MAX

    # public

    def read(self, ef: EfInfo) -> bytes:
        """The whole file. Raises FileNotFound / AccessDenied (StatusError), FileTooLarge,
        TruncatedFile, LdsError (bad header), SecureMessagingError, CardTimeout."""
        for _ in range(len(LADDER)):
            try:
                return self._read(ef)
            except _SessionLost:
                self.session.recover()
        raise ReadError(f"{ef.name}: the secure messaging session was lost too often")

    # internals

    def _read(self, ef: EfInfo) -> bytes:
        head = self._read_header(ef)
        parsed = tlv.read_header(head)
        if parsed is None:
            raise LdsError(f"{ef.name} is shorter than its own header ({len(head)} bytes)")
        _tag, length, size = parsed
        total = size + length
        if total > self.max_file_bytes:
            raise FileTooLarge(
                f"{ef.name} claims {total} bytes, more than the maximum of {self.max_file_bytes}"
            )
        data = bytearray(head[:total])
        self._report(ef, len(data), total)
        while len(data) < total:
            data += self._read_binary(ef, len(data), total)
            self._report(ef, len(data), total)
        return bytes(data)

    def _report(self, ef: EfInfo, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(ef.name, done, total)

    def _send(self, cmd: Command, extended: bool) -> tuple[bytes, int]:
        try:
            return self.session.send(cmd, extended)
        except (NoCard, CardTimeout, DeviceUnavailable):
            raise
        except DeviceError as exc:
            if extended and not isinstance(exc, ReadError):
                log.warning("extended APDU failed in the reader (%s): using short APDUs", exc)
                self._no_extended()
                raise _SessionLost() from exc
            raise

    def _no_extended(self) -> None:
        self.plan.extended = False
        self.plan.block = min(self.plan.block, self.short_max)
        self.step_downs += 1

    def _bare_status(self) -> bool:
        sm = self.session.sm
        return sm is not None and sm.last_plain

    def _read_header(self, ef: EfInfo) -> bytes:
        le = HEADER_LE
        if self.plan.sfi:
            for _ in range(2):
                data, sw = self._send(Command(0x00, 0xB0, 0x80 | ef.sfi, 0x00, le=le), False)
                if (sw == 0x9000 or sw == 0x6282) and data:
                    return data[:le]
                if sw >> 8 == 0x6C and 0 < sw & 0xFF < le:
                    le = sw & 0xFF
                    continue
                break
            if sw in SFI_REFUSED_SW:
                log.info("the chip refuses READ BINARY with SFI (%04X): selecting files", sw)
                self.plan.sfi = False
            else:
                raise status_error(f"reading {ef.name}", sw)
        data, sw = self._send(Command(0x00, 0xA4, 0x02, 0x0C, ef.fid.to_bytes(2, "big")), False)
        if sw != 0x9000:
            raise status_error(f"selecting {ef.name}", sw)
        return self._read_binary(ef, 0, HEADER_LE, header=True)

    def _read_binary(self, ef: EfInfo, offset: int, total: int, header: bool = False) -> bytes:
        """The next chunk at ``offset`` (at most up to ``total``), stepping down as needed."""
        cap = None
        while True:
            odd = offset > MAX_OFFSET_B0
            block = self.plan.block - (4 if odd else 0)
            if not self.plan.extended and self.plan.block > self.short_max:
                self.plan.block = self.short_max  # the cipher changed (chip authentication)
                block = self.plan.block - (4 if odd else 0)
            n = min(block, total - offset, cap or total)
            ext = self.plan.extended and n + (4 if odd else 0) > self.short_max
            if odd:
                raw_offset = offset.to_bytes(3 if offset > 0xFFFF else 2, "big")
                cmd = Command(0x00, 0xB1, 0x00, 0x00, tlv.encode(0x54, raw_offset), n + 4)
            else:
                cmd = Command(0x00, 0xB0, offset >> 8, offset & 0xFF, le=n)
            data, sw = self._send(cmd, ext)
            if self._bare_status() and not header and (sw in STEP_DOWN_SW or sw >> 8 == 0x6C):
                log.info("bare status %04X under secure messaging: new session, smaller block", sw)
                if ext:
                    self._no_extended()
                elif sw >> 8 == 0x6C and 0 < (sw & 0xFF or 256) < n:
                    self._lower(max(sw & 0xFF or 256, MIN_BLOCK), sw)
                else:
                    self._step_down(ef, offset, n, sw)
                raise _SessionLost()
            if sw == 0x9000 or (sw == 0x6282 and data):
                if len(data) > cmd.le:
                    raise LdsError(f"{ef.name}: the chip returned {len(data)} bytes for {cmd.le}")
                if odd:
                    data = tlv.unwrap(data, 0x53, f"{ef.name} odd READ BINARY response")
                    data = data[: total - offset]
                if not data:
                    raise ReadError(f"{ef.name}: the chip returned no data at offset {offset}")
                if sw == 0x6282 and offset + len(data) < total and not header:
                    raise TruncatedFile(
                        f"{ef.name} ends at {offset + len(data)} bytes, its header says {total}"
                    )
                return data
            if sw >> 8 == 0x6C and 0 < (sw & 0xFF or 256) < n:
                cap = sw & 0xFF or 256
                if cap >= MIN_BLOCK:
                    self._lower(cap, sw)
                continue
            if header and sw in STEP_DOWN_SW:
                raise status_error(f"reading the header of {ef.name}", sw)
            if sw in STEP_DOWN_SW or sw >> 8 == 0x6C:
                self._step_down(ef, offset, n, sw)
                cap = None
                continue
            raise status_error(f"reading {ef.name} at offset {offset}", sw)

    def _lower(self, block: int, sw: int) -> None:
        if block < self.plan.block:
            log.info("block size %d -> %d (status %04X)", self.plan.block, block, sw)
            self.plan.block = block
            self.step_downs += 1

    def _step_down(self, ef: EfInfo, offset: int, n: int, sw: int) -> None:
        smaller = [size for size in LADDER if size < n]
        if not self.plan.extended:
            smaller = [size for size in smaller if size <= self.short_max]
            if self.short_max < SHORT_SM_MAX and n > self.short_max:
                smaller = [self.short_max, *smaller]
        if not smaller:
            raise status_error(
                f"{ef.name}: the chip refuses to read at offset {offset} with any block size", sw
            )
        self._lower(smaller[0], sw)
