"""Raspberry Pi CSI cameras through picamera2 (libcamera).

picamera2 is imported here only, inside :meth:`Picamera2Camera.open`, so the package imports on
any machine. Size, frame rate, exposure and white balance come from ``[camera]``. picamera2's
``RGB888`` format is stored B, G, R in memory (libcamera names formats by their 32-bit word
layout): frames are converted to R, G, B once, here, and nowhere else.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from appliance.errors import BackendMissing, DeviceTimeout, DeviceUnavailable, InvalidInput
from appliance.hal.base import Camera

log = logging.getLogger(__name__)

# [camera] awb -> libcamera AwbModeEnum member
AWB_MODES = {
    "auto": "Auto",
    "incandescent": "Incandescent",
    "tungsten": "Tungsten",
    "fluorescent": "Fluorescent",
    "indoor": "Indoor",
    "daylight": "Daylight",
    "cloudy": "Cloudy",
}
INSTALL_HINT = (
    "on Raspberry Pi OS: apt install python3-picamera2, and a venv made with --system-site-packages"
)


def bgr_memory_to_rgb(frame: np.ndarray) -> np.ndarray:
    """An ``RGB888`` array (B, G, R per pixel in memory) as a contiguous R, G, B array."""
    import cv2

    return cv2.cvtColor(frame[:, :, :3], cv2.COLOR_BGR2RGB)


def camera_controls(cfg, controls_module=None) -> dict:
    """libcamera controls for the config: frame rate, fixed or auto exposure, white balance."""
    if cfg.fps <= 0:
        raise InvalidInput(f"[camera] fps must be positive, got {cfg.fps}")
    frame_us = round(1_000_000 / cfg.fps)
    controls: dict = {"FrameDurationLimits": (frame_us, frame_us)}
    if cfg.exposure_us > 0:
        controls["AeEnable"] = False
        controls["ExposureTime"] = int(min(cfg.exposure_us, frame_us))
    awb = cfg.awb.lower()
    if awb not in AWB_MODES:
        raise InvalidInput(f"[camera] awb must be one of {', '.join(AWB_MODES)}, got {cfg.awb!r}")
    if controls_module is not None:
        controls["AwbEnable"] = True
        controls["AwbMode"] = getattr(controls_module.AwbModeEnum, AWB_MODES[awb])
    return controls


class Picamera2Camera(Camera):
    """A CSI camera (Camera Module 2/3, HQ) at ``width`` x ``height`` and ``fps``."""

    backend = "picamera2"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._cam = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.close()
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise BackendMissing(
                f"camera backend 'picamera2' needs picamera2: {INSTALL_HINT}"
            ) from exc
        try:
            from libcamera import controls as lc_controls
        except ImportError:
            lc_controls = None
        if not Picamera2.global_camera_info():
            raise DeviceUnavailable(
                "no CSI camera detected: check the ribbon cable and that the camera is enabled"
            )
        cfg = self.cfg
        try:
            cam = Picamera2()
            config = cam.create_video_configuration(
                main={"size": (cfg.width, cfg.height), "format": "RGB888"},
                controls=camera_controls(cfg, lc_controls),
                buffer_count=4,
                queue=False,  # always hand out the newest frame, never an old queued one
            )
            cam.configure(config)
            cam.start()
        except (RuntimeError, OSError, IndexError) as exc:
            raise DeviceUnavailable(f"cannot start the CSI camera: {exc}") from exc
        self._cam = cam
        self.is_open = True
        log.info("picamera2 camera started at %dx%d %g fps", cfg.width, cfg.height, cfg.fps)

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception:  # closing a vanished camera must not raise
                log.debug("closing picamera2 failed", exc_info=True)
        super().close()

    def location(self) -> str:
        return "CSI camera 0"

    def read(self, timeout: float = 2.0) -> np.ndarray:
        self._require_open()
        cam = self._cam
        with self._lock:
            try:
                job = cam.capture_array("main", wait=False)
                try:
                    frame = cam.wait(job, timeout=timeout)
                except TypeError:  # picamera2 before 0.3.13: no timeout argument
                    frame = cam.wait(job)
            except TimeoutError as exc:
                raise DeviceTimeout(f"CSI camera gave no frame in {timeout:g} s") from exc
            except (RuntimeError, OSError) as exc:
                self.is_open = False
                raise DeviceUnavailable(f"CSI camera failed: {exc}") from exc
        return bgr_memory_to_rgb(frame)

    def probe(self) -> str:
        frame = self.read()
        return f"frame {frame.shape[1]}x{frame.shape[0]}, mean level {frame.mean():.0f}"

    def fix_hint(self, exc: Exception) -> str | None:
        if isinstance(exc, BackendMissing):
            return INSTALL_HINT
        return (
            "check the camera ribbon cable (contacts towards the board), run `rpicam-hello "
            "--list-cameras`, and stop any other program using the camera"
        )
