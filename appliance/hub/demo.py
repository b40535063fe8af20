"""``appliance hub demo``: the local hub ``make demo`` starts beside the sim kiosk.

SQLite under ``<kiosk state>/hub/``, the sim kiosk's device key (made beforehand by
``appliance keys device``, which ``make demo`` runs) registered as ``sim-kiosk`` (its
token in ``hub/sim-kiosk.token``, which ``make demo`` gives the kiosk as its upload token), and
three demo officers (``demo-tech``, ``demo-commander``, ``demo-records``) sharing one random
password kept in ``hub/demo-password``. Everything is made once and reused on the next start.
For a developer's machine only: plain HTTP on 127.0.0.1, a demo office key that protects nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from appliance.errors import InvalidInput
from appliance.hub.auth import add_officer, list_officers
from appliance.hub.registry import (
    device_by_key,
    get_device,
    parse_public_key,
    register_device,
    revoke_device,
    rotate_token,
)
from appliance.store.bundle import key_id

OFFICERS = {"demo-tech": "technician", "demo-commander": "commander", "demo-records": "records"}
KIOSK = "sim-kiosk"


def prepare(engine: Engine, kiosk_state: str | Path, hub_dir: str | Path) -> dict[str, Any]:
    """Register the sim kiosk and the demo officers (idempotent); returns what to print."""
    hub_dir = Path(hub_dir)
    hub_dir.mkdir(parents=True, exist_ok=True)
    pub = Path(kiosk_state) / "keys" / "device_ed25519.pub"
    try:
        pem = pub.read_text()
    except OSError:
        raise InvalidInput(
            f"no kiosk key at {pub}: run `appliance keys device --profile sim` first",
            code="no_device_key",
        ) from None
    kid = key_id(parse_public_key(pem))
    token_file = hub_dir / f"{KIOSK}.token"
    mine = device_by_key(engine, kid)
    token = None
    if mine is None:
        taken = get_device(engine, KIOSK)
        name = KIOSK
        if taken is not None:  # the kiosk's state was wiped: a new key under a new name
            revoke_device(engine, KIOSK)
            name = f"{KIOSK}-{kid[:8]}"
        token = register_device(
            engine,
            name=name,
            public_key_pem=pem,
            site="Demo: UBND xã Tân Lập (mô phỏng)",
            commune_code="00004",
            profile="sim",
        )["token"]
    elif not token_file.exists():
        token = rotate_token(engine, mine["name"])
    if token:
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
    pw_file = hub_dir / "demo-password"
    if not pw_file.exists():
        pw_file.write_text(secrets.token_urlsafe(12) + "\n")
        pw_file.chmod(0o600)
    password = pw_file.read_text().strip()
    have = {o["username"] for o in list_officers(engine)}
    for user, role in OFFICERS.items():
        if user not in have:
            add_officer(engine, user, password, role)
    return {
        "officers": OFFICERS,
        "password": password,
        "password_file": str(pw_file),
        "token_file": str(token_file),
        "device_key_id": kid,
    }
