"""Camera backends without hardware: picamera2 and OpenCV faked, the sim camera for real."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import cv2
import numpy as np
import pytest

from appliance.config import load_config
from appliance.errors import BackendMissing, DeviceTimeout, DeviceUnavailable
from appliance.hal.registry import create_device


def camera_cfg(**overrides):
    cfg = load_config("sim").camera
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


# --- picamera2 ---------------------------------------------------------------------------------


class FakePicamera2:
    cameras: ClassVar[list[dict]] = [{"Model": "imx708"}]
    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self) -> None:
        self.config = None
        self.started = False
        self.closed = False
        self.timeout_next = False
        FakePicamera2.instances.append(self)

    @staticmethod
    def global_camera_info():
        return FakePicamera2.cameras

    def create_video_configuration(self, **kwargs):
        return kwargs

    def configure(self, config) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def capture_array(self, name="main", wait=True):
        assert name == "main" and wait is False
        return "job"

    def wait(self, job, timeout=None):
        if self.timeout_next:
            raise TimeoutError("no frame")
        w, h = self.config["main"]["size"]
        frame = np.empty((h, w, 3), np.uint8)
        frame[...] = (10, 20, 30)  # RGB888 memory order is B, G, R: this pixel is R=30
        return frame


@pytest.fixture
def fake_picamera2(monkeypatch):
    FakePicamera2.instances = []
    picamera2 = types.ModuleType("picamera2")
    picamera2.Picamera2 = FakePicamera2
    libcamera = types.ModuleType("libcamera")
    libcamera.controls = types.SimpleNamespace(
        AwbModeEnum=types.SimpleNamespace(Auto="AUTO", Daylight="DAYLIGHT", Tungsten="TUNGSTEN")
    )
    monkeypatch.setitem(sys.modules, "picamera2", picamera2)
    monkeypatch.setitem(sys.modules, "libcamera", libcamera)
    return FakePicamera2


def test_picamera2_frames_are_rgb_and_settings_come_from_config(fake_picamera2):
    cam = create_device(
        "camera",
        camera_cfg(backend="picamera2", width=320, height=240, fps=20.0,
                   exposure_us=8000, awb="daylight"),
    )  # fmt: skip
    cam.open()
    frame = cam.read()
    assert frame.shape == (240, 320, 3) and tuple(frame[0, 0]) == (30, 20, 10)
    assert frame.flags["C_CONTIGUOUS"]
    config = fake_picamera2.instances[-1].config
    assert config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert config["queue"] is False
    controls = config["controls"]
    assert controls["FrameDurationLimits"] == (50000, 50000)
    assert controls["AeEnable"] is False and controls["ExposureTime"] == 8000
    assert controls["AwbMode"] == "DAYLIGHT"
    cam.close()
    assert fake_picamera2.instances[-1].closed


def test_picamera2_timeout_and_no_camera(fake_picamera2):
    cam = create_device("camera", camera_cfg(backend="picamera2"))
    cam.open()
    fake_picamera2.instances[-1].timeout_next = True
    with pytest.raises(DeviceTimeout):
        cam.read(timeout=0.1)
    cam.close()
    fake_picamera2.cameras = []
    try:
        with pytest.raises(DeviceUnavailable, match="ribbon"):
            create_device("camera", camera_cfg(backend="picamera2")).open()
    finally:
        fake_picamera2.cameras = [{"Model": "imx708"}]


def test_picamera2_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    cam = create_device("camera", camera_cfg(backend="picamera2"))
    with pytest.raises(BackendMissing, match="python3-picamera2"):
        cam.open()
    assert "system-site-packages" in cam.fix_hint(BackendMissing("x"))


# --- v4l2 -----------------------------------------------------------------------------------


class FakeCapture:
    unplugged = False
    opened: ClassVar[list[FakeCapture]] = []

    def __init__(self, target, api) -> None:
        self.target, self.api = target, api
        self.props: dict[int, float] = {}
        self.released = False
        FakeCapture.opened.append(self)

    def isOpened(self) -> bool:
        return not FakeCapture.unplugged

    def set(self, prop, value) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop) -> float:
        return float(self.props.get(prop, 0))

    def read(self):
        if FakeCapture.unplugged:
            return False, None
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[...] = (10, 20, 30)  # OpenCV frames are B, G, R
        return True, frame

    def release(self) -> None:
        self.released = True


@pytest.fixture
def fake_v4l2(monkeypatch, tmp_path):
    FakeCapture.unplugged = False
    FakeCapture.opened = []
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    node = tmp_path / "video0"
    node.write_bytes(b"")
    return node


def test_v4l2_reads_rgb_and_recovers_after_unplug(fake_v4l2):
    cam = create_device("camera", camera_cfg(backend="v4l2", device=str(fake_v4l2), fps=15.0))
    cam.open()
    cap = FakeCapture.opened[-1]
    assert cap.api == cv2.CAP_V4L2 and cap.props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 640 and cap.props[cv2.CAP_PROP_FPS] == 15.0
    assert tuple(cam.read()[0, 0]) == (30, 20, 10)

    fake_v4l2.unlink()  # the cable is pulled
    FakeCapture.unplugged = True
    with pytest.raises(DeviceUnavailable, match="unplugged"):
        cam.read()
    assert not cam.is_open and cap.released
    with pytest.raises(DeviceUnavailable, match="plugged in"):
        cam.open()

    fake_v4l2.write_bytes(b"")  # and plugged back in
    FakeCapture.unplugged = False
    cam.open()
    assert cam.read().shape == (480, 640, 3)
    cam.check()
    fake_v4l2.unlink()
    with pytest.raises(DeviceUnavailable):
        cam.check()


def test_v4l2_device_index_and_hints(fake_v4l2):
    cam = create_device("camera", camera_cfg(backend="v4l2", device="7"))
    assert cam.location() == "/dev/video7"
    with pytest.raises(DeviceUnavailable, match="/dev/video7"):
        cam.open()
    assert "video" in cam.fix_hint(DeviceUnavailable("x"))


def test_v4l2_failed_read_with_the_node_present_is_a_timeout(fake_v4l2):
    cam = create_device("camera", camera_cfg(backend="v4l2", device=str(fake_v4l2)))
    cam.open()
    FakeCapture.opened[-1].read = lambda: (False, None)
    with pytest.raises(DeviceTimeout):
        cam.read()


# --- sim ------------------------------------------------------------------------------------


def test_sim_camera_defaults_to_the_citizen_portrait():
    cam = create_device("camera", camera_cfg(fps=100.0))
    cam.open()
    frame = cam.read()
    assert frame.shape == (480, 640, 3)
    assert 80 < frame.mean() < 200 and frame.std() > 20  # a photograph, not a drawing
    assert "built-in" in cam.location() and "1 image" in cam.probe()


def test_sim_camera_plays_a_video_in_a_loop(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # BGR: red, green, blue
    for colour in colours:
        writer.write(np.full((48, 64, 3), colour, np.uint8))
    writer.release()
    cam = create_device("camera", camera_cfg(sim_source=str(path), width=32, height=24, fps=200.0))
    cam.open()
    frames = [cam.read() for _ in range(4)]
    cam.close()
    assert frames[0].shape == (24, 32, 3)
    dominant = [int(np.argmax(f.reshape(-1, 3).mean(0))) for f in frames]
    assert dominant == [0, 1, 2, 0]  # R, G, B, then it loops


def test_sim_camera_missing_source_is_unavailable(tmp_path):
    cam = create_device("camera", camera_cfg(sim_source=str(tmp_path / "nothing")))
    with pytest.raises(DeviceUnavailable, match="does not exist"):
        cam.open()
