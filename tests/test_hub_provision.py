"""Provisioning with the hub: first boot leaves the device key, the office registers it, the
token and hub URL go into provision.toml, and the provisioned kiosk uploads to the hub."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hub_support import HubRunner
from sqlalchemy import text
from test_hub_outbox import fill
from test_provision_validate import csca_cert

from appliance.config import load_config
from appliance.hub.config import HubSettings
from appliance.hub.registry import register_device
from appliance.hub.testing import make_ca
from appliance.provision import provision
from appliance.store import Store, upload_once
from appliance.store.testing import office_keys

CARD = """\
profile = "commune-kiosk"
device_name = "xa-tan-lap-01"

[office]
public_key = "office_x25519.pub"
upload_url = "{url}/bundles"
upload_ca = "office-ca.pem"
{token}
[trust]
csca_dir = "csca"

[operator]
pin = "246813"

[appliance.hub]
heartbeat_s = 30
"""


async def test_register_then_provision_then_upload(tmp_path, hub_db_url):
    tls = make_ca(tmp_path / "tls")
    _, office_pub = office_keys(tmp_path / "office")
    hub = HubRunner(
        hub_db_url, HubSettings(port=0, tls_cert=str(tls["cert"]), tls_key=str(tls["key"]))
    )
    await hub.start()
    try:
        boot, root = tmp_path / "boot", tmp_path / "root"
        (boot / "csca").mkdir(parents=True)
        (boot / "csca" / "vn.pem").write_bytes(csca_cert())
        (boot / "office_x25519.pub").write_bytes(office_pub.read_bytes())
        (boot / "office-ca.pem").write_bytes(tls["ca"].read_bytes())
        # first boot without a token: the kiosk makes its key and leaves it on the card
        (boot / "provision.toml").write_text(CARD.format(url=hub.url, token=""))
        assert provision(boot / "provision.toml", root)["ok"]
        pub = (boot / "device_ed25519.pub").read_text()
        out = register_device(
            hub.engine,
            name="xa-tan-lap-01",
            public_key_pem=pub,
            site="UBND xã Tân Lập",
            commune_code="00004",
            profile="commune-kiosk",
        )
        # the technician provisions again with the token the office printed
        (boot / "provision.toml").write_text(
            CARD.format(url=hub.url, token=f'upload_token = "{out["token"]}"\n')
        )
        result = provision(boot / "provision.toml", root)
        assert result["ok"] and result["device_key_id"] == out["key_id"]
        cfg = load_config(None, root / "etc/appliance/appliance.toml", env={})
        assert cfg.hub.heartbeat_s == 30.0 and cfg.store.upload_url == f"{hub.url}/bundles"
        # the paths in the config are the device's; here they live under the root prefix
        under = lambda p: str(root / p.lstrip("/"))  # noqa: E731
        scfg = replace(
            cfg.store,
            upload_token_file=under(cfg.store.upload_token_file),
            upload_ca_file=under(cfg.store.upload_ca_file),
            office_public_key=under(cfg.store.office_public_key),
        )
        assert (root / "etc/appliance/upload.token").read_text().strip() == out["token"]
        with Store.open(root / "var/lib/appliance", store_cfg=scfg) as store:
            (bid,) = fill(store, 1)
            got = await asyncio.to_thread(upload_once, store, scfg)
        assert got["uploaded"] == 1
        with hub.engine.connect() as conn:
            assert conn.execute(text("SELECT bundle_id FROM bundles")).scalars().all() == [bid]
    finally:
        await hub.stop()
