"""The kiosk server's voice and language hooks: ``GET /speech``, languages in hello.

``install(ui_server, app)`` (called from :meth:`UiServer.install`) loads the language packs of
``[ui] packs_dir``, lets the kiosk accept their codes, adds to ``hello``::

    "languages": ["vi", "en", ...], "language_names": {"vi": "Tiếng Việt", ...},
    "voice": {"auto": true, "volume": 0.8, "engine": true}, "help_after_s": 15.0

and serves ``GET /speech?lang=L&key=K[&arg=value...]`` (*token*): ``audio/wav`` (or the clip's
type), ``X-Speech-Source: clip|espeak``; 400 for a bad request, 404 for an unknown key or
language, 503 when there is no clip and eSpeak NG is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from appliance.kiosk_ui import languages as langs
from appliance.kiosk_ui.speech import Speaker, SpeechError

log = logging.getLogger(__name__)

CONTENT_TYPES = {".wav": "audio/wav", ".ogg": "audio/ogg", ".opus": "audio/ogg"}
MAX_ARGS = 4


def install(server: Any, app: web.Application) -> None:
    ui = server.service.cfg.ui
    server.languages = langs.install(ui.packs_dir or None)
    server.speaker = Speaker(server.languages, Path(server.service.cfg.state_dir) / "speech-cache")
    server.kiosk.languages = tuple(server.languages.codes)
    server._hello.update(
        {
            "languages": list(server.languages.codes),
            "language_names": server.languages.names(),
            "voice": {
                "auto": bool(ui.voice),
                "volume": float(ui.volume),
                "engine": server.speaker.available,
            },
            "help_after_s": float(ui.help_after_s),
        }
    )
    if not server.speaker.available:
        log.warning("no eSpeak NG: only recorded clips are spoken (apt install espeak-ng)")

    async def speech(request: web.Request) -> web.StreamResponse:
        server.access.check(request)
        query = dict(request.query)
        lang, key = query.pop("lang", ""), query.pop("key", "")
        if not key or len(key) > 80 or len(query) > MAX_ARGS:
            raise web.HTTPBadRequest(text="lang, key and at most 4 arguments")
        try:
            spoken = await server.speaker.speak(lang, key, query)
        except ValueError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        except SpeechError as exc:
            raise web.HTTPServiceUnavailable(text=exc.message) from None
        return web.FileResponse(
            spoken.path,
            headers={
                "Content-Type": CONTENT_TYPES.get(spoken.path.suffix, "audio/wav"),
                "Cache-Control": "private, max-age=3600",
                "X-Speech-Source": spoken.source,
                "X-Speech-Lang": spoken.lang,
            },
        )

    app.router.add_get("/speech", speech)


def table(lang: str) -> dict[str, str]:
    """The translation table the page gets for ``lang`` (raises ValueError if unknown)."""
    return langs.current().table(lang)
