"""The live face loop: sim camera, bad-then-good frames, frame dropping, the portrait."""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np
import pytest

from appliance.config import FaceConfig, load_config
from appliance.errors import DeviceTimeout, DeviceUnavailable
from appliance.hal.base import Camera
from appliance.hal.registry import create_device
from appliance.hal.sim import SIM_DATA, load_images
from appliance.pipeline.face_capture import LiveFaceCapture, encode_jpeg, portrait_crop
from appliance.pipeline.face_quality import FaceAssessment, FaceQuality


@pytest.fixture(scope="module")
def quality() -> FaceQuality:
    return FaceQuality(FaceConfig(consecutive_frames=4))


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    (img,) = load_images(SIM_DATA / "camera" / "portrait.jpg", (640, 480))
    return img


def sim_camera(source, fps: float = 30.0):
    cfg = load_config("sim").camera
    cfg.sim_source, cfg.fps = str(source), fps
    cam = create_device("camera", cfg)
    cam.open()
    return cam


def write_sequence(folder, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def test_captures_a_portrait_from_bad_then_good_frames(tmp_path, quality, frame):
    dark = (frame * 0.3).astype(np.uint8)
    blurred = cv2.GaussianBlur(frame, (0, 0), 5)
    write_sequence(tmp_path / "seq", [dark] * 5 + [blurred] * 5 + [frame] * 16)
    cam = sim_camera(tmp_path / "seq", fps=15.0)  # the camera's pace: slow scoring drops frames
    seen: list[FaceAssessment] = []
    live = LiveFaceCapture(cam, quality, on_result=seen.append)
    try:
        jpeg = live.run(timeout=20)
    finally:
        cam.close()
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8" and live.captured
    reasons = [r for a in seen for r in a.reasons]
    assert "too_dark" in reasons and "blurry" in reasons  # the citizen was guided first
    assert seen[-1].passed and live.latest is seen[-1]
    # the last frames before the capture passed in a row
    assert all(a.passed for a in seen[-quality.cfg.consecutive_frames :])
    portrait = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert portrait.shape == (640, 480, 3)  # 3:4 at portrait_height
    assert live.portrait_assessment is not None and live.portrait_assessment.passed
    # the stored portrait is itself a passing face image, head centred
    again = FaceQuality(FaceConfig()).assess(cv2.cvtColor(portrait, cv2.COLOR_BGR2RGB))
    (rx, ry), (lx, ly) = again.face.eyes
    assert abs((rx + lx) / 2 - 240) < 12
    assert 0.38 < (ry + ly) / 2 / 640 < 0.52
    stats = live.stats()
    assert stats["scored"] == len(seen) >= quality.cfg.consecutive_frames + 2
    assert stats["captured"]
    assert set(stats["ms_avg"]) == {"detect", "landmarks", "measures", "total"}


def test_best_frame_of_the_streak_wins(quality, frame):
    """Passing frames of different quality: the kept one has the highest overall score."""
    softer = cv2.GaussianBlur(frame, (0, 0), 1.2)
    seq = [softer, softer, frame, softer]
    scores = [quality.assess(f).overall for f in seq]
    assert all(quality.assess(f).passed for f in seq)
    cam = _ListCamera(seq)
    cam.ready = threading.Event()  # lockstep: the next frame only once the last one is scored
    cam.ready.set()
    live = LiveFaceCapture(cam, quality, on_result=lambda _: cam.ready.set())
    live.run(timeout=10)
    assert live.stats()["dropped"] == 0 and live.stats()["scored"] == len(seq)
    assert live.portrait_assessment.overall == pytest.approx(max(scores))


class _ListCamera(Camera):
    """Frames from a list, as fast as asked; then the last one forever."""

    backend = "test"

    def __init__(self, frames, delay: float = 0.0) -> None:
        super().__init__(None)
        self.frames, self.delay, self.count = frames, delay, 0
        self.is_open = True

    def open(self) -> None:
        self.is_open = True

    ready: threading.Event | None = None

    def read(self, timeout: float = 2.0) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay)
        if self.ready is not None:
            if not self.ready.wait(timeout):
                raise DeviceTimeout("lockstep frame not consumed")
            self.ready.clear()
        frame = self.frames[min(self.count, len(self.frames) - 1)]
        self.count += 1
        return frame


