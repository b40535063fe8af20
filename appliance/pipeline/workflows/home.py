"""The commune kiosk's start screen: choose enrollment or chip verification.

Each choice runs its workflow as a child; when the child ends (done, declined, timed out or
cancelled) its session is gone and the start screen comes back in the default language.
"""

from __future__ import annotations

from typing import ClassVar

from appliance.pipeline.workflows.engine import ERROR, State, Workflow
from appliance.pipeline.workflows.enrollment import EnrollmentWorkflow
from appliance.pipeline.workflows.verification import VerificationWorkflow


def save_problem(adapters: object) -> str | None:
    """Why captures cannot be saved on this kiosk (``office_key_missing``, ``store``), or None."""
    fn = getattr(adapters, "save_problem", None)
    return fn() if callable(fn) else None


FLOWS = {"enrollment": EnrollmentWorkflow, "verification": VerificationWorkflow}


class HomeWorkflow(Workflow):
    name = "home"
    initial = "home"
    states: ClassVar[dict[str, State]] = {
        "home": State("home", "idle_s", "home", ("enrollment", "verification")),
        "enrollment": State("home", None, "home", ("home",)),
        "verification": State("home", None, "home", ("home",)),
        ERROR: State("error", "message_s", "home", ("home",)),
    }

    async def on_home(self) -> str:
        if self.timed_out == "home":
            self.ui.session_ended()  # someone switched the language and walked away
        blocked = save_problem(self.adapters)
        flows = [f for f in FLOWS if not (blocked and f == "enrollment")]
        # a kiosk that cannot save says so here, before anyone gives a face or a finger
        self.show(flows=flows, enroll_blocked=blocked)
        while True:
            cmd = await self.ui.command("start")
            flow = cmd.args.get("flow")
            if flow in flows:
                return str(flow)

    async def _child(self, flow: str) -> str:
        await self.run_child(FLOWS[flow](self.ui, self.adapters, self.cfg))
        return "home"

    async def on_enrollment(self) -> str:
        return await self._child("enrollment")

    async def on_verification(self) -> str:
        return await self._child("verification")
