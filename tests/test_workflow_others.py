"""Verification, check-in, operator mode and the engine's table checks, with fake adapters."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from test_workflow_fakes import Driver, fast_cfg

from appliance.pipeline.workflows.adapters import GateResult
from appliance.pipeline.workflows.engine import END, ERROR, State, StepError, Workflow
from appliance.pipeline.workflows.kiosk import ROOTS
from appliance.pipeline.workflows.verification import parse_typed_date, plain_words

# --- verification ---------------------------------------------------------------------------


async def start_verification(d: Driver, payload: bytes = b"GOOD") -> None:
    await d.screen("home")
    d.send("start", flow="verification")
    await d.screen("verify.scan")
    d.adapters.qr.put_nowait(payload)


async def test_verification_from_qr_key_to_a_genuine_result():
    async with Driver() as d:
        await start_verification(d)
        data = await d.screen("verify.tap")
        assert data["masked_id"] == "001******345"
        d.adapters.card.set()
        data = await d.screen("verify.result")
        assert data["auth"] == {"passive": "genuine", "active": "genuine", "overall": "genuine"}
        assert data["photo"].startswith("data:image/jpeg;base64,")
        assert data["fields"]["full_name"] == "NGUYỄN VĂN AN"
        assert data["fields"]["masked_id"] == "001******345"
        assert [m["value"] for m in d.messages if m["type"] == "progress"] == [0.5, 1.0]
        assert d.adapters.indicated[-1] == "ok"
        d.send("done")
        await d.screen("home")


async def test_new_layout_qr_asks_for_the_dates_on_a_keypad():
    async with Driver() as d:
        await start_verification(d, b"NEW")
        data = await d.screen("verify.keypad", "keypad_dob")
        assert data["field"] == "dob" and not data["allow_none"]
        d.send("digits", value="31021990")  # no 31 February
        data = await d.screen("verify.keypad", "keypad_dob")
        assert data["error"] == "bad_date"
        d.send("digits", value="15031990")
        data = await d.screen("verify.keypad", "keypad_expiry")
        assert data["allow_none"]
        d.send("back")
        await d.screen("verify.keypad", "keypad_dob")
        d.send("digits", value="15031990")
        await d.screen("verify.keypad", "keypad_expiry")
        d.send("no_expiry")
        await d.screen("verify.tap")
        assert d.adapters.bac_typed == ("090012345", "900315", "991231")
        d.adapters.card.set()
        await d.screen("verify.result")


async def test_typed_year_that_contradicts_the_id_is_said_on_the_date_of_birth_keypad():
    # issue #17: before, this was a "chip did not open" error after both dates
    async with Driver() as d:
        await start_verification(d, b"NEW")
        await d.screen("verify.keypad", "keypad_dob")
        d.send("digits", value="15031991")
        data = await d.screen("verify.keypad", "keypad_dob")
        assert data["error"] == "year_mismatch"
        assert not any(m["type"] == "screen" and m["screen"] == "error" for m in d.messages)


async def test_chip_refusing_the_qr_key_offers_the_keypad():
    async with Driver() as d:
        d.adapters.chip_errors = [StepError("wrong_key", detail="bac_failed")]
        await start_verification(d)
        await d.screen("verify.tap")
        d.adapters.card.set()
        assert (await d.screen("error"))["kind"] == "wrong_key"
        d.send("retry")
        await d.screen("verify.keypad", "keypad_dob")


async def test_unreadable_card_retries_from_the_tap():
    async with Driver() as d:
        d.adapters.chip_errors = [StepError("card_unreadable", detail="read_error")]
        await start_verification(d)
        await d.screen("verify.tap")
        d.adapters.card.set()
        assert (await d.screen("error"))["kind"] == "card_unreadable"
        assert d.adapters.indicated[-1] == "idle"  # busy LED off again
        d.send("retry")
        await d.screen("verify.result")
        assert d.adapters.calls.count("wait_card") == 2


@pytest.mark.parametrize(
    ("passive", "active", "overall"),
    [
        ("verified", "passed", "genuine"),
        ("verified", "not_supported", "cannot_confirm"),
        ("chain_unknown", "passed", "cannot_confirm"),
        ("failed", "passed", "not_genuine"),
        ("verified", "failed", "not_genuine"),
        ("something_new", "passed", "cannot_confirm"),
    ],
)
def test_plain_words(passive, active, overall):
    assert plain_words(passive, active)["overall"] == overall


async def test_not_genuine_result_lights_the_error_indicator():
    async with Driver() as d:
        d.adapters.chip.passive = "failed"
        await start_verification(d)
        await d.screen("verify.tap")
        d.adapters.card.set()
        data = await d.screen("verify.result")
        assert data["auth"]["overall"] == "not_genuine"
        assert d.adapters.indicated[-1] == "error"


async def test_waiting_for_the_card_times_out_even_with_touches():
    async with Driver(cfg=fast_cfg(card_s=0.2)) as d:
        await start_verification(d)
        await d.screen("verify.tap")
        for _ in range(3):
            await asyncio.sleep(0.05)
            d.send("touch")
        assert (await d.screen("error", timeout=1))["kind"] == "timeout"


def test_parse_typed_date():
    assert parse_typed_date("29022000").isoformat() == "2000-02-29"
    for bad in ("29022001", "1503199", "15-03-1990", ""):
        with pytest.raises(ValueError):
            parse_typed_date(bad)


# --- check-in -------------------------------------------------------------------------------


def gate(admitted: bool, decision: str, reason: str | None = None) -> GateResult:
    return GateResult(admitted, decision, reason, "001******345" if admitted else None, 42)


async def test_checkin_shows_green_then_red_then_returns_to_ready():
    async with Driver("checkin", fast_cfg(gate_result_s=0.2)) as d:
        data = await d.screen("gate.ready")
        assert data["count"] == 41
        d.adapters.gate.put_nowait(gate(True, "admit"))
        data = await d.screen("gate.result")
        assert data["admitted"] and data["masked_id"] == "001******345" and data["count"] == 42
        seq = d.kiosk.seq
        d.adapters.gate.put_nowait(gate(False, "invalid", "bad_id_number"))  # next visitor
        await asyncio.sleep(0.05)
        assert d.kiosk.seq == seq + 1  # shown at once, not after the green screen timed out
        assert d.view["data"]["reason"] == "bad_id_number" and not d.view["data"]["admitted"]
        await d.screen("gate.ready", timeout=1)


async def test_checkin_scanner_missing_shows_an_error_then_comes_back():
    d = Driver("checkin", fast_cfg(message_s=0.1))
    calls = []

    async def unavailable():
        calls.append(1)
        if len(calls) == 1:
            raise StepError("device_unavailable", device="qr_scanner")
        return await d.adapters.gate.get()

    d.adapters.gate_check = unavailable  # type: ignore[method-assign]
    async with d:
        data = await d.screen("error", timeout=1)
        assert data["kind"] == "device_unavailable" and data["device"] == "qr_scanner"
        await d.screen("gate.ready", timeout=1)
        assert len(calls) == 2


async def test_a_crashing_workflow_restarts_instead_of_leaving_a_dead_screen():
    async with Driver("checkin", fast_cfg(gate_result_s=0.1)) as d:
        await d.screen("gate.ready")
        d.adapters.gate.put_nowait(None)  # type: ignore[arg-type]  # a bug: not a GateResult
        data = await d.screen("error", timeout=1)
        assert data["detail"] == "internal"
        await d.screen("gate.ready", timeout=4)


# --- operator -------------------------------------------------------------------------------


async def login(d: Driver) -> None:
    await d.screen("op.login")
    d.send("pin", pin=d.adapters.pin)
    await d.screen("op.menu")


async def test_operator_wrong_pins_lock_then_unlock_after_the_lockout():
    async with Driver("operator", fast_cfg(pin_max_attempts=2, pin_lockout_s=0.2)) as d:
        data = await d.screen("op.login")
        assert data["configured"] and data["attempts_left"] == 2
        d.send("pin", pin="0000")
        data = await d.screen("op.login")
        assert data["error"] == "wrong_pin" and data["attempts_left"] == 1
        d.send("pin", pin="1111")
        await d.screen("op.locked")
        d.send("pin", pin=d.adapters.pin)  # ignored while locked
        await d.screen("op.login", timeout=1)
        await login(d)


async def test_operator_without_a_provisioned_pin_cannot_get_in():
    d = Driver("operator")
    d.adapters.configured = False
    async with d:
        data = await d.screen("op.login")
        assert data == {"configured": False}
        d.send("pin", pin=d.adapters.pin)
        await asyncio.sleep(0.05)
        assert d.view["screen"] == "op.login" and d.view["data"] == {"configured": False}


async def test_operator_captures_on_behalf_then_lists_today_then_logs_out():
    async with Driver("operator") as d:
        await login(d)
        d.send("new_capture")
        data = await d.screen("enroll.scan")
        assert data["operator"] is True
        d.adapters.qr.put_nowait(b"GOOD")
        await d.screen("enroll.confirm")
        d.send("confirm")
        await d.screen("enroll.consent")
        d.send("consent", purposes=["face"])
        await d.screen("enroll.review")
        d.send("save")
        await d.screen("enroll.receipt")
        assert d.adapters.saved[0].operator is True
        d.send("done")
        await d.screen("op.menu")  # still logged in
        d.send("records")
        data = await d.screen("op.records", "records")
        while data.get("loading"):
            data = await d.screen("op.records")
        assert [r["uploaded"] for r in data["rows"]] == [True, False] and data["uploaded"] == 1
        d.send("back")
        await d.screen("op.menu")
        d.send("logout")
        await d.screen("op.login")


async def test_operator_cancel_inside_a_capture_returns_to_the_menu():
    async with Driver("operator") as d:
        await login(d)
        d.send("new_capture")
        await d.screen("enroll.scan")
        d.send("cancel")
        await d.screen("op.menu")


async def test_idle_operator_is_logged_out():
    async with Driver("operator", fast_cfg(operator_idle_s=0.15)) as d:
        await login(d)
        await d.screen("op.login", timeout=1)


# --- engine ---------------------------------------------------------------------------------


def test_every_root_table_is_consistent():
    for root in ROOTS.values():
        assert root.initial in root.states
        for name, spec in root.states.items():
            assert spec.timeout is None or hasattr(fast_cfg(), spec.timeout), (root, name)


def test_a_table_with_an_unknown_target_is_refused():
    with pytest.raises(TypeError, match="unknown state"):

        class Broken(Workflow):
            name = "broken"
            initial = "a"
            states: ClassVar[dict[str, State]] = {"a": State("a", "idle_s", "nowhere")}

            async def on_a(self) -> str:
                return END


async def test_a_handler_returning_a_state_outside_its_row_is_a_bug():
    class Sneaky(Workflow):
        name = "sneaky"
        initial = "a"
        states: ClassVar[dict[str, State]] = {
            "a": State("a", "idle_s", END, ("b",)),
            "b": State("b", "idle_s", END, ()),
            "c": State("c", "idle_s", END, ()),
            ERROR: State("error", "message_s", END),
        }

        async def on_a(self) -> str:
            return "c"

        async def on_b(self) -> str:
            return END

        async def on_c(self) -> str:
            return END

    d = Driver()
    with pytest.raises(RuntimeError, match="a -> c"):
        await Sneaky(d.kiosk, d.adapters, fast_cfg()).run()


def test_step_error_kinds_are_checked():
    with pytest.raises(ValueError):
        StepError("oops")
