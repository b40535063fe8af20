"""Property tests: any input gives a result or a QrError; valid payloads parse back exactly."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cccd.ids import century_sex_digit
from appliance.cccd.provinces import provinces
from appliance.cccd.qr import VIETNAMESE_LETTERS, QrError, QrResult, build_payload, parse_qr
from appliance.citizen import TEST_QR_PAYLOAD

TODAY = date(2026, 1, 1)
SETTINGS = settings(max_examples=300, deadline=None)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + VIETNAMESE_LETTERS
words = st.text(alphabet=LETTERS, min_size=1, max_size=8)
names = st.lists(words, min_size=1, max_size=5).map(" ".join)
address_parts = st.text(alphabet=LETTERS + "0123456789/-.'()", min_size=1, max_size=10)
addresses = st.lists(address_parts, min_size=0, max_size=6).map(", ".join)
prefixes = st.one_of(
    st.sampled_from(sorted(provinces())),
    st.integers(101, 295).map("{:03d}".format),
    st.integers(0, 999).map("{:03d}".format),
)


@st.composite
def identities(draw) -> dict:
    dob = draw(st.dates(date(1900, 1, 1), TODAY))
    issued = draw(st.dates(dob, TODAY))
    sex = draw(st.sampled_from(["male", "female"]))
    digits = f"{century_sex_digit(dob.year, sex)}{dob.year % 100:02d}"
    return {
        "id_number": draw(prefixes) + digits + f"{draw(st.integers(0, 999_999)):06d}",
        "old_id_number": draw(st.none() | st.integers(0, 10**9 - 1).map("{:09d}".format)),
        "full_name": draw(names),
        "date_of_birth": dob.isoformat(),
        "sex": sex,
        "address": draw(addresses),
        "issue_date": issued.isoformat(),
    }


def _parses_or_qr_error(payload) -> None:
    try:
        result = parse_qr(payload, today=TODAY)
    except QrError as exc:
        assert exc.code in {
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
        assert exc.message
    else:
        assert isinstance(result, QrResult)
        assert result.to_dict()["ok"] is True


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes(data):
    _parses_or_qr_error(data)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text(text):
    _parses_or_qr_error(text)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.text(max_size=15),
            st.text(alphabet="0123456789", max_size=13),
            st.sampled_from(["Nam", "Nữ", "001090012345", "15031990", "29022000", ""]),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_any_fields(fields):
    _parses_or_qr_error("|".join(fields))


@SETTINGS
@given(st.integers(0, 6), st.text(max_size=20))
def test_one_field_replaced(index, value):
    fields = TEST_QR_PAYLOAD.split("|")
    fields[index] = value
    _parses_or_qr_error("|".join(fields))


@SETTINGS
@given(identities(), st.sampled_from(["", "\r\n", "\n", " \r\n"]), st.booleans())
def test_valid_payload_parses_back(identity, tail, nfd):
    text = build_payload(identity) + tail
    if nfd:
        text = unicodedata.normalize("NFD", text)
    r = parse_qr(text.encode("utf-8"), today=TODAY)
    assert r.layout == "cccd-2021"
    assert r.id_number == identity["id_number"]
    assert r.old_id_number == identity["old_id_number"]
    assert r.full_name == identity["full_name"]
    assert r.address == identity["address"]
    assert r.sex == identity["sex"]
    assert r.date_of_birth.isoformat() == identity["date_of_birth"]
    assert r.issue_date.isoformat() == identity["issue_date"]
    assert r.bac.document_number == identity["id_number"][3:]
    assert r.bac.date_of_birth == r.date_of_birth.strftime("%y%m%d")
    if r.expiry_date is None:
        assert r.bac.date_of_expiry == "991231" and r.expired is False
    else:
        assert r.expiry_date > r.issue_date
        assert r.expired is (r.expiry_date < TODAY)
        assert ("expired" in r.warnings) is r.expired
    assert ("unknown_birth_code" in r.warnings) is (r.birth_registration.kind == "unknown")


@SETTINGS
@given(identities(), st.integers(1, 365 * 3))
def test_issue_date_in_the_future_is_date_order(identity, days):
    issued = date.fromisoformat(identity["issue_date"])
    try:
        parse_qr(build_payload(identity), today=issued - timedelta(days=days))
    except QrError as exc:
        assert exc.code == "date_order"
    else:
        raise AssertionError("an issue date after today was accepted")
