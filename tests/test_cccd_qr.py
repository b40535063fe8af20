"""QR payload parser: every field rule, every error code and their precedence, messy input."""

from __future__ import annotations

import itertools
import unicodedata
from datetime import date

import pytest
from cccd_expected import QR_EXPECTED

from appliance.cccd.errors import QR_ERROR_CODES
from appliance.cccd.qr import QrError, QrResult, build_payload, parse_qr
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.errors import InvalidInput

TODAY = date(2025, 6, 1)
FIELDS = TEST_QR_PAYLOAD.split("|")


def payload(**changes: str) -> str:
    """The test citizen's payload with fields replaced (``f0`` ... ``f6``)."""
    fields = list(FIELDS)
    for key, value in changes.items():
        fields[int(key[1:])] = value
    return "|".join(fields)


def code_of(text: str | bytes, today: date = TODAY) -> str:
    with pytest.raises(QrError) as info:
        parse_qr(text, today=today)
    return info.value.code


# --------------------------------------------------------------------------- success


def test_domain_example_gives_the_contract_object():
    assert parse_qr(TEST_QR_PAYLOAD, today=TODAY).to_dict() == QR_EXPECTED


def test_bytes_and_str_give_the_same_result():
    assert parse_qr(TEST_QR_PAYLOAD.encode(), today=TODAY) == parse_qr(TEST_QR_PAYLOAD, today=TODAY)


def test_result_types():
    r = parse_qr(TEST_QR_PAYLOAD, today=TODAY)
    assert isinstance(r, QrResult)
    assert r.date_of_birth == date(1990, 3, 15) and r.issue_date == date(2021, 4, 10)
    assert r.expiry_date == date(2030, 3, 15)


def test_build_payload_of_test_citizen_is_the_test_payload():
    assert build_payload(TEST_CITIZEN) == TEST_QR_PAYLOAD
    r = parse_qr(build_payload(TEST_CITIZEN), today=TODAY)
    for key in ("id_number", "old_id_number", "full_name", "sex", "address"):
        assert getattr(r, key) == TEST_CITIZEN[key]
    assert r.date_of_birth.isoformat() == TEST_CITIZEN["date_of_birth"]
    assert r.issue_date.isoformat() == TEST_CITIZEN["issue_date"]


def test_build_payload_with_old_id_and_female():
    identity = dict(TEST_CITIZEN, old_id_number="123456789", sex="female", id_number="001190012345")
    text = build_payload(identity)
    assert text.split("|")[1] == "123456789" and text.split("|")[4] == "Nữ"
    r = parse_qr(text, today=TODAY)
    assert r.old_id_number == "123456789" and r.sex == "female"


def test_qr_error_is_invalid_input():
    with pytest.raises(InvalidInput):
        parse_qr("nonsense")
    with pytest.raises(ValueError):
        parse_qr("nonsense")


def test_other_types_are_a_type_error():
    with pytest.raises(TypeError):
        parse_qr(12)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- messy input


@pytest.mark.parametrize(
    "text",
    [
        TEST_QR_PAYLOAD + "\r\n",
        TEST_QR_PAYLOAD + "\n",
        TEST_QR_PAYLOAD + "\r",
        "  " + TEST_QR_PAYLOAD + " \t\r\n",
        "\ufeff" + TEST_QR_PAYLOAD,
        unicodedata.normalize("NFD", TEST_QR_PAYLOAD),
        payload(f4="NAM"),
        payload(f4="nam"),
        payload(f2=" NGUYỄN  VĂN   AN "),
        payload(f5="Số 1 Phố X,  Phường Y, Quận Z, Hà Nội "),
    ],
)
def test_messy_input_is_forgiven(text):
    assert parse_qr(text, today=TODAY).to_dict() == QR_EXPECTED
    assert parse_qr(text.encode("utf-8"), today=TODAY).to_dict() == QR_EXPECTED


def test_nfd_output_is_nfc():
    r = parse_qr(unicodedata.normalize("NFD", TEST_QR_PAYLOAD), today=TODAY)
    assert unicodedata.is_normalized("NFC", r.full_name) and r.full_name == "NGUYỄN VĂN AN"


