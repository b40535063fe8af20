"""The state-machine engine every kiosk workflow runs on.

A workflow is a class with a table of :class:`State` entries and one ``on_<state>`` coroutine per
state. The coroutine shows its screen, waits for the citizen or a device (through one adapter call
or one UI command) and returns the name of the next state. The engine enforces the table: every
state has a timeout (a ``[ui]`` config key), a timeout leads to ``on_timeout``, a handler may only
return a state listed in ``goes_to``, and a :class:`StepError` leads to the common ``error`` state,
whose retry goes back to where the error happened. When a workflow ends, for whatever reason
(done, declined, timeout, cancelled), its session is wiped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from appliance.errors import ApplianceError
from appliance.pipeline.workflows.speech_keys import speech_for
from appliance.store.heartbeat import count_outcome

log = logging.getLogger(__name__)

END = "end"
ERROR = "error"

# Friendly error screens (i18n keys error.<kind>.*). Every StepError has one of these kinds.
ERROR_KINDS = (
    "device_unavailable",  # a device is absent or unplugged
    "card_unreadable",  # the chip could not be read (moved away, damaged, unknown chip)
    "wrong_key",  # the chip refused the key from the QR or the typed dates
    "invalid_qr",  # the QR is not a CCCD QR
    "timeout",  # nobody answered, or a device took too long
    "capture_failed",  # no good enough face or finger after every attempt
    "save_failed",  # the record could not be saved
    "not_available",  # the function is not installed on this kiosk
)


class StepError(ApplianceError):
    """A step failed in a way the citizen is told about on a friendly error screen.

    ``kind`` is one of :data:`ERROR_KINDS`; ``detail`` a machine code shown small for staff
    (``QrError.code``, a device name); ``retry`` the state the retry button goes to (default: the
    state that failed); ``device`` the device kind involved, when one is.
    """

    code = "step_failed"

    def __init__(
        self,
        kind: str,
        message: str = "",
        *,
        detail: str | None = None,
        retry: str | None = None,
        device: str | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message or kind)
        self.kind = kind
        self.detail = detail
        self.retry = retry
        self.device = device


@dataclass(frozen=True, slots=True)
class State:
    """One row of a workflow's state table.

    ``timeout`` names the ``[ui]`` key holding the state's time limit (None only for a state
    that runs a child workflow, whose own states are limited). ``resets_on_touch``: any touch or
    command restarts the count (screens waiting for the citizen), else the count runs from entry
    (device steps).
    """

    screen: str
    timeout: str | None
    on_timeout: str
    goes_to: tuple[str, ...] = ()
    resets_on_touch: bool = True
    step: int = 0  # position in the progress bar (0: not shown)


@dataclass(slots=True)
class Command:
    """A command from the screen (``confirm``, ``consent``, ``digits`` ...)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


class Ui(Protocol):
    """What a workflow needs from the screen side (:class:`appliance.pipeline.workflows.kiosk.Kiosk`
    or a test fake)."""

    lang: str
    last_activity: float

    def show(self, view: dict[str, Any]) -> None: ...

    def update(self, kind: str, payload: dict[str, Any]) -> None: ...

    async def command(self, *names: str) -> Command: ...

    def child_started(self, task: asyncio.Task) -> None: ...

    def child_ended(self, task: asyncio.Task) -> None: ...

    def session_ended(self) -> None: ...


