"""The service adapter's live face check on simulated devices: the sim chip's photo hash, and
the sim camera's still portrait failing the liveness challenge (a photo held up to the camera)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from appliance.config import load_config
from appliance.hal.sim import SIM_DATA
from appliance.hal.sim_camera import SimCamera
from appliance.hal.sim_card import SimCardReader
from appliance.kiosk_ui.sim_controls import FACES
from appliance.pipeline.workflows.service_adapters import ServiceAdapters, _read_chip

BAC = ("090012345", "900315", "300315")  # the test citizen's chip key


class Devices:
    def __init__(self, **present) -> None:
        self.present = present
        self.slots = dict.fromkeys(present)
        self.failures: list = []

    def get(self, kind):
        return self.present.get(kind)

    def report_failure(self, kind, exc):
        self.failures.append((kind, exc))


def test_the_sim_chips_photo_matched_its_hash():
    cfg = load_config("sim")
    reader = SimCardReader(cfg.card_reader)
    reader.open()
    reader.insert()
    try:
        chip = _read_chip(cfg, reader, BAC, lambda v: None)
    finally:
        reader.close()
    assert chip.photo_jpeg and chip.dg2_hash_ok is True


async def test_the_sim_still_portrait_fails_liveness_and_nothing_is_returned_but_the_record():
    cfg = load_config("sim")
    cfg = dataclasses.replace(cfg, face=dataclasses.replace(cfg.face, liveness_time_limit_s=1.0))
    camera = SimCamera(cfg.camera)
    camera.open()
    adapters = ServiceAdapters(SimpleNamespace(cfg=cfg, devices=Devices(camera=camera)))
    updates: list[dict] = []
    try:
        photo = (SIM_DATA / "citizen_portrait.jpg").read_bytes()
        record = await adapters.verify_face(photo, "turn_left", updates.append)
    finally:
        camera.close()
    assert record == {
        "decision": "liveness_failed",
        "score_band": "none",
        "challenge": "turn_left",
        "liveness": "failed",
    }
    assert updates and updates[-1]["liveness"] == "failed"
    assert not adapters.preview.active


def test_demo_control_puts_another_face_before_the_sim_camera():
    cfg = load_config("sim")
    camera = SimCamera(cfg.camera)
    camera.open()
    try:
        citizen = camera.read()
        camera.show(FACES["face_other"])
        other = camera.read()
        camera.show(None)
        again = camera.read()
    finally:
        camera.close()
    assert abs(citizen.astype(int) - other.astype(int)).mean() > 10
    assert (citizen == again).all()


@pytest.mark.parametrize(
    "face, challenge, decision",
    [("face_citizen", "turn_left", "match"), ("face_other", "turn_right", "no_match")],
)
async def test_the_sims_turning_faces_pass_liveness_then_compare(face, challenge, decision):
    cfg = load_config("sim")
    assert "blink" not in cfg.ui.liveness_challenges  # the sim's turning faces cannot blink
    camera = SimCamera(cfg.camera)
    camera.open()
    camera.show(FACES[face])
    adapters = ServiceAdapters(SimpleNamespace(cfg=cfg, devices=Devices(camera=camera)))
    try:
        photo = (SIM_DATA / "citizen_portrait.jpg").read_bytes()
        record = await adapters.verify_face(photo, challenge, lambda d: None)
    finally:
        camera.close()
    assert record["liveness"] == "passed" and record["decision"] == decision
