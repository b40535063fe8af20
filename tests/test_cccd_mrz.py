"""TD1 MRZ: check digits, the DOMAIN.md example, errors, centuries, names, round trips."""

from __future__ import annotations

from datetime import date

import pytest
from cccd_expected import MRZ_EXPECTED
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cccd.errors import MrzError
from appliance.cccd.expiry import expiry_date
from appliance.cccd.ids import century_sex_digit
from appliance.cccd.mrz import (
    build_td1,
    check_digit,
    mrz_name,
    parse_td1,
    td1_from_identity,
    transliterate,
)
from appliance.cccd.qr import VIETNAMESE_LETTERS
from appliance.citizen import TEST_CITIZEN
from appliance.errors import InvalidInput

TODAY = date(2025, 6, 1)
VN = [
    "IDVNM0900123450001090012345<<1",
    "9003152M3003150VNM<<<<<<<<<<<2",
    "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<",
]
VN_TEXT = "\n".join(VN)
ICAO = [  # ICAO 9303-5 TD1 specimen
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]


def mrz_code(text: str) -> tuple[str, str]:
    with pytest.raises(MrzError) as info:
        parse_td1(text, today=TODAY)
    return info.value.code, info.value.message


def with_composite(line1: str, line2: str) -> str:
    """Line 2 with its composite check digit recomputed."""
    return line2[:29] + check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])


# --------------------------------------------------------------------------- check digits


@pytest.mark.parametrize(
    ("field", "digit"),
    [
        ("L898902C<", "3"),
        ("690806", "1"),
        ("940623", "6"),
        ("090012345", "0"),
        ("001090012345", "1"),
        ("900315", "2"),
        ("300315", "0"),
        ("D23145890", "7"),
        ("<<<<<<", "0"),
        ("", "0"),
    ],
)
def test_check_digit(field, digit):
    assert check_digit(field) == digit


def test_check_digit_rejects_other_characters():
    with pytest.raises(MrzError) as info:
        check_digit("ab1")
    assert info.value.code == "bad_charset"


# --------------------------------------------------------------------------- parse


def test_domain_example_gives_the_contract_object():
    assert parse_td1(VN_TEXT, today=TODAY).to_dict() == MRZ_EXPECTED


@pytest.mark.parametrize(
    "text",
    [
        "\n\n  " + VN_TEXT + "  \n\n",
        "\r\n".join(VN) + "\r\n",
        "\n\n".join(VN),
        "\n".join("   " + line + "\t" for line in VN),
        "".join(VN),  # one 90-character line
    ],
)
def test_whitespace_is_ignored(text):
    assert parse_td1(text, today=TODAY).to_dict() == MRZ_EXPECTED


def test_icao_specimen():
    td1 = parse_td1("\n".join(ICAO), today=TODAY)
    assert td1.to_dict() == {
        "ok": True,
        "document_code": "I",
        "issuing_state": "UTO",
        "document_number": "D23145890",
        "id_number": None,
        "date_of_birth": "1974-08-12",
        "sex": "female",
        "date_of_expiry": "2012-04-15",
        "nationality": "UTO",
        "surname": "ERIKSSON",
        "given_names": "ANNA MARIA",
        "bac": {
            "document_number": "D23145890",
            "date_of_birth": "740812",
            "date_of_expiry": "120415",
        },
    }


def test_icao_long_document_number():
    line1 = "I<UTOD23145890<7349<<<<<<<<<<<"
    line2 = with_composite(line1, ICAO[1])
    td1 = parse_td1("\n".join([line1, line2, ICAO[2]]), today=TODAY)
    assert td1.document_number == "D23145890734"
    assert td1.bac_document_number == "D23145890734"


def test_no_expiry():
    text = build_td1("001060012345", date(1960, 3, 15), "male", None, "TRẦN VĂN BA")
    assert text.splitlines()[1][8:15] == "9912315"
    td1 = parse_td1(text, today=TODAY)
    assert td1.date_of_expiry is None
    assert td1.to_dict()["date_of_expiry"] is None
    assert td1.to_dict()["bac"]["date_of_expiry"] == "991231"


def test_female_and_unspecified_sex():
    text = build_td1("001190012345", date(1990, 3, 15), "female", date(2030, 3, 15), "LÊ THỊ HÀ")
    assert parse_td1(text, today=TODAY).sex == "female"
    text = build_td1("001190012345", date(1990, 3, 15), None, date(2030, 3, 15), "LÊ THỊ HÀ")
    assert text.splitlines()[1][7] == "<"
    assert parse_td1(text, today=TODAY).sex is None


# Birth century: the one that puts the date in the past (the ID's own century when it agrees).
def _foreign(dob: str, expiry: str = "301231") -> str:
    line1 = "I<UTOD231458907<<<<<<<<<<<<<<<"
    line2 = f"{dob}{check_digit(dob)}F{expiry}{check_digit(expiry)}UTO<<<<<<<<<<<0"
    return "\n".join([line1, with_composite(line1, line2), ICAO[2]])