class Workflow:
    """Base of the state machines. Subclasses set ``name``, ``initial``, ``states``, ``steps``."""

    name: ClassVar[str] = ""
    initial: ClassVar[str] = ""
    states: ClassVar[dict[str, State]] = {}
    steps: ClassVar[int] = 0  # how many steps the progress bar shows

    def __init__(
        self, ui: Ui, adapters: Any, cfg: Any, *, clock: Callable[[], float] | None = None
    ):
        self.ui = ui
        self.adapters = adapters
        self.cfg = cfg
        self.clock = clock or time.monotonic
        self.session: dict[str, Any] = {}
        self.state: str | None = None
        self.trace: list[str] = []
        self.error: StepError | None = None
        self.retry_state: str | None = None
        self.timed_out: str | None = None  # the state whose timeout led to the current one
        self._timing_out: str | None = None
        self.outcome = "unfinished"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.states:
            check_table(cls)

    # --- running ---------------------------------------------------------------------------

    async def run(self) -> str:
        """Run from ``initial`` to END; always wipes the session. Returns the outcome."""
        state = self.initial
        try:
            while state != END:
                state = await self._run_state(state)
        finally:
            self.wipe()
        log.info("%s ended: %s", self.name, self.outcome)
        count_outcome(self.name, self.outcome)  # the hub heartbeat's counters
        return self.outcome

    def limit(self, name: str) -> float | None:
        key = self.states[name].timeout
        return None if key is None else float(getattr(self.cfg, key))

    async def _run_state(self, name: str) -> str:
        spec = self.states[name]
        self.timed_out, self._timing_out = self._timing_out, None
        self.state = name
        self.trace.append(name)
        log.debug("%s -> %s", self.name, name)
        entered = self.clock()
        limit = self.limit(name)
        task = asyncio.create_task(getattr(self, f"on_{name}")(), name=f"{self.name}.{name}")
        try:
            while not task.done():
                if limit is None:
                    await asyncio.wait({task})
                    break
                start = max(entered, self.ui.last_activity) if spec.resets_on_touch else entered
                remaining = start + limit - self.clock()
                if remaining <= 0:
                    await _cancel(task)
                    return self._timed_out(name)
                await asyncio.wait({task}, timeout=remaining)
        except asyncio.CancelledError:
            await _cancel(task)
            raise
        try:
            nxt = task.result()
        except StepError as exc:
            return self._failed(name, exc)
        except TimeoutError as exc:  # DeviceTimeout, OperationTimeout from an adapter
            return self._failed(name, StepError("timeout", str(exc)))
        allowed = spec.goes_to + ((self.retry_state,) if name == ERROR else ())
        if nxt != END and nxt not in allowed:
            raise RuntimeError(f"{self.name}: {name} -> {nxt} is not in the state table")
        return nxt

    def _timed_out(self, name: str) -> str:
        spec = self.states[name]
        log.info("%s: %s timed out", self.name, name)
        self._timing_out = name
        if spec.on_timeout == END and self.outcome == "unfinished":
            self.outcome = "timed_out"
        if spec.on_timeout == ERROR:
            self.error = StepError("timeout")
            self.retry_state = name
        return spec.on_timeout

    def _failed(self, name: str, exc: StepError) -> str:
        log.info("%s: %s failed: %s (%s)", self.name, name, exc.kind, exc.detail or exc.message)
        self.error = exc
        self.retry_state = exc.retry or name
        return ERROR if ERROR in self.states else END

    def wipe(self) -> None:
        """Forget everything the session held (identity, images, typed digits)."""
        self.session.clear()
        self.error = None

    # --- helpers for handlers ---------------------------------------------------------------

    def show(self, **data: Any) -> None:
        """Show the current state's screen with ``data``."""
        assert self.state is not None
        spec = self.states[self.state]
        self.ui.show(
            {
                "flow": self.name,
                "state": self.state,
                "screen": spec.screen,
                "step": spec.step,
                "steps": self.steps,
                "timeout_s": self.limit(self.state),
                "touch_resets": spec.resets_on_touch,
                "data": data,
                "speech": speech_for(spec.screen, data),  # what the voice says (speech_keys.py)
            }
        )

    async def run_child(self, child: Workflow) -> str:
        """Run a child workflow (the ``cancel`` command ends the child, not this workflow)."""
        task = asyncio.create_task(child.run(), name=child.name)
        self.ui.child_started(task)
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            await _cancel(task)
            raise
        finally:
            self.ui.child_ended(task)
            self.ui.session_ended()
        if task.cancelled():
            child.outcome = "cancelled"
            return "cancelled"
        task.result()  # a bug in the child surfaces here
        return child.outcome

    async def on_error(self) -> str:
        """The friendly error screen: try again, or finish (help is always on screen)."""
        err = self.error or StepError("timeout")
        can_retry = self.retry_state is not None and self.retry_state != ERROR
        self.show(kind=err.kind, detail=err.detail, device=err.device, can_retry=can_retry)
        cmd = await self.ui.command("retry", "done")
        if cmd.name == "retry" and can_retry:
            assert self.retry_state is not None
            return self.retry_state
        self.outcome = f"error:{err.kind}"
        return END


async def _cancel(task: asyncio.Task) -> None:
    """Cancel a task and wait for it; an error it raises on the way out is logged, not hidden."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("task %s failed while being cancelled", task.get_name())


def check_table(cls: type[Workflow]) -> None:
    """Every target exists, every state has a handler, the initial state is in the table."""
    names = set(cls.states) | {END}
    if cls.initial not in cls.states:
        raise TypeError(f"{cls.__name__}: initial state {cls.initial!r} not in the table")
    for name, spec in cls.states.items():
        if not callable(getattr(cls, f"on_{name}", None)):
            raise TypeError(f"{cls.__name__}: no handler on_{name}")
        bad = [t for t in (*spec.goes_to, spec.on_timeout) if t not in names]
        if bad:
            raise TypeError(f"{cls.__name__}: {name} leads to unknown state(s) {bad}")
        if spec.timeout is None and name != ERROR and not spec.goes_to:
            raise TypeError(f"{cls.__name__}: {name} has no timeout and no way out")
