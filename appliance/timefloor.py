"""A date the kiosk knows it is not before, for judging expiry on a clock that is not synchronised.

A Pi has no battery-backed clock and may stay offline for weeks: after a power cut its clock can
say 1970, or whatever the last shutdown saved. Without a trusted date, "has this card expired?"
cannot be answered from the clock, but it can be answered *against a floor*: today is certainly
not earlier than

* the last time the clock was synchronised (kept in ``STATE_DIR/time-floor.json``),
* the date the image was built (``/etc/appliance/build-date``, ``YYYY-MM-DD``, written by the
  image build) and the date this software was released (:data:`SOFTWARE_DATE`),
* the latest issue date printed on cards seen here, once :data:`CARDS_NEEDED` different cards
  show it (one forged QR cannot push the floor forward), and never more than
  :data:`MAX_CARD_STEP_DAYS` past the current floor at once.

A card whose expiry date is before the floor has certainly expired; one after it may or may not
have, and the screens say the clock is not synchronised. Card keys are held in memory only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from appliance.clock import clock_synchronized

log = logging.getLogger(__name__)

FLOOR_FILE = "time-floor.json"
BUILD_DATE_FILE = Path("/etc/appliance/build-date")
SOFTWARE_DATE = date(2026, 12, 1)  # this version did not exist before: the floor of last resort
CARDS_NEEDED = 2
MAX_CARD_STEP_DAYS = 366


def read_build_date(path: Path = BUILD_DATE_FILE) -> date | None:
    """The image build date, or None when the file is absent or not a date."""
    try:
        return date.fromisoformat(path.read_text().strip()[:10])
    except (OSError, ValueError):
        return None


class TimeFloor:
    """The persisted floor and the judgement of expiry against it."""

    def __init__(
        self,
        state_dir: str | Path | None,
        *,
        build_date_file: Path = BUILD_DATE_FILE,
        synced: Callable[[], bool] = clock_synchronized,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.path = Path(state_dir) / FLOOR_FILE if state_dir is not None else None
        self._synced = synced
        self._today = today
        self._lock = threading.Lock()
        self.base = max(SOFTWARE_DATE, read_build_date(build_date_file) or SOFTWARE_DATE)
        self.kept: date | None = None  # from the file: the last synchronised day or card floor
        self.source = "build"
        self._cards: dict[str, date] = {}  # card key -> issue date (memory only)
        self._load()

    # --- the floor ------------------------------------------------------------------------------

    def floor(self) -> date:
        return max(self.base, self.kept) if self.kept else self.base

    def synced(self) -> bool:
        try:
            return bool(self._synced())
        except Exception:  # a clock we cannot ask is a clock we cannot trust
            return False

    def note_clock(self, today: date) -> None:
        """The clock is synchronised and says ``today``: keep it as the floor for the next boot."""
        self._raise(today, "clock")

    def today(self) -> tuple[date, bool]:
        """(the date to judge by, whether it is the synchronised clock's)."""
        if self.synced():
            today = self._today()
            self.note_clock(today)
            return today, True
        return self.floor(), False

    def expired(self, expiry: date | None) -> bool | None:
        """True: certainly expired; False: certainly valid (synchronised clock); None: the clock
        is not synchronised and the expiry is on or after the floor, so it cannot be said."""
        if expiry is None:
            return False
        today, synced = self.today()
        if expiry < today:
            return True
        return False if synced else None

    def saw_card(self, card_key: str, issued: date | None) -> None:
        """A card's issue date was read: the floor may move up to it (see the module doc)."""
        if issued is None:
            return
        with self._lock:
            self._cards[card_key] = issued
            if len(self._cards) > 64:  # the latest few are all that matter
                for key, _ in sorted(self._cards.items(), key=lambda kv: kv[1])[:32]:
                    del self._cards[key]
            dates = sorted(self._cards.values(), reverse=True)
        if len(dates) < CARDS_NEEDED:
            return
        candidate = dates[CARDS_NEEDED - 1]  # shown by at least CARDS_NEEDED different cards
        if candidate > self.floor() + timedelta(days=MAX_CARD_STEP_DAYS):
            log.warning("card issue date %s is far past the time floor %s: ignored", candidate,
                        self.floor())  # fmt: skip
            return
        self._raise(candidate, "card")

    def status(self) -> dict[str, Any]:
        """For screens and /healthz: is the clock synchronised, and the floor."""
        return {"synced": self.synced(), "floor": self.floor().isoformat(), "source": self.source}

    # --- persistence ----------------------------------------------------------------------------

    def _raise(self, day: date, source: str) -> None:
        with self._lock:
            if day <= self.floor():
                return
            self.kept, self.source = day, source
        self._save()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text())
            self.kept = date.fromisoformat(str(data["floor"]))
            self.source = str(data.get("source", "clock"))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("time floor %s unreadable (%s): using the build date", self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"floor": self.floor().isoformat(), "source": self.source})
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot keep the time floor in %s: %s", self.path, exc.strerror)


_shared: dict[str, TimeFloor] = {}


def time_floor(state_dir: str | Path) -> TimeFloor:
    """The process's floor for ``state_dir`` (the gate and the workflows share one)."""
    key = str(Path(state_dir).resolve())
    if key not in _shared:
        _shared[key] = TimeFloor(state_dir)
    return _shared[key]
