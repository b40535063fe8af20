"""Pages for people (placeholder until the page module lands)."""

from __future__ import annotations

from aiohttp import web

from appliance.errors import ApplianceError


def render_error(request: web.Request, exc: ApplianceError, status: int) -> web.Response:
    return web.Response(text=exc.message, status=status)


def add_pages(app: web.Application) -> None:
    return None
