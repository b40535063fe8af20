"""Is the system clock synchronised? A Pi has no battery-backed clock.

Decisions that depend on today's date (expiry, retention, consent time) ask this and say so when
the answer is no, instead of guessing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

TIME_ERROR = 5  # adjtimex() return value: clock not synchronised
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")


def clock_synchronized() -> bool:
    """True when the kernel (or systemd-timesyncd) says the clock is synchronised.

    ``APPLIANCE_CLOCK_SYNCED=1|0`` overrides, for tests and for sites with a trusted RTC.
    """
    forced = os.environ.get("APPLIANCE_CLOCK_SYNCED")
    if forced is not None:
        return forced.lower() in ("1", "true", "yes")
    if TIMESYNCD_FLAG.exists():
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)  # struct timex; modes=0 reads without changing
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return False
    return state not in (-1, TIME_ERROR)
