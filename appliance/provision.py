"""``appliance provision --from FILE [--root DIR]``: apply a site's ``provision.toml``.

A field technician puts one ``provision.toml`` (docs/provision.example.toml) on the SD card's
boot partition; ``appliance-firstboot.service`` runs this at first boot, and a technician can run
it by hand. It validates the whole file before writing anything, then writes ``/etc/appliance/``
(site config, office key, upload credential, CSCA trust store, hashed operator credentials, NTP
and Wi-Fi settings), makes the device signing key, and scrubs the clear secrets from the boot
partition (the file becomes ``provision-done.toml`` without them, beside the device's public key
and ``provision-result.json``). A bad file changes nothing: the error goes to the journal, to
``/var/lib/appliance/provision-status.json`` (shown by the UI and /healthz) and to
``provision-error.txt`` beside the file, and the appliance starts as before.

``--root DIR`` prefixes every device path (tests, or preparing a mounted card on a laptop).
Operator secrets are stored as ``scrypt$N$r$p$salt$hash`` (:func:`hash_secret`,
:func:`verify_secret`); the Wi-Fi passphrase as its derived WPA key.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.clock import clock_synchronized
from appliance.config import PROFILES, load_config
from appliance.errors import ApplianceError, ConfigError, InvalidInput
from appliance.field_rules import LOOPBACK_HOSTS, is_example_secret

log = logging.getLogger(__name__)

ETC = Path("etc/appliance")
STATE = Path("var/lib/appliance")
STATUS_FILE = "provision-status.json"
MARKER = "provisioned.json"
CREDENTIALS = "credentials.json"
DONE_NAME = "provision-done.toml"
RESULT_NAME = "provision-result.json"
ERROR_NAME = "provision-error.txt"
DEVICE_PUB_NAME = "device_ed25519.pub"
UPDATE_KEYRING = "update-keyring.pem"  # beside provision.toml and in /etc/appliance
SERVICE_USER = "appliance"
DEFAULT_FALLBACK_NTP = [f"{i}.debian.pool.ntp.org" for i in range(4)]
CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
# (table, key) pairs whose values never stay on the boot partition.
SECRETS = {
    ("office", "upload_token"),
    ("operator", "pin"),
    ("operator", "admin_password"),
    ("wifi", "psk"),
}
# Site-config keys provisioning owns; [appliance] may not set them behind its back.
MANAGED = {
    ("service", "device_name"): "device_name",
    ("store", "office_public_key"): "[office] public_key",
    ("store", "upload_url"): "[office] upload_url",
    ("store", "upload_token_file"): "[office] upload_token",
    ("store", "upload_ca_file"): "[office] upload_ca",
    ("store", "upload_method"): "[office] upload_method",
    ("card_reader", "trust_dir"): "[trust] csca_dir",
}
TABLES: dict[str, set[str]] = {
    "": {"profile", "device_name", "office", "trust", "time", "operator", "wifi", "appliance"},
    "office": {
        "public_key",
        "upload_url",
        "upload_token",
        "upload_ca",
        "upload_method",
        "update_keyring",
    },
    "trust": {"csca_dir"},
    "time": {"ntp", "fallback_ntp"},
    "operator": {"pin", "admin_password", "pin_hash", "admin_password_hash"},
    "wifi": {"ssid", "psk", "country", "hidden"},
}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")
DEVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ProvisionWriteError(ApplianceError):
    """The settings are valid but could not be written (data partition missing or read-only)."""

    code = "provision_write"


class ProvisionError(InvalidInput):
    """provision.toml is missing, unreadable or invalid; ``key`` names the offending entry."""

    code = "provision"

    def __init__(self, message: str, *, key: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message, code=code)
        self.key = key


# --- secrets ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_secret(secret: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` for a PIN or password (salt and hash base64, unpadded)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$N$r$p$salt$hash string")
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > 2**26:
        raise ValueError("scrypt parameters out of range")
    salt, digest = _unb64(parts[4]), _unb64(parts[5])
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError("salt or hash too short")
    return n, r, p, salt, digest


def verify_secret(stored: str, candidate: str) -> bool:
    """True when ``candidate`` matches ``stored`` (from :func:`hash_secret`); constant-time."""
    try:
        n, r, p, salt, digest = _parse_hash(stored)
    except (ValueError, TypeError):
        return False
    got = hashlib.scrypt(
        candidate.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**26
    )
    return hmac.compare_digest(got, digest)


def wpa_psk(ssid: str, passphrase: str) -> str:
    """The 256-bit WPA key wpa_passphrase derives (PBKDF2-HMAC-SHA1, 4096 rounds), as hex."""
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()


# --- parsing and validation ------------------------------------------------------------------


@dataclass
class Provision:
    """A validated provision.toml (secrets still in clear: never log or print this)."""

    source: Path
    raw: dict[str, Any]
    profile: str
    device_name: str
    office_key_pem: bytes
    upload_url: str = ""
    upload_method: str = ""
    upload_token: str = ""
    upload_ca_pem: bytes = b""
    update_keyring_pem: bytes = b""  # the office's update-signing certificate(s), checked
    csca: dict[str, bytes] = field(default_factory=dict)  # file name -> certificate bytes
    ntp: list[str] = field(default_factory=list)
    fallback_ntp: list[str] = field(default_factory=lambda: list(DEFAULT_FALLBACK_NTP))
    credentials: dict[str, str] = field(default_factory=dict)  # name -> scrypt hash
    wifi: dict[str, Any] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # never show secrets
        return f"Provision(profile={self.profile!r}, device_name={self.device_name!r})"


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ProvisionError("must be a table ([...] section)", key=name)
    return value


def _string(table: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = table.get(key)
    if value is None:
        if required:
            raise ProvisionError("missing", key=where)
        return ""
    if not isinstance(value, str):
        raise ProvisionError(f"must be a quoted string, not {type(value).__name__}", key=where)
    return value


def _beside(base: Path, name: str, where: str) -> Path:
    """A file or folder named in provision.toml, relative to its folder and inside it."""
    path = (base / name).resolve()
    if base.resolve() not in (path, *path.parents):
        raise ProvisionError(f"{name!r} must be a file beside provision.toml", key=where)
    return path


def _read_beside(base: Path, name: str, where: str) -> bytes:
    path = _beside(base, name, where)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProvisionError(f"file {name!r} not found beside provision.toml", key=where) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ProvisionError(f"cannot read {name!r}: {exc.strerror}", key=where) from None


def _office_key(base: Path, value: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    where = "office.public_key"
    data = value.encode() if value.lstrip().startswith("-----BEGIN") else None
    if data is None:
        data = _read_beside(base, value, where)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ProvisionError("not a PEM public key", key=where) from None
    if not isinstance(key, X25519PublicKey):
        raise ProvisionError(
            f"must be the office's X25519 key, got {type(key).__name__}", key=where
        )
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificates(data: bytes, name: str, where: str) -> None:
    """Raise unless ``data`` holds one or more X.509 certificates (PEM or DER)."""
    from cryptography import x509

    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            x509.load_pem_x509_certificates(data)
        else:
            x509.load_der_x509_certificate(data)
    except ValueError:
        raise ProvisionError(f"{name!r} is not an X.509 certificate", key=where) from None


def _update_keyring(base: Path, office: dict[str, Any], warnings: list[str]) -> bytes:
    """``[office] update_keyring`` (default: ``update-keyring.pem`` when it is beside)."""
    from appliance.update.errors import UpdateRefused
    from appliance.update.keyring import check_keyring

    where = "office.update_keyring"
    name = _string(office, "update_keyring", where)
    if not name and not (base / UPDATE_KEYRING).is_file():
        warnings.append(f"no update keyring ({UPDATE_KEYRING}): system updates will be refused")
        return b""
    try:
        keyring = check_keyring(_read_beside(base, name or UPDATE_KEYRING, where))
    except UpdateRefused as exc:
        raise ProvisionError(exc.message.removeprefix("update keyring: "), key=where) from None
    warnings.extend(keyring.warnings)
    return keyring.pem


def _url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ProvisionError("must be an https:// URL", key="office.upload_url")
    if parts.username or parts.password:
        raise ProvisionError(
            "must not carry a user or password; use upload_token", key="office.upload_url"
        )
    return value


def _servers(table: dict[str, Any], key: str) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    where = f"time.{key}"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProvisionError("must be a list of host names or addresses", key=where)
    for server in value:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            if not HOSTNAME.match(server):
                raise ProvisionError(
                    f"{server!r} is not a host name or address", key=where
                ) from None
    return list(value)


def _operator(raw: dict[str, Any], warnings: list[str]) -> dict[str, str]:
    """The operator PIN (6-12 digits, hashed). The admin password had no use and is not kept."""
    table = _table(raw, "operator")
    out: dict[str, str] = {}
    pin = table.get("pin")
    if pin is not None:
        if not isinstance(pin, str):
            raise ProvisionError('write the PIN in quotes (pin = "123456")', key="operator.pin")
        if not re.fullmatch(r"[0-9]{6,12}", pin):
            raise ProvisionError("must be 6 to 12 digits", key="operator.pin")
        if len(set(pin)) == 1 or pin in "0123456789012" or pin in "9876543210987":
            raise ProvisionError(
                "too easy to guess (repeated or sequential digits)", key="operator.pin"
            )
        out["operator_pin"] = hash_secret(pin)
    stored = _string(table, "pin_hash", "operator.pin_hash")
    if stored:
        if "operator_pin" in out:
            raise ProvisionError("give pin or pin_hash, not both", key="operator.pin_hash")
        try:
            _parse_hash(stored)
        except (ValueError, TypeError) as exc:
            raise ProvisionError(str(exc), key="operator.pin_hash") from None
        out["operator_pin"] = stored
    for key in ("admin_password", "admin_password_hash"):
        if key in table:
            warnings.append(
                f"operator.{key} is not used (the operator PIN guards every operator screen) "
                "and was not stored"
            )
    if not out:
        raise ProvisionError(
            "an operator PIN is required (pin, 6 to 12 digits, or pin_hash)", key="operator"
        )
    return out


def _wifi(raw: dict[str, Any]) -> dict[str, Any] | None:
    if "wifi" not in raw:
        return None
    table = _table(raw, "wifi")
    ssid = _string(table, "ssid", "wifi.ssid", required=True)
    if not 1 <= len(ssid.encode()) <= 32 or any(c in ssid for c in '"\n\r'):
        raise ProvisionError(
            "must be 1 to 32 bytes, without quotes or line breaks", key="wifi.ssid"
        )
    psk = _string(table, "psk", "wifi.psk")
    if psk and re.fullmatch(r"[0-9a-fA-F]{64}", psk):
        key = psk.lower()
    elif psk:
        if not 8 <= len(psk) <= 63 or not all(32 <= ord(c) < 127 for c in psk):
            raise ProvisionError(
                "a passphrase is 8 to 63 printable ASCII characters", key="wifi.psk"
            )
        key = wpa_psk(ssid, psk)
    else:
        key = ""  # an open network
    country = _string(table, "country", "wifi.country") or "VN"
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ProvisionError("a two-letter country code such as VN", key="wifi.country")
    hidden = table.get("hidden", False)
    if not isinstance(hidden, bool):
        raise ProvisionError("must be true or false", key="wifi.hidden")
    return {"ssid": ssid, "key": key, "country": country, "hidden": hidden}


def _check_keys(raw: dict[str, Any]) -> None:
    for table, allowed in TABLES.items():
        data = raw if not table else raw.get(table, {})
        if not isinstance(data, dict):
            continue
        for key in data:
            if key not in allowed:
                where = f"{table}.{key}" if table else key
                raise ProvisionError(
                    f"unknown key; expected one of {', '.join(sorted(allowed))}", key=where
                )


def _refuse_example_secrets(raw: dict[str, Any]) -> None:
    for table, key in (
        ("operator", "pin"),
        ("operator", "admin_password"),
        ("office", "upload_token"),
    ):
        value = raw.get(table, {}).get(key) if isinstance(raw.get(table), dict) else None
        if isinstance(value, str) and is_example_secret(value):
            raise ProvisionError(
                "this is the example from docs/provision.example.toml, which anyone can read; "
                "choose your own",
                key=f"{table}.{key}",
            )


def _check_plain(table: dict[str, Any], where: str) -> None:
    """Settings are tables of plain values: no ``[[array.of.tables]]`` anywhere."""
    for key, value in table.items():
        if isinstance(value, dict):
            _check_plain(value, f"{where}.{key}")
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            raise ProvisionError(
                f"[[{where}.{key}]] or a nested list is not a setting; write [{where}.{key}]",
                key=f"{where}.{key}",
            )


def read_provision(path: str | Path) -> Provision:
    """Read and validate ``provision.toml``; raises :class:`ProvisionError` on any problem."""
    source = Path(path)
    try:
        text = source.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProvisionError(f"{source} not found", code="provision_missing") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ProvisionError(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProvisionError(f"{source} is not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError(f"{source.name} is not valid TOML ({exc})") from None
    _check_keys(raw)
    base = source.parent
    warnings: list[str] = []

    profile = _string(raw, "profile", "profile", required=True)
    if profile not in PROFILES:
        raise ProvisionError(f"unknown profile; choose one of {', '.join(PROFILES)}", key="profile")
    device_name = _string(raw, "device_name", "device_name", required=True).lower()
    if not DEVICE_NAME.match(device_name):
        raise ProvisionError(
            "1 to 63 letters, digits and dashes, not starting or ending with a dash",
            key="device_name",
        )

    office = _table(raw, "office")
    office_key = _office_key(
        base, _string(office, "public_key", "office.public_key", required=True)
    )
    upload_url = _string(office, "upload_url", "office.upload_url")
    if upload_url:
        _url(upload_url)
    else:
        warnings.append("no office.upload_url: captures leave the kiosk only by `appliance export`")
    method = _string(office, "upload_method", "office.upload_method").upper()
    if method and method not in ("PUT", "POST"):
        raise ProvisionError("must be PUT or POST", key="office.upload_method")
    token = _string(office, "upload_token", "office.upload_token")
    if token and (len(token) < 8 or any(c.isspace() or ord(c) < 32 for c in token)):
        raise ProvisionError(
            "at least 8 characters, without spaces or control characters", key="office.upload_token"
        )
    if upload_url and not token:
        warnings.append("office.upload_url without upload_token: uploads carry no credential")
    ca_name = _string(office, "upload_ca", "office.upload_ca")
    ca_pem = b""
    if ca_name:
        ca_pem = _read_beside(base, ca_name, "office.upload_ca")
        _certificates(ca_pem, ca_name, "office.upload_ca")
    update_keyring = _update_keyring(base, office, warnings)

    trust = _table(raw, "trust")
    csca: dict[str, bytes] = {}
    csca_name = _string(trust, "csca_dir", "trust.csca_dir")
    csca_dir = _beside(base, csca_name or "csca", "trust.csca_dir")
    if csca_name and not csca_dir.is_dir():
        raise ProvisionError(
            f"folder {csca_name!r} not found beside provision.toml", key="trust.csca_dir"
        )
    if csca_dir.is_dir():
        for cert in sorted(csca_dir.iterdir()):
            if cert.is_file() and cert.suffix.lower() in CERT_SUFFIXES:
                data = cert.read_bytes()
                _certificates(data, f"{csca_dir.name}/{cert.name}", "trust.csca_dir")
                csca[cert.name] = data
        if not csca and csca_name:
            raise ProvisionError(
                f"no certificates ({', '.join(CERT_SUFFIXES)}) in {csca_dir.name}/",
                key="trust.csca_dir",
            )
    if not csca and profile in ("commune-kiosk", "field-kit"):
        warnings.append(
            "no CSCA trust store (csca/ beside provision.toml): chips read but not verified"
        )

    time_table = _table(raw, "time")
    ntp = _servers(time_table, "ntp") or []
    fallback = _servers(time_table, "fallback_ntp")
    if fallback is None:
        fallback = list(DEFAULT_FALLBACK_NTP)
    if not ntp and not fallback:
        raise ProvisionError("no NTP server at all: a Pi has no clock of its own", key="time")

    overrides = _table(raw, "appliance")
    _check_plain(overrides, "appliance")
    for (section, key), instead in MANAGED.items():
        sect = overrides.get(section)
        if isinstance(sect, dict) and key in sect:
            raise ProvisionError(
                f"set by provisioning; use {instead}", key=f"appliance.{section}.{key}"
            )
    if "profile" in overrides:
        raise ProvisionError("use the top-level profile", key="appliance.profile")
    host = (
        overrides.get("service", {}).get("host")
        if isinstance(overrides.get("service"), dict)
        else None
    )
    if host is not None and host not in LOOPBACK_HOSTS:
        if profile != "sim":
            raise ProvisionError(
                f"{host!r} would put the kiosk screen on the network; loopback only",
                key="appliance.service.host",
            )
        warnings.append(f"the UI server listens on {host}, not only on loopback")
    if profile != "sim":
        _refuse_example_secrets(raw)

    return Provision(
        source=source,
        raw=raw,
        profile=profile,
        device_name=device_name,
        office_key_pem=office_key,
        upload_url=upload_url,
        upload_method=method,
        upload_token=token,
        upload_ca_pem=ca_pem,
        update_keyring_pem=update_keyring,
        csca=csca,
        ntp=ntp,
        fallback_ntp=fallback,
        credentials=_operator(raw, warnings),
        wifi=_wifi(raw),
        overrides=overrides,
        warnings=warnings,
    )


# --- output files ----------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_dumps(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for plain values, lists and nested tables (what provisioning writes)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            body = toml_dumps(value, name)
            scalars = any(not isinstance(v, dict) for v in value.values())
            out += ("\n" if out else "") + (f"[{name}]\n" if scalars or not value else "") + body
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def site_config(prov: Provision) -> dict[str, Any]:
    """The ``/etc/appliance/appliance.toml`` provisioning writes (device paths, not --root)."""
    etc = "/" + str(ETC)
    store: dict[str, Any] = {"office_public_key": f"{etc}/office_x25519.pub"}
    if prov.upload_url:
        store["upload_url"] = prov.upload_url
    if prov.upload_method:
        store["upload_method"] = prov.upload_method
    if prov.upload_token:
        store["upload_token_file"] = f"{etc}/upload.token"
    if prov.upload_ca_pem:
        store["upload_ca_file"] = f"{etc}/upload-ca.pem"
    managed: dict[str, Any] = {
        "profile": prov.profile,
        "service": {"device_name": prov.device_name, "state_dir": "/" + str(STATE)},
        "store": store,
    }
    if prov.csca:
        managed["card_reader"] = {"trust_dir": f"{etc}/csca"}
    return _merge(managed, prov.overrides)


def timesyncd_conf(prov: Provision) -> str:
    lines = ["# Written by `appliance provision` from provision.toml [time].", "[Time]"]
    if prov.ntp:
        lines.append("NTP=" + " ".join(prov.ntp))
    lines.append("FallbackNTP=" + " ".join(prov.fallback_ntp))
    return "\n".join(lines) + "\n"


def wpa_conf(wifi: dict[str, Any]) -> str:
    net = [f'\tssid="{wifi["ssid"]}"']
    net.append(f"\tpsk={wifi['key']}" if wifi["key"] else "\tkey_mgmt=NONE")
    if wifi["hidden"]:
        net.append("\tscan_ssid=1")
    return (
        "# Written by `appliance provision` from provision.toml [wifi] (the derived key only).\n"
        f"ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\ncountry={wifi['country']}\n"
        "update_config=0\n\nnetwork={\n" + "\n".join(net) + "\n}\n"
    )


def scrubbed(raw: dict[str, Any]) -> dict[str, Any]:
    """provision.toml without its clear secrets (what stays on the boot partition)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if (key, k) not in SECRETS}
        else:
            out[key] = value
    return out


