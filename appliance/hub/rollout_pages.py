"""The hub's system-update pages and the kiosks' update endpoints (appliance/hub/rollouts.py).

``/updates`` (technician, commander): each kiosk's release and update state from its latest
heartbeat, whether it is in the staged rollout, and the releases the office put in
``[hub] releases_dir`` with their stages. ``POST /updates/stage`` (technician): serve a stage of
a release on its channel (a share first, then all) or stop it. For the kiosks (no login: the
documents are the office's signed bytes and the kiosk checks them): ``GET
/update/<channel>/manifest.json`` and the bundles beside it, ``GET /update/<channel>/<file>.raucb``
(HTTP ``Range`` for resumed downloads).
"""

from __future__ import annotations

from aiohttp import web

from appliance.errors import ApplianceError
from appliance.hub import rollouts
from appliance.hub.appkeys import SETTINGS, db
from appliance.hub.pages import _form_with_csrf, page_officer, render


def _catalogue(settings) -> tuple[rollouts.Catalogue | None, str]:
    try:
        return rollouts.scan(settings), ""
    except ApplianceError as exc:  # not configured, keyring unreadable: said on the page
        return None, exc.message


async def updates_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    officer = await page_officer(request, "fleet")
    settings = request.app[SETTINGS]
    cat, problem = await db(request, lambda _engine: _catalogue(settings))
    kiosks = await db(request, rollouts.fleet_updates, cat)
    staged = await db(request, rollouts.staged)
    return render(
        request,
        "updates.html",
        status=status,
        releases=cat.sorted() if cat else [],
        file_problems=cat.problems if cat else [],
        config_problem=problem,
        staged=staged,
        kiosks=kiosks,
        can_stage=officer["role"] == "technician",
        error=error,
    )


async def stage_post(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request, "devices")
    form = await _form_with_csrf(request, officer)
    settings = request.app[SETTINGS]
    channel, version, stage = (str(form.get(k, "")) for k in ("channel", "version", "stage"))
    cat, problem = await db(request, lambda _engine: _catalogue(settings))
    if cat is None:  # no releases folder or keyring: there is no release to stage
        return await updates_page(request, error=problem, status=404)
    rel = cat.get(channel, version)  # NotFound (404) for an unknown release
    try:
        await db(
            request, rollouts.set_stage, cat, rel.channel, rel.version, stage, officer["username"]
        )
    except ApplianceError as exc:
        return await updates_page(request, error=exc.message, status=409)
    raise web.HTTPSeeOther("/updates")


async def manifest_get(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    doc = await db(request, rollouts.served, settings, request.match_info["channel"])
    return web.Response(
        body=doc, content_type="application/json", headers={"Cache-Control": "no-store"}
    )


async def bundle_get(request: web.Request) -> web.StreamResponse:
    path = rollouts.bundle_path(request.app[SETTINGS], request.match_info["name"])
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


def add_rollout_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/updates", updates_page)
    r.add_post("/updates/stage", stage_post)
    r.add_get("/update/{channel}/manifest.json", manifest_get)
    r.add_get(r"/update/{channel}/{name:[A-Za-z0-9][A-Za-z0-9._-]*\.raucb}", bundle_get)
