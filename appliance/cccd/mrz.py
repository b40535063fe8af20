"""The MRZ on the back of the card: ICAO 9303 TD1, three lines of 30 (DOMAIN.md section 3).

::

    IDVNM0900123450001090012345<<1   code, state, document number (ID[3:]) + check digit,
                                     optional data = 12-digit ID, "<<", check digit over the ID
    9003152M3003150VNM<<<<<<<<<<<2   DOB + check, sex, expiry (991231 = none) + check,
                                     nationality, composite check digit
    NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<   surname << given names, without diacritics

Parsing checks, in this order: three lines of 30 (``bad_length``), the MRZ alphabet
(``bad_charset``), every check digit (``check_digit``, the message names the field), then the
values themselves (``bad_field``: impossible date, unknown sex letter).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from appliance.cccd.errors import MrzError
from appliance.cccd.expiry import expiry_date
from appliance.cccd.ids import century_and_sex, parse_id_number

LINE_LENGTH = 30
NO_EXPIRY = "991231"
FILLER = "<"
_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {FILLER: 0}
_WEIGHTS = (7, 3, 1)
_MRZ_LINE = re.compile(r"[A-Z0-9<]*")
_VN_OPTIONAL = re.compile(r"([0-9]{12})<<([0-9<])")
_SEX_TO_MRZ = {"male": "M", "female": "F", None: FILLER}
_MRZ_TO_SEX = {"M": "male", "F": "female", FILLER: None, "X": None}


def check_digit(s: str) -> str:
    """ICAO 9303 check digit (weights 7-3-1, A=10 ... Z=35, ``<`` = 0) as one character."""
    total = 0
    for i, ch in enumerate(s):
        try:
            total += _VALUES[ch] * _WEIGHTS[i % 3]
        except KeyError:
            raise MrzError(f"{ch!r} is not an MRZ character", code="bad_charset") from None
    return str(total % 10)


def yymmdd(d: date | None) -> str:
    """A date as MRZ ``YYMMDD``; None (no expiry) is ``991231``."""
    return NO_EXPIRY if d is None else f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"


# ---------------------------------------------------------------------------- names


def transliterate(text: str) -> str:
    """Vietnamese text -> MRZ letters: diacritics stripped, Đ -> D, uppercase, words joined by
    ``<``; apostrophes dropped, other separators (space, hyphen, comma) become ``<``."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    plain = re.sub(r"['’0-9]", "", plain)  # MRZ names hold letters only
    return re.sub(r"[^A-Z]+", FILLER, plain).strip(FILLER)


def mrz_name(full_name: str, width: int = LINE_LENGTH) -> str:
    """``NGUYỄN VĂN AN`` -> ``NGUYEN<<VAN<AN`` padded to ``width`` (family name first, as on
    Vietnamese cards). Too long a name is cut at ``width`` (ICAO truncation, no marker)."""
    words = [w for w in transliterate(full_name).split(FILLER) if w]
    field = words[0] + "<<" + FILLER.join(words[1:]) if words else ""
    return field[:width].ljust(width, FILLER)


# ---------------------------------------------------------------------------- build


def build_td1(
    id_number: str,
    date_of_birth: date,
    sex: str | None,
    date_of_expiry: date | None,
    full_name: str,
    *,
    document_number: str | None = None,
    nationality: str = "VNM",
    issuing_state: str = "VNM",
    document_code: str = "ID",
) -> str:
    """The three TD1 lines of a Vietnamese card, joined by ``\\n``.

    ``sex`` is "male", "female" or None; ``date_of_expiry`` None means no expiry (``991231``);
    ``document_number`` defaults to ``id_number[3:]``.
    """
    ident = parse_id_number(id_number)
    docno = document_number if document_number is not None else ident.document_number
    if not 1 <= len(docno) <= 9 or not _MRZ_LINE.fullmatch(docno):
        raise MrzError("document number must be 1-9 MRZ characters", code="bad_field")
    if sex not in _SEX_TO_MRZ:
        raise MrzError(f"sex must be male, female or None, not {sex!r}", code="bad_field")
    docno = docno.ljust(9, FILLER)
    optional = f"{id_number}<<{check_digit(id_number)}"
    line1 = f"{document_code:<2.2}{issuing_state:<3.3}{docno}{check_digit(docno)}{optional}"
    line1 = line1.replace(" ", FILLER)
    dob, doe = yymmdd(date_of_birth), yymmdd(date_of_expiry)
    line2 = (
        f"{dob}{check_digit(dob)}{_SEX_TO_MRZ[sex]}{doe}{check_digit(doe)}"
        f"{nationality:<3.3}".replace(" ", FILLER)
    ).ljust(LINE_LENGTH - 1, FILLER)
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    lines = (line1, line2, mrz_name(full_name))
    if any(len(line) != LINE_LENGTH or not _MRZ_LINE.fullmatch(line) for line in lines):
        raise MrzError("document code, state or nationality is not MRZ text", code="bad_field")
    return "\n".join(lines)


def td1_from_identity(identity: dict[str, Any]) -> str:
    """The MRZ for an identity dict shaped like ``appliance.citizen.TEST_CITIZEN`` (ISO dates;
    the expiry comes from the renewal rule)."""
    dob = date.fromisoformat(identity["date_of_birth"])
    issued = date.fromisoformat(identity["issue_date"])
    return build_td1(
        identity["id_number"], dob, identity["sex"], expiry_date(dob, issued), identity["full_name"]
    )


# ---------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True)
class Td1:
    """A parsed TD1 MRZ. ``bac_*`` are the raw fields BAC needs."""

    document_code: str
    issuing_state: str
    document_number: str
    id_number: str | None
    date_of_birth: date
    sex: str | None
    date_of_expiry: date | None
    nationality: str
    surname: str
    given_names: str
    bac_document_number: str
    bac_date_of_birth: str
    bac_date_of_expiry: str

    def bac_dict(self) -> dict[str, str]:
        return {
            "document_number": self.bac_document_number,
            "date_of_birth": self.bac_date_of_birth,
            "date_of_expiry": self.bac_date_of_expiry,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``appliance mrz parse`` success object."""
        return {
            "ok": True,
            "document_code": self.document_code,
            "issuing_state": self.issuing_state,
            "document_number": self.document_number,
            "id_number": self.id_number,
            "date_of_birth": self.date_of_birth.isoformat(),
            "sex": self.sex,
            "date_of_expiry": self.date_of_expiry.isoformat() if self.date_of_expiry else None,
            "nationality": self.nationality,
            "surname": self.surname,
            "given_names": self.given_names,
            "bac": self.bac_dict(),
        }


def split_lines(text: str) -> tuple[str, str, str]:
    """The three lines (surrounding whitespace and blank lines ignored; one 90-character line
    is split in three). Raises ``bad_length``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0]) == 3 * LINE_LENGTH:
        lines = [lines[0][i : i + LINE_LENGTH] for i in range(0, 3 * LINE_LENGTH, LINE_LENGTH)]
    if len(lines) != 3 or any(len(line) != LINE_LENGTH for line in lines):
        shape = ", ".join(str(len(line)) for line in lines) or "none"
        raise MrzError(
            f"a TD1 MRZ is 3 lines of 30 characters (got line lengths: {shape})",
            code="bad_length",
        )
    for n, line in enumerate(lines, 1):
        if not _MRZ_LINE.fullmatch(line):
            bad = next(c for c in line if not _MRZ_LINE.fullmatch(c))
            raise MrzError(
                f"line {n} holds {bad!r}; the MRZ alphabet is A-Z, 0-9 and <", code="bad_charset"
            )
    return lines[0], lines[1], lines[2]


