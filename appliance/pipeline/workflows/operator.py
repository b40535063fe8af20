"""Operator mode (field kit): PIN login -> menu -> capture on behalf of a citizen, or today's list.

The PIN is checked against the provisioned hash (``[ui] operator_pin_hash``); after
``pin_max_attempts`` wrong PINs in a row the kiosk locks for ``pin_lockout_s``. An operator left
idle for ``operator_idle_s`` is logged out.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from appliance.pipeline.workflows.engine import END, ERROR, State, Workflow
from appliance.pipeline.workflows.enrollment import EnrollmentWorkflow


class OperatorWorkflow(Workflow):
    name = "operator"
    initial = "login"
    states: ClassVar[dict[str, State]] = {
        "login": State("op.login", "idle_s", "login", ("menu", "locked")),
        "locked": State("op.locked", "pin_lockout_s", "login", (), False),
        "menu": State("op.menu", "operator_idle_s", END, ("capture", "records")),
        "capture": State("op.capture", None, "menu", ("menu",)),
        "records": State("op.records", "operator_idle_s", "menu", ("menu",)),
        ERROR: State("error", "message_s", END),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failures = 0  # wrong PINs in a row

    async def on_login(self) -> str:
        if not self.adapters.pin_configured():
            self.show(configured=False)
            await asyncio.Event().wait()  # nothing to do until provisioning; the timer re-shows
        error = None
        while True:
            left = self.cfg.pin_max_attempts - self.failures
            self.show(configured=True, error=error, attempts_left=left)
            cmd = await self.ui.command("pin")
            if await self.adapters.verify_pin(str(cmd.args.get("pin", ""))):
                self.failures = 0
                return "menu"
            self.failures += 1
            if self.failures >= self.cfg.pin_max_attempts:
                return "locked"
            error = "wrong_pin"

    async def on_locked(self) -> str:
        self.show(minutes=max(1, round(self.cfg.pin_lockout_s / 60)))
        self.failures = 0  # after the lockout, a fresh set of attempts
        await asyncio.Event().wait()  # only the lockout timer leaves this state
        return "login"

    async def on_menu(self) -> str:
        self.show()
        cmd = await self.ui.command("new_capture", "records", "logout")
        if cmd.name == "logout":
            self.outcome = "logged_out"
            return END
        return "capture" if cmd.name == "new_capture" else "records"

    async def on_capture(self) -> str:
        child = EnrollmentWorkflow(self.ui, self.adapters, self.cfg, operator=True)
        await self.run_child(child)
        return "menu"

    async def on_records(self) -> str:
        self.show(loading=True)
        rows = await self.adapters.list_captures()
        self.show(rows=rows, uploaded=sum(1 for r in rows if r.get("uploaded")))
        await self.ui.command("back")
        return "menu"
