"""BlazeFace decoding, the landmark model on its aligned crop, head pose, and the model files."""

from __future__ import annotations

import hashlib
import re

import cv2
import numpy as np
import pytest

from appliance.hal.sim import SIM_DATA, load_images
from appliance.pipeline.face_detect import (
    ANCHORS,
    DETECTOR_MODEL,
    MODELS_DIR,
    Detection,
    FaceDetector,
    weighted_nms,
)
from appliance.pipeline.face_landmarks import (
    CROP_SIZE,
    LANDMARK_MODEL,
    FaceLandmarker,
    head_pose,
    roi_transform,
)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def landmarker() -> FaceLandmarker:
    return FaceLandmarker()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    (img,) = load_images(SIM_DATA / "camera" / "portrait.jpg", (640, 480))
    return img


def test_anchor_layout():
    assert ANCHORS.shape == (896, 2)
    # 16x16 grid, two anchors per cell, then 8x8 with six
    assert np.allclose(ANCHORS[0], [0.5 / 16, 0.5 / 16]) and np.allclose(ANCHORS[1], ANCHORS[0])
    assert np.allclose(ANCHORS[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(ANCHORS[512], [0.5 / 8, 0.5 / 8]) and np.allclose(ANCHORS[517], ANCHORS[512])
    assert np.allclose(ANCHORS[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_blends_overlaps_and_keeps_separate_faces():
    coords = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float64)
    out = weighted_nms(np.array([0.9, 0.6, 0.8]), coords, 0.3)
    assert [round(s, 2) for s, _ in out] == [0.9, 0.8]
    blended = out[0][1]
    assert blended[0] == pytest.approx(0.6 / 1.5) and blended[2] == pytest.approx(10 + 0.6 / 1.5)
    assert np.allclose(out[1][1], coords[2])


def test_detects_the_face_with_keypoints_on_it(detector, frame):
    faces = detector.detect(frame)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    x0, y0, x1, y1 = face.box
    assert 150 < face.width < 320 and x0 < 320 < x1 and y0 < 222 < y1
    right_eye, left_eye = face.keypoints[0], face.keypoints[1]
    assert right_eye[0] < left_eye[0]
    assert abs(right_eye[1] - 222) < 25 and abs(left_eye[1] - 222) < 25


def test_letterbox_maps_back_to_frame_pixels(detector, frame):
    """The same face in a taller frame (padding below) is found at the same place."""
    taller = cv2.copyMakeBorder(frame, 0, 320, 0, 0, cv2.BORDER_CONSTANT, value=(200, 200, 200))
    a, b = detector.detect(frame)[0], detector.detect(taller)[0]
    assert np.allclose(a.box, b.box, atol=12)
    shifted = cv2.copyMakeBorder(frame, 0, 0, 160, 0, cv2.BORDER_REFLECT)
    c = detector.detect(shifted)
    main = max(c, key=lambda d: d.width)
    assert main.box[0] - a.box[0] == pytest.approx(160, abs=12)


def test_empty_frame_has_no_face(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_landmarks_land_on_the_face(detector, landmarker, frame):
    det = detector.detect(frame)[0]
    lm = landmarker.landmarks(frame, det)
    assert lm.points.shape == (468, 3) and lm.crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert lm.presence > 0.9
    inside = (lm.points[:, 0] > det.box[0] - 40) & (lm.points[:, 0] < det.box[2] + 40)
    assert inside.all()
    # crop points and frame points agree through the ROI transform
    back = lm.points[:, :2] @ lm.to_crop[:, :2].T + lm.to_crop[:, 2]
    assert np.allclose(back, lm.crop_points, atol=1e-3)


def test_roi_transform_levels_the_eyes():
    det = Detection(0.9, np.array([100.0, 100.0, 200.0, 200.0]), np.zeros((6, 2)))
    det.keypoints[0], det.keypoints[1] = (130, 140), (170, 120)  # tilted
    m = roi_transform(det)
    eyes = np.array([[130, 140], [170, 120]]) @ m[:, :2].T + m[:, 2]
    assert eyes[0, 1] == pytest.approx(eyes[1, 1])
    centre = np.array([150, 150]) @ m[:, :2].T + m[:, 2]
    assert np.allclose(centre, [CROP_SIZE / 2, CROP_SIZE / 2])


def test_head_pose_roll_follows_in_plane_rotation(detector, landmarker, frame):
    def pose(img):
        det = max(detector.detect(img), key=lambda d: d.width)
        return head_pose(landmarker.landmarks(img, det).points)

    yaw0, pitch0, roll0 = pose(frame)
    assert abs(yaw0) < 5 and abs(pitch0) < 5 and abs(roll0) < 3
    for degrees in (12, -25):
        m = cv2.getRotationMatrix2D((320, 222), degrees, 1.0)
        yaw, pitch, roll = pose(cv2.warpAffine(frame, m, (640, 480), borderMode=cv2.BORDER_REFLECT))
        assert roll - roll0 == pytest.approx(degrees, abs=3)
        assert abs(yaw - yaw0) < 3 and abs(pitch - pitch0) < 3
    mirrored = pose(np.ascontiguousarray(frame[:, ::-1]))
    assert mirrored[2] == pytest.approx(-roll0, abs=2)


@pytest.mark.parametrize("model", [DETECTOR_MODEL, LANDMARK_MODEL])
def test_model_card_matches_the_file(model):
    card = model.with_suffix(".md").read_text()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digest in card
    assert "Apache" in card and "mediapipe==0.10.21" in card
    assert re.search(r"(?i)\binputs?\b", card) and re.search(r"(?i)\boutputs?\b", card)
    assert model.parent == MODELS_DIR


def test_warp_crop_matches_a_plain_warp():
    from appliance.pipeline.face_landmarks import warp_crop

    yy, xx = np.mgrid[0:900, 0:1200].astype(np.float32)
    smooth = np.stack([xx / 5 % 255, yy / 4 % 255, (xx + yy) / 9 % 255], axis=-1)
    img = cv2.GaussianBlur(smooth, (0, 0), 3).astype(np.uint8)
    det = Detection(0.9, np.array([400.0, 300.0, 800.0, 700.0]), np.zeros((6, 2)))
    det.keypoints[0], det.keypoints[1] = (500, 420), (700, 440)
    m = roi_transform(det)  # shrinks about 3x: the source is cut and halved first
    plain = cv2.warpAffine(img, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    fast = warp_crop(img, m, CROP_SIZE)
    diff = np.abs(plain.astype(int) - fast.astype(int))[4:-4, 4:-4]
    assert np.median(diff) <= 2
    small = roi_transform(Detection(0.9, np.array([500.0, 400.0, 560.0, 460.0]), det.keypoints))
    assert np.array_equal(warp_crop(img, small, CROP_SIZE), cv2.warpAffine(img, small, (192, 192)))
