"""``read_card``: everything between "card on the reader" and "verified data", in one call.

EF.CardAccess, PACE (when offered) or BAC (:mod:`appliance.icao.access`), the eMRTD applet, then
EF.COM, EF.SOD, DG14 and chip authentication, DG1, DG13, DG15 and DG2 (largest last), active
authentication with DG15 (unless chip authentication ran: it supersedes it) and passive
authentication against the trust store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.cccd.bac import BacKeys, bac_keys
from appliance.errors import ConfigError
from appliance.icao import chipauth, lds, tlv
from appliance.icao.access import check_policy, establish, read_card_access
from appliance.icao.active import ActiveAuthResult, active_authentication
from appliance.icao.apdu import Transport, atr_extended_length
from appliance.icao.errors import AccessDenied, FileNotFound, LdsError, NoCard
from appliance.icao.files import (
    EXTENDED_MAX,
    MEMORY,
    SHORT_SM_MAX,
    BlockMemory,
    FileReader,
    ReadPlan,
)
from appliance.icao.pace import KeyGen, random_scalar
from appliance.icao.passive import VERIFIED, PassiveAuthResult, TrustStore, passive_authentication
from appliance.icao.result import CardRead, ReadStats
from appliance.icao.secinfo import ChipInfos, parse_chip_infos
from appliance.icao.session import CardSession

__all__ = ["CardRead", "ReadStats", "options_from_config", "read_card", "to_bac_keys"]

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 65536
READ_ORDER = (14, 1, 13, 15, 2)  # DG14 first (chip authentication), the face last
VERDICT_GROUPS = frozenset({1, 2, 13, 14, 15})  # listed in EF.SOD => must be read and hashed
Progress = Callable[[str, int, int], None]
EXTENDED_SETTINGS = {"auto": None, "on": True, "off": False}


def to_bac_keys(bac_input: Any) -> BacKeys | None:
    """BAC keys from BacKeys, a (docno, YYMMDD, YYMMDD) tuple, a dict, a ``QrResult``, a
    ``Td1``, or an object with ``document_number``, ``date_of_birth`` and ``date_of_expiry``."""
    if bac_input is None or isinstance(bac_input, BacKeys):
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
        "access": section.access,
        "pace_fallback": section.pace_fallback,
        "chip_auth": section.chip_auth,
    }


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
    can: str | None = None,
    access: str = "auto",
    pace_fallback: str = "not_supported",
    chip_auth: bool = True,
    trust_dir: str | Path | None = None,
    trust_store: TrustStore | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Progress | None = None,
    timeout_s: float = 30.0,
    wait_s: float = 0.0,
    block_size: int | None = None,
    extended: bool | None = None,
    active_auth: bool = True,
    memory: BlockMemory | None = MEMORY,
    rng: Callable[[int], bytes] | None = None,
    keygen: KeyGen = random_scalar,
) -> CardRead:
    """Read and verify the chip on ``reader`` (an open HAL card reader).

    ``bac_input``: see :func:`to_bac_keys` (None when only a ``can`` is known). ``can``: the
    card access number (last 6 ID digits) for PACE; ``access``/``pace_fallback``: the policy of
    :mod:`appliance.icao.access`; ``chip_auth``: run chip authentication when DG14 offers it.
    ``progress(stage, done, total)`` is called with ``bac`` (access control, BAC or PACE), each
    file name (bytes read so far, file size), ``chip_auth``, ``active_auth``, ``passive_auth``.
    ``extended`` None = when both the reader and the card's ATR support extended length;
    ``block_size`` None = start at the largest (or what worked before for this ATR).
    Raises :class:`NoCard`, :class:`BacFailed` (and ``PaceFailed``), :class:`ReadError` (and
    its subclasses); the authentication results never raise.
    """
    keys = to_bac_keys(bac_input)
    if keys is None and not can:
        raise ConfigError("a CAN or the MRZ data (BAC key) is needed", key="card")
    check_policy(access, pace_fallback)
    atr = reader.wait_card(wait_s)
    if not atr:
        raise NoCard("no card on the reader")
    t0 = time.perf_counter()
    transport = Transport(reader, deadline=time.monotonic() + timeout_s)
    read = _Read(reader, atr, transport, progress or (lambda stage, done, total: None))
    try:
        return read.run(
            keys,
            can=can,
            access=access,
            pace_fallback=pace_fallback,
            chip_auth=chip_auth,
            trust_dir=trust_dir,
            trust_store=trust_store,
            max_file_bytes=max_file_bytes,
            block_size=block_size,
            extended=extended,
            active_auth=active_auth,
            memory=memory,
            rng=rng,
            keygen=keygen,
            t0=t0,
        )
    finally:
        transport.close()


class _Read:
    """One read, step by step (the state the steps share)."""

    def __init__(self, reader: Any, atr: bytes, transport: Transport, report: Progress) -> None:
        self.reader, self.atr, self.transport, self.report = reader, atr, transport, report
        self.session = CardSession(transport)
        self.result = CardRead(
            None, None, None, PassiveAuthResult("failed"), ActiveAuthResult("not_supported")
        )

    def fetch(self, files: FileReader, name: str) -> bytes | None:
        result = self.result
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

    def parse(self, name: str, fn: Callable[[bytes], Any], data: bytes) -> Any:
        try:
            return fn(data)
        except LdsError as exc:
            self.result.errors.append({"file": name, "code": exc.code, "message": exc.message})
            log.warning("%s is malformed: %s", name, exc.message)
            return None

    def run(
        self,
        keys,
        *,
        can,
        access,
        pace_fallback,
        chip_auth,
        trust_dir,
        trust_store,
        max_file_bytes,
        block_size,
        extended,
        active_auth,
        memory,
        rng,
        keygen,
        t0,
    ):
        reader, atr, session, result, report = (
            self.reader, self.atr, self.session, self.result, self.report
        )  # fmt: skip
        ext = extended
        if ext is None:
            ext = bool(getattr(reader, "supports_extended_length", False))
            ext = ext and atr_extended_length(atr)
        remembered = memory.get(atr) if memory is not None and block_size is None else None
        plan = remembered or ReadPlan(block_size or (EXTENDED_MAX if ext else SHORT_SM_MAX), ext)
        plan.extended = plan.extended and ext

        infos = read_card_access(session, max_file_bytes)
        report("bac", 0, 1)
        result.access = establish(
            session, infos, keys, can=can, access=access, fallback=pace_fallback, rng=rng,
            keygen=keygen,
        )  # fmt: skip
        report("bac", 1, 1)
        files = FileReader(session, plan, max_file_bytes=max_file_bytes, progress=report)

        com_bytes = self.fetch(files, "COM")
        com = self.parse("COM", lds.parse_com, com_bytes) if com_bytes else None
        listed = set(com.data_groups) if com else set(READ_ORDER)
        sod = self.fetch(files, "SOD")  # before the data groups: EF.COM is unsigned, the SOD not
        signed = _sod_data_groups(sod)
        for number in READ_ORDER:
            if number in listed or number in signed or number == 1:
                self.fetch(files, f"DG{number}")
            if number == 14:
                self.chip_authentication(chip_auth, signed)
        missing = sorted(n for n in signed & VERDICT_GROUPS if f"DG{n}" not in result.files)
        if missing:
            log.warning("EF.SOD lists %s but the chip did not return them", missing)

        raw = result.files
        if "DG1" in raw:
            result.dg1 = self.parse("DG1", lds.parse_dg1, raw["DG1"])
        if "DG13" in raw:
            result.dg13 = self.parse("DG13", lds.parse_dg13, raw["DG13"])
        if "DG2" in raw:
            result.face = self.parse("DG2", lds.parse_dg2, raw["DG2"])
        if "DG14" in raw:
            result.security_infos = self.parse("DG14", lds.parse_dg14, raw["DG14"])
        self.active_authentication(active_auth, missing, plan, rng)

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
            memory.put(atr, plan)  # only what worked for a genuine card (a hostile one must not)
        self.finish(plan, files, t0)
        return result

    def chip_authentication(self, enabled: bool, signed: set[int]) -> None:
        result = self.result
        raw = result.files.get("DG14")
        if raw is None:
            missing = 14 in signed
            message = "EF.SOD lists DG14, the chip withheld it" if missing else "no DG14"
            result.chip_auth = chipauth.ChipAuthResult(
                chipauth.FAILED if missing else chipauth.NOT_SUPPORTED, message=message
            )
            return
        try:
            infos: ChipInfos | None = parse_chip_infos(tlv.unwrap(raw, 0x6E, "DG14"))
        except LdsError as exc:
            infos = None
            log.warning("DG14 unusable for chip authentication: %s", exc.message)
        if not enabled:
            result.chip_auth = chipauth.ChipAuthResult(chipauth.NOT_SUPPORTED, message="disabled")
            return
        self.report("chip_auth", 0, 1)
        result.chip_auth = chipauth.authenticate(self.session, infos or ChipInfos())
        if result.chip_auth.status == chipauth.FAILED:
            self.session.recover()  # the rest is read without chip authentication
        self.report("chip_auth", 1, 1)

    def active_authentication(self, enabled: bool, missing: list[int], plan, rng) -> None:
        result = self.result
        raw = result.files
        if result.chip_auth.status in (chipauth.PASSED, chipauth.FAILED):
            result.active_auth = ActiveAuthResult(
                "not_supported" if "DG15" not in raw else "skipped",
                message="chip authentication supersedes active authentication",
            )
            return
        aa_key = self.parse("DG15", lds.parse_dg15, raw["DG15"]) if "DG15" in raw else None
        if enabled and 15 in missing:
            result.active_auth = ActiveAuthResult(
                "failed", message="EF.SOD lists DG15 but the chip did not return it"
            )
        elif enabled and "DG15" in raw:
            self.report("active_auth", 0, 1)
            if aa_key is None:
                result.active_auth = ActiveAuthResult("failed", message="DG15 holds no usable key")
            else:
                aa_hash = result.security_infos.aa_hash if result.security_infos else None
                kwargs = {"rng": rng} if rng is not None else {}
                result.active_auth = active_authentication(
                    self.session.send, aa_key, aa_hash, extended=plan.extended, **kwargs
                )
            self.report("active_auth", 1, 1)

    def finish(self, plan: ReadPlan, files: FileReader, t0: float) -> None:
        result, io = self.result, self.transport.stats
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
            access=result.access.method,
            curve=result.access.curve,
            sm_cipher=result.access.sm_cipher,
        )
        log.info(
            "card read (%s): %d APDUs, %d bytes, block %d%s, %.0f ms (%.0f ms card I/O); "
            "PA %s, AA %s, CA %s",
            result.access.method,
            io.apdus,
            io.bytes,
            plan.block,
            " extended" if plan.extended else "",
            result.stats.ms,
            result.stats.io_ms,
            result.passive_auth.status,
            result.active_auth.status,
            result.chip_auth.status,
        )
