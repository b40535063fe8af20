"""Server-rendered pages (Jinja2), Vietnamese first (``?lang=en`` for English), for an office PC
and a phone. Every page names the area it belongs to and :func:`auth.require` checks the role;
every form POST carries the session's CSRF token (the login form a double-submit cookie).

``/login``, ``/logout``; ``/fleet`` and ``/kiosk/<name>`` (technician, commander);
``POST /kiosk/<name>/revoke`` (technician); ``/campaign`` and ``/campaign.csv`` (commander);
``/records`` (records officer).
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from appliance.errors import ApplianceError
from appliance.hub import auth, records, stats
from appliance.hub.appkeys import COOKIE, SETTINGS, db
from appliance.hub.errors import AuthError, NotFound
from appliance.hub.registry import get_device, revoke_device
from appliance.hub.texts import translate

TEMPLATES = Path(__file__).with_name("templates")
LOGIN_CSRF = "hub_login_csrf"
OFFICER = web.RequestKey("officer", dict)
HOME = {"technician": "/fleet", "commander": "/campaign", "records": "/records"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "data:; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True
)


def _when(ts: float | None, lang: str) -> str:
    if not ts:
        return translate("never", lang)
    return datetime.fromtimestamp(ts).astimezone().strftime("%d/%m/%Y %H:%M")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def lang_of(request: web.Request) -> str:
    return "en" if request.query.get("lang", request.cookies.get("lang")) == "en" else "vi"


def render(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    lang = lang_of(request)
    officer = request.get(OFFICER)
    html = _env.get_template(name).render(
        t=lambda k: translate(k, lang),
        lang=lang,
        other="vi" if lang == "en" else "en",
        officer=officer,
        when=lambda ts: _when(ts, lang),
        age=_age,
        size=_bytes,
        path=request.path,
        **ctx,
    )
    resp = web.Response(
        text=html, content_type="text/html", status=status, headers=SECURITY_HEADERS
    )
    if "lang" in request.query:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="Strict", httponly=True)
    return resp


def render_error(request: web.Request, exc: ApplianceError, status: int) -> web.Response:
    return render(request, "error.html", status=status, code=exc.code, message=exc.message)


async def page_officer(request: web.Request, area: str) -> dict[str, Any]:
    found = await db(request, auth.session_for, request.cookies.get(COOKIE))
    if found is not None:
        request[OFFICER] = found
    return auth.require(found, area)


async def _form_with_csrf(request: web.Request, officer: dict[str, Any]) -> Any:
    form = await request.post()
    auth.check_csrf(officer, form.get("csrf"))
    return form


async def login_get(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", csrf=token, error=None)
    _set_cookie(request, resp, LOGIN_CSRF, token, 3600)
    return resp


def _set_cookie(
    request: web.Request, resp: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].secure_cookies,
        path="/",
    )


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or form.get("csrf") != cookie:
        raise AuthError("the form is stale or forged (CSRF token)", code="csrf")
    try:
        out = await db(
            request,
            auth.login,
            request.app[SETTINGS],
            str(form.get("username", "")),
            str(form.get("password", "")),
            request.remote or "?",
        )
    except AuthError as exc:
        token = secrets.token_urlsafe(24)
        resp = render(request, "login.html", status=exc.status, csrf=token, error=exc.code)
        _set_cookie(request, resp, LOGIN_CSRF, token, 3600)
        return resp
    resp = web.HTTPSeeOther(HOME[out["role"]])
    hours = request.app[SETTINGS].session_hours
    _set_cookie(request, resp, COOKIE, out["token"], int(hours * 3600))
    resp.del_cookie(LOGIN_CSRF, path="/")
    raise resp


async def logout(request: web.Request) -> web.StreamResponse:
    found = await db(request, auth.session_for, request.cookies.get(COOKIE))
    if found is None:
        raise web.HTTPSeeOther("/login")
    await _form_with_csrf(request, found)
    await db(request, auth.logout, found["token"])
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp


async def home(request: web.Request) -> web.StreamResponse:
    found = await db(request, auth.session_for, request.cookies.get(COOKIE))
    raise web.HTTPSeeOther(HOME[found["role"]] if found else "/login")


async def fleet_page(request: web.Request) -> web.Response:
    await page_officer(request, "fleet")
    rows = await db(request, stats.fleet, request.app[SETTINGS])
    now = time.time()
    return render(
        request, "fleet.html", rows=rows, now=now, n_problems=sum(1 for r in rows if r["problems"])
    )


async def kiosk_page(request: web.Request) -> web.Response:
    officer = await page_officer(request, "fleet")
    dev = await db(request, get_device, request.match_info["name"])
    if dev is None:
        raise NotFound(f"no kiosk named {request.match_info['name']!r}")
    rows = await db(request, stats.fleet, request.app[SETTINGS])
    current = next(r for r in rows if r["name"] == dev["name"])
    hist = await db(request, stats.history, dev["id"])
    chart = stats.bar_chart(
        [
            (_when(h["received_ts"], lang_of(request)), h["outbox_depth"] or 0)
            for h in reversed(hist[:24])
        ],
        translate("backlog", lang_of(request)),
    )
    can_revoke = officer["role"] in auth.AREAS["devices"] and dev["revoked_at"] is None
    return render(
        request, "kiosk.html", dev=current, history=hist, chart=chart, can_revoke=can_revoke
    )


async def kiosk_revoke(request: web.Request) -> web.StreamResponse:
    officer = await page_officer(request, "devices")
    await _form_with_csrf(request, officer)
    await db(request, revoke_device, request.match_info["name"])
    raise web.HTTPSeeOther(f"/kiosk/{request.match_info['name']}")


async def _campaign_data(request: web.Request) -> dict[str, Any]:
    caps = await db(request, stats.captures_per_commune_day, request.app[SETTINGS])
    cnt = await db(request, stats.counters, request.app[SETTINGS])
    return {"captures": caps, **cnt}


async def campaign_page(request: web.Request) -> web.Response:
    await page_officer(request, "campaign")
    lang = lang_of(request)
    data = await _campaign_data(request)
    per_day: dict[str, int] = {}
    for r in data["captures"]:
        per_day[r["day"]] = per_day.get(r["day"], 0) + r["n"]
    per_hour: dict[str, int] = {}
    for r in data["checkins_per_hour"]:
        per_hour[r["hour"][5:]] = per_hour.get(r["hour"][5:], 0) + r["n"]
    charts = [
        stats.bar_chart(sorted(per_day.items())[-14:], translate("captures_per_day", lang)),
        stats.bar_chart(sorted(per_hour.items())[-24:], translate("checkins_per_hour", lang)),
        stats.bar_chart(list(data["age_bands"].items()), translate("age_bands", lang)),
        stats.bar_chart(
            [(translate(k, lang), v) for k, v in sorted(data["verifications"].items())],
            translate("verifications", lang),
        ),
    ]
    return render(request, "campaign.html", data=data, charts=[c for c in charts if c])


async def campaign_csv(request: web.Request) -> web.Response:
    await page_officer(request, "campaign")
    table = request.query.get("table", "captures")
    data = await _campaign_data(request)
    buf = io.StringIO()
    w = csv.writer(buf)
    if table == "captures":
        w.writerow(["day", "commune_code", "captures"])
        w.writerows([r["day"], r["commune_code"], r["n"]] for r in data["captures"])
    elif table == "checkins":
        w.writerow(["site", "hour", "checkins"])
        w.writerows([r["site"], r["hour"], r["n"]] for r in data["checkins_per_hour"])
    elif table == "verifications":
        w.writerow(["result", "count"])
        w.writerows(sorted(data["verifications"].items()))
    else:
        raise NotFound("table must be captures, checkins or verifications", code="usage")
    return web.Response(
        body=buf.getvalue().encode("utf-8-sig"),  # the BOM lets spreadsheet programs read UTF-8
        content_type="text/csv",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{table}.csv"'},
    )


async def records_page(request: web.Request) -> web.Response:
    await page_officer(request, "bundles")
    rows = await db(request, records.list_bundles, include_pulled=False, limit=200)
    return render(request, "records.html", rows=rows)


def add_pages(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home)
    r.add_get("/login", login_get)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/fleet", fleet_page)
    r.add_get("/kiosk/{name}", kiosk_page)
    r.add_post("/kiosk/{name}/revoke", kiosk_revoke)
    r.add_get("/campaign", campaign_page)
    r.add_get("/campaign.csv", campaign_csv)
    r.add_get("/records", records_page)