@pytest.mark.parametrize(
    ("dob", "today", "expected"),
    [
        ("200101", "2025-06-01", "2020-01-01"),
        ("250601", "2025-06-01", "2025-06-01"),
        ("250602", "2025-06-01", "1925-06-02"),
        ("300101", "2025-06-01", "1930-01-01"),
        ("000229", "2025-06-01", "2000-02-29"),
        ("990101", "2025-06-01", "1999-01-01"),
    ],
)
def test_birth_century_in_the_past(dob, today, expected):
    assert parse_td1(
        _foreign(dob), today=date.fromisoformat(today)
    ).date_of_birth == date.fromisoformat(expected)


def test_birth_century_from_the_vietnamese_id():
    # a centenarian: "200101" alone reads as 2020, the ID's century digit 0 says 1920
    text = build_td1("001020012345", date(1920, 1, 1), "male", None, "AN")
    assert parse_td1(text, today=TODAY).date_of_birth == date(1920, 1, 1)
    text = build_td1("001220012345", date(2020, 1, 1), "male", date(2034, 1, 1), "AN")
    assert parse_td1(text, today=TODAY).date_of_birth == date(2020, 1, 1)


def test_expiry_century_follows_birth():
    td1 = parse_td1(_foreign("500101", "101231"), today=TODAY)
    assert td1.date_of_birth == date(1950, 1, 1) and td1.date_of_expiry == date(2010, 12, 31)


def test_mrz_error_is_invalid_input():
    with pytest.raises(InvalidInput):
        parse_td1("", today=TODAY)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n".join(VN[:2]),
        "\n".join([*VN, VN[2]]),
        "\n".join([VN[0][:-1], VN[1], VN[2]]),
        "\n".join([VN[0], VN[1] + "<", VN[2]]),
        "".join(VN)[:-1],
        "\n".join([VN[0], VN[1], VN[2].replace("<", " ")]),  # spaces inside count as characters
    ],
)
def test_bad_length(text):
    assert mrz_code(text)[0] == "bad_length"


@pytest.mark.parametrize(
    "text",
    [
        VN_TEXT.lower(),
        VN_TEXT.replace("NGUYEN", "NGUYỄN"[:6].ljust(6, "<")).replace("NGUYEN", "NGUYÊN"),
        VN_TEXT.replace("VAN<AN", "VAN AN"),
        VN_TEXT.replace("<<1", "<<?"),
    ],
)
def test_bad_charset(text):
    assert mrz_code(text)[0] == "bad_charset"


@pytest.mark.parametrize(
    ("line", "pos", "char", "field"),
    [
        (0, 14, "1", "document number"),
        (0, 7, "1", "document number"),
        (1, 6, "3", "date of birth"),
        (1, 2, "1", "date of birth"),
        (1, 14, "1", "date of expiry"),
        (1, 10, "1", "date of expiry"),
        (0, 29, "2", "ID number"),
        (0, 20, "9", "ID number"),
        (1, 29, "3", "composite"),
        (1, 7, "F", None),  # sex is outside every check digit
    ],
)
def test_check_digit_errors_name_the_field(line, pos, char, field):
    lines = list(VN)
    lines[line] = lines[line][:pos] + char + lines[line][pos + 1 :]
    text = "\n".join(lines)
    if field is None:
        assert parse_td1(text, today=TODAY).sex == "female"
        return
    code, message = mrz_code(text)
    assert code == "check_digit" and field in message


def test_bad_field_impossible_date():
    line2 = f"901345{check_digit('901345')}M3003150VNM<<<<<<<<<<<0"
    text = "\n".join([VN[0], with_composite(VN[0], line2), VN[2]])
    code, message = mrz_code(text)
    assert code == "bad_field" and "birth" in message


def test_bad_field_expiry_date():
    line2 = f"9003152M301332{check_digit('301332')}VNM<<<<<<<<<<<0"
    text = "\n".join([VN[0], with_composite(VN[0], line2), VN[2]])
    code, message = mrz_code(text)
    assert code == "bad_field" and "expiry" in message


def test_bad_field_sex():
    text = "\n".join([VN[0], VN[1][:7] + "Q" + VN[1][8:], VN[2]])
    assert mrz_code(text)[0] == "bad_field"


def test_check_digits_are_checked_before_field_values():
    line2 = f"901345{check_digit('901345')}M3003150VNM<<<<<<<<<<<0"  # composite left wrong
    text = "\n".join([VN[0], line2, VN[2]])
    assert mrz_code(text)[0] == "check_digit"


# --------------------------------------------------------------------------- names and build


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("NGUYỄN VĂN AN", "NGUYEN<<VAN<AN"),
        ("Đặng Thị Thu Hương", "DANG<<THI<THU<HUONG"),
        ("ĐỖ THỊ ÁNH-LAN", "DO<<THI<ANH<LAN"),
        ("H'HEN NIÊ", "HHEN<<NIE"),
        ("  LÊ   VĂN   TÁM  ", "LE<<VAN<TAM"),
        ("AN", "AN<<"),
        ("Bùi Văn Ánh", "BUI<<VAN<ANH"),
    ],
)
def test_mrz_name(name, field):
    assert mrz_name(name) == field.ljust(30, "<")


