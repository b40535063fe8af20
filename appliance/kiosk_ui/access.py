"""Who may use the kiosk screen: loopback Host names, a per-boot token, one screen at a time.

The service listens on loopback, but any local process and any web page the browser opens (DNS
rebinding: ``Host: evil.example:8080``) can reach it. So every UI route checks that the Host header
is a loopback name with our port (``127.0.0.1``, ``localhost``, ``[::1]``), and every route that
shows personal data (the page, ``/ws``, ``/camera.mjpg``, ``/qr.svg``) needs the token:

* the service makes an unguessable token per boot and writes the page URL with it, as
  ``KIOSK_URL=http://127.0.0.1:PORT/?token=...`` (mode 0640), to ``$RUNTIME_DIRECTORY/kiosk-url``
  under systemd (``/run/appliance``; reused while the boot lasts) or else ``STATE_DIR/kiosk-url``
  (a new token per start);
* the kiosk unit reads it as its ``EnvironmentFile=`` (systemd reads it as root) and opens
  ``${KIOSK_URL}``; the page answers with an ``HttpOnly; SameSite=Strict`` cookie
  and a redirect to ``/``, so the token leaves the address bar and scripts never see it;
* a WebSocket needs the cookie (or ``?token=``), an Origin, if any, that is one of ours, and no
  other screen connected (409 until the first one closes).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

log = logging.getLogger(__name__)

COOKIE = "kiosk_token"
URL_FILE = "kiosk-url"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")


def url_file(state_dir: Path) -> Path:
    """Where the tokened page URL is written (the kiosk unit and ``make demo`` read it)."""
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    return Path(runtime.split(":")[0]) / URL_FILE if runtime else Path(state_dir) / URL_FILE


def read_url(path: Path) -> str:
    """The page URL from a ``kiosk-url`` file (``KIOSK_URL=...``)."""
    return path.read_text().strip().partition("KIOSK_URL=")[2]


def _existing_token(path: Path) -> str | None:
    try:
        query = urlsplit(read_url(path)).query
    except OSError:
        return None
    token = (parse_qs(query).get("token") or [""])[0]
    return token if _TOKEN_RE.fullmatch(token) else None


class KioskAccess:
    """The checks, and the single controlling connection."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.file = url_file(state_dir)
        per_boot = "RUNTIME_DIRECTORY" in os.environ  # /run is emptied at boot
        self.token = (per_boot and _existing_token(self.file)) or secrets.token_urlsafe(32)
        self.port = port
        self.controller: object | None = None  # the connected screen

    def write_url(self) -> Path:
        """Write the page URL with the token (0640, atomically)."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"KIOSK_URL={self.page_url()}\n")
        os.chmod(tmp, 0o640)
        os.replace(tmp, self.file)
        return self.file

    def page_url(self, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.port}/?token={self.token}"

    # --- checks ---------------------------------------------------------------------------------

    @staticmethod
    def _port(request: web.Request) -> int | None:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        return sock[1] if sock else None

    def host_ok(self, request: web.Request) -> bool:
        port = self._port(request)
        return request.headers.get("Host", "") in {f"{n}:{port}" for n in LOOPBACK_NAMES}

    def origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        port = self._port(request)
        return origin is None or origin in {f"http://{n}:{port}" for n in LOOPBACK_NAMES}

    def _match(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def token_ok(self, request: web.Request) -> bool:
        return self._match(request.cookies.get(COOKIE)) or self._match(request.query.get("token"))

    def check(self, request: web.Request) -> None:
        """Raise 403 unless Host, Origin and token are all ours."""
        if not self.host_ok(request):
            raise web.HTTPForbidden(text="this service answers only to 127.0.0.1 / localhost")
        if not self.origin_ok(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        if not self.token_ok(request):
            raise web.HTTPForbidden(
                text="Màn hình này chỉ dành cho ki-ốt. / This screen is for the kiosk only.\n"
            )

    def set_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")

    @web.middleware
    async def host_middleware(self, request: web.Request, handler):
        """Host allowlist on the UI routes (``/healthz`` stays reachable via a forwarded port)."""
        if request.path != "/healthz" and not self.host_ok(request):
            raise web.HTTPForbidden(text="this service answers only to 127.0.0.1 / localhost")
        return await handler(request)
