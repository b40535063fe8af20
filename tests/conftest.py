"""Shared fixtures: every test runs without root, hardware or a site config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import APPLIANCE, free_port

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No site config, a private state dir, no systemd socket, and no stray overrides."""
    for name in list(os.environ):
        if name.startswith("APPLIANCE_") or name in (
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "RUNTIME_DIRECTORY",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APPLIANCE_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def service_proc(tmp_path):
    """Start ``appliance run`` as a subprocess; yields (proc, base_url); always stopped."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None, port: int | None = None):
        port = port or free_port()
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(
            [*APPLIANCE, "run", "--port", str(port), *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# The office hub's database fixtures (tests/hub_fixtures.py).
from hub_fixtures import hub_db_url, hub_engine, pg_server  # noqa: E402, F401
