"""What may sit in clear on the device, and the checks that keep everything else out.

Clear metadata is limited to what the operator's list and the gate statistics need: a masked ID
(first three and last three digits, never beside a birth year), an age band at least four years
wide, sex, the 3-digit birth-registration code, and short machine codes for decisions and
reasons. Anything that does not fit these shapes is refused with :class:`RecordRejected`, so a
caller cannot slip a name, an address or a full ID number into a clear column by mistake.
"""

from __future__ import annotations

import re
import secrets
from datetime import date

from appliance.cccd.ids import is_id_number, mask_id
from appliance.store.errors import RecordRejected

CODE_RE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
PURPOSE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
PART_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")
BIRTH_CODE_RE = re.compile(r"[0-9]{3}")
AGE_BAND_RE = re.compile(r"([0-9]{1,3})-([0-9]{1,3})|([0-9]{1,3})\+")
MIN_BAND_WIDTH = 4  # years: a band narrower than this would be close to a birth year
SEX_ALIASES = {
    "male": "male",
    "female": "female",
    "m": "male",
    "f": "female",
    "nam": "male",
    "nữ": "female",
}

# The age bands :func:`age_band` produces (lower bounds); the last one is open-ended.
AGE_BANDS = (0, 14, 18, 25, 35, 45, 55, 65)

# Receipt codes: Crockford base32 (no I, L, O, U), 8 characters shown as XXXX-XXXX, random.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_receipt_code() -> str:
    """A random receipt code (40 bits), unrelated to the person: ``7K2M-Q9XD``."""
    chars = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def masked_id(id_number: object) -> str | None:
    """The operator-list form of an ID number, or None when there is no valid ID."""
    return mask_id(id_number) if is_id_number(id_number) else None


def age_band(date_of_birth: date, on: date) -> str:
    """The age band of a person born ``date_of_birth`` on day ``on``: ``"25-34"``, ``"65+"``."""
    age = (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
    age = max(age, 0)
    lows = [b for b in AGE_BANDS if b <= age]
    low = lows[-1]
    nxt = AGE_BANDS.index(low) + 1
    if nxt == len(AGE_BANDS):
        return f"{low}+"
    return f"{low}-{AGE_BANDS[nxt] - 1}"


def check_code(value: str | None, what: str) -> str | None:
    """A short lowercase machine code (``deny``, ``card_expired``), or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not CODE_RE.fullmatch(value) or re.search(r"\d{5}", value):
        raise RecordRejected(f"{what} must be a short lowercase code like 'card_expired'")
    return value


def check_age_band(value: str | None) -> str | None:
    if value is None:
        return None
    m = AGE_BAND_RE.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise RecordRejected("age_band must look like '25-34' or '65+'")
    if m.group(3) is None:
        low, high = int(m.group(1)), int(m.group(2))
        if high - low + 1 < MIN_BAND_WIDTH or high > 150:
            raise RecordRejected(f"age_band must span at least {MIN_BAND_WIDTH} years (0-150)")
    elif int(m.group(3)) > 150:
        raise RecordRejected("age_band out of range")
    return value


def check_sex(value: str | None) -> str | None:
    if value is None:
        return None
    norm = SEX_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None
    if norm is None:
        raise RecordRejected("sex must be 'male' or 'female' (or None)")
    return norm


def check_birth_code(value: str | None) -> str | None:
    """The ID's 3-digit birth-registration prefix (province or country), never more."""
    if value is None:
        return None
    if not isinstance(value, str) or not BIRTH_CODE_RE.fullmatch(value):
        raise RecordRejected("birth_code must be the 3-digit birth-registration code")
    return value


def check_purposes(purposes: object) -> list[str]:
    if not isinstance(purposes, list | tuple) or not purposes:
        raise RecordRejected("consent needs at least one purpose")
    out = []
    for p in purposes:
        if not isinstance(p, str) or not PURPOSE_RE.fullmatch(p):
            raise RecordRejected(f"purpose {p!r} must be a short lowercase code")
        if p in out:
            raise RecordRejected(f"purpose {p!r} given twice")
        out.append(p)
    return out


def check_text_hash(value: object) -> str:
    """SHA-256 of the consent text shown: 64 hex digits, optionally prefixed ``sha256:``."""
    text = value.removeprefix("sha256:").lower() if isinstance(value, str) else ""
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise RecordRejected("text_hash must be the SHA-256 of the text shown (64 hex digits)")
    return text


def check_short_text(value: object, what: str, limit: int = 64) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RecordRejected(f"{what} must be a non-empty string of at most {limit} characters")
    if not value.isprintable():
        raise RecordRejected(f"{what} must be printable")
    return value


def check_part_name(name: object) -> str:
    if not isinstance(name, str) or not PART_NAME_RE.fullmatch(name):
        raise RecordRejected(
            f"image name {name!r} must be a short lowercase name like 'right_index'"
        )
    return name
