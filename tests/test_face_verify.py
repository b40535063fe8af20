"""The "look at the camera" step: liveness first, then the best frontal frame against the chip."""

from __future__ import annotations

import copy

import pytest

from appliance.config import FaceConfig
from appliance.hal.sim import SIM_DATA
from appliance.imageio import read_image
from appliance.pipeline.face_liveness import FAILED
from appliance.pipeline.face_match import FaceMatcher, decode_image
from appliance.pipeline.face_match_cli import video_frames
from appliance.pipeline.face_quality import Measure
from appliance.pipeline.face_verify import LIVENESS_FAILED, look_at_camera

CFG = FaceConfig()


class ScriptedYaw:
    """The real assessor, with the yaw of each successive frame replaced by a script: a
    cooperative citizen turning the head, shown with the shipped still frames."""

    def __init__(self, quality, yaws):
        self.quality, self.yaws = quality, list(yaws)

    def assess(self, rgb):
        a = self.quality.assess(rgb)
        if a.face is not None and self.yaws:
            a.measures["head_pose_yaw"] = Measure(self.yaws.pop(0), 0)
        return a


@pytest.fixture(scope="module")
def matcher() -> FaceMatcher:
    return FaceMatcher(CFG)


@pytest.fixture(scope="module")
def chip(matcher):
    return matcher.sample(decode_image((SIM_DATA / "citizen_portrait.jpg").read_bytes()))


def turning(matcher, image: str):
    m = copy.copy(matcher)  # shallow copy sharing the loaded models
    m.quality = ScriptedYaw(matcher.quality, [0, 1, -1, 8, 18, 30])
    rgb = read_image(SIM_DATA / image)
    return m, [(i / 10, rgb) for i in range(6)]


def test_the_live_owner_matches(matcher, chip):
    m, frames = turning(matcher, "camera/portrait.jpg")
    outcome = look_at_camera(frames, chip, "turn_left", m)
    assert outcome.liveness["result"] == "passed"
    assert outcome.decision == "match" and outcome.owner
    assert outcome.record() == {
        "decision": "match",
        "score_band": outcome.match.to_dict()["score_band"],
        "challenge": "turn_left",
        "liveness": "passed",
    }


def test_someone_else_live_does_not_match(matcher, chip):
    m, frames = turning(matcher, "other_person.jpg")
    outcome = look_at_camera(frames, chip, "turn_left", m)
    assert outcome.decision == "no_match" and not outcome.owner


def test_the_still_portrait_fails_liveness_and_is_never_compared(matcher, chip):
    frames = video_frames(
        str(SIM_DATA / "camera" / "portrait.jpg"), still_s=CFG.liveness_time_limit_s + 1
    )
    outcome = look_at_camera(frames, chip, "blink", matcher)
    assert outcome.decision == LIVENESS_FAILED and outcome.match is None
    assert outcome.liveness["result"] == FAILED
    assert outcome.record()["score_band"] == "none"


def test_camera_stopping_early_fails(matcher, chip):
    rgb = read_image(SIM_DATA / "camera" / "portrait.jpg")
    outcome = look_at_camera([(0.0, rgb), (0.1, rgb)], chip, "turn_right", matcher)
    assert outcome.decision == LIVENESS_FAILED
    assert outcome.liveness["events"][-1] == "frames_ended"
