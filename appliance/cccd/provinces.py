"""Province codes (the ID number's first three digits), from the package's provinces.csv.

The table is the 63 provinces as of 2016. The 2025 mergers did not change existing ID numbers,
so a prefix decodes to the province *at the time the birth was registered*.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

ABROAD_CODES = range(101, 296)  # 101-295: birth registered abroad (country code)


@cache
def provinces() -> dict[str, str]:
    """``{"001": "Hà Nội", ...}`` (3-digit code -> province name)."""
    text = resources.files(__package__).joinpath("provinces.csv").read_text(encoding="utf-8")
    return {row["code"]: row["province"] for row in csv.DictReader(io.StringIO(text))}


def province_name(code: str) -> str | None:
    """The province for a 3-digit code, or None when the code is not a province."""
    return provinces().get(code)


def is_abroad_code(code: str) -> bool:
    """True for a 3-digit code from 101 to 295 (birth registered abroad)."""
    return len(code) == 3 and code.isascii() and code.isdigit() and int(code) in ABROAD_CODES
