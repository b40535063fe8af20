"""Self-service enrollment (commune kiosk) and capture on behalf of a citizen (operator mode).

scan QR -> confirm name and masked ID -> consent (one unticked box per purpose, before any
biometric) -> face (live preview and guidance) -> fingers, one by one -> review -> save -> receipt.
Only what the citizen ticked is captured; declining (or ticking nothing) ends the session politely
and keeps nothing.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, ClassVar

from appliance.pipeline.workflows.adapters import Consent, Enrollment, FingerResult
from appliance.pipeline.workflows.engine import END, ERROR, State, StepError, Workflow
from appliance.pipeline.workflows.help_offer import SKIPPED, capture_with_offer

FACE = "face"
FINGERPRINTS = "fingerprints"


class EnrollmentWorkflow(Workflow):
    name = "enrollment"
    initial = "scan"
    steps = 7
    states: ClassVar[dict[str, State]] = {
        "scan": State("enroll.scan", "idle_s", ERROR, ("confirm",), step=1),
        "confirm": State("enroll.confirm", "idle_s", ERROR, ("consent", "scan"), step=2),
        "consent": State(
            "enroll.consent", "idle_s", ERROR, ("face", "finger", "review", "declined"), step=3
        ),
        "declined": State("enroll.declined", "message_s", END),
        "face": State("enroll.face", "face_s", ERROR, ("finger", "review"), False, step=4),
        "finger": State(
            "enroll.finger", "finger_s", ERROR, ("finger", "finger_failed", "review"), False, 5
        ),
        "finger_failed": State(
            "enroll.finger_failed", "idle_s", ERROR, ("finger", "review"), step=5
        ),
        "review": State("enroll.review", "idle_s", ERROR, ("saving", "face"), step=6),
        "saving": State("enroll.saving", "save_s", ERROR, ("receipt",), False, step=6),
        # the citizen notes the code: as long as they are there (touches keep it), not 20 s
        "receipt": State("enroll.receipt", "idle_s", END, step=7),
        ERROR: State("error", "message_s", END),
    }

    def __init__(self, *args: Any, operator: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operator = operator

    def show(self, **data: Any) -> None:
        ident = self.session.get("identity")
        if self.operator and ident is not None and self.state not in ("scan", "confirm"):
            # the operator's capture screens say whose capture it is (confirm already does)
            data.setdefault("subject", {"full_name": ident.full_name, "masked_id": ident.masked_id})
        super().show(operator=self.operator, **data)

    # --- states ----------------------------------------------------------------------------

    async def on_scan(self) -> str:
        payload = await self.adapters.scan_qr(self.show)
        self.session["identity"] = self.adapters.identify(payload)
        return "confirm"

    async def on_confirm(self) -> str:
        ident = self.session["identity"]
        self.show(full_name=ident.full_name, masked_id=ident.masked_id, expired=ident.expired)
        cmd = await self.ui.command("confirm", "back")
        return "consent" if cmd.name == "confirm" else "scan"

    async def on_consent(self) -> str:
        purposes = list(self.cfg.consent_purposes)
        self.show(purposes=purposes, version=self.cfg.consent_version)
        cmd = await self.ui.command("consent", "decline")
        ticked = cmd.args.get("purposes") if cmd.name == "consent" else []
        if not isinstance(ticked, list):
            ticked = []
        agreed = [p for p in purposes if p in ticked]  # configured order, unknown ones dropped
        if not agreed:
            return "declined"
        text = self.adapters.consent_text(self.ui.lang, purposes)
        self.session["consent"] = Consent(agreed, text, time.time())
        self.session["fingers"] = []
        return self._after_consent()

    def _after_consent(self) -> str:
        agreed = self.session["consent"].purposes
        if FACE in agreed:
            return "face"
        return "finger" if FINGERPRINTS in agreed and self.cfg.fingers else "review"

    async def on_declined(self) -> str:
        self.session.clear()  # keep nothing, right away
        self.show()
        self.outcome = "declined"
        await self.ui.command("done")
        return END

    async def on_face(self) -> str:
        self.show(preview=True)
        self.session["portrait"] = await capture_with_offer(  # help offer: help_offer.py
            self, self.adapters.capture_face, "face", "guidance"
        )
        self.ui.update("guidance", {"verdict": "pass", "captured": True, "progress": 1.0})
        await asyncio.sleep(self.cfg.confirm_s)  # "photo taken": the citizen sees it worked
        return "finger" if self._fingers_left() else "review"  # a retake keeps the prints

    def _fingers_left(self) -> bool:
        agreed = self.session["consent"].purposes
        return FINGERPRINTS in agreed and len(self.session["fingers"]) < len(self.cfg.fingers)

    def _finger_view(self) -> dict[str, Any]:
        done = len(self.session["fingers"])
        return {"finger": self.cfg.fingers[done], "index": done + 1, "count": len(self.cfg.fingers)}

    async def on_finger(self) -> str:
        view = self._finger_view()
        self.show(**view)
        result = await capture_with_offer(  # help offer, "skip this finger": help_offer.py
            self,
            lambda u: self.adapters.capture_finger(view["finger"], u),
            "finger",
            "finger",
            skip=True,
        )
        if result is SKIPPED:  # recorded as an exception, as the enrolment officer would
            return self._next_finger(FingerResult(view["finger"], None, None, "unavailable"))
        if result.verdict != "pass":
            self.session["failed_finger"] = result
            return "finger_failed"
        self.ui.update("finger", {"phase": "done", "finger": view["finger"], "verdict": "pass"})
        await asyncio.sleep(self.cfg.confirm_s)  # "good, lift your finger"
        return self._next_finger(result)

    def _next_finger(self, result: FingerResult) -> str:
        self.session["fingers"].append(result)
        return "finger" if len(self.session["fingers"]) < len(self.cfg.fingers) else "review"

    async def on_finger_failed(self) -> str:
        failed: FingerResult = self.session["failed_finger"]
        self.show(**self._finger_view(), feedback=failed.feedback)
        cmd = await self.ui.command("retry", "skip")
        if cmd.name == "retry":
            return "finger"
        # keep the best attempt when there was one; otherwise the finger is recorded unavailable
        if failed.image_png is None:
            failed = FingerResult(failed.finger, None, None, "unavailable", failed.feedback)
        return self._next_finger(failed)

    async def on_review(self) -> str:
        ident = self.session["identity"]
        portrait = self.session.get("portrait")
        self.show(
            full_name=ident.full_name,
            masked_id=ident.masked_id,
            portrait=_data_url(portrait.portrait_jpeg) if portrait else None,
            fingers=[{"finger": f.finger, "verdict": f.verdict} for f in self.session["fingers"]],
            purposes=self.session["consent"].purposes,
        )
        cmd = await self.ui.command("save", *(("retake",) if portrait else ()))
        return "face" if cmd.name == "retake" else "saving"

    async def on_saving(self) -> str:
        self.show()
        enrollment = Enrollment(
            identity=self.session["identity"],
            consent=self.session["consent"],
            portrait=self.session.get("portrait"),
            fingers=list(self.session["fingers"]),
            operator=self.operator,
        )
        try:
            self.session["receipt"] = await self.adapters.save_enrollment(enrollment)
        except StepError:  # already says what the citizen should see
            raise
        except Exception as exc:  # the citizen sees "could not save", staff read the log
            raise StepError("save_failed", f"{type(exc).__name__}: {exc}") from exc
        self.adapters.indicate("ok")
        return "receipt"

    async def on_receipt(self) -> str:
        self.show(receipt_code=self.session["receipt"])
        self.outcome = "saved"
        await self.ui.command("done")
        return END


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
