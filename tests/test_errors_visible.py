"""Errors at isolation boundaries are logged with their traceback, and a UI that cannot load is
an error in health and on the screen, not a placeholder page."""

import asyncio
import logging
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from appliance.config import load_config
from appliance.errors import DeviceUnavailable
from appliance.hal.manager import DeviceManager
from appliance.pipeline.workflows.engine import _cancel


@pytest.fixture
def sim_cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "state"))
    return load_config(profile="sim")


def test_ui_that_cannot_load_is_an_error_in_health_log_and_screen(sim_cfg, monkeypatch, caplog):
    from appliance.service import Service

    monkeypatch.setitem(sys.modules, "appliance.kiosk_ui.server", None)  # import fails
    with caplog.at_level(logging.ERROR, logger="appliance.service"):
        service = Service(sim_cfg)
    health = service.health()
    assert health["ui"]["state"] == "error"
    assert "kiosk_ui" in health["ui"]["error"]
    (record,) = [r for r in caplog.records if "kiosk UI could not be loaded" in r.getMessage()]
    assert record.exc_info is not None and issubclass(record.exc_info[0], ImportError)

    async def fetch():
        async with TestClient(TestServer(service.app)) as client:
            resp = await client.get("/")
            return resp.status, await resp.text()

    status, text = asyncio.run(fetch())
    assert status == 503
    assert "Ki-ốt tạm ngừng phục vụ" in text and "Out of service" in text


def test_an_error_raised_by_a_cancelled_task_is_logged_with_its_traceback(caplog):
    async def main():
        async def stubborn():
            try:
                await asyncio.sleep(60)
            finally:
                raise ValueError("cleanup went wrong")

        task = asyncio.create_task(stubborn(), name="stubborn")
        await asyncio.sleep(0)
        await _cancel(task)

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    (record,) = [r for r in caplog.records if "stubborn" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


class _Broken:
    def __init__(self, exc):
        self.exc = exc

    def close(self):
        pass


@pytest.mark.parametrize(
    ("exc", "traceback"),
    [
        (TypeError("open() got an unexpected keyword argument 'baud'"), True),
        (DeviceUnavailable("no answer on /dev/serial0"), False),
        (FileNotFoundError(2, "No such file or directory"), False),
    ],
)
def test_a_backend_bug_is_logged_with_its_traceback_a_device_error_in_one_line(
    sim_cfg, caplog, exc, traceback
):
    manager = DeviceManager(sim_cfg)
    slot = manager.slots["fingerprint"]
    with caplog.at_level(logging.WARNING, logger="appliance.hal.manager"):
        manager._mark_down(slot, exc)
        manager._mark_down(slot, exc)  # the same reason again: not logged twice
    records = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(records) == 1
    assert (records[0].exc_info is not None) is traceback
    assert slot.state == "unavailable"
