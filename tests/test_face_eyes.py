"""Eyes closed, measured with the iris landmark model (face_eyes.py) on a generated closure."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.config import FaceConfig
from appliance.hal.sim import SIM_DATA
from appliance.imageio import read_image
from appliance.pipeline.face_eyes import close_eyes, lid_opening, mesh_opening
from appliance.pipeline.face_quality import FaceQuality


@pytest.fixture(scope="module")
def quality():
    return FaceQuality(FaceConfig())


@pytest.fixture(scope="module")
def frames(quality):
    rgb = read_image(SIM_DATA / "camera" / "portrait.jpg")
    a = quality.assess(rgb)
    return rgb, a, close_eyes(rgb, a.landmarks.points)


def test_open_eyes_pass_and_generated_closed_eyes_are_refused(quality, frames):
    _, a, shut = frames
    assert "eyes_closed" not in a.reasons
    assert a.measures["eyes_open"].raw > 0.25
    b = quality.assess(shut)
    assert b.face is not None and "eyes_closed" in b.reasons
    assert b.measures["eyes_open"].raw < FaceConfig().min_eyes_open


def test_the_iris_model_sees_the_closure_better_than_face_mesh(quality, frames):
    """Why the iris model: Face Mesh keeps the painted-over lids apart."""
    _, a, shut = frames
    b = quality.assess(shut)
    iris_drop = b.measures["eyes_open"].raw / a.measures["eyes_open"].raw
    mesh_drop = min(mesh_opening(b.landmarks.points)) / min(mesh_opening(a.landmarks.points))
    assert iris_drop < mesh_drop


def test_lid_opening_geometry():
    contour = np.zeros((16, 2))
    contour[8] = (10.0, 0.0)  # corners 10 px apart
    for up, lo in ((12, 4), (13, 5), (11, 3)):
        contour[up], contour[lo] = (5.0, -2.0), (5.0, 1.0)
    assert lid_opening(contour) == pytest.approx(0.3)


def test_without_the_eye_model_face_mesh_lids_are_measured(frames):
    rgb, _, _ = frames
    plain = FaceQuality(FaceConfig(eye_model=False))
    assert plain.eyes is None
    b = plain.assess(rgb)
    assert b.measures["eyes_open"].raw == pytest.approx(min(mesh_opening(b.landmarks.points)))
