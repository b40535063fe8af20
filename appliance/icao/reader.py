"""``read_card``: everything between "card on the reader" and "verified data", in one call.

EF.CardAccess (PACE offered? PACE is not implemented: BAC with a logged reason), the eMRTD
applet, BAC, then EF.COM, DG1, DG13, DG15, DG14, EF.SOD and DG2 (largest last), active
authentication with DG15 and passive authentication against the trust store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.cccd.bac import BacKeys, bac_keys
from appliance.errors import ConfigError
from appliance.icao import lds
from appliance.icao.active import NOT_SUPPORTED, ActiveAuthResult, active_authentication
from appliance.icao.apdu import Transport, atr_extended_length
from appliance.icao.errors import (
    AccessDenied,
    FileNotFound,
    FileTooLarge,
    LdsError,
    NoCard,
    StatusError,
    TruncatedFile,
)
from appliance.icao.files import (
    EXTENDED_MAX,
    MEMORY,
    SHORT_SM_MAX,
    BlockMemory,
    FileReader,
    ReadPlan,
)
from appliance.icao.passive import (
    VERIFIED,
    PassiveAuthResult,
    TrustStore,
    passive_authentication,
)
from appliance.icao.session import CardSession

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 65536
READ_ORDER = (1, 13, 15, 14, 2)  # the face image, by far the largest, last
VERDICT_GROUPS = frozenset({1, 2, 13, 14, 15})  # listed in EF.SOD => must be read and hashed
Progress = Callable[[str, int, int], None]
EXTENDED_SETTINGS = {"auto": None, "on": True, "off": False}


@dataclass
class ReadStats:
    apdus: int = 0
    bytes: int = 0
    block_size: int = 0
    extended_length: bool = False
    sfi: bool = True
    step_downs: int = 0
    ms: float = 0.0
    io_ms: float = 0.0
    by_ins: dict[str, int] = field(default_factory=dict)

    @property
    def overhead_ms(self) -> float:
        return self.ms - self.io_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "apdus": self.apdus,
            "bytes": self.bytes,
            "block_size": self.block_size,
            "extended_length": self.extended_length,
            "sfi": self.sfi,
            "step_downs": self.step_downs,
            "ms": round(self.ms, 1),
            "io_ms": round(self.io_ms, 1),
            "by_ins": self.by_ins,
        }


@dataclass
class CardRead:
    """What was read from a chip and what its authentication checks said."""

    dg1: lds.Dg1 | None
    dg13: dict[str, Any] | None
    face: lds.FaceImage | None
    passive_auth: PassiveAuthResult
    active_auth: ActiveAuthResult
    files: dict[str, bytes] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    security_infos: lds.SecurityInfoSummary | None = None
    pace_offered: bool = False
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def face_image(self) -> bytes | None:
        return self.face.data if self.face else None

    @property
    def face_format(self) -> str | None:
        return self.face.format if self.face else None

    def write_face(self, out_dir: str | Path) -> Path | None:
        """Write ``face.jpg`` or ``face.jp2`` under ``out_dir``; its path."""
        if self.face is None:
            return None
        path = Path(out_dir) / f"face{self.face.suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.face.data)
        return path

    def to_dict(self, face_path: str | Path | None = None) -> dict[str, Any]:
        """The ``appliance card read`` JSON."""
        return {
            "ok": True,
            "dg1": self.dg1.to_dict() if self.dg1 else None,
            "dg13": self.dg13,
            "passive_auth": self.passive_auth.to_dict(),
            "active_auth": self.active_auth.to_dict(),
            "face_image": str(face_path) if face_path else None,
            "face_format": self.face_format,
            "files": {name: len(data) for name, data in self.files.items()} | self.absent,
            "security_infos": self.security_infos.to_dict() if self.security_infos else None,
            "access": {"method": "bac", "pace_offered": self.pace_offered},
            "errors": self.errors,
            "stats": self.stats.to_dict(),
        }


def to_bac_keys(bac_input: Any) -> BacKeys:
    """BAC keys from BacKeys, a (docno, YYMMDD, YYMMDD) tuple, a dict, a ``QrResult``, a
    ``Td1``, or an object with ``document_number``, ``date_of_birth`` and ``date_of_expiry``."""
    if isinstance(bac_input, BacKeys):
        return bac_input
    if isinstance(bac_input, tuple | list) and len(bac_input) == 3:
        return bac_keys(*map(str, bac_input))
    if isinstance(bac_input, dict):
        return bac_keys(
            bac_input["document_number"], bac_input["date_of_birth"], bac_input["date_of_expiry"]
        )
    if hasattr(bac_input, "bac_dict"):  # a parsed MRZ (Td1)
        return to_bac_keys(bac_input.bac_dict())
    if hasattr(bac_input, "bac") and not hasattr(bac_input, "document_number"):  # a QrResult
        from appliance.cccd.bac import bac_keys_from_qr

        return bac_keys_from_qr(bac_input)
    return bac_keys(bac_input.document_number, bac_input.date_of_birth, bac_input.date_of_expiry)


def options_from_config(section: Any) -> dict[str, Any]:
    """:func:`read_card` keyword arguments from the ``[card_reader]`` config section (the sim
    backend's reader carries its own test CSCA, so no trust folder is passed for it)."""
    if section.extended_length not in EXTENDED_SETTINGS:
        raise ConfigError("must be auto, on or off", key="card_reader.extended_length")
    return {
        "max_file_bytes": section.max_file_bytes,
        "timeout_s": section.read_timeout_s,
        "block_size": section.block_size or None,
        "extended": EXTENDED_SETTINGS[section.extended_length],
        "trust_dir": None if section.backend == "sim" else (section.trust_dir or None),
    }


def _probe_pace(session: CardSession, max_file_bytes: int) -> bool:
    """Whether EF.CardAccess offers PACE (read in the clear, before the applet is selected,
    with a plan of its own so that a quirk here does not change how the LDS files are read)."""
    files = FileReader(session, ReadPlan(SHORT_SM_MAX, False), max_file_bytes=max_file_bytes)
    try:
        infos = lds.parse_security_infos(files.read(lds.FILES["CardAccess"]))
    except (FileNotFound, AccessDenied):
        return False
    except (StatusError, LdsError, TruncatedFile, FileTooLarge) as exc:
        log.info("EF.CardAccess unreadable (%s): using BAC", exc.message)
        return False
    if "PACE" in infos.protocols:
        log.info("EF.CardAccess offers PACE; PACE is not implemented (unverified for CCCD): BAC")
        return True
    return False


def _sod_data_groups(sod: bytes | None) -> set[int]:
    """The data group numbers EF.SOD lists (empty when it is missing or unreadable)."""
    if not sod:
        return set()
    try:
        return set(lds.parse_sod(sod).hashes)
    except LdsError:
        return set()


def read_card(
    reader: Any,
    bac_input: Any,
    *,
    trust_dir: str | Path | None = None,
    trust_store: TrustStore | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Progress | None = None,
    timeout_s: float = 30.0,
    wait_s: float = 0.0,
    block_size: int | None = None,
    extended: bool | None = None,
    active_auth: bool = True,
    probe_pace: bool = True,
    memory: BlockMemory | None = MEMORY,
    rng: Callable[[int], bytes] | None = None,
) -> CardRead:
    """Read and verify the chip on ``reader`` (an open HAL card reader).

    ``bac_input``: see :func:`to_bac_keys`. ``progress(stage, done, total)`` is called with
    ``bac``, each file name (bytes read so far, file size), ``active_auth`` and ``passive_auth``.
    ``extended`` None = when both the reader and the card's ATR support extended length;
    ``block_size`` None = start at the largest (or what worked before for this ATR).
    Raises :class:`NoCard`, :class:`BacFailed`, :class:`ReadError` (and its subclasses:
    ``SecureMessagingError``, ``FileTooLarge``, ``TruncatedFile``, ``LdsError``,
    ``CardTimeout``); the authentication results never raise.
    """
    keys = to_bac_keys(bac_input)
    atr = reader.wait_card(wait_s)
    if not atr:
        raise NoCard("no card on the reader")
    t0 = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    options = {
        "trust_dir": trust_dir,
        "trust_store": trust_store,
        "max_file_bytes": max_file_bytes,
        "block_size": block_size,
        "extended": extended,
        "active_auth": active_auth,
        "probe_pace": probe_pace,
        "memory": memory,
        "rng": rng,
    }
    transport = Transport(reader, deadline=time.monotonic() + timeout_s)
    try:
        return _read(reader, atr, keys, transport, report, t0, **options)
    finally:
        transport.close()


def _read(
    reader,
    atr,
    keys,
    transport,
    report,
    t0,
    *,
    trust_dir,
    trust_store,
    max_file_bytes,
    block_size,
    extended,
    active_auth,
    probe_pace,
    memory,
    rng,
) -> CardRead:
    session = CardSession(transport)

    ext = extended
    if ext is None:
        ext = bool(getattr(reader, "supports_extended_length", False)) and atr_extended_length(atr)
    plan = (memory.get(atr) if memory is not None and block_size is None else None) or ReadPlan(
        block_size or (EXTENDED_MAX if ext else SHORT_SM_MAX), ext
    )
    plan.extended = plan.extended and ext
    files = FileReader(session, plan, max_file_bytes=max_file_bytes, progress=report)

    pace = _probe_pace(session, max_file_bytes) if probe_pace else False
    report("bac", 0, 1)
    session.select_applet()
    session.authenticate(keys, rng)
    report("bac", 1, 1)

    result = CardRead(
        None, None, None, PassiveAuthResult("failed"), ActiveAuthResult(NOT_SUPPORTED)
    )
    result.pace_offered = pace

    def fetch(name: str) -> bytes | None:
        try:
            data = files.read(lds.FILES[name])
        except FileNotFound:
            result.absent[name] = "absent"
            return None
        except AccessDenied:
            result.absent[name] = "access_denied"
            return None
        result.files[name] = data
        return data

    def parse(name: str, fn: Callable[[bytes], Any], data: bytes) -> Any:
        try:
            return fn(data)
        except LdsError as exc:
            result.errors.append({"file": name, "code": exc.code, "message": exc.message})
            log.warning("%s is malformed: %s", name, exc.message)
            return None

    com_bytes = fetch("COM")
    com = parse("COM", lds.parse_com, com_bytes) if com_bytes else None
    listed = set(com.data_groups) if com else set(READ_ORDER)
    sod = fetch("SOD")  # before the data groups: EF.COM is unsigned, the SOD's list is not
    signed = _sod_data_groups(sod)
    for number in READ_ORDER:
        if number in listed or number in signed or number == 1:
            fetch(f"DG{number}")
    missing = sorted(n for n in signed & VERDICT_GROUPS if f"DG{n}" not in result.files)
    if missing:
        log.warning("EF.SOD lists %s but the chip did not return them", missing)

    raw = result.files
    if "DG1" in raw:
        result.dg1 = parse("DG1", lds.parse_dg1, raw["DG1"])
    if "DG13" in raw:
        result.dg13 = parse("DG13", lds.parse_dg13, raw["DG13"])
    if "DG2" in raw:
        result.face = parse("DG2", lds.parse_dg2, raw["DG2"])
    if "DG14" in raw:
        result.security_infos = parse("DG14", lds.parse_dg14, raw["DG14"])
    aa_key = parse("DG15", lds.parse_dg15, raw["DG15"]) if "DG15" in raw else None

    if active_auth and 15 in missing:
        result.active_auth = ActiveAuthResult(
            "failed", message="EF.SOD lists DG15 but the chip did not return it"
        )
    elif active_auth and "DG15" in raw:
        report("active_auth", 0, 1)
        if aa_key is None:
            result.active_auth = ActiveAuthResult("failed", message="DG15 holds no usable key")
        else:
            aa_hash = result.security_infos.aa_hash if result.security_infos else None
            kwargs = {"rng": rng} if rng is not None else {}
            result.active_auth = active_authentication(
                session.send, aa_key, aa_hash, extended=plan.extended, **kwargs
            )
        report("active_auth", 1, 1)

    report("passive_auth", 0, 1)
    if trust_store is None:
        trust_store = (
            TrustStore.from_dir(trust_dir)
            if trust_dir
            else getattr(reader, "trust_store", None) or TrustStore()
        )
    data_groups = {int(n[2:]): d for n, d in raw.items() if n.startswith("DG")}
    result.passive_auth = passive_authentication(
        sod, data_groups, trust_store, missing=[n for n in missing if n != 15]
    )
    report("passive_auth", 1, 1)

    if memory is not None and result.passive_auth.status == VERIFIED:
        memory.put(atr, plan)  # only what worked for a genuine card (a hostile one must not stick)
    io = transport.stats
    result.stats = ReadStats(
        apdus=io.apdus,
        bytes=io.bytes,
        block_size=plan.block,
        extended_length=plan.extended,
        sfi=plan.sfi,
        step_downs=files.step_downs,
        ms=(time.perf_counter() - t0) * 1000,
        io_ms=io.io_s * 1000,
        by_ins=dict(io.by_ins),
    )
    log.info(
        "card read: %d APDUs, %d bytes, block %d%s, %.0f ms (%.0f ms card I/O); PA %s, AA %s",
        io.apdus,
        io.bytes,
        plan.block,
        " extended" if plan.extended else "",
        result.stats.ms,
        result.stats.io_ms,
        result.passive_auth.status,
        result.active_auth.status,
    )
    return result
