"""What every request handler of the hub reads from its application, and the off-loop call."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.engine import Engine

from appliance.hub.config import HubSettings

ENGINE = web.AppKey("engine", Engine)
SETTINGS = web.AppKey("settings", HubSettings)
OFFICE_KEY_ID = web.AppKey("office_key_id", str)
COOKIE = "hub_session"


def db(request: web.Request, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run a blocking database call off the event loop (awaitable)."""
    return asyncio.to_thread(fn, request.app[ENGINE], *args, **kw)