@pytest.mark.parametrize("sex", ["Nữ", "nữ", "NỮ", unicodedata.normalize("NFD", "NỮ")])
def test_female_any_case(sex):
    r = parse_qr(payload(f0="001190012345", f4=sex), today=TODAY)
    assert r.sex == "female"


def test_old_id_number():
    assert parse_qr(payload(f1="012345678"), today=TODAY).old_id_number == "012345678"


def test_empty_address_is_accepted():
    assert parse_qr(payload(f5=""), today=TODAY).address == ""


@pytest.mark.parametrize(
    "name",
    ["H'HEN NIÊ", "Y MOAN ÊNUÔL", "ĐỖ THỊ ÁNH-LAN", "Đặng Thị Thu Hương", "MA SEO CHỨ"],
)
def test_vietnamese_names_are_text(name):
    assert parse_qr(payload(f2=name), today=TODAY).full_name == name


def test_address_punctuation_is_text():
    address = "Tổ 5 (cũ), Khu phố 2/3; Số 12A-14, P.Đông Hòa: Dĩ An & Bình Dương #7"
    assert parse_qr(payload(f5=address), today=TODAY).address == address


# --------------------------------------------------------------------------- derived fields


@pytest.mark.parametrize(
    ("prefix", "expected", "warnings"),
    [
        ("079", {"kind": "province", "code": "079", "name": "TP Hồ Chí Minh"}, []),
        ("101", {"kind": "abroad", "code": "101", "name": None}, []),
        ("295", {"kind": "abroad", "code": "295", "name": None}, []),
        ("003", {"kind": "unknown", "code": "003", "name": None}, ["unknown_birth_code"]),
        ("100", {"kind": "unknown", "code": "100", "name": None}, ["unknown_birth_code"]),
        ("296", {"kind": "unknown", "code": "296", "name": None}, ["unknown_birth_code"]),
    ],
)
def test_birth_registration(prefix, expected, warnings):
    r = parse_qr(payload(f0=prefix + "090012345"), today=TODAY).to_dict()
    assert r["birth_registration"] == expected
    assert r["warnings"] == warnings


def test_expired_card_is_ok_with_warning():
    r = parse_qr(TEST_QR_PAYLOAD, today=date(2030, 3, 16)).to_dict()
    assert r["ok"] is True and r["expired"] is True and r["warnings"] == ["expired"]


def test_card_is_valid_on_its_expiry_day():
    r = parse_qr(TEST_QR_PAYLOAD, today=date(2030, 3, 15))
    assert r.expired is False and r.warnings == ()


def test_warning_order_unknown_birth_code_then_expired():
    r = parse_qr(payload(f0="003090012345"), today=date(2031, 1, 1))
    assert r.warnings == ("unknown_birth_code", "expired")


def test_never_expiring_card():
    # born 1960, issued 2021 at 61: no milestone left
    r = parse_qr(payload(f0="001060012345", f3="15031960"), today=TODAY).to_dict()
    assert r["expiry_date"] is None and r["expired"] is False
    assert r["bac"] == {
        "document_number": "060012345",
        "date_of_birth": "600315",
        "date_of_expiry": "991231",
    }


def test_child_card_from_july_2024_expires_at_14():
    r = parse_qr(payload(f0="001315012345", f3="01012015", f4="Nữ", f6="01072024"), today=TODAY)
    assert r.expiry_date == date(2029, 1, 1)


def test_born_2000s_male_digit_2():
    r = parse_qr(payload(f0="001205012345", f3="01012005", f6="01072021"), today=TODAY)
    assert r.sex == "male" and r.date_of_birth == date(2005, 1, 1)


def test_issue_on_birth_day_and_on_today():
    assert parse_qr(payload(f0="001225012345", f3="01062025", f6="01062025"), today=TODAY)


def test_default_today_is_the_system_date():
    r = parse_qr(payload(f6="01012021"))
    assert r.expired is (r.expiry_date < date.today())


# --------------------------------------------------------------------------- unknown layout


