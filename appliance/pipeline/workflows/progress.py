"""A progress bar that always moves and never leaps, fed by stage reports.

The chip read reports at stage boundaries (access control, each file, authentication), and the
stages take very different times on different cards: reported as they come, the bar sat at 0%
for the two seconds of BAC and then leapt from 27% to 90% when the photo arrived in one piece
(issue #17). :class:`SmoothProgress` shows instead, on every tick, a value that creeps towards
the end of the current stage while nothing is reported, and climbs at most ``max_step`` per tick
towards what was reported. It never goes back and never passes what is known to be done plus
the current stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

TICK_S = 0.2
MAX_STEP = 0.06  # per tick: 30% a second at most
CREEP = 0.12  # share of the gap to the stage's end covered per tick while waiting


class SmoothProgress:
    def __init__(
        self, emit: Callable[[float], None], *, max_step: float = MAX_STEP, creep: float = CREEP
    ) -> None:
        self.emit = emit
        self.max_step = max_step
        self.creep = creep
        self.done = 0.0  # reported as finished
        self.ceiling = 0.0  # the end of the stage in progress
        self.shown = 0.0

    def report(self, value: float, ceiling: float | None = None) -> None:
        """``value`` is done (0..1); the stage now running ends at ``ceiling``."""
        self.done = max(self.done, min(1.0, value))
        self.ceiling = max(self.ceiling, self.done, min(1.0, ceiling if ceiling else 0.0))

    def tick(self) -> None:
        if self.shown < self.done:
            target = self.done
        else:  # nothing new: creep into the current stage, never reaching its end
            target = self.shown + (self.ceiling - self.shown) * self.creep
        nxt = min(target, self.shown + self.max_step, max(self.done, self.ceiling - 0.005))
        if nxt > self.shown + 0.0005:
            self.shown = nxt
            self.emit(round(nxt, 3))

    def finish(self) -> None:
        """Done: 100% (the result screen replaces the bar at once)."""
        self.done = self.ceiling = self.shown = 1.0
        self.emit(1.0)


async def smoothed(
    progress: Callable[[float], None],
    first_ceiling: float,
    run: Callable[[Callable[[float], None], Callable[[float], None]], Awaitable[Any]],
) -> Any:
    """Await ``run(report, stage_end)`` (its callbacks may come from a worker thread) while
    ``progress`` gets a :class:`SmoothProgress` bar every :data:`TICK_S`; 1.0 at the end."""
    loop = asyncio.get_running_loop()
    smooth = SmoothProgress(progress)

    def report(value: float) -> None:
        loop.call_soon_threadsafe(smooth.report, float(value))

    def stage_end(value: float) -> None:
        loop.call_soon_threadsafe(smooth.report, 0.0, float(value))

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            smooth.tick()

    smooth.report(0.0, first_ceiling)
    ticks = asyncio.create_task(ticker())
    try:
        result = await run(report, stage_end)
    finally:
        ticks.cancel()
    smooth.finish()
    return result
