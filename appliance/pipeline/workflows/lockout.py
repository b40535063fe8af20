"""Wrong operator PINs: a lockout that grows with each one and survives a restart.

After ``max_attempts`` wrong PINs in a row the operator screens lock for ``base_s``; every further
lockout (without a right PIN in between) doubles it, up to ``max_s``. The count and the end of
the lockout are kept in ``STATE_DIR/pin-lockout.json`` (written atomically), so pulling the plug
or restarting the service does not give a fresh set of guesses. Times are wall-clock (a restart
loses the monotonic clock); a lockout end further away than ``max_s`` (the clock jumped back)
counts as ``max_s`` from now.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

LOCKOUT_FILE = "pin-lockout.json"
MAX_LOCKOUT_S = 24 * 3600.0


class PinLockout:
    def __init__(
        self,
        path: Path | None,
        max_attempts: int,
        base_s: float,
        *,
        max_s: float = MAX_LOCKOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.max_s = max(max_s, base_s)
        self.clock = clock
        self.failures = 0  # wrong PINs since the last lockout or right PIN
        self.lockouts = 0  # lockouts in a row
        self.locked_until = 0.0
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text())
            self.failures = max(0, int(data["failures"]))
            self.lockouts = max(0, int(data["lockouts"]))
            self.locked_until = float(data["locked_until"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:  # damaged: assume the worst
            log.warning("PIN lockout state %s unreadable (%s): locking", self.path, exc)
            self.lockouts = max(self.lockouts, 1)
            self.locked_until = self.clock() + self.base_s

    def _save(self) -> None:
        if self.path is None:
            return
        body = {
            "failures": self.failures,
            "lockouts": self.lockouts,
            "locked_until": self.locked_until,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as fh:
                json.dump(body, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot keep the PIN lockout state in %s: %s", self.path, exc.strerror)

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.failures)

    def remaining_s(self) -> float:
        """Seconds the lockout still runs (0: not locked)."""
        left = self.locked_until - self.clock()
        return 0.0 if left <= 0 else min(left, self.max_s)

    def failed(self) -> bool:
        """Count a wrong PIN; True when it starts a lockout."""
        self.failures += 1
        locking = self.failures >= self.max_attempts
        if locking:
            duration = min(self.max_s, self.base_s * 2 ** min(self.lockouts, 32))
            self.lockouts += 1
            self.failures = 0
            self.locked_until = self.clock() + duration
            log.warning("operator PIN locked for %.0f s (lockout %d)", duration, self.lockouts)
        self._save()
        return locking

    def succeeded(self) -> None:
        self.failures = self.lockouts = 0
        self.locked_until = 0.0
        self._save()