@pytest.mark.parametrize(
    "text",
    [
        "001090012345|123456789|NGUYỄN VĂN AN|15031990|Nam|Hà Nội|10042021|CHA|MẸ",
        "001090012345|x|y",
        "001090012345",
        "001090012345|||||||||||",
    ],
)
def test_unknown_layout(text):
    r = parse_qr(text, today=TODAY).to_dict()
    assert r == {
        "ok": True,
        "layout": "unknown",
        "id_number": "001090012345",
        "old_id_number": None,
        "full_name": None,
        "date_of_birth": None,
        "sex": None,
        "address": None,
        "issue_date": None,
        "expiry_date": None,
        "expired": None,
        "birth_registration": {"kind": "province", "code": "001", "name": "Hà Nội"},
        "bac": None,
        "warnings": ["unknown_layout"],
    }


def test_unknown_layout_with_unknown_prefix():
    r = parse_qr("999090012345|a|b", today=TODAY)
    assert r.warnings == ("unknown_layout", "unknown_birth_code")
    assert r.birth_registration.kind == "unknown"


# --------------------------------------------------------------------------- each error code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \r\n",
        "hello",
        "00109001234|||||",
        "NGUYỄN VĂN AN|15031990",
        "001090012345X|a",
        "|".join(FIELDS[:6]).replace("001090012345", "abc"),
        "|".join([*FIELDS, "extra"]).replace("001090012345", "00109001234"),
        b"\xff\xfe001090012345||A|15031990|Nam|B|10042021",
        TEST_QR_PAYLOAD.encode("utf-16"),
        TEST_QR_PAYLOAD.encode("utf-8")[:-1] + b"\x80",
    ],
)
def test_malformed(text):
    assert code_of(text) == "malformed"


@pytest.mark.parametrize(
    "value",
    [
        "00109001234",
        "0010900123456",
        "00109001234X",
        "001090012345 ",
        "٠٠١٠٩٠٠١٢٣٤٥",
        "",
        "001O90012345",
    ],
)
def test_bad_id_number(value):
    assert code_of(payload(f0=value)) == "bad_id_number"


@pytest.mark.parametrize("value", ["12345678", "1234567890", "12345678X", " ", "001090012345"])
def test_bad_old_id_number(value):
    assert code_of(payload(f1=value)) == "bad_old_id_number"


@pytest.mark.parametrize("value", ["", " ", "    "])
def test_empty_name(value):
    assert code_of(payload(f2=value)) == "empty_name"


@pytest.mark.parametrize(
    "changes",
    [
        {"f2": "Bﾃｹi Vﾄハ ﾃ］h"},  # zbar's Shift-JIS guess for "Bùi Văn Ánh"
        {"f5": "Bﾃｹi Vﾄハ ﾃ］h"},
        {"f2": "NGUYỄN\tVĂN AN"},
        {"f2": "NGUYEN VAN AN\x00"},
        {"f2": "NGUYỄN VĂN AN \u4e2d"},
        {"f2": "NGUYEN VAN Ａ"},
        {"f2": "NGUYEN VAN A\u0301\u0301"},  # a combining mark NFC cannot absorb
        {"f5": "Hà Nội\ufffd"},
        {"f5": "Ha Noi 😀"},
        {"f2": "MÜLLER"},
    ],
)
def test_bad_text(changes):
    assert code_of(payload(**changes)) == "bad_text"


def test_bad_text_message_names_zbar_binary_mode():
    with pytest.raises(QrError) as info:
        parse_qr(payload(f2="Bﾃｹi Vﾄハ ﾃ］h"), today=TODAY)
    assert "Shift-JIS" in info.value.message


@pytest.mark.parametrize(
    "changes",
    [
        {"f3": "32011990"},
        {"f3": "15131990"},
        {"f3": "29021990"},
        {"f3": "1503199"},
        {"f3": "15-03-1990"},
        {"f3": ""},
        {"f3": "00000000"},
        {"f6": "31042021"},
        {"f6": "2021-04-10"},
        {"f6": "1004202１"},
        {"f6": ""},
    ],
)
def test_bad_date(changes):
    assert code_of(payload(**changes)) == "bad_date"


def test_29_february_in_a_leap_year_is_a_real_date():
    r = parse_qr(payload(f0="001200012345", f3="29022000", f6="01072021"), today=TODAY)
    assert r.date_of_birth == date(2000, 2, 29)


@pytest.mark.parametrize("value", ["", "M", "male", "Nu", "Nư", "Nam ", "N", "Nữa", "Ná"])
def test_bad_sex(value):
    assert code_of(payload(f4=value)) == "bad_sex"


