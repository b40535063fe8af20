"""Face quality measures and policy on images derived from one good frontal photo.

The photo is the sim camera's frame (``appliance/hal/sim_data/camera/portrait.jpg``, made from
scikit-image's public-domain ``astronaut`` by tools/make_face_sim_data.py); every bad case is
derived from it here, so each test knows what it changed.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from appliance.config import FaceConfig, load_config
from appliance.errors import ConfigError
from appliance.hal.sim import SIM_DATA, load_images
from appliance.pipeline.face_guidance import CAPTURED, GUIDANCE, HOLD_STILL, instruction
from appliance.pipeline.face_quality import (
    FAILURE_TO_ASSESS,
    MEASURES,
    OK,
    REASONS,
    FaceQuality,
    Measure,
    sharpness,
)

W, H = 640, 480


@pytest.fixture(scope="module")
def quality() -> FaceQuality:
    return FaceQuality(FaceConfig())


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    (img,) = load_images(SIM_DATA / "camera" / "portrait.jpg", (W, H))
    return img


@pytest.fixture(scope="module")
def good(quality, frame):
    return quality.assess(frame)


# --- derivations ---------------------------------------------------------------------------


def shift_left(img: np.ndarray, dx: int) -> np.ndarray:
    """Move the picture ``dx`` px to the left, repeating the right edge."""
    return np.concatenate([img[:, dx:], np.repeat(img[:, -1:], dx, axis=1)], axis=1)


def rotate(img: np.ndarray, degrees: float, centre=(W / 2, 222.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def downscale_to_ied(img: np.ndarray, ied_now: float, ied: float) -> np.ndarray:
    """The whole picture shrunk so the eyes are ``ied`` px apart, centred on a plain canvas made
    from the picture's own colours (a person further from the camera)."""
    s = ied / ied_now
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    tiny = cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA)
    canvas = cv2.resize(tiny, (W, H), interpolation=cv2.INTER_LINEAR)
    y, x = (H - small.shape[0]) // 2, (W - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


