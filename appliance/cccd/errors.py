"""Typed errors of the card-data modules; each ``code`` is part of the CLI contract."""

from __future__ import annotations

from appliance.errors import InvalidInput


class CccdError(InvalidInput):
    """Card data (QR payload, ID number, MRZ, BAC input) is not acceptable."""

    code = "invalid_input"


class QrError(CccdError):
    """A QR payload is rejected; ``code`` is one of :data:`QR_ERROR_CODES`."""

    code = "malformed"


class IdNumberError(CccdError):
    """A string is not a 12-digit personal ID number."""

    code = "bad_id_number"


class MrzError(CccdError):
    """An MRZ is rejected: ``bad_length``, ``bad_charset``, ``check_digit`` or ``bad_field``."""

    code = "bad_length"


class BacError(CccdError):
    """BAC input (document number, dates) is not usable."""

    code = "bad_bac_input"


# Precedence: when several things are wrong, the first code in this order wins.
QR_ERROR_CODES = (
    "malformed",
    "bad_id_number",
    "bad_old_id_number",
    "empty_name",
    "bad_text",
    "bad_date",
    "bad_sex",
    "id_mismatch",
    "date_order",
)
MRZ_ERROR_CODES = ("bad_length", "bad_charset", "check_digit", "bad_field")