@pytest.mark.parametrize(
    "changes",
    [
        {"f0": "001190012345"},  # female digit, male holder
        {"f4": "Nữ"},  # female holder, male digit
        {"f0": "001091012345"},  # year digits 91, born 1990
        {"f0": "001290012345"},  # 2000s digit, born 1990
        {"f3": "15032090", "f6": "10042021"},  # born 2090 (after issue too)
        {"f0": "001890012345"},  # 2300s
        {"f3": "15031890"},  # before 1900: no century digit
    ],
)
def test_id_mismatch(changes):
    assert code_of(payload(**changes)) == "id_mismatch"


def test_date_order_issued_before_birth():
    assert code_of(payload(f6="14031990")) == "date_order"


def test_date_order_issued_after_today():
    assert code_of(TEST_QR_PAYLOAD, today=date(2021, 4, 9)) == "date_order"
    assert parse_qr(TEST_QR_PAYLOAD, today=date(2021, 4, 10)).issue_date == date(2021, 4, 10)


def test_every_code_is_tested_above():
    assert set(QR_ERROR_CODES) == {
        "malformed",
        "bad_id_number",
        "bad_old_id_number",
        "empty_name",
        "bad_text",
        "bad_date",
        "bad_sex",
        "id_mismatch",
        "date_order",
    }


# --------------------------------------------------------------------------- precedence

# Ways to cause each code (field changes; "today" makes the issue date lie in the future).
BREAKERS: dict[str, list[dict[str, str]]] = {
    "bad_id_number": [{"f0": "00109001234X"}, {"f0": "0010900123"}],
    "bad_old_id_number": [{"f1": "12345"}],
    "empty_name": [{"f2": ""}],
    "bad_text": [{"f5": "Bﾃｹi"}, {"f2": "Bﾃｹi Vﾄハ ﾃ］h"}],
    "bad_date": [{"f3": "30021990"}, {"f6": "31022021"}],
    "bad_sex": [{"f4": "Nu"}],
    "id_mismatch": [{"f0": "001190012345"}, {"f4": "Nữ"}, {"f3": "15031991"}],
    "date_order": [{"today": "2021-01-01"}, {"f6": "01011980"}],
}
ORDER = list(BREAKERS)


def _apply(*breaks: dict[str, str]) -> tuple[str, date]:
    merged: dict[str, str] = {}
    for b in breaks:
        merged.update(b)
    today = date.fromisoformat(merged.pop("today", TODAY.isoformat()))
    return payload(**merged), today


def test_order_matches_the_contract():
    assert list(QR_ERROR_CODES[1:]) == ORDER


@pytest.mark.parametrize("code", ORDER)
def test_each_breaker_alone(code):
    for b in BREAKERS[code]:
        text, today = _apply(b)
        assert code_of(text, today) == code, b


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(ORDER, 2)))
def test_pairwise_precedence(first, second):
    tried = 0
    for a, b in itertools.product(BREAKERS[first], BREAKERS[second]):
        if set(a) & set(b):
            continue  # both change the same field: not two errors at once
        tried += 1
        text, today = _apply(a, b)
        assert code_of(text, today) == first, (a, b)
    assert tried, "no disjoint pair of breakers"


def test_peeling_all_errors_one_by_one():
    chosen = {
        "bad_id_number": {"f0": "00109001234X"},
        "bad_old_id_number": {"f1": "12345"},
        "empty_name": {"f2": ""},
        "bad_text": {"f5": "Bﾃｹi"},
        "bad_date": {"f6": "31022021"},
        "bad_sex": {"f4": "Nu"},
        "id_mismatch": {"f3": "15031991"},
        "date_order": {"today": "2021-01-01"},
    }
    seen = []
    remaining = dict(chosen)
    while remaining:
        text, today = _apply(*remaining.values())
        seen.append(code_of(text, today))
        remaining.pop(seen[-1])
    assert seen == ORDER


def test_malformed_beats_everything():
    # not 7 fields and no 12-digit first field: every other problem is irrelevant
    text = "|".join(["0010900123", "1", "", "Bﾃｹi", "32131990", "X"])
    assert code_of(text) == "malformed"
