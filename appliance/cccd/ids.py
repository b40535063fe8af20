"""The 12-digit personal ID number ``PPP G YY RRRRRR`` (DOMAIN.md section 2).

``PPP`` birth-registration place, ``G`` century and sex (0/1 male/female 1900-1999, 2/3 for
2000-2099, ... 8/9 for 2300-2399), ``YY`` last two digits of the birth year, ``RRRRRR`` random.
There is no check digit: only the structure and the cross-check with date of birth and sex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from appliance.cccd.errors import IdNumberError
from appliance.cccd.provinces import is_abroad_code, province_name

ID_NUMBER_RE = re.compile(r"[0-9]{12}")  # ASCII digits only (``\d`` would take any script)
FIRST_CENTURY = 1900
LAST_YEAR = 2399  # the highest year the century/sex digit can encode

SEXES = ("male", "female")


@dataclass(frozen=True, slots=True)
class BirthRegistration:
    """Where the birth was registered: ``kind`` is province, abroad or unknown."""

    kind: str
    code: str
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "name": self.name}


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A structurally valid ID number, split into its parts."""

    number: str

    @property
    def prefix(self) -> str:
        return self.number[:3]

    @property
    def century_sex_digit(self) -> int:
        return int(self.number[3])

    @property
    def year_digits(self) -> str:
        return self.number[4:6]

    @property
    def serial(self) -> str:
        return self.number[6:]

    @property
    def century(self) -> int:
        """First year of the birth century (1900, 2000, ... 2300)."""
        return century_and_sex(self.century_sex_digit)[0]

    @property
    def sex(self) -> str:
        return century_and_sex(self.century_sex_digit)[1]

    @property
    def birth_year(self) -> int:
        return self.century + int(self.year_digits)

    @property
    def document_number(self) -> str:
        """The card's document number in the MRZ and for BAC: the last nine digits."""
        return self.number[3:]

    @property
    def birth_registration(self) -> BirthRegistration:
        return birth_registration(self.prefix)

    def matches(self, date_of_birth: date, sex: str) -> bool:
        """True when the century/sex digit and the year digits agree with DOB and sex."""
        digits = expected_digits(date_of_birth, sex)
        return digits is not None and self.number[3:6] == digits


def is_id_number(value: object) -> bool:
    """True for a str of exactly 12 ASCII digits."""
    return isinstance(value, str) and ID_NUMBER_RE.fullmatch(value) is not None


def parse_id_number(value: str) -> IdNumber:
    """Check the structure (exactly 12 ASCII digits); raise :class:`IdNumberError` otherwise."""
    if not is_id_number(value):
        raise IdNumberError("the ID number is not exactly 12 ASCII digits")
    return IdNumber(value)


def century_and_sex(digit: int) -> tuple[int, str]:
    """Century/sex digit -> (first year of the century, "male"|"female")."""
    if not 0 <= digit <= 9:
        raise ValueError(f"century/sex digit out of range: {digit}")
    return FIRST_CENTURY + 100 * (digit // 2), SEXES[digit % 2]


def century_sex_digit(birth_year: int, sex: str) -> int:
    """The ``G`` digit for a birth year (1900-2399) and sex ("male"/"female")."""
    if not FIRST_CENTURY <= birth_year <= LAST_YEAR:
        raise ValueError(f"birth year {birth_year} has no century/sex digit")
    if sex not in SEXES:
        raise ValueError(f"sex must be male or female, not {sex!r}")
    return 2 * ((birth_year - FIRST_CENTURY) // 100) + SEXES.index(sex)


def expected_digits(date_of_birth: date, sex: str) -> str | None:
    """``G`` + ``YY`` (ID digits 4-6) for a date of birth and sex; None if not encodable."""
    year = date_of_birth.year
    if not FIRST_CENTURY <= year <= LAST_YEAR or sex not in SEXES:
        return None
    return f"{century_sex_digit(year, sex)}{year % 100:02d}"


def birth_registration(prefix: str) -> BirthRegistration:
    """Decode the 3-digit prefix: a province, abroad (101-295) or unknown."""
    name = province_name(prefix)
    if name is not None:
        return BirthRegistration("province", prefix, name)
    if is_abroad_code(prefix):
        return BirthRegistration("abroad", prefix, None)
    return BirthRegistration("unknown", prefix, None)


def mask_id(id_number: str) -> str:
    """First three and last three digits: ``001090012345`` -> ``001******345``.

    Anything shorter than seven characters is masked entirely.
    """
    if len(id_number) < 7:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 6) + id_number[-3:]