def _verify(field: str, value: str, digit: str) -> None:
    expected = check_digit(value)
    if digit != expected and not (digit == FILLER and value.strip(FILLER) == ""):
        raise MrzError(
            f"check digit of the {field} is {digit!r}, expected {expected}", code="check_digit"
        )


def _date(value: str, century: int) -> date | None:
    try:
        return date(century + int(value[:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return None


def _birth_date(value: str, today: date, id_number: str | None) -> date:
    """YYMMDD -> date: the ID's century when it agrees, else the latest century in the past."""
    if not value.isdigit():
        raise MrzError(f"date of birth {value!r} is not YYMMDD", code="bad_field")
    if id_number is not None and id_number[4:6] == value[:2]:
        d = _date(value, century_and_sex(int(id_number[3]))[0])
        if d is not None and d <= today:
            return d
    for century in range(today.year // 100 * 100, 1700, -100):
        d = _date(value, century)
        if d is not None and d <= today:
            return d
    raise MrzError(f"date of birth {value!r} is not a real date", code="bad_field")


def _expiry_date(value: str, dob: date) -> date | None:
    """YYMMDD -> the first such date after the date of birth; ``991231`` -> None."""
    if value == NO_EXPIRY:
        return None
    if value.isdigit():
        for century in range(dob.year // 100 * 100, dob.year // 100 * 100 + 300, 100):
            d = _date(value, century)
            if d is not None and d > dob:
                return d
    raise MrzError(f"date of expiry {value!r} is not a real date", code="bad_field")


def parse_td1(text: str, today: date | None = None) -> Td1:
    """Parse and verify a TD1 MRZ; raises :class:`MrzError`."""
    today = today or date.today()
    line1, line2, line3 = split_lines(text)
    optional = line1[15:30]
    if line1[14] == FILLER and line1[5:14].find(FILLER) == -1:  # ICAO long document number
        extension = optional.split(FILLER, 1)[0]
        if not extension:
            raise MrzError("long document number without its continuation", code="bad_field")
        docno, docno_digit = line1[5:14] + extension[:-1], extension[-1]
        optional = ""
    else:
        docno, docno_digit = line1[5:14], line1[14]
    _verify("document number", docno, docno_digit)
    dob_raw, doe_raw = line2[0:6], line2[8:14]
    _verify("date of birth", dob_raw, line2[6])
    _verify("date of expiry", doe_raw, line2[14])
    id_number = None
    issuing_state = line1[2:5].replace(FILLER, "")
    vn = _VN_OPTIONAL.fullmatch(optional) if issuing_state == "VNM" else None
    if vn:
        id_number = vn.group(1)
        _verify("ID number", id_number, vn.group(2))
    _verify("composite", line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], line2[29])

    dob = _birth_date(dob_raw, today, id_number)
    doe = _expiry_date(doe_raw, dob)
    if line2[7] not in _MRZ_TO_SEX:
        raise MrzError(f"sex {line2[7]!r} is not M, F or <", code="bad_field")
    surname, _, given = line3.rstrip(FILLER).partition("<<")
    return Td1(
        document_code=line1[0:2].replace(FILLER, ""),
        issuing_state=issuing_state,
        document_number=docno.rstrip(FILLER),
        id_number=id_number,
        date_of_birth=dob,
        sex=_MRZ_TO_SEX[line2[7]],
        date_of_expiry=doe,
        nationality=line2[15:18].replace(FILLER, ""),
        surname=surname.replace(FILLER, " ").strip(),
        given_names=given.replace(FILLER, " ").strip(),
        bac_document_number=docno,
        bac_date_of_birth=dob_raw,
        bac_date_of_expiry=doe_raw,
    )
