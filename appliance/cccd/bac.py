"""BAC key material (ICAO 9303-11 section 4.3 and Appendix D), from a QR, an MRZ or typed fields.

``MRZ_information`` = document number + check digit + date of birth + check digit + date of
expiry + check digit; ``Kseed`` = the first 16 bytes of its SHA-1; ``Kenc``/``Kmac`` =
:func:`kdf` of Kseed with counters 1 and 2. The chip code derives its session keys with the same
:func:`kdf`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from appliance.cccd.errors import BacError
from appliance.cccd.mrz import check_digit

ENC_COUNTER = 1
MAC_COUNTER = 2
_DOCNO = re.compile(r"[A-Z0-9<]+")
_YYMMDD = re.compile(r"[0-9]{6}")


def adjust_parity(key: bytes) -> bytes:
    """Set each byte's lowest bit so that the byte has odd parity (DES key parity)."""
    return bytes((b & 0xFE) | ((b >> 1).bit_count() + 1) % 2 for b in key)


def kdf(seed: bytes, counter: int) -> bytes:
    """ICAO 9303-11 key derivation for 3DES: SHA-1(seed || counter as 4 bytes big-endian),
    first 16 bytes (a 2-key 3DES key K1||K2), DES parity bits adjusted."""
    digest = hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()
    return adjust_parity(digest[:16])


def _real_yymmdd(value: str) -> bool:
    """Six digits that are a real date in the 1900s or 2000s (29 Feb depends on the century)."""
    if not _YYMMDD.fullmatch(value):
        return False
    for century in (2000, 1900):
        try:
            date(century + int(value[:2]), int(value[2:4]), int(value[4:]))
            return True
        except ValueError:
            continue
    return False


def mrz_information(document_number: str, date_of_birth: str, date_of_expiry: str) -> str:
    """The BAC ``MRZ_information`` string. Dates are ``YYMMDD`` (expiry ``991231`` for a card
    that never expires); a document number shorter than 9 is padded with ``<``."""
    docno = document_number.strip().upper()
    if not _DOCNO.fullmatch(docno):
        raise BacError(
            "the document number must be MRZ characters (A-Z, 0-9, <)", code="bad_document_number"
        )
    docno = docno.ljust(9, "<")
    for what, value in (("date of birth", date_of_birth), ("date of expiry", date_of_expiry)):
        if not _real_yymmdd(value):
            raise BacError(f"the {what} {value!r} is not a YYMMDD date", code="bad_date")
    return "".join(f"{v}{check_digit(v)}" for v in (docno, date_of_birth, date_of_expiry))


@dataclass(frozen=True, slots=True)
class BacKeys:
    """The BAC key material of one card."""

    mrz_information: str
    kseed: bytes
    kenc: bytes
    kmac: bytes

    def to_dict(self) -> dict[str, Any]:
        """The ``appliance bac keys`` success object (keys in uppercase hex)."""
        return {
            "ok": True,
            "mrz_information": self.mrz_information,
            "kseed": self.kseed.hex().upper(),
            "kenc": self.kenc.hex().upper(),
            "kmac": self.kmac.hex().upper(),
        }


def keys_from_mrz_information(info: str) -> BacKeys:
    """Kseed, Kenc and Kmac for an ``MRZ_information`` string."""
    kseed = hashlib.sha1(info.encode("ascii")).digest()[:16]
    return BacKeys(info, kseed, kdf(kseed, ENC_COUNTER), kdf(kseed, MAC_COUNTER))


def bac_keys(document_number: str, date_of_birth: str, date_of_expiry: str) -> BacKeys:
    """BAC keys from the three MRZ fields (``YYMMDD`` dates, expiry ``991231`` for none)."""
    return keys_from_mrz_information(
        mrz_information(document_number, date_of_birth, date_of_expiry)
    )


def bac_keys_from_qr(result: Any) -> BacKeys:
    """BAC keys from a :class:`appliance.cccd.qr.QrResult` (QR scan, then tap: nothing typed)."""
    if result.bac is None:
        raise BacError(
            "a QR payload of unknown layout has no date of birth: no BAC key", code="unknown_layout"
        )
    return bac_keys(result.bac.document_number, result.bac.date_of_birth, result.bac.date_of_expiry)


def bac_keys_from_td1(td1: Any) -> BacKeys:
    """BAC keys from a parsed MRZ (:class:`appliance.cccd.mrz.Td1`)."""
    return bac_keys(td1.bac_document_number, td1.bac_date_of_birth, td1.bac_date_of_expiry)
