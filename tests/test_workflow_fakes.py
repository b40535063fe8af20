"""Fake adapters and a driver for the workflow unit tests (no devices, no service)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from appliance.config import UiConfig
from appliance.errors import InvalidInput
from appliance.pipeline.workflows.adapters import (
    ChipResult,
    ConsentText,
    FaceResult,
    FingerResult,
    GateResult,
    Identity,
)
from appliance.pipeline.workflows.engine import StepError
from appliance.pipeline.workflows.kiosk import GLOBAL_COMMANDS, Kiosk

GOOD = Identity(
    id_number="001090012345",
    masked_id="001******345",
    layout="cccd-2021",
    full_name="NGUYỄN VĂN AN",
    date_of_birth="1990-03-15",
    sex="male",
    expiry_date="2030-03-15",
    expired=False,
    bac=("090012345", "900315", "300315"),
)
NEW_LAYOUT = replace(GOOD, layout="unknown", full_name=None, bac=None)


def fast_cfg(**over: Any) -> UiConfig:
    base = dict(
        idle_s=5.0,
        card_s=5.0,
        chip_read_s=5.0,
        face_s=5.0,
        finger_s=5.0,
        save_s=5.0,
        message_s=5.0,
        gate_result_s=5.0,
        operator_idle_s=5.0,
        pin_lockout_s=5.0,
        pin_max_attempts=3,
        confirm_s=0.01,
    )
    base.update(over)
    return UiConfig(**base)


class FakeAdapters:
    def __init__(self) -> None:
        self.qr: asyncio.Queue[bytes] = asyncio.Queue()
        self.gate: asyncio.Queue[GateResult] = asyncio.Queue()
        self.card = asyncio.Event()
        self.calls: list[str] = []
        self.indicated: list[str] = []
        self.saved: list[Any] = []
        self.chip_errors: list[Exception] = []
        self.finger_verdicts: list[str] = []  # consumed one per capture; default pass
        self.face_error: Exception | None = None
        self.face_decision = "match"  # what verify_face answers
        self.save_error: Exception | None = None
        self.chip = ChipResult(
            fields={"full_name": "NGUYỄN VĂN AN", "date_of_birth": "1990-03-15", "sex": "male"},
            photo_jpeg=b"\xff\xd8jpeg",
            passive="verified",
            active="passed",
        )
        self.pin = "2468"
        self.configured = True
        self.bac_typed: tuple[str, str, str] | None = None

    async def scan_qr(self, ready) -> bytes:
        self.calls.append("scan_qr")
        ready()
        return await self.qr.get()

    def identify(self, payload: bytes) -> Identity:
        self.calls.append("identify")
        if payload == b"GOOD":
            return GOOD
        if payload == b"NEW":
            return NEW_LAYOUT
        raise StepError("invalid_qr", detail="malformed")

    def bac_from_dates(self, id_number: str, dob: str, expiry: str | None) -> tuple[str, str, str]:
        if dob[2:4] != id_number[4:6]:
            raise InvalidInput("year of birth disagrees with the ID number", code="year_mismatch")
        doe = expiry.replace("-", "")[2:] if expiry else "991231"
        self.bac_typed = (id_number[3:], dob.replace("-", "")[2:], doe)
        return self.bac_typed

    async def wait_card(self) -> None:
        self.calls.append("wait_card")
        await self.card.wait()

    async def wait_card_removed(self) -> None:
        while self.card.is_set():
            await asyncio.sleep(0.01)

    async def read_chip(self, bac, progress) -> ChipResult:
        self.calls.append("read_chip")
        progress(0.5)
        if self.chip_errors:
            raise self.chip_errors.pop(0)
        progress(1.0)
        return self.chip

    async def capture_face(self, update) -> FaceResult:
        self.calls.append("capture_face")
        update({"verdict": "fail", "reasons": ["too_dark"]})
        await asyncio.sleep(0.01)
        if self.face_error:
            raise self.face_error
        return FaceResult(b"\xff\xd8portrait", {"verdict": "pass"})

    async def verify_face(self, photo: bytes, challenge: str, update) -> dict[str, Any]:
        self.calls.append(f"verify_face:{challenge}")
        update({"verdict": "fail", "reasons": ["yaw"], "liveness": "waiting"})
        await asyncio.sleep(0.01)
        return {
            "decision": self.face_decision,
            "score_band": "0.9-1.0",
            "challenge": challenge,
            "liveness": "failed" if self.face_decision == "liveness_failed" else "passed",
        }

    async def capture_finger(self, finger: str, update) -> FingerResult:
        self.calls.append(f"finger:{finger}")
        update({"phase": "place"})
        verdict = self.finger_verdicts.pop(0) if self.finger_verdicts else "pass"
        image = None if verdict == "none" else b"png"
        return FingerResult(
            finger,
            image,
            70 if verdict == "pass" else 10,
            "pass" if verdict == "pass" else "fail",
            ["too_dry"],
        )

    def consent_text(self, language: str, purposes: list[str]) -> ConsentText:
        return ConsentText("2025-01", language, "hash-" + language)

    async def save_enrollment(self, enrollment) -> str:
        self.calls.append("save")
        if self.save_error:
            raise self.save_error
        self.saved.append(enrollment)
        return "K7Q-2M4X"

    async def gate_check(self) -> GateResult:
        return await self.gate.get()

    def gate_count(self) -> int:
        return 41

    async def list_captures(self) -> list[dict[str, Any]]:
        return [
            {
                "time": "09:12",
                "masked_id": "001******345",
                "receipt_code": "K7Q-2M4X",
                "uploaded": True,
            },
            {
                "time": "09:40",
                "masked_id": "034******871",
                "receipt_code": "P2R-9ZZA",
                "uploaded": False,
            },
        ]

    async def verify_pin(self, pin: str) -> bool:
        return pin == self.pin

    def pin_configured(self) -> bool:
        return self.configured

    def save_problem(self) -> str | None:
        return None  # the tests of issue #17 replace it: a kiosk that cannot save

    def indicate(self, what: str) -> None:
        self.indicated.append(what)


class Driver:
    """Runs a Kiosk in the test's loop; helpers wait for screens and send commands."""

    def __init__(self, mode: str = "enrollment", cfg: UiConfig | None = None) -> None:
        self.adapters = FakeAdapters()
        self.kiosk = Kiosk(cfg or fast_cfg(), self.adapters, mode)
        self.messages: list[dict[str, Any]] = []
        self.kiosk.subscribe(self.messages.append)
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.sent_seq = 0  # a screen command was sent on this screen: wait for a newer one

    async def __aenter__(self) -> Driver:
        self.task = asyncio.create_task(self.kiosk.run(self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 2)

    @property
    def view(self) -> dict[str, Any]:
        return self.kiosk.view

    async def screen(self, screen: str, state: str | None = None, timeout: float = 3.0):
        """Wait until the current screen is ``screen`` (and state ``state``); return its data."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            v = self.kiosk.view
            fresh = v.get("seq", 0) > self.sent_seq
            if fresh and v.get("screen") == screen and (state is None or v.get("state") == state):
                return v["data"]
            if loop.time() > deadline:
                raise AssertionError(
                    f"waited for {screen}/{state}, on {v.get('screen')}/"
                    f"{v.get('state')} {v.get('data')}"
                )
            await asyncio.sleep(0.005)

    def send(self, name: str, seq: int | None = None, **args: Any) -> None:
        if name not in GLOBAL_COMMANDS:
            self.sent_seq = self.kiosk.seq
        self.kiosk.handle(
            {
                "type": "command",
                "name": name,
                "args": args,
                "seq": self.kiosk.seq if seq is None else seq,
            }
        )

    def screens(self) -> list[str]:
        return [f"{m['screen']}/{m['state']}" for m in self.messages if m["type"] == "screen"]
