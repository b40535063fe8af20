"""The simulated QR scanner: payloads from a file or the test citizen's, or injected by the demo."""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

from appliance.citizen import TEST_QR_PAYLOAD
from appliance.errors import DeviceUnavailable
from appliance.hal.base import QrScanner
from appliance.hal.sim import SimFaults


class SimQrScanner(SimFaults, QrScanner):
    """Payloads from ``sim_payloads`` (one per line, UTF-8) or the test citizen's, in turn.

    One payload every ``sim_interval_s`` (0: only what ``inject`` queues).
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._queue: deque[bytes] = deque()
        self._ready = threading.Condition()
        self._payloads: list[bytes] = []
        self._next = 0
        self._due = 0.0

    def open(self) -> None:
        self._open_or_fail()
        if self.cfg.sim_payloads:
            path = Path(self.cfg.sim_payloads)
            try:
                lines = path.read_bytes().splitlines()
            except OSError as exc:
                raise DeviceUnavailable(
                    f"cannot read sim_payloads {path}: {exc.strerror}"
                ) from None
            self._payloads = [line for line in lines if line.strip()]
        else:
            self._payloads = [TEST_QR_PAYLOAD.encode()]
        self._due = time.monotonic() + self.cfg.sim_interval_s

    def location(self) -> str:
        return str(self.cfg.sim_payloads or "built-in test citizen")

    def inject(self, payload: bytes) -> None:
        """Queue a payload as if it had just been scanned."""
        with self._ready:
            self._queue.append(payload)
            self._ready.notify_all()

    def read(self, timeout: float) -> bytes | None:
        self._require_open()
        self._maybe_timeout("QR scanner", timeout)
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                if self._queue:
                    return self._queue.popleft()
                now = time.monotonic()
                auto = self.cfg.sim_interval_s > 0 and self._payloads
                if auto and now >= self._due:
                    self._due = now + self.cfg.sim_interval_s
                    payload = self._payloads[self._next % len(self._payloads)]
                    self._next += 1
                    return payload
                wake = min(deadline, self._due) if auto else deadline
                if now >= deadline:
                    return None
                self._ready.wait(max(0.0, wake - now))

    def probe(self) -> str:
        self._maybe_timeout("QR scanner", 1.0)
        return f"{len(self._payloads)} payload(s) ready"
