"""When a card expires (DOMAIN.md section 4).

Cards are renewed at the milestone ages 25, 40 and 60, and also 14 for cards issued from
1 July 2024 (Law on Identification 2023). A card issued within two years before a milestone stays
valid until the next one. For each milestone M in ascending order: if
``issue_date < (DOB + M years) - 2 years`` the card expires on ``DOB + M years`` (the holder's
birthday in the milestone year); when no milestone qualifies the card never expires (MRZ
``991231``).

Edge-case choices (the official rule is silent on them):

* 29 February birthdays: in a non-leap year the birthday is 28 February, both for the expiry
  date and for the cut-off (the cut-off is computed from the milestone date, so a 29 February
  holder whose cut-off year is a leap year gets 28 February, one day before that birthday).
* A card issued exactly on the cut-off day is inside the two-year window, so it is valid until
  the next milestone (the rule's ``<`` is strict).
* A re-issued card cannot be told apart from a QR or an MRZ: the rule uses its issue date.
"""

from __future__ import annotations

from datetime import date

MILESTONES = (14, 25, 40, 60)
MILESTONE_14_FROM = date(2024, 7, 1)  # the 14-year milestone applies to cards issued from here
WINDOW_YEARS = 2


def add_years(d: date, years: int) -> date:
    """``d`` moved by whole years; 29 February becomes 28 February in a non-leap year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February -> non-leap year
        return d.replace(year=d.year + years, day=28)


def milestones(issue_date: date) -> tuple[int, ...]:
    """The renewal ages that apply to a card issued on ``issue_date``."""
    if issue_date >= MILESTONE_14_FROM:
        return MILESTONES
    return tuple(m for m in MILESTONES if m != 14)


def expiry_date(date_of_birth: date, issue_date: date) -> date | None:
    """The expiry date of a card, or None for a card that never expires."""
    for age in milestones(issue_date):
        milestone = add_years(date_of_birth, age)
        if issue_date < add_years(milestone, -WINDOW_YEARS):
            return milestone
    return None


def is_expired(expiry: date | None, today: date) -> bool:
    """A card is valid on its expiry day and expired from the day after; never if no expiry."""
    return expiry is not None and expiry < today
