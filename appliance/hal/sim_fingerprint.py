"""The simulated fingerprint sensor: generated prints (or a folder), optionally through the
real R30x driver and its pty simulator."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal.base import FingerprintSensor
from appliance.hal.sim import SimFaults, load_images


class SimFingerprint(SimFaults, FingerprintSensor):
    """A finger arrives ``sim_finger_delay_s`` after each wait starts.

    Prints come from ``sim_source`` (a folder of images) or the seeded print generator
    (:mod:`appliance.pipeline.fingerprint_synth`), a new finger each capture. With
    ``sim_protocol = true`` the real ``r30x`` driver runs against the R30x protocol simulator
    on a pty (:mod:`appliance.hal.r30x_sim`), byte for byte.
    """

    backend = "sim"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        from appliance.hal.r30x_protocol import image_size

        try:
            self.image_size = image_size(cfg.model)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        self._frames: list[np.ndarray] = []
        self._count = 0
        self._sim = None
        self._driver = None

    def open(self) -> None:
        self._open_or_fail()
        rows, cols = self.image_size
        if self.cfg.sim_source:
            try:
                frames = load_images(self.cfg.sim_source, (cols, rows))
                self._frames = [f.mean(axis=2).astype(np.uint8) for f in frames]
            except InvalidInput as exc:
                self.is_open = False
                raise DeviceUnavailable(exc.message) from None
        if self.cfg.sim_protocol:
            self._open_protocol()

    def _open_protocol(self) -> None:
        import dataclasses

        from appliance.hal.r30x import R30xSensor
        from appliance.hal.r30x_sim import R30xSimulator

        self._sim = R30xSimulator(
            self.cfg.model,
            baud=self.cfg.baud,
            address=self.cfg.address,
            password=self.cfg.password,
            images=self._print,
            finger=False,
        )
        self._sim.start()
        self._driver = R30xSensor(
            dataclasses.replace(self.cfg, backend="r30x", port=self._sim.port)
        )
        try:
            self._driver.open()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
        if self._sim is not None:
            self._sim.stop()
        self._driver = self._sim = None
        super().close()

    def _print(self, index: int) -> np.ndarray:
        if self._frames:
            return self._frames[index % len(self._frames)]
        from appliance.pipeline.fingerprint_synth import synthesize

        return synthesize(1000 + index, *self.image_size)

    def location(self) -> str:
        where = self.cfg.sim_source or "generated prints"
        return f"simulated sensor ({where}{', R30x protocol on a pty' if self._sim else ''})"

    def wait_finger(self, timeout: float) -> bool:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", timeout)
        delay = self.cfg.sim_finger_delay_s
        deadline = time.monotonic() + min(delay, timeout)
        while (left := deadline - time.monotonic()) > 0:  # unplugged while waiting: noticed
            time.sleep(min(0.05, left))
            self._require_open()
        if delay > timeout:
            return False
        if self._driver is not None and self._sim is not None:
            self._sim.place_finger()
            return self._driver.wait_finger(max(0.0, timeout - delay))
        return True

    def capture(self, progress: Callable[[float], None] | None = None) -> np.ndarray:
        self._require_open()
        self._maybe_timeout("fingerprint sensor", 1.0)
        if self._driver is not None and self._sim is not None:
            self._sim.place_finger()
            image = self._driver.capture(progress)
            self._sim.lift_finger()
            return image
        for step in range(1, 5):
            time.sleep(0.02)
            if progress:
                progress(step / 4)
        image = self._print(self._count)
        self._count += 1
        return image

    def probe(self) -> str:
        self._maybe_timeout("fingerprint sensor", 1.0)
        if self._driver is not None:
            return f"simulated module: {self._driver.probe()}"
        return "handshake ok (simulated)"
