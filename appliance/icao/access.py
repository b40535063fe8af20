"""Access control: PACE when EF.CardAccess offers it, BAC otherwise, by a config policy.

``access``: ``auto`` (PACE when offered and usable, else BAC), ``pace`` (PACE or nothing), ``bac``
(never PACE). ``pace_fallback`` says what a PACE failure in ``auto`` may do: ``not_supported``
(default: BAC only when the chip's PACE cannot be used, e.g. an unsupported mapping or a refused
MSE:Set AT; a PACE that started and failed, such as a wrong CAN, fails closed: ``pace_failed``),
``always`` (BAC after any PACE failure), ``never``. The password is the CAN when one is given
(the last 6 ID digits, from the QR), else the MRZ. The reason of every choice is kept in
:class:`AccessResult` and shown by ``appliance card read``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from appliance.cccd.bac import BacKeys
from appliance.errors import ConfigError
from appliance.icao import lds
from appliance.icao.errors import (
    AccessDenied,
    FileNotFound,
    FileTooLarge,
    LdsError,
    StatusError,
    TruncatedFile,
)
from appliance.icao.files import SHORT_SM_MAX, FileReader, ReadPlan
from appliance.icao.pace import (
    PASSWORD_CAN,
    PASSWORD_MRZ,
    KeyGen,
    PaceFailed,
    PaceNotSupported,
    can_password,
    choose,
    mrz_password,
    random_scalar,
)
from appliance.icao.secinfo import ChipInfos, parse_chip_infos
from appliance.icao.session import CardSession

log = logging.getLogger(__name__)

ACCESS_MODES = ("auto", "pace", "bac")
FALLBACKS = ("not_supported", "always", "never")


@dataclass
class AccessResult:
    method: str = "bac"
    pace_offered: bool = False
    curve: str | None = None
    sm_cipher: str = "3des"
    password: str = "mrz"
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "pace_offered": self.pace_offered,
            "curve": self.curve,
            "sm_cipher": self.sm_cipher,
            "password": self.password,
            "fallback_reason": self.fallback_reason,
        }


def check_policy(access: str, fallback: str) -> None:
    if access not in ACCESS_MODES:
        raise ConfigError("must be auto, pace or bac", key="card_reader.access")
    if fallback not in FALLBACKS:
        raise ConfigError("must be not_supported, always or never", key="card_reader.pace_fallback")


def read_card_access(session: CardSession, max_file_bytes: int) -> ChipInfos | None:
    """EF.CardAccess in the clear (SFI read, or SELECT ``01 1C`` when the chip refuses SFI; the
    MF itself is never selected), with a plan of its own so a quirk here does not change how the
    LDS files are read. None when absent or unreadable."""
    files = FileReader(session, ReadPlan(SHORT_SM_MAX, False), max_file_bytes=max_file_bytes)
    try:
        return parse_chip_infos(files.read(lds.FILES["CardAccess"]))
    except (FileNotFound, AccessDenied):
        return None
    except (StatusError, LdsError, TruncatedFile, FileTooLarge) as exc:
        log.info("EF.CardAccess unreadable (%s): no PACE", exc.message)
        return None


def establish(
    session: CardSession,
    infos: ChipInfos | None,
    keys: BacKeys | None,
    *,
    can: str | None = None,
    access: str = "auto",
    fallback: str = "not_supported",
    rng=None,
    keygen: KeyGen = random_scalar,
) -> AccessResult:
    """Open secure messaging with the chip (applet selected afterwards). Raises PaceFailed,
    PaceNotSupported (``access=pace`` and no usable PACE), BacFailed."""
    check_policy(access, fallback)
    offered = infos.pace if infos else []
    result = AccessResult(pace_offered=bool(offered))
    if access != "bac" and offered:
        info = choose(offered)
        try:
            if info is None:
                kinds = ", ".join(sorted({f"{i.mapping}/{i.agreement}" for i in offered}))
                raise PaceNotSupported(f"the chip offers PACE only as {kinds} (not implemented)")
            name = _pace(session, info, keys, can, several=len(offered) > 1, keygen=keygen)
            cipher, size = info.cipher
            result.method, result.curve, result.password = "pace", info.curve_name, name
            result.sm_cipher = f"{cipher}-{size * 8}" if cipher == "aes" else cipher
            if name == "mrz" and can:
                result.fallback_reason = "the chip refused the CAN; PACE with the MRZ"
            return result
        except PaceFailed as exc:
            allowed = fallback == "always" or (
                fallback == "not_supported" and isinstance(exc, PaceNotSupported)
            )
            if access == "pace" or not allowed or keys is None:
                raise
            log.warning("PACE failed (%s): falling back to BAC", exc.message)
            result.fallback_reason = exc.message
            session.sm = None
    elif access == "pace":
        raise PaceNotSupported("the chip does not offer PACE (EF.CardAccess)")
    if keys is None:
        raise PaceNotSupported("BAC needs the MRZ data (document number and dates); only a CAN")
    session.select_applet()
    session.authenticate(keys, rng)
    return result


def _pace(session, info, keys, can, *, several: bool, keygen: KeyGen) -> str:
    """PACE with the CAN when one is known, then (the CAN refused, the MRZ data known) with the
    MRZ: both are PACE, so trying the second is no downgrade. The password name used."""
    password, ref, name = _password(keys, can)
    try:
        session.pace(info, password, ref, several_offered=several, keygen=keygen)
        return name
    except PaceNotSupported:
        raise
    except PaceFailed as exc:
        if name != "can" or keys is None:
            raise
        log.warning("PACE with the CAN failed (%s): trying the MRZ", exc.message)
        first = exc
    password, ref, name = _password(keys, None)
    session.sm = None
    try:
        session.pace(info, password, ref, several_offered=several, keygen=keygen)
    except PaceNotSupported:  # no MRZ password on this chip: the CAN's failure stands
        raise first from None
    return name


def _password(keys: BacKeys | None, can: str | None) -> tuple[bytes, int, str]:
    if can:
        try:
            return can_password(can), PASSWORD_CAN, "can"
        except ValueError:
            raise PaceFailed("the CAN must be 6 digits") from None
    if keys is None:
        raise PaceFailed("PACE needs a CAN or the MRZ data")
    return mrz_password(keys.mrz_information), PASSWORD_MRZ, "mrz"
