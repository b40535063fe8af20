"""Operator mode (field kit): PIN login -> menu -> capture on behalf of a citizen, today's list,
or a citizen's consent withdrawal by receipt code.

The PIN is checked against the provisioned hash (``[ui] operator_pin_hash``); after
``pin_max_attempts`` wrong PINs in a row the kiosk locks for ``pin_lockout_s``, doubling with each
further lockout and kept across restarts (:mod:`appliance.pipeline.workflows.lockout`). An
operator left idle for ``operator_idle_s`` is logged out.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from appliance.pipeline.workflows.engine import END, ERROR, State, Workflow
from appliance.pipeline.workflows.enrollment import EnrollmentWorkflow
from appliance.pipeline.workflows.home import save_problem
from appliance.pipeline.workflows.lockout import PinLockout


class OperatorWorkflow(Workflow):
    name = "operator"
    initial = "login"
    states: ClassVar[dict[str, State]] = {
        "login": State("op.login", "idle_s", "login", ("menu", "locked")),
        "locked": State("op.locked", None, "login", ("login",), False),  # its own, growing time
        "menu": State("op.menu", "operator_idle_s", END, ("capture", "records", "withdraw")),
        "capture": State("op.capture", None, "menu", ("menu",)),
        "records": State("op.records", "operator_idle_s", "menu", ("menu",)),
        "withdraw": State("op.withdraw", "operator_idle_s", "menu", ("menu",)),
        ERROR: State("error", "message_s", END),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Adapters that keep state on disk say where (service: STATE_DIR/pin-lockout.json).
        path = getattr(self.adapters, "lockout_path", lambda: None)()
        self.lockout = PinLockout(path, self.cfg.pin_max_attempts, self.cfg.pin_lockout_s)

    async def on_login(self) -> str:
        if not self.adapters.pin_configured():
            self.show(configured=False)
            await asyncio.Event().wait()  # nothing to do until provisioning; the timer re-shows
        if self.lockout.remaining_s() > 0:  # locked before a restart: still locked
            return "locked"
        error = None
        while True:
            self.show(configured=True, error=error, attempts_left=self.lockout.attempts_left)
            cmd = await self.ui.command("pin")
            if await self.adapters.verify_pin(str(cmd.args.get("pin", ""))):
                self.lockout.succeeded()
                return "menu"
            if self.lockout.failed():
                return "locked"
            error = "wrong_pin"

    async def on_locked(self) -> str:
        remaining = self.lockout.remaining_s()
        # the page counts ``until_s`` down (issue #17: the lockout said no time)
        seconds = round(remaining)
        self.show(minutes=max(1, round(remaining / 60)), seconds=seconds, until_s=seconds)
        await asyncio.sleep(remaining)
        return "login"

    async def on_withdraw(self) -> str:
        """A citizen withdraws consent: the operator types the receipt code they bring."""
        error = None
        while True:
            self.show(error=error)
            cmd = await self.ui.command("withdraw", "back")
            if cmd.name == "back":
                return "menu"
            result = await self.adapters.withdraw_consent(str(cmd.args.get("code", "")))
            if result is None:  # no capture with that code on this kiosk
                error = "not_found"
                continue
            self.show(
                done=True,
                receipt_code=result["receipt_code"],
                already=bool(result.get("already_withdrawn")),
                captures=result.get("captures", 0),
                deleted=result.get("deleted_unsent", 0),
                delivered=result.get("already_delivered", 0),
            )
            await self.ui.command("back")
            return "menu"

    async def on_menu(self) -> str:
        blocked = save_problem(self.adapters)
        self.show(capture_blocked=blocked)
        names = ("records", "withdraw", "logout") + (() if blocked else ("new_capture",))
        cmd = await self.ui.command(*names)
        if cmd.name == "logout":
            self.outcome = "logged_out"
            return END
        return {"new_capture": "capture", "records": "records"}.get(cmd.name, "withdraw")

    async def on_capture(self) -> str:
        child = EnrollmentWorkflow(self.ui, self.adapters, self.cfg, operator=True)
        await self.run_child(child)
        return "menu"

    async def on_records(self) -> str:
        sent_now = None
        while True:
            self.show(loading=True)
            rows = await self.adapters.list_captures()
            waiting = sum(1 for r in rows if not r.get("uploaded"))
            can_send = bool(waiting) and callable(getattr(self.adapters, "send_now", None))
            self.show(
                rows=rows,
                uploaded=len(rows) - waiting,
                can_send=can_send,
                sent_now=sent_now,
            )
            cmd = await self.ui.command("back", *(("send_now",) if can_send else ()))
            if cmd.name == "back":
                return "menu"
            sent_now = await self.adapters.send_now()  # {queued, upload}: the list shows it
