"""Shared fixtures: every test runs without root, hardware or a site config."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
APPLIANCE = [sys.executable, "-m", "appliance"]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No site config, a private state dir, no systemd socket, and no stray overrides."""
    for name in list(os.environ):
        if name.startswith("APPLIANCE_") or name in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APPLIANCE_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("APPLIANCE_STATE_DIR", str(tmp_path / "state"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> bytes:
    """GET ``url`` until it answers 200; fail early if ``proc`` died."""
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"service exited {proc.returncode}: {out}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read()
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s: {last}")


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
