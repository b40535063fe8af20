"""Forged QR codes at the gate (issue 16, defect 13): unknown layouts refused by default, and the
``chip`` policy that admits only a card whose chip verifies (sim reader, emulated chips)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_gate_run import Rig, make_cfg

from appliance.cccd.qr import build_payload
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.config import GateConfig, load_config

REPO = Path(__file__).resolve().parent.parent
# Self-consistent, not expired, printed by anyone: the 2021 QR carries no signature.
FORGED = build_payload(
    {
        **TEST_CITIZEN,
        "id_number": "001190054321",
        "full_name": "PHẠM THỊ GIẢ",
        "sex": "female",
        "date_of_birth": "1990-03-02",
        "issue_date": "2021-05-01",
    }
)
TWELVE_DIGITS = "079190054321|anything"


def test_unknown_layout_is_refused_by_default():
    assert GateConfig().unknown_layout == "refuse"
    assert load_config("tourist-gate", sim=True).gate.unknown_layout == "refuse"
    assert GateConfig().assurance == "qr"


async def test_with_the_qr_alone_a_forged_payload_is_admitted(tmp_path):
    """What docs/qr-gate.md now says plainly: the default policy cannot tell a forgery."""
    r = Rig(make_cfg(tmp_path))
    await r.start()
    try:
        assert (await r.scan(FORGED)).decision.decision == "admit"
        assert (await r.scan(TWELVE_DIGITS)).decision.admitted is False
    finally:
        await r.close()


async def scan(rig, payload, timeout=60.0):
    rig.scanner.inject(payload.encode())
    event = await asyncio.wait_for(rig.events.get(), timeout)  # a chip read takes seconds
    await asyncio.sleep(0.05)
    return event


@pytest.fixture
async def chip_rig(tmp_path):
    cfg = make_cfg(tmp_path, assurance="chip", chip_wait_s=0.5, unknown_layout="admit")
    cfg.card_reader.sim_insert_after_s = 3600.0  # the card comes only when the test taps it
    r = Rig(cfg)
    await r.start()
    r.reader = r.devices.get("card_reader")
    yield r
    await r.close()


async def test_chip_policy_admits_the_genuine_card_tapped(chip_rig):
    chip_rig.reader.insert()
    ev = await scan(chip_rig, TEST_QR_PAYLOAD)
    assert (ev.decision.decision, ev.decision.admitted) == ("admit", True)
    assert chip_rig.pin("gate_relay").state is True


async def test_chip_policy_refuses_a_forged_qr_even_with_a_genuine_card(chip_rig):
    chip_rig.reader.insert()  # someone else's genuine card: BAC with the forged QR's keys fails
    ev = await scan(chip_rig, FORGED)
    assert (ev.decision.decision, ev.decision.reason) == ("chip_refused", "chip_mismatch")
    assert chip_rig.pin("gate_relay").state is False and chip_rig.pin("led_red").state is True
    rows = chip_rig.store.checkins(__import__("datetime").date.today())
    assert (rows[-1]["decision"], rows[-1]["reason"]) == ("chip_refused", "chip_mismatch")


async def test_chip_policy_refuses_without_a_tap_and_forgets_the_card(chip_rig):
    ev = await scan(chip_rig, TEST_QR_PAYLOAD)
    assert (ev.decision.decision, ev.decision.reason) == ("chip_refused", "chip_timeout")
    assert chip_rig.pin("gate_relay").state is False
    chip_rig.reader.insert()
    await asyncio.sleep(0.3)  # longer than dedupe_s
    ev = await scan(chip_rig, TEST_QR_PAYLOAD)  # not a "duplicate" of the refused attempt
    assert ev.decision.decision == "admit"


async def test_chip_policy_refuses_a_chip_that_does_not_verify(chip_rig):
    from appliance.hal.sim_card import sim_portrait_jpeg
    from appliance.icao.emulator import CardEmulator
    from appliance.icao.personalise import personalise
    from appliance.icao.pki import generate_pki

    # The same citizen's data on a chip signed by a PKI the trust store does not know.
    clone = CardEmulator(personalise(TEST_CITIZEN, sim_portrait_jpeg(), generate_pki(), aa="rsa"))
    chip_rig.reader.insert(clone)
    ev = await scan(chip_rig, TEST_QR_PAYLOAD)
    assert (ev.decision.decision, ev.decision.reason) == ("chip_refused", "chip_not_verified")


async def test_chip_policy_refuses_an_unknown_layout_it_cannot_check(chip_rig):
    chip_rig.reader.insert()
    ev = await scan(chip_rig, TWELVE_DIGITS)
    assert (ev.decision.decision, ev.decision.reason) == ("chip_refused", "chip_mismatch")


def test_docs_say_the_qr_is_unsigned():
    text = (REPO / "docs" / "qr-gate.md").read_text()
    assert "unsigned" in text and 'assurance = "chip"' in text


# --- [gate] face_check: the visitor must be the card's holder (issue 18) ----------------------


def sim_camera(tmp_path, source):
    """The sim camera showing ``source`` (a folder of frames or one image) at 15 fps."""
    from appliance.hal.sim_camera import SimCamera

    cfg = make_cfg(tmp_path).camera
    cfg.sim_source = str(source)
    camera = SimCamera(cfg)
    camera.open()
    return camera


class NoCamera:
    def read(self, timeout=2.0):
        raise AssertionError("the camera must not be used")


def chip_with(photo: bytes, dg2: str = "ok"):
    """What read_card returns, as far as the face check looks: DG2's hash status and photo."""
    from types import SimpleNamespace

    from appliance.icao.lds import FaceImage

    passive = SimpleNamespace(data_groups={"DG1": "ok", "DG2": dg2, "DG13": "ok"})
    return SimpleNamespace(passive_auth=passive, face=FaceImage(photo, "jpeg"))


