"""The hub's settings: ``/etc/appliance/hub.toml`` (``[hub]`` table), each key overridable by an
``APPLIANCE_HUB_<KEY>`` environment variable (e.g. ``APPLIANCE_HUB_DATABASE_URL``)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

DEFAULT_FILE = Path("/etc/appliance/hub.toml")


@dataclass
class HubSettings:
    """Everything the hub's processes share; the processes themselves keep no state."""

    database_url: str = "sqlite:////var/lib/appliance-hub/hub.db"  # or postgresql+psycopg://...
    host: str = "127.0.0.1"  # behind a reverse proxy; 0.0.0.0 with tls_cert for direct TLS
    port: int = 8443
    tls_cert: str = ""  # PEM certificate chain; "" = plain HTTP (behind a TLS reverse proxy)
    tls_key: str = ""
    max_bundle_bytes: int = 16 * 1024 * 1024
    office_public_key: str = ""  # if set, bundles sealed to another office key are refused
    purge_after_days: float = 30.0  # ciphertext kept this long after the officer received it
    heartbeat_days: float = 90.0  # heartbeat history retention
    session_hours: float = 12.0
    login_max_failures: int = 5  # per username within login_window_s, then refused
    login_window_s: float = 900.0
    stale_after_s: float = 900.0  # a kiosk silent this long is listed as a problem
    backlog_warn: int = 20  # outbox depth that makes a kiosk a problem
    disk_warn_bytes: int = 1024**3
    secure_cookies: bool = True  # set False only for plain-HTTP loopback (the demo)
    utc_offset_hours: float = 7.0  # local time of the campaign's days and hours (Vietnam: +7)
    campaign_days: int = 31  # how far back the campaign page and CSV look
    # System updates (docs/updates.md): the kiosks' update certificate(s) and the folder where the
    # office puts signed manifests and bundles; "" = the /updates page says what to set.
    update_keyring: str = ""
    releases_dir: str = ""


def _coerce(raw: str, tp: type, key: str) -> Any:
    try:
        if tp is bool:
            return raw.lower() in ("1", "true", "yes", "on")
        return tp(raw)
    except ValueError:
        raise ConfigError(f"expected {tp.__name__}, got {raw!r}", key=key) from None


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> HubSettings:
    """Settings from ``path`` (default ``/etc/appliance/hub.toml`` if it exists) and the env."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    file = Path(path) if path else DEFAULT_FILE
    if path or file.is_file():
        try:
            data = tomllib.loads(file.read_text()).get("hub", {})
        except FileNotFoundError:
            raise ConfigError("file not found", file=str(file)) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", file=str(file)) from None
    types = {f.name: f.type for f in dataclasses.fields(HubSettings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in types:
            raise ConfigError("unknown key", file=str(file), key=f"hub.{key}")
        tp = {"str": str, "int": int, "float": float, "bool": bool}[str(types[key])]
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ConfigError(f"expected {tp.__name__}", file=str(file), key=f"hub.{key}")
        kwargs[key] = value
    for key, tp_name in types.items():
        raw = env.get(f"APPLIANCE_HUB_{key.upper()}")
        if raw is not None:
            tp = {"str": str, "int": int, "float": float, "bool": bool}[str(tp_name)]
            kwargs[key] = _coerce(raw, tp, f"APPLIANCE_HUB_{key.upper()}")
    return HubSettings(**kwargs)
