"""Helpers for the hardware tests (import with ``from hwsupport import open_real``)."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.hal.registry import create_device


def open_real(hw_config, kind: str):
    """Open the configured real backend for ``kind``.

    Skips (with the reason) only when there is nothing real to test: a simulated or mock
    backend, or a device the config marks ``required = false`` that is not there. A required
    device on a real backend that fails to open FAILS with the reason: a dead sensor must not
    pass the field test as "skipped".
    """
    section = hw_config.device(kind)
    if section.backend in ("sim", "mock"):
        pytest.skip(f"{kind}: configured backend is {section.backend!r}, not real hardware")
    try:
        device = create_device(kind, section)
        device.open()
    except ApplianceError as exc:
        if not getattr(section, "required", True):
            pytest.skip(f"{kind} ({section.backend}) optional here and not present: {exc.message}")
        pytest.fail(
            f"{kind} ({section.backend}) is required by the config but does not open: "
            f"{exc.code}: {exc.message}",
            pytrace=False,
        )
    return device