@pytest.fixture
def face_cfg(tmp_path):
    cfg = make_cfg(tmp_path, assurance="chip", face_check=True)
    cfg.ui.liveness_challenges = ["turn_left"]
    cfg.face.liveness_time_limit_s = 3.0
    return cfg


def test_face_check_needs_the_chip_policy():
    from appliance.errors import ConfigError

    assert GateConfig().face_check is False
    with pytest.raises(ConfigError):
        GateConfig(face_check=True)
    assert GateConfig(assurance="chip", face_check=True).face_check


def test_gate_face_check_the_holder_matches_and_someone_else_does_not(tmp_path, face_cfg):
    from appliance.hal.sim import SIM_DATA
    from appliance.pipeline.gate_chip import face_check

    chip = chip_with((SIM_DATA / "citizen_portrait.jpg").read_bytes())
    owner = sim_camera(tmp_path, SIM_DATA / "turning" / "citizen")
    assert face_check(chip, owner, face_cfg) is None
    other = sim_camera(tmp_path, SIM_DATA / "turning" / "other")
    assert face_check(chip, other, face_cfg) == "face_no_match"


def test_gate_face_check_cannot_tell_and_a_still_photo(tmp_path, face_cfg):
    import io

    from PIL import Image

    from appliance.hal.sim import SIM_DATA
    from appliance.pipeline.gate_chip import face_check

    buf = io.BytesIO()
    Image.new("RGB", (360, 480), (128, 128, 128)).save(buf, "JPEG")  # a DG2 without a face
    live = sim_camera(tmp_path, SIM_DATA / "turning" / "citizen")
    assert face_check(chip_with(buf.getvalue()), live, face_cfg) == "face_cannot_tell"
    chip = chip_with((SIM_DATA / "citizen_portrait.jpg").read_bytes())
    still = sim_camera(tmp_path, SIM_DATA / "camera" / "portrait.jpg")  # a photo held up
    assert face_check(chip, still, face_cfg) == "face_liveness_failed"


@pytest.mark.parametrize("dg2", ["mismatch", "missing", "not_in_sod"])
def test_gate_face_check_never_compares_a_dg2_the_sod_does_not_cover(face_cfg, dg2):
    from appliance.hal.sim import SIM_DATA
    from appliance.pipeline.gate_chip import face_check

    chip = chip_with((SIM_DATA / "citizen_portrait.jpg").read_bytes(), dg2=dg2)
    assert face_check(chip, NoCamera(), face_cfg) == "face_not_compared"
    assert face_check(chip_with(b"", dg2="ok"), None, face_cfg) == "face_no_camera"


@pytest.mark.parametrize(
    "face, decision, reason",
    [("citizen", "admit", None), ("other", "chip_refused", "face_no_match")],
)
async def test_chip_policy_with_face_check_at_the_gate(tmp_path, face, decision, reason):
    """The gate loop with the sim camera: the card's holder turning the head is admitted,
    someone else with the same genuine card is refused."""
    from appliance.hal.sim import SIM_DATA

    cfg = make_cfg(tmp_path, assurance="chip", chip_wait_s=0.5, face_check=True)
    cfg.card_reader.sim_insert_after_s = 3600.0
    cfg.camera.sim_source = str(SIM_DATA / "turning" / face)
    cfg.ui.liveness_challenges = ["turn_left"]
    r = Rig(cfg)
    await r.start()
    try:
        r.reader = r.devices.get("card_reader")
        r.reader.insert()
        ev = await scan(r, TEST_QR_PAYLOAD)
        assert (ev.decision.decision, ev.decision.reason) == (decision, reason)
        assert r.pin("gate_relay").state is (decision == "admit")
        rows = r.store.checkins(__import__("datetime").date.today())
        assert (rows[-1]["decision"], rows[-1]["reason"]) == (decision, reason)
    finally:
        await r.close()
