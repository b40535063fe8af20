"""Which way the face should move (the off_center pictogram and voice), and the [ui] checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from appliance.config import load_config
from appliance.errors import ConfigError
from appliance.kiosk_ui.server import check_ui_config
from appliance.pipeline.face_hints import face_direction


def assessment(x0: float, reasons=("off_center",), width=640, height=480):
    face = SimpleNamespace(portrait=(x0, 40.0, x0 + 240.0, 360.0))
    return SimpleNamespace(reasons=list(reasons), face=face, frame_size=(width, height))


def test_direction_is_the_citizens_own_in_the_mirrored_preview():
    assert face_direction(assessment(-60.0)) == "left"  # image left of centre: move to your left
    assert face_direction(assessment(460.0)) == "right"
    assert face_direction(assessment(200.0)) is None  # centred sideways (off vertically)
    assert face_direction(assessment(-60.0, reasons=("too_dark",))) is None
    assert (
        face_direction(SimpleNamespace(reasons=["off_center"], face=None, frame_size=(0, 0)))
        is None
    )


@pytest.mark.parametrize(
    ("key", "value"), [("volume", 1.5), ("volume", -0.1), ("help_after_s", 0.0)]
)
def test_voice_settings_are_checked(key, value):
    cfg = load_config("sim", env={})
    setattr(cfg.ui, key, value)
    with pytest.raises(ConfigError) as err:
        check_ui_config(cfg.ui)
    assert err.value.key == f"ui.{key}"
