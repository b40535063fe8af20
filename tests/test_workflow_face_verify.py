"""Verification's live face check: offered only for a genuine chip whose photo matched its hash;
consent first; the result is kind either way; only the decision and a score band are kept."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from test_workflow_fakes import Driver, fast_cfg

from appliance.pipeline.workflows.verification import VerificationWorkflow


async def read_card(d: Driver) -> dict:
    await d.screen("home")
    d.send("start", flow="verification")
    await d.screen("verify.scan")
    d.adapters.qr.put_nowait(b"GOOD")
    await d.screen("verify.tap")
    d.adapters.card.set()
    return await d.screen("verify.result")


def hash_ok(d: Driver) -> None:
    d.adapters.chip = dataclasses.replace(d.adapters.chip, dg2_hash_ok=True)


@pytest.mark.parametrize("decision, owner", [("match", True), ("no_match", False),
                                             ("cannot_tell", False), ("liveness_failed", False)])
async def test_face_check_after_consent(decision, owner):
    async with Driver() as d:
        hash_ok(d)
        d.adapters.face_decision = decision
        data = await read_card(d)
        assert data["face_check"] is True
        d.send("check_face")
        await d.screen("verify.face_consent")
        assert not any(c.startswith("verify_face") for c in d.adapters.calls)  # consent first
        d.send("consent")
        data = await d.screen("verify.face_result")
        assert data["owner"] is owner and data["reason"] == decision
        (call,) = [c for c in d.adapters.calls if c.startswith("verify_face")]
        assert call.split(":")[1] in ("turn_left", "turn_right", "blink")
        assert d.adapters.indicated[-1] == ("ok" if owner else "help")
        d.send("done")
        await d.screen("home")
        wf = [m for m in d.messages if m.get("type") == "guidance"]
        assert wf and wf[0]["liveness"] == "waiting"


async def test_outcome_keeps_only_decision_and_band(caplog):
    caplog.set_level(logging.INFO)
    async with Driver() as d:
        hash_ok(d)
        await read_card(d)
        d.send("check_face")
        await d.screen("verify.face_consent")
        d.send("consent")
        await d.screen("verify.face_result")
        d.send("done")
        await d.screen("home")
    ended = [r.getMessage() for r in caplog.records if "verification ended" in r.getMessage()]
    assert ended == ["verification ended: read:genuine;face:match:0.9-1.0"]
    assert VerificationWorkflow.states["face_live"].screen == "verify.face_live"


async def test_declining_the_face_check_ends_kindly():
    async with Driver() as d:
        hash_ok(d)
        await read_card(d)
        d.send("check_face")
        await d.screen("verify.face_consent")
        d.send("decline")
        await d.screen("home")
        assert not any(c.startswith("verify_face") for c in d.adapters.calls)


async def test_not_offered_when_the_photo_hash_did_not_match():
    async with Driver() as d:
        data = await read_card(d)  # the fake chip's DG2 hash status is not ok
        assert data["face_check"] is False


async def test_not_offered_for_a_card_that_is_not_genuine():
    async with Driver() as d:
        hash_ok(d)
        d.adapters.chip = dataclasses.replace(d.adapters.chip, passive="failed")
        data = await read_card(d)
        assert data["face_check"] is False


async def test_not_offered_when_switched_off():
    async with Driver(cfg=fast_cfg(verify_face=False)) as d:
        hash_ok(d)
        data = await read_card(d)
        assert data["face_check"] is False
