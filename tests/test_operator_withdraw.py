"""Promises with a mechanism (issue 16, defect 10): consent withdrawal from the operator screen and
``appliance consent withdraw``, and a PIN lockout that grows and survives a restart."""

from __future__ import annotations

import json

import pytest
from test_store_cli import filled, office, run  # noqa: F401  (fixtures)
from test_workflow_fakes import Driver, fast_cfg

from appliance.pipeline.workflows.lockout import PinLockout


async def login(d: Driver) -> None:
    await d.screen("op.login")
    d.send("pin", pin=d.adapters.pin)
    await d.screen("op.menu")


async def test_operator_withdraws_a_consent_by_receipt_code():
    calls = []

    async def withdraw(code):
        calls.append(code)
        if code != "K7Q2M4XD":
            return None
        return {"receipt_code": "K7Q2-M4XD", "captures": 1, "deleted_unsent": 0,
                "already_delivered": 1, "already_withdrawn": False}  # fmt: skip

    d = Driver("operator")
    d.adapters.withdraw_consent = withdraw
    async with d:
        await login(d)
        d.send("withdraw")
        await d.screen("op.withdraw")
        d.send("withdraw", code="ZZZZ0000")
        data = await d.screen("op.withdraw")
        assert data["error"] == "not_found"
        d.send("withdraw", code="K7Q2M4XD")
        data = await d.screen("op.withdraw")
        assert data["done"] is True and data["receipt_code"] == "K7Q2-M4XD"
        assert (data["captures"], data["deleted"], data["delivered"]) == (1, 0, 1)
        d.send("back")
        await d.screen("op.menu")
    assert calls == ["ZZZZ0000", "K7Q2M4XD"]


def test_lockout_doubles_and_is_kept_on_disk(tmp_path):
    now = [1000.0]
    path = tmp_path / "pin-lockout.json"
    lock = PinLockout(path, 3, 60.0, clock=lambda: now[0])
    assert [lock.failed() for _ in range(3)] == [False, False, True]
    assert lock.remaining_s() == 60.0
    again = PinLockout(path, 3, 60.0, clock=lambda: now[0])  # a restart
    assert again.remaining_s() == 60.0 and again.lockouts == 1
    now[0] += 61
    assert again.remaining_s() == 0 and again.attempts_left == 3
    assert [again.failed() for _ in range(3)] == [False, False, True]
    assert again.remaining_s() == 120.0  # the second lockout in a row: twice as long
    now[0] += 121
    again.failed()
    assert PinLockout(path, 3, 60.0, clock=lambda: now[0]).attempts_left == 2  # counted on disk
    again.succeeded()
    fresh = PinLockout(path, 3, 60.0, clock=lambda: now[0])
    assert fresh.attempts_left == 3 and fresh.lockouts == 0


def test_lockout_caps_a_clock_jump_and_locks_on_a_damaged_file(tmp_path):
    now = [1000.0]
    path = tmp_path / "pin-lockout.json"
    path.write_text(json.dumps({"failures": 0, "lockouts": 40, "locked_until": 1e12}))
    assert PinLockout(path, 3, 60.0, max_s=3600, clock=lambda: now[0]).remaining_s() == 3600
    path.write_text("{not json")
    assert PinLockout(path, 3, 60.0, clock=lambda: now[0]).remaining_s() == 60.0


async def test_a_restart_does_not_give_fresh_guesses(tmp_path):
    path = tmp_path / "pin-lockout.json"
    cfg = fast_cfg(pin_max_attempts=2, pin_lockout_s=30.0)
    first = Driver("operator", cfg)
    first.adapters.lockout_path = lambda: path
    async with first as d:
        await d.screen("op.login")
        d.send("pin", pin="000000")
        await d.screen("op.login")
        d.send("pin", pin="111111")
        data = await d.screen("op.locked")
        assert data["seconds"] == 30
    second = Driver("operator", cfg)  # the service restarted (or the plug was pulled)
    second.adapters.lockout_path = lambda: path
    async with second as d:
        data = await d.screen("op.locked")
        assert 0 < data["seconds"] <= 30
        d.send("pin", pin=d.adapters.pin)  # ignored while locked
        assert d.view["screen"] == "op.locked"


def test_consent_withdraw_command(capsys, tmp_path, office, filled):  # noqa: F811
    state, receipts, _ = filled
    code = receipts[0].receipt_code
    rc, (res,) = run(capsys, "consent", "withdraw", "--receipt", code.lower().replace("-", ""),
                     "--state-dir", str(state))  # fmt: skip
    assert rc == 0 and res["ok"] and res["receipt_code"] == code
    # Both captures were made under one consent; neither bundle had left the kiosk.
    assert res["captures"] == 2 and res["deleted_unsent"] == 2 and res["already_delivered"] == 0
    assert res["consent"]["withdrawn_at"] == res["withdrawn_at"]
    assert res["consent"]["withdrawal_reason"] == "citizen_request"
    assert res["notice_bundle_id"]  # a sealed notice for the office
    rc, (res,) = run(capsys, "consent", "withdraw", "--receipt", code, "--state-dir", str(state))
    assert rc == 0 and res["already_withdrawn"] is True
    rc, (res,) = run(capsys, "consent", "withdraw", "--receipt", "ZZZZ-0000",
                     "--state-dir", str(state))  # fmt: skip
    assert rc == 2 and res["error"]["code"] == "not_found"
    rc, (res,) = run(capsys, "consent", "withdraw", "--receipt", "../x", "--state-dir", str(state))
    assert rc == 2 and res["error"]["code"] == "usage"


def test_withdrawal_after_delivery_tells_the_office(capsys, tmp_path, office, filled):  # noqa: F811
    state, receipts, _ = filled
    run(capsys, "export", "--to", str(tmp_path / "usb"), "--mark-delivered", "--state-dir",
        str(state))  # fmt: skip
    rc, (res,) = run(capsys, "consent", "withdraw", "--receipt", receipts[1].receipt_code,
                     "--state-dir", str(state))  # fmt: skip
    assert rc == 0 and res["deleted_unsent"] == 0 and res["already_delivered"] == 2
    assert res["notice_bundle_id"]
    rc, (out,) = run(capsys, "outbox", "--state-dir", str(state))
    assert out["pending"] == 1  # only the withdrawal notice waits to go


@pytest.mark.parametrize("pin", ["4731", "12345"])
def test_short_pins_are_refused(tmp_path, pin):
    from test_field_rules import _card

    from appliance.provision import ProvisionError, read_provision

    text = (
        'profile = "field-kit"\ndevice_name = "k-01"\n[office]\n'
        f'public_key = "office_x25519.pub"\n[operator]\npin = "{pin}"\n'
    )
    with pytest.raises(ProvisionError, match="6 to 12 digits"):
        read_provision(_card(tmp_path, text))
