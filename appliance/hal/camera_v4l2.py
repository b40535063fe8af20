"""USB webcams (UVC) through OpenCV's V4L2 backend.

``[camera] device`` is a node (``/dev/video0``) or an index (``0``). The capture keeps one buffer
so a frame is never older than one frame period. A pulled cable shows up as a failed read: the
camera is marked closed with a clear error, and the next :meth:`open` (the device manager retries
every ``service.device_retry_s``) picks it up again once it is plugged back in. OpenCV's read
has no per-call timeout: a stalled camera blocks for the V4L2 backend's own select timeout
(10 s by default) before the read fails; the live face loop reads in its own thread, so the
guidance stays responsive meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from appliance.errors import DeviceTimeout, DeviceUnavailable
from appliance.hal.base import Camera

log = logging.getLogger(__name__)


class V4l2Camera(Camera):
    """A UVC camera at ``width`` x ``height`` and ``fps`` (the driver may pick the nearest)."""

    backend = "v4l2"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._cap = None
        self._lock = threading.Lock()
        self.actual: tuple[int, int, float] | None = None

    def _target(self) -> int | str:
        dev = str(self.cfg.device).strip()
        return int(dev) if dev.isdigit() else dev

    def _node(self) -> str:
        target = self._target()
        return f"/dev/video{target}" if isinstance(target, int) else target

    def open(self) -> None:
        import cv2

        self.close()
        node = self._node()
        if not Path(node).exists():
            raise DeviceUnavailable(f"no camera at {node}: is the USB camera plugged in?")
        if not os.access(node, os.R_OK | os.W_OK):
            raise DeviceUnavailable(
                f"no permission to open {node}: add the service user to the 'video' group"
            )
        cap = cv2.VideoCapture(self._target(), cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(f"{node} would not open as a V4L2 capture device")
        cfg = self.cfg
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if cfg.exposure_us > 0:  # UVC exposure_absolute is in units of 100 us
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2_EXPOSURE_MANUAL
            cap.set(cv2.CAP_PROP_EXPOSURE, max(1, round(cfg.exposure_us / 100)))
        if cfg.awb.lower() != "auto":
            log.info("v4l2 camera: awb %r is not supported, keeping auto white balance", cfg.awb)
        self.actual = (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            float(cap.get(cv2.CAP_PROP_FPS)),
        )
        self._cap = cap
        self.is_open = True
        log.info("v4l2 camera %s open at %dx%d %g fps", node, *self.actual)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            try:
                cap.release()
            except Exception:
                log.debug("releasing %s failed", self._node(), exc_info=True)
        super().close()

    def check(self) -> None:
        if self.is_open and not Path(self._node()).exists():
            self.close()
            raise DeviceUnavailable(f"camera {self._node()} was unplugged")

    def location(self) -> str:
        return self._node()

    def read(self, timeout: float = 2.0) -> np.ndarray:
        import cv2

        self._require_open()
        with self._lock:
            ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if not Path(self._node()).exists():
                self.close()
                raise DeviceUnavailable(f"camera {self._node()} was unplugged")
            raise DeviceTimeout(f"camera {self._node()} gave no frame")
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if (rgb.shape[1], rgb.shape[0]) != (self.cfg.width, self.cfg.height):
            rgb = cv2.resize(rgb, (self.cfg.width, self.cfg.height), interpolation=cv2.INTER_AREA)
        return rgb

    def probe(self) -> str:
        frame = self.read()
        w, h, fps = self.actual or (frame.shape[1], frame.shape[0], 0.0)
        return f"{self._node()}: {w}x{h} at {fps:g} fps, mean level {frame.mean():.0f}"

    def fix_hint(self, exc: Exception) -> str | None:
        return (
            f"plug the USB camera in (check `ls /dev/video*` and `v4l2-ctl --list-devices`), "
            f"set [camera] device to its node (now {self.cfg.device}), and make sure the "
            "service user is in the 'video' group"
        )