# --- applying --------------------------------------------------------------------------------


def _ids(root: Path, name: str) -> tuple[int, int] | None:
    """(uid, gid) of ``name`` from ``<root>/etc/passwd``; None when absent or not root."""
    if os.geteuid() != 0:
        return None
    try:
        for line in (root / "etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 3 and parts[0] == name:
                return int(parts[2]), int(parts[3])
    except (OSError, ValueError):
        return None
    return None


class Writer:
    """Durable writes under a root prefix, with ownership for the service user when known."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids = _ids(root, SERVICE_USER)
        self.written: list[str] = []

    def write(self, rel: Path, data: bytes, mode: int, *, group: bool = False, owner: bool = False):
        from appliance.store.files import write_file_durably

        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_durably(path, data, mode)
        self.chown(path, group=group, owner=owner)
        self.written.append("/" + str(rel))
        return path

    def chown(self, path: Path, *, group: bool = False, owner: bool = False) -> None:
        if self.ids and (group or owner):
            os.chown(path, self.ids[0] if owner else 0, self.ids[1])

    def chown_tree(self, path: Path) -> None:
        if not self.ids:
            return
        for dirpath, _dirs, files in os.walk(path):
            os.chown(dirpath, *self.ids)
            for name in files:
                os.chown(os.path.join(dirpath, name), *self.ids)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _validate_site(prov: Provision) -> None:
    """Load the site config through the real loader so a bad [appliance] table fails now."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "appliance.toml"
        site.write_text(toml_dumps(site_config(prov)))
        try:
            load_config(None, site, env={})
        except ConfigError as exc:
            raise ProvisionError(
                exc.message.replace(str(site), "[appliance]"), key="appliance"
            ) from None


def _replace_dir(target: Path, files: dict[str, bytes]) -> None:
    new = target.with_name(target.name + ".new")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    new.mkdir(parents=True, mode=0o755)
    from appliance.store.files import write_file_durably

    for name, data in files.items():
        write_file_durably(new / name, data, 0o644)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def apply(prov: Provision, root: Path) -> dict[str, Any]:
    """Write everything for ``prov`` under ``root``; returns the result object."""
    from appliance.store.keys import ensure_device_key

    w = Writer(root)
    etc, state = root / ETC, root / STATE
    etc.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    w.chown(state, owner=True)
    header = f"# Written by `appliance provision` on {_now()}; re-provision to change it.\n"
    w.write(ETC / "appliance.toml", (header + toml_dumps(site_config(prov))).encode(), 0o644)
    w.write(ETC / "office_x25519.pub", prov.office_key_pem, 0o644)
    if prov.upload_token:
        w.write(ETC / "upload.token", prov.upload_token.encode() + b"\n", 0o640, group=True)
    else:
        (etc / "upload.token").unlink(missing_ok=True)
    if prov.upload_ca_pem:
        w.write(ETC / "upload-ca.pem", prov.upload_ca_pem, 0o644)
    else:
        (etc / "upload-ca.pem").unlink(missing_ok=True)
    if prov.update_keyring_pem:  # none given: an installed one stays (updates keep working)
        w.write(ETC / UPDATE_KEYRING, prov.update_keyring_pem, 0o644)
    if prov.csca:
        _replace_dir(etc / "csca", prov.csca)
        w.written.append("/" + str(ETC / "csca") + "/")
    creds = json.dumps(prov.credentials, indent=2) + "\n"
    w.write(ETC / CREDENTIALS, creds.encode(), 0o640, group=True)
    w.write(ETC / "timesyncd.conf", timesyncd_conf(prov).encode(), 0o644)
    if prov.wifi:
        w.write(ETC / "wifi" / "wpa_supplicant-wlan0.conf", wpa_conf(prov.wifi).encode(), 0o600)
    else:
        (etc / "wifi" / "wpa_supplicant-wlan0.conf").unlink(missing_ok=True)

    key = ensure_device_key(state)
    w.chown_tree(state / "keys")
    result = {
        "ok": True,
        "profile": prov.profile,
        "device_name": prov.device_name,
        "device_key_id": key.key_id,
        "device_public_key": key.public_pem(),
        "time": _now(),
        "clock_synchronized": clock_synchronized(),
        "written": w.written,
        "warnings": list(prov.warnings),
    }
    marker = {k: result[k] for k in ("profile", "device_name", "device_key_id", "time")}
    w.write(ETC / MARKER, (json.dumps(marker, indent=2) + "\n").encode(), 0o644)
    return result


def scrub_source(prov: Provision, result: dict[str, Any]) -> list[str]:
    """Replace provision.toml on the card by its secret-free copy; leave the key and the result.

    Returns warnings (a read-only card is reported, not fatal: the device is provisioned).
    """
    from appliance.store.files import fsync_dir, write_file_durably

    src, folder = prov.source, prov.source.parent
    warnings = []
    try:
        note = f"# Applied by `appliance provision` on {result['time']}; secrets removed.\n"
        write_file_durably(
            folder / DONE_NAME, (note + toml_dumps(scrubbed(prov.raw))).encode(), 0o600
        )
        write_file_durably(folder / DEVICE_PUB_NAME, result["device_public_key"].encode(), 0o644)
        public = {k: v for k, v in result.items() if k != "written"}
        write_file_durably(
            folder / RESULT_NAME, (json.dumps(public, indent=2) + "\n").encode(), 0o644
        )
        (folder / ERROR_NAME).unlink(missing_ok=True)
        # Overwrite the clear values in place before unlinking (best effort on flash media).
        size = src.stat().st_size
        with open(src, "r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        src.unlink()
        fsync_dir(folder)
    except OSError as exc:
        warnings.append(f"could not remove the clear secrets from {src}: {exc.strerror or exc}")
    return warnings


def write_status(root: Path, body: dict[str, Any]) -> None:
    """``<state>/provision-status.json``: what the UI and /healthz show about provisioning."""
    from appliance.store.files import write_file_durably

    state = root / STATE
    try:
        state.mkdir(parents=True, exist_ok=True)
        path = state / STATUS_FILE
        write_file_durably(path, (json.dumps(body, indent=2) + "\n").encode(), 0o644)
        ids = _ids(root, SERVICE_USER)
        if ids:
            os.chown(path, *ids)
    except OSError as exc:
        log.error("cannot write the provisioning status file: %s", exc)


def read_status(state_dir: str | Path) -> dict[str, Any] | None:
    """The last provisioning outcome (for /healthz and the UI), or None if never run."""
    try:
        return json.loads((Path(state_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def provision(source: str | Path, root: str | Path = "/", *, keep_source: bool = False) -> dict:
    """Validate, apply and scrub; on failure report it everywhere and re-raise."""
    root = Path(root)
    source = Path(source)
    try:
        prov = read_provision(source)
        _validate_site(prov)
        try:
            result = apply(prov, root)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise ProvisionWriteError(f"cannot write the settings{where}: {exc.strerror}") from None
    except Exception as exc:
        if not isinstance(exc, ApplianceError):  # a bug: still tell the technician, then raise
            log.exception("provisioning failed unexpectedly")
            exc = ProvisionError(
                f"internal error ({type(exc).__name__})", code="provision_internal"
            )
        provisioned = (root / ETC / MARKER).is_file()
        missing = exc.code == "provision_missing"
        if missing and provisioned:
            raise  # nothing to do: already provisioned, no new file
        log.error("provisioning failed: %s", exc.message)
        status = {"ok": False, "time": _now(), "source": str(source), "error": exc.to_dict()}
        status["provisioned_before"] = provisioned
        write_status(root, status)
        if not missing:
            try:
                text = f"Provisioning failed ({_now()}):\n{exc.message}\n"
                (source.parent / ERROR_NAME).write_text(text)
            except OSError:
                pass
        raise
    if not keep_source:
        result["warnings"] += scrub_source(prov, result)
    result["scrubbed"] = not keep_source and not (source.exists())
    for warning in result["warnings"]:
        log.warning("provisioning: %s", warning)
    log.info(
        "provisioned %s (profile %s, device key %s)",
        prov.device_name,
        prov.profile,
        result["device_key_id"],
    )
    write_status(root, {k: v for k, v in result.items() if k != "device_public_key"})
    return result


# --- CLI -------------------------------------------------------------------------------------


def cmd_provision(args) -> int:
    from appliance.cli_output import emit
    from appliance.logs import setup_logging

    setup_logging("INFO")
    if args.check:
        prov = read_provision(args.source)
        _validate_site(prov)
        emit(
            {
                "ok": True,
                "checked": True,
                "profile": prov.profile,
                "device_name": prov.device_name,
                "csca_certificates": len(prov.csca),
                "wifi": bool(prov.wifi),
                "warnings": prov.warnings,
            },
            args,
        )
        return 0
    result = provision(args.source, args.root, keep_source=args.keep_source)
    emit(result, args)
    return 0


def register(sub) -> None:
    from appliance.cli import add_json_flag

    p = sub.add_parser("provision", help="apply a provision.toml (first boot, or by hand)")
    p.add_argument("--from", dest="source", required=True, type=Path, help="the provision.toml")
    p.add_argument("--root", type=Path, default=Path("/"), help="prefix for device paths")
    p.add_argument("--check", action="store_true", help="validate only; write nothing")
    p.add_argument(
        "--keep-source", action="store_true", help="do not scrub secrets from the source file"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_provision)
