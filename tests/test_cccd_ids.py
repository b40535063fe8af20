"""ID number structure, century/sex digit, masking, prefixes and the province table."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.cccd.errors import IdNumberError
from appliance.cccd.ids import (
    birth_registration,
    century_and_sex,
    century_sex_digit,
    expected_digits,
    is_id_number,
    mask_id,
    parse_id_number,
)
from appliance.cccd.provinces import is_abroad_code, province_name, provinces


def test_parse_id_number_parts():
    ident = parse_id_number("001090012345")
    assert ident.prefix == "001"
    assert ident.century_sex_digit == 0
    assert ident.year_digits == "90"
    assert ident.serial == "012345"
    assert ident.century == 1900 and ident.sex == "male" and ident.birth_year == 1990
    assert ident.document_number == "090012345"
    assert ident.birth_registration.to_dict() == {
        "kind": "province",
        "code": "001",
        "name": "Hà Nội",
    }


@pytest.mark.parametrize(
    "value",
    [
        "00109001234",
        "0010900123456",
        "00109001234a",
        "００１０９００１２３４５",
        "001090012345\n",
        "",
    ],
)
def test_bad_id_numbers(value):
    assert not is_id_number(value)
    with pytest.raises(IdNumberError) as info:
        parse_id_number(value)
    assert info.value.code == "bad_id_number"


@pytest.mark.parametrize(
    ("digit", "century", "sex"),
    [
        (0, 1900, "male"),
        (1, 1900, "female"),
        (2, 2000, "male"),
        (3, 2000, "female"),
        (4, 2100, "male"),
        (5, 2100, "female"),
        (6, 2200, "male"),
        (7, 2200, "female"),
        (8, 2300, "male"),
        (9, 2300, "female"),
    ],
)
def test_century_sex_digit_table(digit, century, sex):
    assert century_and_sex(digit) == (century, sex)
    assert century_sex_digit(century + 57, sex) == digit


def test_century_sex_digit_limits():
    with pytest.raises(ValueError):
        century_sex_digit(1899, "male")
    with pytest.raises(ValueError):
        century_sex_digit(2400, "female")
    with pytest.raises(ValueError):
        century_sex_digit(1990, "other")
    with pytest.raises(ValueError):
        century_and_sex(10)


def test_expected_digits_and_matches():
    assert expected_digits(date(1990, 3, 15), "male") == "090"
    assert expected_digits(date(2005, 1, 1), "female") == "305"
    assert expected_digits(date(1899, 1, 1), "male") is None
    ident = parse_id_number("001090012345")
    assert ident.matches(date(1990, 3, 15), "male")
    assert not ident.matches(date(1990, 3, 15), "female")
    assert not ident.matches(date(1991, 3, 15), "male")
    assert not ident.matches(date(2090, 3, 15), "male")


def test_mask_id():
    assert mask_id("001090012345") == "001******345"
    assert mask_id("123456") == "******"
    assert mask_id("1234567") == "123*567"


def test_province_table():
    table = provinces()
    assert len(table) == 63
    assert all(len(code) == 3 and code.isdigit() for code in table)
    assert province_name("001") == "Hà Nội"
    assert province_name("079") == "TP Hồ Chí Minh"
    assert province_name("096") == "Cà Mau"
    assert province_name("003") is None


@pytest.mark.parametrize(
    ("prefix", "kind", "name"),
    [
        ("001", "province", "Hà Nội"),
        ("046", "province", "Thừa Thiên Huế"),
        ("100", "unknown", None),
        ("101", "abroad", None),
        ("200", "abroad", None),
        ("295", "abroad", None),
        ("296", "unknown", None),
        ("000", "unknown", None),
        ("003", "unknown", None),
        ("999", "unknown", None),
    ],
)
def test_birth_registration(prefix, kind, name):
    place = birth_registration(prefix)
    assert (place.kind, place.code, place.name) == (kind, prefix, name)
    assert is_abroad_code(prefix) is (kind == "abroad")
