"""Gate check-in (tourist-gate): scan -> full-screen green or red -> back to ready.

The decision itself (admit, expired, invalid, duplicate, unknown layout), the indicators and the
log belong to the gate (``appliance.pipeline.gate``); this workflow only shows them: a short
reason, the day's count, and no personal data beyond the masked ID.
"""

from __future__ import annotations

from typing import Any, ClassVar

from appliance.pipeline.workflows.engine import END, ERROR, State, Workflow


class CheckinWorkflow(Workflow):
    name = "checkin"
    initial = "ready"
    states: ClassVar[dict[str, State]] = {
        "ready": State("gate.ready", "idle_s", "ready", ("result",), False),
        "result": State("gate.result", "gate_result_s", "ready", ("result",), False),
        ERROR: State("error", "message_s", END),
    }

    def show(self, **data: Any) -> None:
        # the attendant sees when expiry is judged against the time floor, not the clock
        fn = getattr(self.adapters, "clock_status", None)
        super().show(**data, clock=fn() if callable(fn) else None)

    async def on_ready(self) -> str:
        if self.ui.lang != self.cfg.language:  # the last visitor's language: not the next one's
            self.ui.session_ended()
        self.show(count=self.adapters.gate_count())
        self.session["result"] = await self.adapters.gate_check()
        return "result"

    async def on_result(self) -> str:
        r = self.session.pop("result")
        self.show(
            admitted=r.admitted,
            decision=r.decision,
            reason=r.reason,
            masked_id=r.masked_id,
            count=r.count_today,
        )
        # the next visitor need not wait for this screen to time out
        self.session["result"] = await self.adapters.gate_check()
        return "result"
