"""The renewal rule: each milestone, the two-year window, the 14-year rule from 1 July 2024,
29 February birthdays."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cccd.expiry import add_years, expiry_date, is_expired, milestones

D = date.fromisoformat


def test_domain_example():
    assert expiry_date(D("1990-03-15"), D("2021-04-10")) == D("2030-03-15")


@pytest.mark.parametrize(
    ("dob", "issued", "expected"),
    [
        # milestone 25: cut-off 2013-03-15 (two years before the 25th birthday)
        ("1990-03-15", "2005-01-01", "2015-03-15"),
        ("1990-03-15", "2013-03-14", "2015-03-15"),
        ("1990-03-15", "2013-03-15", "2030-03-15"),  # on the cut-off day: inside the window
        ("1990-03-15", "2015-03-15", "2030-03-15"),
        # milestone 40: cut-off 2028-03-15
        ("1990-03-15", "2028-03-14", "2030-03-15"),
        ("1990-03-15", "2028-03-15", "2050-03-15"),
        ("1990-03-15", "2030-03-16", "2050-03-15"),
        # milestone 60: cut-off 2048-03-15; after it the card never expires
        ("1990-03-15", "2048-03-14", "2050-03-15"),
        ("1990-03-15", "2048-03-15", None),
        ("1960-03-15", "2021-04-10", None),
        ("1940-01-01", "2022-01-01", None),
    ],
)
def test_milestones_and_window(dob, issued, expected):
    assert expiry_date(D(dob), D(issued)) == (D(expected) if expected else None)


@pytest.mark.parametrize(
    ("dob", "issued", "expected"),
    [
        # 14 applies to cards issued from 1 July 2024 only
        ("2015-01-01", "2024-06-30", "2040-01-01"),
        ("2015-01-01", "2024-07-01", "2029-01-01"),
        ("2024-07-01", "2024-07-01", "2038-07-01"),  # issued on the day of birth
        # cut-off for 14 is the 12th birthday
        ("2015-06-01", "2027-05-31", "2029-06-01"),
        ("2015-06-01", "2027-06-01", "2040-06-01"),
        # a child born before 2010-07 gets 25 even from July 2024
        ("2010-01-01", "2024-07-01", "2035-01-01"),
    ],
)
def test_milestone_14(dob, issued, expected):
    assert expiry_date(D(dob), D(issued)) == D(expected)


def test_milestones_by_issue_date():
    assert milestones(D("2024-06-30")) == (25, 40, 60)
    assert milestones(D("2024-07-01")) == (14, 25, 40, 60)


@pytest.mark.parametrize(
    ("dob", "issued", "expected"),
    [
        # 29 February: 28 February in non-leap years
        ("2000-02-29", "2021-01-01", "2025-02-28"),
        ("2000-02-29", "2023-02-27", "2025-02-28"),
        ("2000-02-29", "2023-02-28", "2040-02-29"),  # cut-off 2023-02-28, leap milestone 2040
        ("2000-02-29", "2038-02-27", "2040-02-29"),
        ("2000-02-29", "2038-02-28", "2060-02-29"),  # cut-off = 2040-02-29 minus 2 y = 2038-02-28
        ("1964-02-29", "2021-01-01", "2024-02-29"),
        # cut-off year is a leap year but the milestone year is not: the cut-off is derived from
        # the milestone date 2030-02-28, so it is 2028-02-28, a day before the 29th
        ("2016-02-29", "2028-02-27", "2030-02-28"),
        ("2016-02-29", "2028-02-28", "2041-02-28"),
        ("2016-02-29", "2028-02-29", "2041-02-28"),
    ],
)
def test_29_february(dob, issued, expected):
    assert expiry_date(D(dob), D(issued)) == D(expected)


def test_add_years():
    assert add_years(D("2000-02-29"), 1) == D("2001-02-28")
    assert add_years(D("2000-02-29"), 4) == D("2004-02-29")
    assert add_years(D("2000-02-29"), -100) == D("1900-02-28")
    assert add_years(D("1990-03-15"), 25) == D("2015-03-15")


def test_is_expired():
    assert is_expired(D("2030-03-15"), D("2030-03-16"))
    assert not is_expired(D("2030-03-15"), D("2030-03-15"))
    assert not is_expired(None, D("2999-01-01"))


@settings(max_examples=300, deadline=None)
@given(st.dates(date(1900, 1, 1), date(2100, 1, 1)), st.integers(0, 100 * 366))
def test_expiry_properties(dob, age_days):
    issued = date.fromordinal(min(dob.toordinal() + age_days, date(2399, 1, 1).toordinal()))
    exp = expiry_date(dob, issued)
    if exp is None:
        # no milestone left: issued within two years of the 60th birthday or later
        assert issued >= add_years(add_years(dob, 60), -2)
        return
    age = exp.year - dob.year
    assert age in milestones(issued)
    assert exp == add_years(dob, age)  # the holder's birthday (28 Feb for 29 Feb)
    assert issued < add_years(exp, -2)  # issued before the window of that milestone
    for earlier in milestones(issued):  # and no earlier milestone qualified
        if earlier < age:
            assert issued >= add_years(add_years(dob, earlier), -2)
