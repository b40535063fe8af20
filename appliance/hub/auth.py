"""Officer accounts, sessions, CSRF and login throttling; every state is in the database, so
any hub process can serve any request.

Passwords are hashed with scrypt (n=2**14, r=8, p=1, 16-byte salt). A session token is random,
given to the browser as an HttpOnly cookie (or to ``appliance hub pull`` as a bearer token), and
only its SHA-256 is stored; each session has its own CSRF token that every form POST must echo.
After ``login_max_failures`` failed logins for one username within ``login_window_s`` further
attempts are refused (429) until the window has passed, right password or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from appliance.errors import InvalidInput
from appliance.hub.config import HubSettings
from appliance.hub.errors import AuthError
from appliance.hub.names import AREAS, NAME_RE, ROLES
from appliance.hub.schema import login_failures, officers, sessions

SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    b64 = base64.b64encode
    params = f"{SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}"
    return f"scrypt${params}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def add_officer(engine: Engine, username: str, password: str, role: str) -> dict[str, Any]:
    if not NAME_RE.match(username) or len(username) > 64:
        raise InvalidInput("username: letters, digits, . _ - (at most 64)", code="bad_name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="bad_role")
    if len(password) < 10:
        raise InvalidInput("password must have at least 10 characters", code="weak_password")
    try:
        with engine.begin() as conn:
            conn.execute(
                officers.insert().values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    created_ts=time.time(),
                    disabled=False,
                )
            )
    except IntegrityError:
        raise InvalidInput(f"officer {username!r} exists", code="already_registered") from None
    return {"username": username, "role": role}


def list_officers(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(officers.c.username, officers.c.role, officers.c.disabled).order_by(
                officers.c.username
            )
        ).all()
    return [dict(r._mapping) for r in rows]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    engine: Engine, settings: HubSettings, username: str, password: str, remote: str
) -> dict[str, Any]:
    """Check a password and open a session: ``{"token", "csrf", "role", "username"}``."""
    now = time.time()
    with engine.begin() as conn:
        recent = conn.execute(
            select(func.count())
            .select_from(login_failures)
            .where(
                login_failures.c.username == username[:64],
                login_failures.c.ts > now - settings.login_window_s,
            )
        ).scalar_one()
        if recent >= settings.login_max_failures:
            raise AuthError("too many failed logins; try again later", code="throttled", status=429)
        row = conn.execute(select(officers).where(officers.c.username == username[:64])).first()
    ok = row is not None and not row.disabled and check_password(password, row.password_hash)
    if not ok:
        with engine.begin() as conn:
            conn.execute(
                login_failures.insert().values(username=username[:64], remote=remote[:64], ts=now)
            )
        raise AuthError("wrong username or password", code="bad_login", status=401)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(login_failures.delete().where(login_failures.c.username == username))
        conn.execute(
            sessions.insert().values(
                token_sha256=_digest(token),
                officer_id=row.id,  # type: ignore[union-attr]
                csrf=csrf,
                created_ts=now,
                expires_ts=now + settings.session_hours * 3600,
            )
        )
    return {"token": token, "csrf": csrf, "role": row.role, "username": row.username}  # type: ignore[union-attr]


def session_for(engine: Engine, token: str | None) -> dict[str, Any] | None:
    """The officer behind a session token, or None (unknown, expired, disabled)."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(
                officers.c.username,
                officers.c.role,
                officers.c.disabled,
                sessions.c.csrf,
                sessions.c.expires_ts,
            )
            .join(officers, officers.c.id == sessions.c.officer_id)
            .where(sessions.c.token_sha256 == _digest(token))
        ).first()
    if row is None or row.disabled or row.expires_ts < time.time():
        return None
    return {"username": row.username, "role": row.role, "csrf": row.csrf, "token": token}


def logout(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.token_sha256 == _digest(token)))


def require(officer: dict[str, Any] | None, area: str) -> dict[str, Any]:
    if officer is None:
        raise AuthError("log in first", code="login_required", status=401)
    if officer["role"] not in AREAS[area]:
        raise AuthError(f"the {officer['role']} role cannot use {area}", code="forbidden")
    return officer


def check_csrf(officer: dict[str, Any], given: str | None) -> None:
    if not given or not hmac.compare_digest(given, officer["csrf"]):
        raise AuthError("the form is stale or forged (CSRF token)", code="csrf", status=403)


def expire_old(engine: Engine, settings: HubSettings, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_ts < now))
        conn.execute(
            delete(login_failures).where(login_failures.c.ts < now - settings.login_window_s)
        )
