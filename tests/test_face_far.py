"""Small and far faces (full-range detector), whole-frame light when no face is found.

Generated cases come from the shipped sim portrait; the real-photo checks read
../shared/data/faces (see appliance.pipeline.face_data) and skip when it is absent.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from appliance.config import FaceConfig
from appliance.hal.sim import SIM_DATA, load_images
from appliance.imageio import read_image
from appliance.pipeline.face_conditions import EXPECTED, conditions_report
from appliance.pipeline.face_data import faces_dir, identities, is_final
from appliance.pipeline.face_detect import FULL_RANGE_ANCHORS, FULL_RANGE_MODEL, FaceDetector
from appliance.pipeline.face_frame import frame_exposure
from appliance.pipeline.face_quality import FaceQuality

SIDE = 1024


@pytest.fixture(scope="module")
def quality() -> FaceQuality:
    return FaceQuality(FaceConfig())


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    (img,) = load_images(SIM_DATA / "camera" / "portrait.jpg", (640, 480))
    return img


def far_frame(portrait: np.ndarray, centres: list[int]) -> np.ndarray:
    """A 1024x1024 grey frame with the portrait shrunk to 1/4 (face about 90-110 px wide, 25 px
    between the eyes), once per x centre: a citizen (or two) a few metres away."""
    small = cv2.resize(portrait, (160, 120), interpolation=cv2.INTER_AREA)
    canvas = np.full((SIDE, SIDE, 3), 120, np.uint8)
    for cx in centres:
        canvas[452:572, cx - 80 : cx + 80] = small
    return canvas


def test_full_range_anchors():
    assert FULL_RANGE_ANCHORS.shape == (2304, 2)
    assert np.allclose(FULL_RANGE_ANCHORS[0], [0.5 / 48, 0.5 / 48])
    assert np.allclose(FULL_RANGE_ANCHORS[-1], [47.5 / 48, 47.5 / 48])


def test_far_citizen_is_told_to_come_closer(quality, portrait):
    frame = far_frame(portrait, [512])
    near_only = FaceQuality(dataclasses.replace(FaceConfig(), far_faces=False))
    assert near_only.assess(frame).reasons[0] == "no_face"  # what main said
    result = quality.assess(frame)
    assert result.reasons[0] == "face_too_small"
    assert result.measures["inter_eye_distance"].raw < 40


def test_two_far_faces_are_multiple_faces(quality, portrait):
    result = quality.assess(far_frame(portrait, [300, 724]))
    assert result.reasons[0] == "multiple_faces"
    assert result.measures["single_face_present"].raw == 2


def test_full_range_detector_alone_finds_the_small_face(portrait):
    faces = FaceDetector(FULL_RANGE_MODEL, score_threshold=0.4).detect(far_frame(portrait, [512]))
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 420 < (x0 + x1) / 2 < 600 and 440 < (y0 + y1) / 2 < 580


def test_washed_out_frame_is_too_bright_not_no_face(quality, portrait):
    washed = np.clip(portrait.astype(np.float32) * 3.0, 0, 255).astype(np.uint8)
    result = quality.assess(washed)
    assert result.reasons[0] == "too_bright"
    if "no_face" in result.reasons:  # the whole frame was judged
        assert result.measures["frame_over_exposure"].raw > 0.15


def test_dark_empty_frame_is_too_dark(quality):
    result = quality.assess(np.full((480, 640, 3), 12, np.uint8))
    assert result.reasons == ["too_dark", "no_face"]
    assert result.measures["frame_under_exposure"].raw == 1.0


def test_frame_exposure_values():
    half = np.zeros((10, 10, 3), np.uint8)
    half[:, 5:] = 255
    v = frame_exposure(half)
    assert v["frame_under_exposure"] == 0.5 and v["frame_over_exposure"] == 0.5
    assert v["frame_luminance_mean"] == pytest.approx(0.5)


# --- real photographs ------------------------------------------------------------------------

needs_data = pytest.mark.skipif(faces_dir() is None, reason="../shared/data/faces is absent")


@needs_data
def test_brightened_identity_photo_is_too_bright(quality):
    people = identities(faces_dir(), final=False)
    assert people and not any(is_final(p) for p in people)
    photo = read_image(people["p001"][0], "RGB").astype(np.float32)
    result = quality.assess(np.clip(photo * 2.2, 0, 255).astype(np.uint8))
    assert "too_bright" in result.reasons


@needs_data
def test_real_small_faces_and_groups_give_their_codes(quality):
    report = conditions_report(quality)["per_condition"]
    # measured once (benchmarks/face-conditions-*.json): every small face and every group
    assert report["small_face"]["given"] == report["small_face"]["images"]
    assert report["two_or_more_faces"]["given"] == report["two_or_more_faces"]["images"]
    assert report["no_face"]["given"] == report["no_face"]["images"]
    assert report["glasses"]["expected"] is None and EXPECTED["glasses"] is None
