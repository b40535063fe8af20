"""The QR code of the 2021 CCCD (DOMAIN.md section 1): parse, validate, cross-check, build.

``id|old_id|full name|ddMMyyyy|Nam or Nữ|address|ddMMyyyy`` in UTF-8. Messy input is forgiven
(surrounding whitespace, trailing CR/LF from serial scanners, NFD text, ``NAM``/``nữ`` in any
case, runs of spaces in the name or address); anything wrong is rejected with one code, the first
in :data:`~appliance.cccd.errors.QR_ERROR_CODES` order. A payload whose first field is a 12-digit
number but which does not have seven fields is an ``unknown`` layout (the 2024 card's QR is not
documented): only the ID number and its birth-registration place are reported.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from appliance.cccd.errors import QrError
from appliance.cccd.expiry import expiry_date, is_expired
from appliance.cccd.ids import BirthRegistration, IdNumber, birth_registration, is_id_number
from appliance.cccd.mrz import yymmdd

__all__ = ["BacInfo", "QrError", "QrResult", "build_payload", "parse_qr"]

log = logging.getLogger(__name__)

LAYOUT_2021 = "cccd-2021"
LAYOUT_UNKNOWN = "unknown"
FIELD_COUNT = 7
SEPARATOR = "|"
# Limits like a real scanner's (near 4 KB a scan) and a real card's fields; longer is refused
# before any other work, so a 200,000-character "name" is never parsed.
MAX_PAYLOAD_BYTES = 4096
MAX_NAME_CHARS = 100
MAX_ADDRESS_CHARS = 300

_OLD_ID = re.compile(r"[0-9]{9}")
_DATE = re.compile(r"[0-9]{8}")
_SPACES = re.compile(r" {2,}")
_SEX = {"nam": "male", "nữ": "female"}
_SEX_TEXT = {"male": "Nam", "female": "Nữ"}
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]")


def _vietnamese_letters() -> str:
    """Every precomposed Vietnamese letter (both cases): 12 vowels x 6 tones, plus Đ/đ."""
    vowels = ["a", "a\u0306", "a\u0302", "e", "e\u0302", "i", "o", "o\u0302", "o\u031b", "u"]
    vowels += ["u\u031b", "y"]
    tones = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
    letters = {unicodedata.normalize("NFC", v + t) for v in vowels for t in tones}
    letters |= {c.upper() for c in letters} | {"đ", "Đ"}
    assert all(len(c) == 1 for c in letters)
    return "".join(sorted(letters))


# Vietnamese Latin text: letters with their diacritics, digits, space, common punctuation.
VIETNAMESE_LETTERS = _vietnamese_letters()
PUNCTUATION = ",.;:-–/'’()&#+\""
_TEXT = re.compile(f"[A-Za-z0-9 {re.escape(VIETNAMESE_LETTERS + PUNCTUATION)}]*")


@dataclass(frozen=True, slots=True)
class BacInfo:
    """The three MRZ fields BAC needs, derived from the QR."""

    document_number: str
    date_of_birth: str  # YYMMDD
    date_of_expiry: str  # YYMMDD, 991231 for no expiry

    def to_dict(self) -> dict[str, str]:
        return {
            "document_number": self.document_number,
            "date_of_birth": self.date_of_birth,
            "date_of_expiry": self.date_of_expiry,
        }


@dataclass(frozen=True, slots=True)
class QrResult:
    """A parsed QR payload. For ``layout == "unknown"`` only the ID fields are set."""

    layout: str
    id_number: str
    birth_registration: BirthRegistration
    old_id_number: str | None = None
    full_name: str | None = None
    date_of_birth: date | None = None
    sex: str | None = None
    address: str | None = None
    issue_date: date | None = None
    expiry_date: date | None = None
    expired: bool | None = None
    bac: BacInfo | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The ``appliance qr parse`` success object (field order as in the contract)."""

        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "ok": True,
            "layout": self.layout,
            "id_number": self.id_number,
            "old_id_number": self.old_id_number,
            "full_name": self.full_name,
            "date_of_birth": iso(self.date_of_birth),
            "sex": self.sex,
            "address": self.address,
            "issue_date": iso(self.issue_date),
            "expiry_date": iso(self.expiry_date),
            "expired": self.expired,
            "birth_registration": self.birth_registration.to_dict(),
            "bac": self.bac.to_dict() if self.bac else None,
            "warnings": list(self.warnings),
        }


def decode_payload(payload: bytes | bytearray | memoryview | str) -> str:
    """Bytes as UTF-8, surrounding whitespace (and a BOM) stripped, NFC."""
    if isinstance(payload, bytes | bytearray | memoryview | str):
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        if size > MAX_PAYLOAD_BYTES:
            raise QrError(
                f"the payload is {size} bytes, more than a scan holds ({MAX_PAYLOAD_BYTES})",
                code="malformed",
            )
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise QrError("the payload is not UTF-8 text", code="malformed") from None
    elif isinstance(payload, str):
        text = payload
    else:
        raise TypeError(f"QR payload must be bytes or str, not {type(payload).__name__}")
    text = text.strip().lstrip("\ufeff").strip()
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def _parse_date(value: str, what: str) -> date:
    if _DATE.fullmatch(value):
        try:
            return date(int(value[4:]), int(value[2:4]), int(value[:2]))
        except ValueError:
            pass
    raise QrError(f"the {what} is not a real ddMMyyyy date", code="bad_date")


