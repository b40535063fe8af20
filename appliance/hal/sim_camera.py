"""The simulated camera: images or a video from files (default: the test citizen's
portrait), looped at the configured frame rate."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal.base import Camera
from appliance.hal.sim import SIM_DATA, SimFaults, load_images

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")


class _VideoLoop:
    """A video file decoded frame by frame (never all in memory), rewound at the end."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        import cv2

        self._cv2 = cv2
        self.size = size
        self.path = path
        self.cap = cv2.VideoCapture(str(path))
        self.count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if not self.cap.isOpened() or self.next() is None:
            self.cap.release()
            raise InvalidInput(f"cannot read video {path}")
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def next(self) -> np.ndarray | None:
        cv2 = self._cv2
        ok, bgr = self.cap.read()
        if not ok:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.cap.read()
            if not ok:
                return None
        return cv2.cvtColor(cv2.resize(bgr, self.size), cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()


def synthetic_portrait(width: int, height: int) -> np.ndarray:
    """A plain stand-in frame: a skin-toned head shape on a light background."""
    yy, xx = np.mgrid[0:height, 0:width]
    frame = np.full((height, width, 3), 225, np.uint8)
    cx, cy, rx, ry = width / 2, height * 0.45, width * 0.14, height * 0.26
    head = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    frame[head] = (214, 170, 140)
    for ex in (cx - rx * 0.4, cx + rx * 0.4):
        eye = ((xx - ex) / (rx * 0.12)) ** 2 + ((yy - (cy - ry * 0.15)) / (ry * 0.05)) ** 2 <= 1
        frame[eye] = (40, 30, 30)
    return frame


class SimCamera(SimFaults, Camera):
    """Frames from ``sim_source`` (an image, a folder of images or a video), looped at ``fps``.

    Without ``sim_source`` it shows ``sim_data/camera/`` (the test citizen's portrait, made by
    ``tools/make_face_sim_data.py``), or a drawn stand-in if that folder is missing.
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._frames: list[np.ndarray] = []
        self._video: _VideoLoop | None = None
        self._index = 0
        self._next_t = 0.0

    def open(self) -> None:
        self.close()
        self._open_or_fail()
        size = (self.cfg.width, self.cfg.height)
        if self.cfg.sim_source:
            source = Path(self.cfg.sim_source)
            if not source.exists():
                raise DeviceUnavailable(f"camera sim_source {source} does not exist")
        else:
            source = SIM_DATA / "camera"
        self._frames = []
        if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
            self._video = _VideoLoop(source, size)
        elif source.exists():
            self._frames = load_images(source, size)
        else:
            self._frames = [synthetic_portrait(*size)]
        self._index = 0
        self._next_t = time.monotonic()

    def show(self, image: Path | None) -> None:
        """Demo: show another still image from now on (None: back to the configured source)."""
        self._require_open()
        if image is None:
            self.open()
        else:
            self._frames = load_images(image, (self.cfg.width, self.cfg.height))
            if self._video is not None:
                self._video.close()
                self._video = None

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        super().close()

    def location(self) -> str:
        return str(self.cfg.sim_source or "built-in portrait")

    def read(self, timeout: float = 2.0) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("camera", timeout)
        now = time.monotonic()
        if self._next_t > now:
            time.sleep(self._next_t - now)
        self._next_t = max(self._next_t, now) + 1.0 / self.cfg.fps
        self._index += 1
        # closed (unplugged) while this read waited for its turn: gone, like a real camera
        video, frames = self._video, self._frames
        if not self.is_open or (video is None and not frames):
            raise DeviceUnavailable("camera was unplugged")
        if video is not None:
            frame = video.next()
            if frame is None:
                raise DeviceUnavailable(f"video {video.path} stopped decoding")
            return frame
        return frames[(self._index - 1) % len(frames)].copy()

    def probe(self) -> str:
        frame = self.read()
        looped = (
            f"video {self._video.count} frames" if self._video else f"{len(self._frames)} image(s)"
        )
        return f"frame {frame.shape[1]}x{frame.shape[0]} at {self.cfg.fps:g} fps, {looped} looped"
