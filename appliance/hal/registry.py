"""Which backend module implements which device, and how one is instantiated.

Backends are named ``module:Class`` strings so a missing vendor library only matters to the
backend that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from appliance.errors import BackendMissing, DeviceUnavailable
from appliance.hal.base import Device

BACKENDS: dict[str, dict[str, str]] = {
    "camera": {
        "sim": "appliance.hal.sim_camera:SimCamera",
        "picamera2": "appliance.hal.camera_picamera2:Picamera2Camera",
        "v4l2": "appliance.hal.camera_v4l2:V4l2Camera",
    },
    "fingerprint": {
        "sim": "appliance.hal.sim_fingerprint:SimFingerprint",
        "r30x": "appliance.hal.r30x:R30xSensor",
    },
    "card_reader": {
        "sim": "appliance.hal.sim_card:SimCardReader",
        "pcsc": "appliance.hal.card_pcsc:PcscCardReader",
    },
    "qr_scanner": {
        "sim": "appliance.hal.sim_qr:SimQrScanner",
        "camera": "appliance.hal.qr_camera:CameraQrScanner",
        "serial": "appliance.hal.qr_serial:SerialQrScanner",
        "hid": "appliance.hal.qr_hid:HidQrScanner",
    },
    "indicators": {
        "mock": "appliance.hal.indicators:GpioIndicators",
        "gpiozero": "appliance.hal.indicators:GpioIndicators",
    },
}

# What to install when a backend's module cannot be imported.
INSTALL_HINTS: dict[str, str] = {
    "picamera2": "on Raspberry Pi OS: apt install python3-picamera2, and a venv made with "
    "--system-site-packages",
    "cv2": "pip install opencv-python-headless",
    "smartcard": "apt install libpcsclite-dev pcscd, then pip install pyscard",
    "serial": "pip install pyserial",
    "pyzbar": "apt install libzbar0, then pip install pyzbar",
    "zxingcpp": "pip install zxing-cpp",
    "evdev": "pip install evdev",
    "lgpio": "pip install lgpio (and the gpio udev rules from the image)",
}


def backend_class(kind: str, name: str) -> type[Device]:
    """Import and return the class of backend ``name`` for device ``kind``."""
    try:
        target = BACKENDS[kind][name]
    except KeyError:
        raise DeviceUnavailable(f"no backend {name!r} for {kind}") from None
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or str(exc)
        hint = INSTALL_HINTS.get(missing.split(".")[0], f"install the Python module {missing!r}")
        raise BackendMissing(f"{kind} backend {name!r} needs {missing}: {hint}") from exc
    return getattr(module, cls_name)


def create_device(kind: str, cfg: Any) -> Device:
    """A device object for ``cfg.backend`` (not yet opened)."""
    cls = backend_class(kind, cfg.backend)
    device = cls(cfg)
    device.backend = cfg.backend  # type: ignore[misc]
    return device