def _clean_text(value: str) -> str:
    return _SPACES.sub(" ", value.strip(" "))


def _check_text(value: str, what: str) -> None:
    if _TEXT.fullmatch(value):
        return
    hint = ""
    if _HALFWIDTH_KANA.search(value):
        hint = " (half-width katakana: a decoder read UTF-8 as Shift-JIS; use zbar binary mode)"
    raise QrError(
        f"the {what} holds characters that are not Vietnamese text{hint}", code="bad_text"
    )


def _unknown_layout(id_number: str, field_count: int) -> QrResult:
    log.info("QR payload of unknown layout: %d fields", field_count)
    place = birth_registration(id_number[:3])
    warnings = ["unknown_layout"] + (["unknown_birth_code"] if place.kind == "unknown" else [])
    return QrResult(LAYOUT_UNKNOWN, id_number, place, warnings=tuple(warnings))


def parse_qr(payload: bytes | str, today: date | None = None) -> QrResult:
    """Parse a CCCD QR payload; raises :class:`QrError` (``.code`` says what is wrong).

    ``today`` decides ``expired`` and rejects issue dates in the future (default: today).
    """
    fields = decode_payload(payload).split(SEPARATOR)
    if len(fields) != FIELD_COUNT:
        if is_id_number(fields[0]):
            return _unknown_layout(fields[0], len(fields))
        raise QrError(
            f"not a CCCD QR payload (expected 7 '|'-separated fields, got {len(fields)})",
            code="malformed",
        )
    id_number, old_id, full_name, dob_text, sex_text, address, issued_text = fields
    if not is_id_number(id_number):
        raise QrError("the ID number is not exactly 12 ASCII digits", code="bad_id_number")
    if old_id and not _OLD_ID.fullmatch(old_id):
        raise QrError("the old ID number is neither empty nor 9 digits", code="bad_old_id_number")
    full_name, address = _clean_text(full_name), _clean_text(address)
    if not full_name:
        raise QrError("the full name is empty", code="empty_name")
    for value, what, limit in (
        (full_name, "full name", MAX_NAME_CHARS),
        (address, "address", MAX_ADDRESS_CHARS),
    ):
        if len(value) > limit:
            raise QrError(f"the {what} is longer than {limit} characters", code="bad_text")
    _check_text(full_name, "full name")
    _check_text(address, "address")
    dob = _parse_date(dob_text, "date of birth")
    issued = _parse_date(issued_text, "issue date")
    sex = _SEX.get(sex_text.casefold())
    if sex is None:
        raise QrError("the sex is neither Nam nor Nữ", code="bad_sex")
    ident = IdNumber(id_number)
    if not ident.matches(dob, sex):
        raise QrError(
            "the ID number's century/sex or year digits disagree with the date of birth or sex",
            code="id_mismatch",
        )
    today = today or date.today()
    if issued < dob:
        raise QrError("the issue date is before the date of birth", code="date_order")
    if issued > today:
        raise QrError(f"the issue date is after today ({today.isoformat()})", code="date_order")

    place = ident.birth_registration
    expiry = expiry_date(dob, issued)
    expired = is_expired(expiry, today)
    warnings = []
    if place.kind == "unknown":
        warnings.append("unknown_birth_code")
    if expired:
        warnings.append("expired")
    return QrResult(
        layout=LAYOUT_2021,
        id_number=id_number,
        birth_registration=place,
        old_id_number=old_id or None,
        full_name=full_name,
        date_of_birth=dob,
        sex=sex,
        address=address,
        issue_date=issued,
        expiry_date=expiry,
        expired=expired,
        bac=BacInfo(ident.document_number, yymmdd(dob), yymmdd(expiry)),
        warnings=tuple(warnings),
    )


def _ddmmyyyy(value: date | str) -> str:
    d = value if isinstance(value, date) else date.fromisoformat(value)
    return f"{d.day:02d}{d.month:02d}{d.year:04d}"


def build_payload(identity: dict[str, Any]) -> str:
    """The 2021-layout QR payload for an identity dict shaped like
    ``appliance.citizen.TEST_CITIZEN`` (ISO dates, sex "male"/"female", old ID None or 9 digits).
    """
    return SEPARATOR.join(
        (
            identity["id_number"],
            identity.get("old_id_number") or "",
            identity["full_name"],
            _ddmmyyyy(identity["date_of_birth"]),
            _SEX_TEXT[identity["sex"]],
            identity["address"],
            _ddmmyyyy(identity["issue_date"]),
        )
    )
