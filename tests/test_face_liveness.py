"""Active liveness: random challenge, turn and blink on the landmark stream, time limit.

Synthetic assessment streams test the logic; the shipped still portrait must fail; the real
recorded clips in ../shared/data/faces/video/ must pass (skipped when absent).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from appliance.cli import main
from appliance.config import FaceConfig
from appliance.hal.sim import SIM_DATA
from appliance.pipeline.face_data import faces_dir
from appliance.pipeline.face_liveness import (
    CHALLENGES,
    FAILED,
    PASSED,
    WAITING,
    LivenessCheck,
    check_frames,
)
from appliance.pipeline.face_match_cli import video_frames
from appliance.pipeline.face_quality import FaceAssessment, FaceGeometry, FaceQuality, Measure

CFG = FaceConfig()
STILL = SIM_DATA / "camera" / "portrait.jpg"


def frame(yaw: float = 0.0, eyes: float = 0.33, faces: int = 1, x: float = 300.0):
    """An assessment carrying only what the check reads."""
    measures = {
        "single_face_present": Measure(faces, 0),
        "head_pose_yaw": Measure(yaw, 0),
        "eyes_open": Measure(eyes, 0),
    }
    face = FaceGeometry((x, 200, x + 100, 300), (0, 0, 0, 0), ((0, 0), (0, 0)), (0, 0, 0, 0))
    return FaceAssessment("fail", [], measures, {}, face if faces else None)


def run(check: LivenessCheck, stream, fps: float = 10.0) -> str:
    for i, a in enumerate(stream):
        state = check.feed(a, i / fps)
    return state


def test_challenge_is_random_per_session():
    from appliance.pipeline.face_liveness import random_challenge

    seen = Counter(random_challenge() for _ in range(300))
    assert set(seen) == set(CHALLENGES) and min(seen.values()) > 50
    assert random_challenge(["blink"]) == "blink"
    with pytest.raises(ValueError):
        random_challenge(["smile"])


def test_turn_left_passes_and_the_wrong_way_does_not():
    turn = [frame(yaw=-3)] * 4 + [frame(yaw=y) for y in (5, 15, 24, 30)]
    assert run(LivenessCheck("turn_left", CFG), turn) == PASSED
    assert run(LivenessCheck("turn_right", CFG), turn) == WAITING
    back = [frame(yaw=2)] * 4 + [frame(yaw=-y) for y in (10, 20, 28)]
    assert run(LivenessCheck("turn_right", CFG), back) == PASSED


def test_turn_needs_a_frontal_start():
    already_turned = [frame(yaw=35)] * 10 + [frame(yaw=45)] * 10
    assert run(LivenessCheck("turn_left", CFG), already_turned) == WAITING


def test_blink_passes_only_when_the_eyes_reopen():
    shut = [frame(eyes=0.34)] * 5 + [frame(eyes=0.15)] * 2
    assert run(LivenessCheck("blink", CFG), shut) == WAITING
    assert run(LivenessCheck("blink", CFG), [*shut, frame(eyes=0.33)]) == PASSED
    shallow = [frame(eyes=0.34)] * 5 + [frame(eyes=0.26), frame(eyes=0.34)] * 5
    assert run(LivenessCheck("blink", CFG), shallow) == WAITING  # looking down, not a blink


def test_still_stream_fails_on_the_time_limit():
    check = LivenessCheck("blink", CFG)
    state = run(check, [frame()] * 100)  # 10 s at 10 fps, limit 8 s
    assert state == FAILED and check.events[-1] == "time_limit"


def test_a_second_face_or_a_jump_restarts_the_baseline():
    check = LivenessCheck("turn_left", CFG)
    stream = [frame(yaw=0)] * 4 + [frame(faces=2)] + [frame(yaw=40, x=300)]
    assert run(check, stream) == WAITING and "multiple_faces" in check.events
    check = LivenessCheck("turn_left", CFG)
    stream = [frame(yaw=0)] * 4 + [frame(yaw=40, x=500)]  # another face, elsewhere
    assert run(check, stream) == WAITING and "face_jumped" in check.events


def test_unknown_challenge():
    with pytest.raises(ValueError):
        LivenessCheck("smile", CFG)


@pytest.fixture(scope="module")
def quality() -> FaceQuality:
    return FaceQuality(CFG)


@pytest.mark.parametrize("challenge", CHALLENGES)
def test_the_sims_still_portrait_fails(quality, challenge):
    frames = video_frames(str(STILL), still_s=CFG.liveness_time_limit_s + 1)
    check = check_frames(frames, challenge, quality, CFG)
    assert check.state == FAILED and check.events[-1] == "time_limit"


def test_cli_liveness_still_image(capsys):
    assert main(["face", "liveness", str(STILL), "--challenge", "blink", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["passed"] is False
    assert out["checks"][0]["result"] == FAILED


def test_cli_liveness_missing_file(tmp_path, capsys):
    assert main(["face", "liveness", str(tmp_path / "none.mp4"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_input"


VIDEO = (faces_dir() / "video") if faces_dir() else None
needs_video = pytest.mark.skipif(
    VIDEO is None or not VIDEO.is_dir(), reason="../shared/data/faces/video is absent"
)


@needs_video
@pytest.mark.parametrize(
    "clip, challenge",
    [
        ("headturn_webcam_yaw_pitch_roll.avi", "turn_left"),
        ("headturn_webcam_yaw_pitch_roll.avi", "turn_right"),
        ("blink_frontal_hdtf_aoc.mp4", "blink"),
        ("blink_frontal_vlog_woman.mp4", "blink"),
    ],
)
def test_real_recorded_clips_pass(quality, clip, challenge):
    check = check_frames(video_frames(str(VIDEO / clip)), challenge, quality, CFG)
    assert check.state == PASSED, check.to_dict()


@needs_video
def test_talking_head_is_not_a_turn(quality):
    clip = VIDEO / "blink_frontal_hdtf_aoc.mp4"  # head moves 10-20 deg while talking
    for challenge in ("turn_left", "turn_right"):
        check = check_frames(video_frames(str(clip)), challenge, quality, CFG)
        assert check.state == FAILED


def keystone(rgb, k: float):
    """The flat photo turned about its vertical axis (one side further away): a printed photo
    rotated in front of the camera."""
    import cv2
    import numpy as np

    h, w = rgb.shape[:2]
    d = abs(k) * h / 2
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, 0], [w, d], [w, h - d], [0, h]]) if k > 0 else np.float32(
        [[0, d], [w, 0], [w, h], [0, h - d]]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("challenge", ["turn_left", "turn_right"])
def test_a_printed_photo_turned_before_the_camera_is_not_a_head_turn(quality, challenge):
    from appliance.imageio import read_image

    rgb = read_image(STILL)
    ks = [0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.3, 0.2, 0.1, 0, -0.1, -0.2, -0.3, -0.4]
    frames = [(i / 10, keystone(rgb, k)) for i, k in enumerate(ks)]
    check = check_frames(frames, challenge, quality, CFG)
    assert check.state == FAILED and check.peak < 10  # a flat face barely changes the yaw