def test_long_name_is_cut_to_30():
    name = "TÔN NỮ HOÀNG PHƯƠNG THẢO NGUYÊN KHÁNH LINH"
    assert mrz_name(name) == "TON<<NU<HOANG<PHUONG<THAO<NGUY"
    assert len(mrz_name(name)) == 30


def test_transliterate():
    assert transliterate("Đường Số 7, Quận Gò Vấp") == "DUONG<SO<QUAN<GO<VAP"


def test_build_test_citizen_is_the_domain_example():
    assert td1_from_identity(TEST_CITIZEN) == VN_TEXT


def test_build_rejects_bad_input():
    with pytest.raises(InvalidInput):
        build_td1("12345", date(1990, 3, 15), "male", None, "AN")
    with pytest.raises(MrzError):
        build_td1("001090012345", date(1990, 3, 15), "other", None, "AN")
    with pytest.raises(MrzError):
        build_td1("001090012345", date(1990, 3, 15), "male", None, "AN", nationality="vn")
    with pytest.raises(MrzError):
        build_td1(
            "001090012345", date(1990, 3, 15), "male", None, "AN", document_number="0123456789"
        )


# --------------------------------------------------------------------------- properties

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + VIETNAMESE_LETTERS
names = st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=7), min_size=1, max_size=5).map(
    " ".join
)


@st.composite
def cards(draw):
    dob = draw(st.dates(date(1900, 1, 1), TODAY))
    issued = draw(st.dates(max(dob, date(2016, 1, 1)), max(dob, TODAY)))
    sex = draw(st.sampled_from(["male", "female"]))
    prefix = draw(st.integers(0, 999))
    id_number = f"{prefix:03d}{century_sex_digit(dob.year, sex)}{dob.year % 100:02d}"
    id_number += f"{draw(st.integers(0, 999_999)):06d}"
    return id_number, dob, sex, expiry_date(dob, issued), draw(names)


@settings(max_examples=300, deadline=None)
@given(cards())
def test_build_parse_round_trip(card):
    id_number, dob, sex, expiry, name = card
    text = build_td1(id_number, dob, sex, expiry, name)
    td1 = parse_td1(text, today=max(TODAY, dob))
    assert td1.id_number == id_number
    assert td1.document_number == id_number[3:]
    assert td1.date_of_birth == dob
    assert td1.sex == sex
    assert td1.date_of_expiry == expiry
    assert td1.document_code == "ID" and td1.issuing_state == td1.nationality == "VNM"
    full = mrz_name(name).rstrip("<")
    surname, _, given = full.partition("<<")
    assert td1.surname == surname.replace("<", " ")
    assert td1.given_names == given.replace("<", " ")
    assert build_td1(id_number, dob, sex, expiry, name) == text  # deterministic


@settings(max_examples=300, deadline=None)
@given(cards(), st.integers(0, 2), st.integers(0, 29), st.sampled_from("0123456789"))
def test_a_changed_digit_is_caught(card, line, pos, digit):
    text = build_td1(*card)
    lines = text.split("\n")
    old = lines[line][pos]
    protected = (line == 0 and 5 <= pos <= 29) or (line == 1 and pos != 7 and pos <= 29)
    if not (protected and old.isdigit() and old != digit):
        return
    lines[line] = lines[line][:pos] + digit + lines[line][pos + 1 :]
    with pytest.raises(MrzError) as info:
        parse_td1("\n".join(lines), today=TODAY)
    assert info.value.code == "check_digit"


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=120)
    | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<\n", max_size=100)
)
def test_any_text_gives_td1_or_mrz_error(text):
    try:
        td1 = parse_td1(text, today=TODAY)
    except MrzError as exc:
        assert exc.code in {"bad_length", "bad_charset", "check_digit", "bad_field"}
    else:
        assert td1.to_dict()["ok"] is True


MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
mrz_lines = st.text(alphabet=MRZ_ALPHABET, min_size=30, max_size=30)
six = st.text(alphabet="0123456789", min_size=6, max_size=6)


@settings(max_examples=300, deadline=None)
@given(mrz_lines, six, st.sampled_from(MRZ_ALPHABET), six, mrz_lines, st.dates())
def test_random_fields_with_valid_check_digits(line1, dob, sex, doe, line3, today):
    """Fields full of nonsense but with correct check digits reach the value checks."""
    docno = line1[5:14]
    line1 = line1[:14] + check_digit(docno) + line1[15:]
    line2 = f"{dob}{check_digit(dob)}{sex}{doe}{check_digit(doe)}UTO<<<<<<<<<<<0"
    text = "\n".join([line1, with_composite(line1, line2), line3])
    try:
        td1 = parse_td1(text, today=today)
    except MrzError as exc:
        assert exc.code in {"check_digit", "bad_field"}
    else:
        assert td1.date_of_birth <= today
        assert td1.date_of_expiry is None or td1.date_of_expiry > td1.date_of_birth
