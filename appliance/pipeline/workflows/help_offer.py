"""Time for those who need it: offer help when a capture's guidance repeats without progress.

While a face or finger capture runs, :func:`capture_with_offer` forwards its live updates and
watches them. When ``[ui] help_after_s`` (default 15 s) has passed since the capture started, or
since it last made progress (a passing face frame, a finger accepted), it sends one live update::

    {"type": "help_offer", "seq": N, "kind": "face" | "finger", "skip": bool}

and the page offers "call staff" (the global ``help`` command) and, for a finger, "skip this
finger": the screen command ``skip``, accepted only after the offer, which ends the capture and
records the finger as ``unavailable``: the exception an enrolment officer would record.

Time comes from the kiosk's clock (``ui.clock``), so tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

SKIPPED = "skipped"  # what capture_with_offer returns when the citizen skipped the finger
POLL_S = 0.25


class HelpOffer:
    """Forwards live updates of ``kind`` and decides when to offer help."""

    def __init__(self, wf: Any, kind: str, update_kind: str, skip: bool) -> None:
        self.wf = wf
        self.kind = kind
        self.update_kind = update_kind
        self.skip = skip
        self.clock: Callable[[], float] = getattr(wf.ui, "clock", None) or wf.clock
        self.after_s = float(getattr(wf.cfg, "help_after_s", 15.0))
        self.since = self.clock()
        self.offered = False

    def update(self, payload: dict[str, Any]) -> None:
        self.wf.ui.update(self.update_kind, payload)
        if payload.get("verdict") == "pass" or payload.get("phase") == "done":
            self.since = self.clock()  # progress: the count starts again
        self.check()

    def check(self) -> None:
        if self.offered or self.clock() - self.since < self.after_s:
            return
        self.offered = True
        log.info("%s: no progress for %.0f s, help offered", self.kind, self.after_s)
        self.wf.ui.update("help_offer", {"kind": self.kind, "skip": self.skip})


async def capture_with_offer(
    wf: Any,
    capture: Callable[[Callable[[dict[str, Any]], None]], Awaitable[Any]],
    kind: str,
    update_kind: str,
    *,
    skip: bool = False,
) -> Any:
    """Run ``capture(update)``; returns its result, or :data:`SKIPPED` if the citizen skipped."""
    offer = HelpOffer(wf, kind, update_kind, skip)
    task = asyncio.ensure_future(capture(offer.update))
    waiter = asyncio.ensure_future(_skip_command(wf, offer)) if skip else None
    try:
        while True:
            pending = {task} | ({waiter} if waiter else set())
            await asyncio.wait(pending, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            if waiter is not None and waiter.done():
                log.info("%s skipped by the citizen after the help offer", kind)
                return SKIPPED
            offer.check()
    finally:
        for t in (task, waiter):
            if t is not None and not t.done():
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


async def _skip_command(wf: Any, offer: HelpOffer) -> None:
    while True:
        await wf.ui.command("skip")
        if offer.offered:  # a skip before the offer was not typed on an offer: ignore it
            return
