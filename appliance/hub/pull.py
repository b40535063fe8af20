"""``appliance hub pull``: the records officer's workstation downloads new sealed bundles.

Logs in with the officer's credential (role ``records``), lists bundles not yet received (or
received by the hub after ``--since``), downloads each, checks its SHA-256 against the hub's
list and the bundle's own framing, writes ``<bundle_id>.ccsb`` durably into ``--out`` and only
then marks it received on the hub. A bundle that fails the check is not marked and is reported.
The hub never sees the office private key: unsealing happens here with ``appliance unseal``.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.errors import InvalidInput
from appliance.hub.errors import AuthError, HubError
from appliance.store.bundle import FILE_SUFFIX, parse


class _Client:
    def __init__(self, url: str, ca_file: str | Path | None) -> None:
        self.base = url.rstrip("/")
        if not self.base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise InvalidInput(
                "the hub URL must be https:// (http only to 127.0.0.1)", code="usage"
            )
        self.ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self.token = ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[bytes, dict[str, str]]:
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.ctx) as resp:
                return resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": "http", "message": f"HTTP {exc.code}"}
            if exc.code in (401, 403, 429):
                raise AuthError(err["message"], code=err["code"], status=exc.code) from None
            raise HubError(f"{method} {path}: {err['message']}", code=err["code"]) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HubError(
                f"cannot reach the hub at {self.base}: {reason}", code="unreachable"
            ) from None

    def json(self, method: str, path: str, obj: Any = None) -> dict[str, Any]:
        body = json.dumps(obj).encode() if obj is not None else None
        data, _ = self.request(method, path, body, {"Content-Type": "application/json"})
        return json.loads(data)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _fetch_one(client: _Client, folder: Path, item: dict, written: list, refused: list) -> None:
    bid = item["bundle_id"]
    data, headers = client.request("GET", f"/api/bundles/{bid}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        if digest != item["sha256"] or headers.get("X-Bundle-SHA256") != item["sha256"]:
            raise InvalidInput("SHA-256 does not match the hub's record", code="sha256_mismatch")
        if parse(data).header["bundle_id"] != bid:
            raise InvalidInput("bundle names another id", code="id_mismatch")
    except InvalidInput as exc:
        refused.append({"bundle_id": bid, "code": exc.code, "message": exc.message})
        return
    _write_durably(folder / f"{bid}{FILE_SUFFIX}", data)
    client.request("POST", f"/api/bundles/{bid}/received", b"", {"X-Bundle-SHA256": digest})
    written.append(bid)


def pull(
    url: str,
    user: str,
    password: str,
    out: str | Path,
    *,
    since: str | None = None,
    ca_file: str | Path | None = None,
    devices_out: str | Path | None = None,
    page: int = 500,
) -> dict[str, Any]:
    since_ts: float | None = None
    if since:
        try:
            since_ts = datetime.fromisoformat(since).timestamp()
        except ValueError:
            raise InvalidInput(f"--since must be ISO 8601, not {since!r}", code="usage") from None
    client = _Client(url, ca_file)
    client.token = client.json("POST", "/api/login", {"username": user, "password": password})[
        "token"
    ]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    refused: list[dict[str, str]] = []
    seen: set[str] = set()
    cursor = since_ts
    while True:  # pages of at most `page` bundles, oldest first
        query = f"?limit={page}"
        if cursor is not None:
            query += f"&since={cursor!r}"
        if since_ts is not None:
            query += "&all=1"
        listing = [
            b
            for b in client.json("GET", f"/api/bundles{query}")["bundles"]
            if b["bundle_id"] not in seen
        ]
        if not listing:
            break
        for item in listing:
            seen.add(item["bundle_id"])
            _fetch_one(client, folder, item, written, refused)
        cursor = listing[-1]["received_ts"]
    result: dict[str, Any] = {"out": str(folder), "pulled": len(written), "bundle_ids": written}
    if refused:
        result["refused"] = refused
    if devices_out:
        dev_dir = Path(devices_out)
        dev_dir.mkdir(parents=True, exist_ok=True)
        for dev in client.json("GET", "/api/devices")["devices"]:
            (dev_dir / f"{dev['name']}.pub").write_text(dev["public_key_pem"])
        result["devices_out"] = str(dev_dir)
    return result
