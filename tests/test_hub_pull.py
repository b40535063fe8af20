"""Pull to the records officer's workstation, mark received, purge; the hub's CLI contract."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest
from hub_support import HubRunner, Kiosk, office, register
from sqlalchemy import text
from support import APPLIANCE

from appliance.hub.auth import add_officer
from appliance.hub.config import HubSettings
from appliance.hub.errors import AuthError
from appliance.hub.ingest import Upload, ingest
from appliance.hub.pull import pull
from appliance.hub.records import purge
from appliance.hub.testing import make_ca

PASSWORD = "correct horse battery"


async def test_pull_verify_mark_received_then_purge(tmp_path, hub_db_url):
    _, _, pub = office(tmp_path / "office")
    tls = make_ca(tmp_path / "tls")
    settings = HubSettings(port=0, tls_cert=str(tls["cert"]), tls_key=str(tls["key"]))
    hub = HubRunner(hub_db_url, settings)
    await hub.start()
    try:
        kiosk = Kiosk(tmp_path / "k")
        register(hub.engine, kiosk, "kiosk-1")
        add_officer(hub.engine, "records1", PASSWORD, "records")
        add_officer(hub.engine, "tech1", PASSWORD, "technician")
        sent = []
        for _ in range(3):
            data = kiosk.bundle(pub)
            assert ingest(hub.engine, Upload(None, kiosk.headers(data), data))[0] == 201
            sent.append(kiosk.headers(data)["Idempotency-Key"])
        out_dir = tmp_path / "usb"
        got = await asyncio.to_thread(
            pull,
            hub.url,
            "records1",
            PASSWORD,
            out_dir,
            ca_file=tls["ca"],
            devices_out=tmp_path / "devices",
            page=2,  # pages on until every new bundle is in
        )
        assert got["pulled"] == 3 and sorted(got["bundle_ids"]) == sorted(sent)
        again = await asyncio.to_thread(
            pull, hub.url, "records1", PASSWORD, out_dir, ca_file=tls["ca"]
        )
        assert again["pulled"] == 0  # marked received
        since = await asyncio.to_thread(
            pull,
            hub.url,
            "records1",
            PASSWORD,
            tmp_path / "again",
            ca_file=tls["ca"],
            since="2000-01-01T00:00:00+00:00",
        )
        assert since["pulled"] == 3
        # a technician may not pull bundles; a wrong password is refused
        with pytest.raises(AuthError) as info:
            await asyncio.to_thread(pull, hub.url, "tech1", PASSWORD, out_dir, ca_file=tls["ca"])
        assert info.value.status == 403
        with pytest.raises(AuthError):
            await asyncio.to_thread(pull, hub.url, "records1", "wrong", out_dir, ca_file=tls["ca"])
        # the workstation unseals with the office key and the hub's register
        files = sorted(str(p) for p in out_dir.glob("*.ccsb"))
        res = subprocess.run(
            [
                *APPLIANCE,
                "unseal",
                *files,
                "--key",
                str(tmp_path / "office" / "office_x25519.pem"),
                "--devices",
                str(tmp_path / "devices"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        lines = [json.loads(line) for line in res.stdout.splitlines()]
        assert all(x["ok"] and x["signer_registered"] for x in lines) and len(lines) == 3
        # purge: N days after received the ciphertext goes, the row (and the 200) stays
        later = time.time() + settings.purge_after_days * 86400 + 60
        assert purge(hub.engine, settings, now=later)["bundles_purged"] == 3
        with hub.engine.connect() as conn:
            assert (
                conn.execute(text("SELECT COUNT(*) FROM bundles WHERE data IS NULL")).scalar() == 3
            )
        data = kiosk.bundle(pub, bundle_id=sent[0])  # other bytes, same id: still a conflict
        with pytest.raises(Exception) as conflict:
            ingest(hub.engine, Upload(None, kiosk.headers(data), data))
        assert getattr(conflict.value, "code", "") == "bundle_conflict"
    finally:
        await hub.stop()


def run_cli(*args: str, env=None) -> tuple[int, dict]:
    res = subprocess.run(
        [*APPLIANCE, "hub", *args], capture_output=True, text=True, timeout=60, env=env
    )
    return res.returncode, json.loads(res.stdout.splitlines()[-1])


def test_cli_register_revoke_devices_officer(tmp_path):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    kiosk = Kiosk(tmp_path / "k")
    key = tmp_path / "k" / "keys" / "device_ed25519.pub"
    code, out = run_cli(
        "register",
        "--database",
        db,
        "--name",
        "xa-01",
        "--key",
        str(key),
        "--site",
        "UBND xã Tân Lập",
        "--commune",
        "00004",
        "--profile",
        "commune-kiosk",
        "--token-out",
        str(tmp_path / "tok"),
    )
    assert code == 0 and out["ok"] and out["key_id"] == kiosk.key.key_id
    assert (tmp_path / "tok").read_text().strip() == out["token"]
    code, out = run_cli(
        "register",
        "--database",
        db,
        "--name",
        "xa-02",
        "--key",
        str(key),
        "--site",
        "x",
        "--commune",
        "00004",
        "--profile",
        "commune-kiosk",
    )
    assert code == 2 and out["error"]["code"] == "already_registered"
    code, out = run_cli(
        "register",
        "--database",
        db,
        "--name",
        "xa-03",
        "--key",
        str(key),
        "--site",
        "x",
        "--commune",
        "4",
        "--profile",
        "commune-kiosk",
    )
    assert code == 2 and out["error"]["code"] == "bad_commune"
    code, out = run_cli("devices", "--database", db, "--export", str(tmp_path / "reg"))
    assert code == 0 and [d["name"] for d in out["devices"]] == ["xa-01"]
    code, out = run_cli("revoke", "--database", db, "xa-01")
    assert code == 0 and out["revoked_at"]
    code, out = run_cli("revoke", "--database", db, "nope")
    assert code == 2 and out["error"]["code"] == "not_found"
    code, out = run_cli("devices", "--database", db)
    assert out["devices"][0]["revoked_at"] and "token" not in json.dumps(out)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    code, out = run_cli(
        "officer",
        "add",
        "--database",
        db,
        "chief",
        "--role",
        "commander",
        "--password-file",
        str(pw),
    )
    assert code == 0 and out == {"ok": True, "username": "chief", "role": "commander"}
    pw.write_text("short\n")
    code, out = run_cli(
        "officer", "add", "--database", db, "x", "--role", "commander", "--password-file", str(pw)
    )
    assert code == 2 and out["error"]["code"] == "weak_password"
    code, out = run_cli("officer", "list", "--database", db)
    assert out["officers"] == [{"username": "chief", "role": "commander", "disabled": False}]