class _CountingCamera(Camera):
    """100 fps frames whose first pixel is the frame number."""

    backend = "test"

    def __init__(self) -> None:
        super().__init__(None)
        self.count = 0
        self.is_open = True

    def open(self) -> None:
        pass

    def read(self, timeout: float = 2.0) -> np.ndarray:
        time.sleep(0.01)
        self.count += 1
        frame = np.zeros((4, 4, 3), np.uint8)
        frame.reshape(-1)[:2] = divmod(self.count, 256)
        return frame


class _SlowQuality:
    """Takes 60 ms per frame and never passes; records how stale each scored frame was."""

    def __init__(self, camera: _CountingCamera) -> None:
        self.cfg = FaceConfig()
        self.camera = camera
        self.lag: list[int] = []

    def assess(self, rgb: np.ndarray) -> FaceAssessment:
        number = int(rgb.reshape(-1)[0]) * 256 + int(rgb.reshape(-1)[1])
        self.lag.append(self.camera.count - number)
        time.sleep(0.06)
        ms = {"detect": 60.0, "landmarks": 0.0, "measures": 0.0, "total": 60.0}
        return FaceAssessment("fail", ["no_face"], {}, ms)


def test_a_slow_scorer_drops_frames_instead_of_queueing():
    cam = _CountingCamera()
    slow = _SlowQuality(cam)
    live = LiveFaceCapture(cam, slow)  # type: ignore[arg-type]
    assert live.run(timeout=0.8) is None
    stats = live.stats()
    assert stats["dropped"] > stats["scored"] >= 5
    # every scored frame was (nearly) the newest one: a queue would fall further behind with
    # every frame (about 5 frames more per scored frame here)
    assert max(slow.lag) <= 3
    assert cam.count > 3 * stats["scored"]


def test_stop_event_ends_the_loop(quality):
    cam = _ListCamera([np.zeros((480, 640, 3), np.uint8)], delay=0.02)
    live = LiveFaceCapture(cam, quality)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    assert live.run(stop=stop, timeout=10) is None
    assert time.monotonic() - t0 < 2.0
    # a black frame: no face, and the whole frame is too dark (said first)
    assert live.latest is not None and live.latest.reasons == ["too_dark", "no_face"]


def test_unplugged_camera_is_raised(quality):
    class Vanishing(_ListCamera):
        def read(self, timeout: float = 2.0) -> np.ndarray:
            if self.count >= 3:
                raise DeviceUnavailable("camera was unplugged")
            return super().read(timeout)

    live = LiveFaceCapture(Vanishing([np.zeros((480, 640, 3), np.uint8)], delay=0.01), quality)
    with pytest.raises(DeviceUnavailable, match="unplugged"):
        live.run(timeout=10)


def test_run_async_with_the_default_sim_portrait(quality):
    cfg = load_config("sim").camera
    cfg.fps = 30.0
    cam = create_device("camera", cfg)
    cam.open()

    async def go():
        stop = asyncio.Event()
        return await LiveFaceCapture(cam, quality).run_async(stop, timeout=15)

    try:
        jpeg = asyncio.run(go())
    finally:
        cam.close()
    assert jpeg is not None and len(jpeg) > 10_000


def test_portrait_crop_outside_the_frame_repeats_the_border(quality, frame):
    shifted = np.concatenate([frame[:, 200:], np.repeat(frame[:, -1:], 200, axis=1)], axis=1)
    result = quality.assess(shifted)
    assert result.face.portrait[0] < 0  # the ICAO box leaves the frame
    crop = portrait_crop(shifted, result, 400)
    assert crop.shape == (400, 300, 3)
    assert len(encode_jpeg(crop, 80)) > 1000


def test_citizen_portrait_for_the_sim_chip():
    path = SIM_DATA / "citizen_portrait.jpg"
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8" and len(data) < 20_000
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[1] * 4 == img.shape[0] * 3
    result = FaceQuality(FaceConfig()).assess(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    assert result.measures["single_face_present"].raw == 1
    assert result.measures["inter_eye_distance"].raw >= 90  # ICAO minimum
