"""Chip verification: is this card genuine, and what does its chip say?

scan QR -> (dates typed on a keypad when the QR cannot give the chip key) -> tap the card ->
read with progress -> result: the chip's data and photo, passive and active authentication in
plain words (genuine / cannot confirm / not genuine). For a genuine card whose photo (DG2)
matched its SOD hash, the result offers "check that the card is yours": consent -> look at the
camera (a random liveness challenge, then the live face against the chip photo) -> "the card
belongs to you" or, gently, "please see the officer". Only the decision and a score band are
kept (the session outcome); the frames and embeddings never leave the adapter.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, ClassVar

from appliance.cccd.ids import parse_id_number
from appliance.errors import InvalidInput
from appliance.pipeline.face_liveness import random_challenge
from appliance.pipeline.workflows.engine import END, ERROR, Command, State, StepError, Workflow
from appliance.pipeline.workflows.enrollment import _data_url

GENUINE, CANNOT_CONFIRM, NOT_GENUINE = "genuine", "cannot_confirm", "not_genuine"
PASSIVE_WORDS = {"verified": GENUINE, "chain_unknown": CANNOT_CONFIRM, "failed": NOT_GENUINE}
ACTIVE_WORDS = {"passed": GENUINE, "not_supported": CANNOT_CONFIRM, "failed": NOT_GENUINE}
_RANK = {GENUINE: 0, CANNOT_CONFIRM: 1, NOT_GENUINE: 2}
# what the citizen should do next when the card is not confirmed genuine (i18n result.next.*)
NEXT_STEPS = {CANNOT_CONFIRM: "try_again_or_officer", NOT_GENUINE: "see_officer"}


def plain_words(passive: str, active: str) -> dict[str, str]:
    """Each authentication result and the overall one (the worse of the two) in plain words."""
    p = PASSIVE_WORDS.get(passive, CANNOT_CONFIRM)
    a = ACTIVE_WORDS.get(active, CANNOT_CONFIRM)
    return {"passive": p, "active": a, "overall": max(p, a, key=_RANK.__getitem__)}


def parse_typed_date(digits: str) -> date:
    """``ddmmyyyy`` typed on the keypad -> date (InvalidInput ``bad_date``)."""
    if len(digits) != 8 or not digits.isdigit():
        raise InvalidInput("type 8 digits: day, month, year", code="bad_date")
    try:
        return date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        raise InvalidInput("not a real date", code="bad_date") from None


class VerificationWorkflow(Workflow):
    name = "verification"
    initial = "scan"
    steps = 4
    states: ClassVar[dict[str, State]] = {
        "scan": State("verify.scan", "idle_s", ERROR, ("tap", "keypad_dob"), step=1),
        "keypad_dob": State("verify.keypad", "idle_s", ERROR, ("keypad_expiry", "scan"), step=2),
        "keypad_expiry": State("verify.keypad", "idle_s", ERROR, ("tap", "keypad_dob"), step=2),
        "tap": State("verify.tap", "card_s", ERROR, ("reading",), False, step=3),
        "reading": State("verify.reading", "chip_read_s", ERROR, ("result",), False, step=3),
        "result": State("verify.result", "message_s", END, ("face_consent",), step=4),
        "face_consent": State("verify.face_consent", "idle_s", END, ("face_live",), step=4),
        "face_live": State("verify.face_live", "face_s", ERROR, ("face_result",), False, step=4),
        "face_result": State("verify.face_result", "message_s", END, step=4),
        ERROR: State("error", "message_s", END),
    }

    async def on_scan(self) -> str:
        ident = self.adapters.identify(await self.adapters.scan_qr(self.show))
        self.session["identity"] = ident
        if ident.bac is None:
            self.session["typed"] = True
            return "keypad_dob"
        self.session["bac"] = ident.bac
        return "tap"

    async def _keypad(
        self, field: str, allow_none: bool, check: Any = None
    ) -> tuple[str, date | None]:
        """Wait for a valid date typed for ``field`` (``check(date)`` may refuse it with an
        InvalidInput whose code the keypad shows); returns (command, date)."""
        error = None
        while True:
            ident = self.session["identity"]
            self.show(field=field, masked_id=ident.masked_id, error=error, allow_none=allow_none)
            names = ("digits", "back") + (("no_expiry",) if allow_none else ())
            cmd = await self.ui.command(*names)
            if cmd.name != "digits":
                return cmd.name, None
            try:
                typed = parse_typed_date(str(cmd.args.get("value", "")))
                if check is not None:
                    check(typed)
                return "digits", typed
            except InvalidInput as exc:
                error = exc.code

    def _check_birth_year(self, dob: date) -> None:
        """The ID number carries the year of birth: a contradiction is said on this keypad,
        before any card is touched (issue #17)."""
        try:
            year = parse_id_number(self.session["identity"].id_number).birth_year
        except (InvalidInput, ValueError):
            return  # the adapter's own check will say what is wrong
        if dob.year != year:
            raise InvalidInput(
                "the year of birth does not match the ID number", code="year_mismatch"
            )

    def _check_order(self, expiry: date) -> None:
        if expiry <= date.fromisoformat(self.session["dob"]):
            raise InvalidInput("the expiry date is before the date of birth", code="date_order")

    async def on_keypad_dob(self) -> str:
        name, dob = await self._keypad("dob", allow_none=False, check=self._check_birth_year)
        if name == "back" or dob is None:
            return "scan"
        self.session["dob"] = dob.isoformat()
        return "keypad_expiry"

    async def on_keypad_expiry(self) -> str:
        name, expiry = await self._keypad("expiry", allow_none=True, check=self._check_order)
        if name == "back":
            return "keypad_dob"
        ident = self.session["identity"]
        try:
            self.session["bac"] = self.adapters.bac_from_dates(
                ident.id_number, self.session["dob"], expiry.isoformat() if expiry else None
            )
        except InvalidInput as exc:  # e.g. the year of birth disagrees with the ID number
            raise StepError("wrong_key", exc.message, detail=exc.code, retry="keypad_dob") from exc
        return "tap"

    async def on_tap(self) -> str:
        self.show(masked_id=self.session["identity"].masked_id)
        await self.adapters.wait_card()
        return "reading"

    async def on_reading(self) -> str:
        self.show()
        self.adapters.indicate("busy")
        try:
            chip = await self.adapters.read_chip(
                self.session["bac"], lambda v: self.ui.update("progress", {"value": round(v, 3)})
            )
        except StepError as exc:
            if exc.kind == "wrong_key":
                exc.retry = "keypad_dob"
            elif exc.kind == "card_unreadable":
                exc.retry = "tap"
            raise
        finally:
            self.adapters.indicate("idle")
        self.session["chip"] = chip
        return "result"

    async def on_result(self) -> str:
        chip = self.session["chip"]
        words = plain_words(chip.passive, chip.active)
        self.adapters.indicate("error" if words["overall"] == NOT_GENUINE else "ok")
        fields: dict[str, Any] = {
            k: chip.fields.get(k)
            for k in ("full_name", "date_of_birth", "sex", "nationality", "expiry_date")
        }
        fields["masked_id"] = self.session["identity"].masked_id
        # only a genuine chip's photo whose hash matched the signed SOD may be compared
        face_check = bool(
            self.cfg.verify_face
            and words["overall"] == GENUINE
            and chip.dg2_hash_ok
            and chip.photo_jpeg
        )
        self.show(
            fields=fields,
            photo=_data_url(chip.photo_jpeg) if chip.photo_jpeg else None,
            auth=words,
            failed_step=chip.failed_step,
            face_check=face_check,
            access=chip.access,
            next_step=NEXT_STEPS.get(words["overall"]),
            expired=self.session["identity"].expired,
        )
        self.outcome = f"read:{words['overall']}"
        cmd = await self._command_or_card_gone(
            *(("done", "check_face") if face_check else ("done",))
        )
        return "face_consent" if cmd is not None and cmd.name == "check_face" else END

    async def _command_or_card_gone(self, *names: str) -> Command | None:
        """A command, or None once the card has left the reader: the citizen has gone, so the
        name, birth date and photo must not stay on the screen for the next person."""
        waiter = getattr(self.adapters, "wait_card_removed", None)
        cmd_task = asyncio.ensure_future(self.ui.command(*names))
        tasks = {cmd_task}
        if callable(waiter):
            tasks.add(asyncio.ensure_future(waiter()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        if cmd_task in done and not cmd_task.cancelled():
            return cmd_task.result()
        gone = next(iter(tasks - {cmd_task}))
        if gone.exception() is not None:  # the reader went away: keep the screen, wait on
            return await self.ui.command(*names)
        self.outcome += ";card_taken"
        return None

    async def on_face_consent(self) -> str:
        self.show()
        cmd = await self.ui.command("consent", "decline")
        return "face_live" if cmd.name == "consent" else END

    async def on_face_live(self) -> str:
        challenge = random_challenge(self.cfg.liveness_challenges)
        self.show(challenge=challenge)
        record = await self.adapters.verify_face(
            self.session["chip"].photo_jpeg, challenge, lambda d: self.ui.update("guidance", d)
        )
        self.session["face"] = record
        return "face_result"

    async def on_face_result(self) -> str:
        record = self.session["face"]
        owner = record["decision"] == "match"
        self.adapters.indicate("ok" if owner else "help")
        # what is kept: the decision and the score band, nothing of the face itself
        self.outcome += f";face:{record['decision']}:{record['score_band']}"
        self.show(owner=owner, reason=record["decision"])
        await self.ui.command("done")
        return END
