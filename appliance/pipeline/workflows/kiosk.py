"""The kiosk controller: runs the mode's root workflow and is the screen side of every workflow.

It keeps the current screen (``view``), fans screens and live updates out to subscribers (the
WebSocket clients), takes commands from them, and handles the commands valid on every screen:
``lang`` (switch language), ``help`` (call staff), ``cancel`` (end the current session, start
again), ``touch`` (the citizen is still there). A command meant for one screen carries that
screen's ``seq``; one for an older screen (a double tap, a late packet) is dropped, so a tap can
never act on a screen the citizen did not see. Message formats: docs/ui-protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from appliance.pipeline.workflows.checkin import CheckinWorkflow
from appliance.pipeline.workflows.engine import Command, Workflow
from appliance.pipeline.workflows.home import HomeWorkflow
from appliance.pipeline.workflows.operator import OperatorWorkflow
from appliance.pipeline.workflows.speech_keys import speech_for

log = logging.getLogger(__name__)

ROOTS: dict[str, type[Workflow]] = {
    "enrollment": HomeWorkflow,
    "checkin": CheckinWorkflow,
    "operator": OperatorWorkflow,
}
LANGUAGES = ("vi", "en")
GLOBAL_COMMANDS = ("lang", "help", "cancel", "touch")
COMMAND_QUEUE = 32  # commands waiting for the current screen; more are dropped

Listener = Callable[[dict[str, Any]], None]


class Kiosk:
    def __init__(
        self,
        cfg: Any,
        adapters: Any,
        mode: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        extra_hello: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.cfg = cfg  # UiConfig
        self.adapters = adapters
        self.mode = mode
        self.clock = clock
        self.lang = cfg.language
        self.last_activity = clock()
        self.seq = 0
        self.view: dict[str, Any] = {}
        self.live: dict[str, dict[str, Any]] = {}  # latest update of each kind on this screen
        self.extra_hello = extra_hello or {}
        self.root: Workflow | None = None
        self.help_calls = 0
        self.help_last: float | None = None
        self.session_end_hooks: list[Callable[[], None]] = []
        self._listeners: list[Listener] = []
        self._queue: asyncio.Queue[Command] = asyncio.Queue(COMMAND_QUEUE)
        self.dropped_commands = 0
        self._children: list[asyncio.Task] = []
        self.updating = False  # a system update holds the kiosk: new sessions are refused
        self.languages: tuple[str, ...] = LANGUAGES  # plus language packs (kiosk_ui/languages.py)

    # --- the Ui protocol (what workflows call) -------------------------------------------------

    def show(self, view: dict[str, Any]) -> None:
        self.seq += 1
        self.view = {"type": "screen", "seq": self.seq, **view}
        self.live = {}
        while not self._queue.empty():  # commands typed for the previous screen
            self._queue.get_nowait()
        self._broadcast(self.view)

    def update(self, kind: str, payload: dict[str, Any]) -> None:
        self.live[kind] = payload
        self._broadcast({"type": kind, "seq": self.seq, **payload})

    async def command(self, *names: str) -> Command:
        while True:
            cmd = await self._queue.get()
            if cmd.name in names:
                return cmd
            log.debug("command %s ignored on %s", cmd.name, self.view.get("screen"))

    def child_started(self, task: asyncio.Task) -> None:
        self._children.append(task)

    def child_ended(self, task: asyncio.Task) -> None:
        with contextlib.suppress(ValueError):
            self._children.remove(task)

    def session_ended(self) -> None:
        """A citizen's session is over: default language, indicators idle, hooks (sim card off)."""
        if self.lang != self.cfg.language:
            self.lang = self.cfg.language
            self._broadcast({"type": "lang", "lang": self.lang})
        self.adapters.indicate("idle")
        for hook in self.session_end_hooks:
            try:
                hook()
            except Exception:
                log.exception("session-end hook failed")

    def in_session(self) -> bool:
        """Is a citizen being served (a session workflow runs under the start screen)?"""
        return bool(self._children)

    def set_updating(self, active: bool) -> None:
        """A system update starts (or ends): the screens say "Đang cập nhật", starts refused."""
        self.updating = active
        self._broadcast({"type": "updating", "active": active})

    # --- the screen side --------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def hello(self) -> list[dict[str, Any]]:
        """What a newly connected screen needs: mode, language, the current screen and updates."""
        msgs: list[dict[str, Any]] = [
            {
                "type": "hello",
                "mode": self.mode,
                "lang": self.lang,
                "languages": list(self.languages),
                "updating": self.updating,
                **(self.extra_hello() if callable(self.extra_hello) else self.extra_hello),
            }
        ]
        if self.view:
            msgs.append(self.view)
            msgs += [{"type": k, "seq": self.seq, **v} for k, v in self.live.items()]
        return msgs

    def handle(self, msg: Any) -> None:
        """One message from a screen (already JSON-decoded). Malformed ones are ignored."""
        if not isinstance(msg, dict) or msg.get("type") != "command":
            return
        name, args = msg.get("name"), msg.get("args") or {}
        if not isinstance(name, str) or not isinstance(args, dict):
            return
        self.last_activity = self.clock()
        if name == "touch":
            return
        if name == "lang":
            if args.get("lang") in self.languages:
                self.lang = args["lang"]
                self._broadcast({"type": "lang", "lang": self.lang})
            return
        if name == "help":
            self.call_help("screen")
            return
        if name == "cancel":
            self.cancel()
            return
        if name == "start" and self.updating:
            self._broadcast({"type": "updating", "active": True})
            return
        if msg.get("seq") != self.seq:
            log.debug("stale command %s (seq %s, now %s)", name, msg.get("seq"), self.seq)
            return
        try:
            self._queue.put_nowait(Command(name, args))
        except asyncio.QueueFull:  # a flood: the screen cannot have meant all of them
            self.dropped_commands += 1
            if self.dropped_commands % 1000 == 1:
                log.warning("command queue full: %d commands dropped", self.dropped_commands)

    def cancel(self) -> None:
        """End the innermost running session (the start screen itself cannot be cancelled)."""
        if self._children:
            log.info("session cancelled on %s", self.view.get("screen"))
            self._children[-1].cancel()

    def call_help(self, source: str) -> None:
        """The on-screen help or the GPIO help button: signal staff and reassure the citizen."""
        self.help_calls += 1
        self.help_last = time.time()
        log.warning("help requested (%s) on screen %s", source, self.view.get("screen"))
        self.adapters.indicate("help")
        self._broadcast({"type": "help", "source": source})

    def health(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "screen": self.view.get("screen"),
            "lang": self.lang,
            "help_calls": self.help_calls,
            "help_last": self.help_last,
            "enroll_blocked": self._save_problem(),
        }

    def _save_problem(self) -> str | None:
        """Why this kiosk cannot save captures (None: it can, or it takes none: the gate)."""
        if self.mode == "checkin":
            return None
        fn = getattr(self.adapters, "save_problem", None)
        try:
            return fn() if callable(fn) else None
        except Exception:  # health must answer whatever the store does
            log.exception("save_problem failed")
            return "store"

    def _broadcast(self, msg: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(msg)
            except Exception:
                log.exception("screen listener failed")

    # --- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run the mode's root workflow until ``stop``; a crashed root restarts after a pause."""
        root_cls = ROOTS[self.mode]
        while not stop.is_set():
            self.root = root_cls(self, self.adapters, self.cfg, clock=self.clock)
            task = asyncio.create_task(self.root.run(), name=f"root.{self.mode}")
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("%s workflow crashed", self.mode, exc_info=task.exception())
                self.show(
                    {
                        "flow": self.mode,
                        "state": "error",
                        "screen": "error",
                        "step": 0,
                        "steps": 0,
                        "timeout_s": 2.0,
                        "data": {"kind": "not_available", "detail": "internal", "can_retry": False},
                        "speech": speech_for("error", {"kind": "not_available"}),
                    }
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
            self.session_ended()
