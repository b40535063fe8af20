"""Helpers of the hub tests: sealed bundles from a real device key, a hub app on a port."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.store.bundle import seal
from appliance.store.keys import ensure_device_key, load_public_key
from appliance.store.testing import office_keys

PROFILE = "commune-kiosk"
VN = timezone(timedelta(hours=7))


def local_now() -> datetime:
    """Now in Vietnam's time (the hub's default [hub] utc_offset_hours)."""
    return datetime.now(VN)


class Kiosk:
    """A device key in a folder, registered or not."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ensure_device_key(folder)
        self.pub = (folder / "keys" / "device_ed25519.pub").read_text()
        self.token = ""

    def bundle(
        self,
        office_pub,
        bundle_id: str | None = None,
        note: str = "test",
        created_at: str | None = None,
    ) -> bytes:
        return seal(
            "capture",
            {"note": note},
            [],
            device_key=self.key,
            office_key=office_pub,
            bundle_id=bundle_id or os.urandom(16).hex(),
            created_at=created_at or local_now().isoformat(timespec="seconds"),
            clock_synced=True,
        )

    def headers(self, data: bytes, bundle_id: str | None = None) -> dict[str, str]:
        from appliance.store.bundle import parse

        bid = bundle_id or parse(data).header["bundle_id"]
        return {
            "Content-Type": "application/vnd.cccd.sealed-bundle",
            "Idempotency-Key": bid,
            "X-Bundle-SHA256": hashlib.sha256(data).hexdigest(),
            "X-Device-Key-Id": self.key.key_id,
            "Authorization": f"Bearer {self.token}",
        }


def office(folder: Path):
    """(office private key, public key file, public key object)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    priv, pub_path = office_keys(folder)
    return priv, pub_path, load_public_key(pub_path, X25519PublicKey)


def register(engine, kiosk: Kiosk, name: str, commune: str = "00004") -> dict:
    from appliance.hub.registry import register_device

    out = register_device(
        engine,
        name=name,
        public_key_pem=kiosk.pub,
        site=f"UBND {name}",
        commune_code=commune,
        profile=PROFILE,
    )
    kiosk.token = out["token"]
    return out


class HubRunner:
    """The real hub (:func:`appliance.hub.server.serve`) in this event loop; restartable."""

    def __init__(self, db_url: str, settings, middlewares: tuple = ()) -> None:
        self.db_url = db_url
        self.settings = settings
        self.middlewares = middlewares
        self.task = None
        self.stop_event = None
        self.engine = None

    async def start(self) -> None:
        import asyncio

        from appliance.hub.db import open_engine
        from appliance.hub.server import serve

        self.engine = open_engine(self.db_url)  # a new process would open its own engine
        self.stop_event = asyncio.Event()
        ready = asyncio.Event()

        def on_ready(port: int) -> None:
            self.settings.port = port
            ready.set()

        self.task = asyncio.create_task(
            serve(
                self.engine,
                self.settings,
                self.stop_event,
                ready=on_ready,
                middlewares=self.middlewares,
            )
        )
        await asyncio.wait_for(ready.wait(), 20)

    async def stop(self) -> None:
        import asyncio

        self.stop_event.set()
        await asyncio.wait_for(self.task, 10)
        self.engine.dispose()

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.settings.port}"
