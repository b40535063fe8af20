"""Helpers for the hardware tests (import with ``from hwsupport import open_real``)."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.hal.registry import create_device


def open_real(hw_config, kind: str):
    """Open the configured real backend for ``kind`` or skip with the reason."""
    section = hw_config.device(kind)
    if section.backend in ("sim", "mock"):
        pytest.skip(f"{kind}: configured backend is {section.backend!r}, not real hardware")
    try:
        device = create_device(kind, section)
        device.open()
    except ApplianceError as exc:
        pytest.skip(f"{kind} ({section.backend}) not present: {exc.message}")
    return device
