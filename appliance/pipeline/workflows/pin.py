"""The operator PIN: where its hash comes from and how a typed PIN is checked.

``appliance provision`` stores the operator PIN as a scrypt hash in ``credentials.json`` of the
config directory (``/etc/appliance``, or ``$APPLIANCE_CONFIG_DIR``); ``[ui] operator_pin_hash``
(same format, e.g. from ``appliance.provision.hash_secret``) overrides it. Hashing and checking
are provisioning's (:func:`appliance.provision.hash_secret` / ``verify_secret``); the kiosk only
ever holds the hash.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from appliance.config import DEFAULT_CONFIG_DIR

log = logging.getLogger(__name__)

CREDENTIALS = "credentials.json"
PIN_KEY = "operator_pin"


def operator_pin_hash(cfg: Any, env: dict[str, str] | None = None) -> str:
    """The configured hash, else provisioning's; "" when none (operator mode stays locked)."""
    if cfg.ui.operator_pin_hash:
        return str(cfg.ui.operator_pin_hash)
    env = dict(os.environ if env is None else env)
    path = Path(env.get("APPLIANCE_CONFIG_DIR", str(DEFAULT_CONFIG_DIR))) / CREDENTIALS
    try:
        creds = json.loads(path.read_text())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as exc:
        log.error("cannot read the operator credentials %s: %s", path, exc)
        return ""
    value = creds.get(PIN_KEY) if isinstance(creds, dict) else None
    return value if isinstance(value, str) else ""


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of a typed PIN against a stored hash (False without a hash)."""
    if not stored or not pin:
        return False
    from appliance.provision import verify_secret

    return verify_secret(stored, pin)