def two_side_by_side(img: np.ndarray) -> np.ndarray:
    half = cv2.resize(img, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    pad = H // 4
    return cv2.copyMakeBorder(np.hstack([half, half]), pad, pad, 0, 0, cv2.BORDER_REFLECT)


def scale(img: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


# --- the good photo ------------------------------------------------------------------------


def test_good_frontal_photo_passes(good):
    assert good.verdict == "pass", good.reasons
    assert good.reasons == []
    assert list(good.measures) == list(MEASURES)
    assert all(m.status == OK for m in good.measures.values())
    assert good.measures["single_face_present"].raw == 1
    assert 90 <= good.measures["inter_eye_distance"].raw <= 110
    for m in good.measures.values():
        assert 0 <= m.score <= 100


def test_to_dict_shape(good):
    d = good.to_dict()
    assert d["verdict"] == "pass" and d["reasons"] == []
    assert set(d["ms"]) == {"detect", "landmarks", "measures", "total"}
    assert d["ms"]["total"] >= d["ms"]["detect"]
    assert set(d["measures"]) == set(MEASURES)
    assert set(d["measures"]["sharpness"]) == {"raw", "score", "status"}
    # eyes are found where the photo has them (right eye on the image's left)
    (rx, ry), (lx, ly) = d["face"]["eyes"]
    assert rx < W / 2 < lx and abs(ry - ly) < 5


def test_portrait_box_is_3_by_4_around_the_head(good):
    x0, y0, x1, y1 = good.face.portrait
    assert (x1 - x0) / (y1 - y0) == pytest.approx(0.75)
    hx0, hy0, hx1, hy1 = good.face.head
    assert x0 < hx0 and hx1 < x1 and y0 < hy0 and hy1 < y1
    assert (hy1 - hy0) / (y1 - y0) == pytest.approx(0.72, abs=0.01)


# --- derived bad photos ---------------------------------------------------------------------


def test_blurred_is_blurry(quality, frame):
    result = quality.assess(cv2.GaussianBlur(frame, (0, 0), 4))
    assert "blurry" in result.reasons
    assert result.measures["sharpness"].status == OK


def test_darkened_is_too_dark(quality, frame):
    result = quality.assess(scale(frame, 0.3))
    assert "too_dark" in result.reasons
    assert "too_bright" not in result.reasons and "blurry" not in result.reasons


def test_over_exposed_is_too_bright(quality, frame):
    result = quality.assess(scale(frame, 1.6))
    assert "too_bright" in result.reasons
    assert "too_dark" not in result.reasons
    assert result.measures["over_exposure_prevention"].raw > 0.05


@pytest.mark.parametrize("degrees", [20, -20])
def test_rotated_in_plane_is_roll(quality, frame, good, degrees):
    result = quality.assess(rotate(frame, degrees))
    assert "roll" in result.reasons
    change = result.measures["head_pose_roll"].raw - good.measures["head_pose_roll"].raw
    assert change == pytest.approx(degrees, abs=3)


def test_downscaled_to_60px_between_the_eyes_is_too_small(quality, frame, good):
    ied = good.measures["inter_eye_distance"].raw
    result = quality.assess(downscale_to_ied(frame, ied, 60))
    assert result.measures["inter_eye_distance"].raw == pytest.approx(60, abs=5)
    assert "face_too_small" in result.reasons


def test_half_cropped_is_cropped_or_no_face(quality, frame, good):
    x0, _, x1, _ = good.face.head
    result = quality.assess(shift_left(frame, round((x0 + x1) / 2)))
    assert "cropped" in result.reasons or result.reasons == ["no_face"]


def test_two_faces_side_by_side(quality, frame):
    result = quality.assess(two_side_by_side(frame))
    assert "multiple_faces" in result.reasons
    assert result.measures["single_face_present"].raw == 2
    assert result.measures["single_face_present"].score == 0


def test_no_face(quality, frame):
    empty = cv2.resize(frame[:120, :160], (W, H), interpolation=cv2.INTER_CUBIC)
    result = quality.assess(empty)
    assert result.reasons == ["no_face"] and result.verdict == "fail"
    assert result.measures["single_face_present"].raw == 0
    for name in MEASURES[1:]:
        assert result.measures[name].status == FAILURE_TO_ASSESS
        assert result.measures[name].raw is None
    assert result.face is None and result.to_dict()["face"] is None


def test_off_center_and_too_large(quality, frame):
    assert "off_center" in quality.assess(shift_left(frame, 200)).reasons
    closer = cv2.resize(frame, None, fx=1.3, fy=1.3, interpolation=cv2.INTER_CUBIC)
    y, x = (closer.shape[0] - H) // 2, (closer.shape[1] - W) // 2
    result = quality.assess(closer[y : y + H, x : x + W])
    assert "face_too_large" in result.reasons


def test_one_side_lit_is_uneven_light(quality, frame, good):
    (rx, _), (lx, _) = good.face.eyes
    lit = frame.astype(np.float32)
    lit[:, round((rx + lx) / 2) :] *= 0.45
    result = quality.assess(lit.astype(np.uint8))
    assert "uneven_light" in result.reasons
    assert result.measures["illumination_uniformity"].raw < 0.6


def test_posters_behind_the_head_are_a_busy_background(quality, frame, good):
    yy, xx = np.mgrid[0:H, 0:W]
    blocks = (((xx // 32) + (yy // 32)) % 2 * 200 + 25).astype(np.uint8)
    x0, y0, x1, _ = good.face.head
    pad = 0.2 * (good.face.head[3] - y0)
    keep = np.zeros((H, W), bool)
    keep[int(max(y0 - pad, 0)) :, int(x0 - pad) : int(x1 + pad)] = True
    busy = frame.copy()
    busy[~keep] = blocks[~keep][:, None]
    result = quality.assess(busy)
    assert "busy_background" in result.reasons
    assert result.measures["background_uniformity"].raw > good.measures["background_uniformity"].raw


# --- monotonic properties -------------------------------------------------------------------


def test_more_blur_never_raises_sharpness(quality, frame):
    scores, raws = [], []
    for sigma in (0, 1, 2, 3, 4, 6):
        img = cv2.GaussianBlur(frame, (0, 0), sigma) if sigma else frame
        m = quality.assess(img).measures["sharpness"]
        assert m.status == OK
        scores.append(m.score)
        raws.append(m.raw)
    assert scores == sorted(scores, reverse=True)
    assert raws == sorted(raws, reverse=True) and raws[0] > raws[-1]


def test_more_darkening_never_raises_luminance(quality, frame):
    values = []
    for gain in (1.0, 0.8, 0.6, 0.45, 0.3, 0.2):
        m = quality.assess(scale(frame, gain)).measures["luminance_mean"]
        assert m.status == OK
        values.append(m.raw)
    assert values == sorted(values, reverse=True) and values[0] > values[-1] * 3


def test_sharpness_ignores_brightness_and_falls_with_blur():
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64)).astype(np.float32), (0, 0), 1.0)
    base = np.clip(texture, 0, 255).astype(np.uint8)
    assert sharpness(base) == pytest.approx(sharpness((base * 0.5).astype(np.uint8)), rel=0.1)
    blurred = [sharpness(cv2.GaussianBlur(base, (0, 0), s)) for s in (0.5, 1, 2, 4)]
    assert blurred == sorted(blurred, reverse=True)
    assert sharpness(np.full((32, 32), 128, np.uint8)) == 0.0


# --- policy --------------------------------------------------------------------------------


def test_policy_follows_the_config(frame, good):
    strict = FaceQuality(dataclasses.replace(FaceConfig(), min_inter_eye_px=240.0))
    assert strict.policy(good.measures, good.face, W, H) == ["face_too_small"]
    loose = FaceQuality(dataclasses.replace(FaceConfig(), min_sharpness=5.0))
    assert "blurry" in loose.policy(good.measures, good.face, W, H)


def test_policy_eyes_mouth_and_order(quality, good):
    measures = dict(good.measures)
    measures["eyes_open"] = Measure(0.05, 0)
    measures["mouth_closed"] = Measure(0.4, 12)
    measures["head_pose_yaw"] = Measure(-12.0, 40)
    measures["single_face_present"] = Measure(2, 0)
    reasons = quality.policy(measures, good.face, W, H)
    assert reasons == ["multiple_faces", "yaw", "eyes_closed", "mouth_open"]
    assert reasons == [r for r in REASONS if r in reasons]


def test_policy_skips_measures_it_could_not_assess(quality, good):
    measures = dict(good.measures)
    measures["sharpness"] = Measure(None, None, FAILURE_TO_ASSESS)
    assert quality.policy(measures, good.face, W, H) == []


def test_rejects_non_rgb_input(quality):
    with pytest.raises(ValueError):
        quality.assess(np.zeros((48, 64), np.uint8))


@pytest.mark.parametrize(
    "key, value",
    [("consecutive_frames", 0), ("jpeg_quality", 101), ("portrait_head_fraction", 1.2),
     ("portrait_crown_margin", 0.5), ("threads", 0)],
)  # fmt: skip
def test_out_of_range_face_config_is_refused(key, value):
    with pytest.raises(ConfigError, match=f"face.{key}"):
        FaceQuality(dataclasses.replace(FaceConfig(), **{key: value}))


def test_face_config_section_and_env_override(monkeypatch):
    cfg = load_config("sim")
    assert cfg.face.max_roll_deg == 8.0 and cfg.face.min_inter_eye_px == 90.0
    monkeypatch.setenv("APPLIANCE_FACE_MAX_ROLL_DEG", "10")
    assert load_config("sim").face.max_roll_deg == 10.0


# --- guidance ------------------------------------------------------------------------------


def test_every_reason_has_vietnamese_and_english_guidance():
    assert set(GUIDANCE) == set(REASONS)
    for code, text in GUIDANCE.items():
        assert set(text) == {"vi", "en"}, code
        assert text["vi"].strip() and text["en"].strip()
        assert text["vi"] != text["en"]
        assert len(text["en"]) < 80 and len(text["vi"]) < 90  # short enough to read while moving
    assert HOLD_STILL["vi"] and CAPTURED["en"]


def test_instruction_picks_the_first_reason():
    assert instruction(["face_too_small", "blurry"], "en") == GUIDANCE["face_too_small"]["en"]
    assert instruction([], "vi") == HOLD_STILL["vi"]
    assert instruction(["roll"], "fr") == GUIDANCE["roll"]["vi"]
