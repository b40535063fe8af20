"""Helpers shared by tests (import with ``from support import ...``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

APPLIANCE = [sys.executable, "-m", "appliance"]
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> bytes:
    """GET ``url`` until it answers 200 (keeping cookies across redirects); fail early if
    ``proc`` died."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"service exited {proc.returncode}: {out}")
        try:
            with opener.open(url, timeout=2) as resp:
                return resp.read()
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s: {last}")


def kiosk_url(base_url: str, state_dir: Path) -> str:
    """The kiosk page URL with the service's per-boot token (what the kiosk unit opens)."""
    from urllib.parse import urlsplit

    from appliance.kiosk_ui.access import URL_FILE, read_url

    return f"{base_url}/?{urlsplit(read_url(Path(state_dir) / URL_FILE)).query}"
