"""The demo chain as `make demo` wires it: the sim kiosk uploads to the local demo hub, its
heartbeat shows on the hub's page, and the records officer pulls and unseals on the command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from http.cookiejar import CookieJar

import pytest
from support import APPLIANCE, free_port, wait_http
from test_hub_outbox import fill

from appliance.store import Store

pytestmark = pytest.mark.timeout(120)


def page(opener, url: str, data: dict | None = None) -> str:
    body = None
    if data is not None:
        from urllib.parse import urlencode

        body = urlencode(data).encode()
    with opener.open(url, data=body, timeout=10) as resp:
        return resp.read().decode()


def test_demo_kiosk_to_hub_to_workstation(tmp_path):
    state = tmp_path / "state"
    hub_port, kiosk_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_STATE_DIR"] = str(state)
    env["APPLIANCE_CONFIG_DIR"] = str(tmp_path / "etc")
    subprocess.run(
        [*APPLIANCE, "keys", "device", "--profile", "sim", "--state-dir", str(state), "--json"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    hub = subprocess.Popen(
        [*APPLIANCE, "hub", "demo", "--kiosk-state", str(state), "--port", str(hub_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    kiosk = None
    try:
        base = f"http://127.0.0.1:{hub_port}"
        wait_http(base + "/healthz", 30, hub)
        kenv = {
            **env,
            "APPLIANCE_STORE_UPLOAD_URL": f"{base}/bundles",
            "APPLIANCE_STORE_UPLOAD_TOKEN_FILE": str(state / "hub" / "sim-kiosk.token"),
            "APPLIANCE_STORE_POLL_S": "0.3",
            "APPLIANCE_HUB_HEARTBEAT_S": "0.5",
        }
        kiosk = subprocess.Popen(
            [*APPLIANCE, "run", "--profile", "sim", "--port", str(kiosk_port)],
            env=kenv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_http(f"http://127.0.0.1:{kiosk_port}/healthz", 60, kiosk)
        # a capture saved on the kiosk (as the enrolment screen does) goes to the hub
        store = Store.open(state, office_public_key=state / "demo-office-key" / "office_x25519.pub")
        (bundle_id,) = fill(store, 1)
        store.close()
        password = (state / "hub" / "demo-password").read_text().strip()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        html = page(opener, base + "/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        page(
            opener,
            base + "/login",
            {"username": "demo-records", "password": password, "csrf": csrf},
        )
        deadline = time.monotonic() + 40
        while bundle_id[:12] not in page(opener, base + "/records"):
            assert time.monotonic() < deadline, "the bundle did not reach the hub"
            time.sleep(0.3)
        tech = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        csrf = re.search(r'name="csrf" value="([^"]+)"', page(tech, base + "/login")).group(1)
        page(tech, base + "/login", {"username": "demo-tech", "password": password, "csrf": csrf})
        while "0.1.0" not in page(tech, base + "/kiosk/sim-kiosk"):  # its heartbeat's version
            assert time.monotonic() < deadline, "no heartbeat reached the hub"
            time.sleep(0.3)
        # the records officer's workstation: pull, then unseal with the office key
        out, devs = tmp_path / "pulled", tmp_path / "devices"
        res = subprocess.run(
            [
                *APPLIANCE,
                "hub",
                "pull",
                "--url",
                base,
                "--user",
                "demo-records",
                "--password-file",
                str(state / "hub" / "demo-password"),
                "--out",
                str(out),
                "--devices-out",
                str(devs),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert json.loads(res.stdout)["bundle_ids"] == [bundle_id]
        res = subprocess.run(
            [
                *APPLIANCE,
                "unseal",
                str(out / f"{bundle_id}.ccsb"),
                "--key",
                str(state / "demo-office-key" / "office_x25519.pem"),
                "--devices",
                str(devs),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        got = json.loads(res.stdout)
        assert res.returncode == 0 and got["signer_registered"] and got["bundle_id"] == bundle_id
        assert got["record"]["identity"] == {"note": "synthetic"}
    finally:
        for proc in (kiosk, hub):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
