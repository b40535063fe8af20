"""The data-lifecycle commands: keys, export, unseal, purge, outbox, bench store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from appliance.citizen import TEST_CITIZEN
from appliance.cli import main
from appliance.store import Store
from appliance.store.testing import CONSENT_HASH, sample_images


def run(capsys, *argv: str) -> tuple[int, list[dict]]:
    rc = main([*argv, "--json"])
    out = capsys.readouterr().out
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def office(tmp_path, capsys):
    rc, (res,) = run(capsys, "keys", "office", "--out", str(tmp_path / "office"))
    assert rc == 0 and res["ok"] and len(res["office_key_id"]) == 32
    return tmp_path / "office" / "office_x25519.pem", tmp_path / "office" / "office_x25519.pub"


@pytest.fixture
def filled(tmp_path, office):
    state = tmp_path / "state"
    portrait, fingers = sample_images(3000, 3000)
    with Store.open(state, office_public_key=office[1]) as store:
        consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
        receipts = [
            store.save_capture(
                dict(TEST_CITIZEN),
                portrait=portrait,
                fingerprints=fingers,
                quality={},
                consent_id=consent,
            )
            for _ in range(2)
        ]
    return state, receipts, portrait


def test_keys_office_refuses_to_overwrite(tmp_path, capsys, office):
    assert (office[0].stat().st_mode & 0o777) == 0o600
    rc, (res,) = run(capsys, "keys", "office", "--out", str(tmp_path / "office"))
    assert rc == 2 and res["error"]["code"] == "bad_key"


def test_keys_device(tmp_path, capsys):
    rc, (res,) = run(capsys, "keys", "device", "--state-dir", str(tmp_path / "s"))
    assert rc == 0 and "BEGIN PUBLIC KEY" in res["public_key_pem"]
    assert "PRIVATE" not in json.dumps(res)
    rc, (again,) = run(capsys, "keys", "device", "--state-dir", str(tmp_path / "s"))
    assert again["device_key_id"] == res["device_key_id"]


def test_export_then_unseal(tmp_path, capsys, office, filled):
    state, receipts, portrait = filled
    usb = tmp_path / "usb"
    rc, (res,) = run(capsys, "export", "--to", str(usb), "--state-dir", str(state))
    assert rc == 0 and res["bundles"] == 2 and res["written"] == 2
    rc, (res,) = run(capsys, "export", "--to", str(usb), "--state-dir", str(state))
    assert res["already_there"] == 2 and res["written"] == 0  # an interrupted export re-runs
    manifest = json.loads((usb / "manifest.json").read_text())
    assert len(manifest["bundles"]) == 2
    bundles = sorted(str(p) for p in usb.glob("*.ccsb"))
    devices = tmp_path / "registered"
    devices.mkdir()
    (devices / "kiosk.pub").write_bytes(next(usb.glob("device-*.pub")).read_bytes())

    rc, lines = run(capsys, "unseal", *bundles, "--key", str(office[0]), "--devices", str(devices))
    assert rc == 0 and [line["file"] for line in lines] == bundles
    assert all(line["ok"] and line["signer_registered"] for line in lines)
    assert {line["record"]["receipt_code"] for line in lines} == {r.receipt_code for r in receipts}
    assert lines[0]["record"]["identity"]["full_name"] == TEST_CITIZEN["full_name"]

    rc, lines = run(
        capsys, "unseal", bundles[0], "--key", str(office[0]), "--out", str(tmp_path / "o"),
        "--allow-unknown-devices",
    )  # fmt: skip
    assert rc == 0 and "not checked" in lines[0]["warning"] and "record" not in lines[0]
    folder = tmp_path / "o" / lines[0]["bundle_id"]
    assert (folder / "portrait").read_bytes() == portrait
    assert (
        json.loads((folder / "record.json").read_text())["identity"]["id_number"] == "001090012345"
    )


def test_unseal_refusals(tmp_path, capsys, office, filled):
    state, _, _ = filled
    usb = tmp_path / "usb"
    run(capsys, "export", "--to", str(usb), "--state-dir", str(state))
    good = sorted(usb.glob("*.ccsb"))[0]
    tampered = tmp_path / "tampered.ccsb"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 1
    tampered.write_bytes(bytes(data))
    run(capsys, "keys", "office", "--out", str(tmp_path / "other"))
    empty = tmp_path / "nodevices"
    empty.mkdir()

    rc, lines = run(
        capsys,
        "unseal",
        str(good),
        str(tampered),
        str(tmp_path / "missing.ccsb"),
        "--key",
        str(office[0]),
        "--allow-unknown-devices",
    )
    assert rc == 2
    assert [line["ok"] for line in lines] == [True, False, False]
    assert lines[1]["error"]["code"] == "bundle_tampered" and lines[1]["file"] == str(tampered)
    assert lines[2]["error"]["code"] == "unreadable"

    rc, (res,) = run(
        capsys, "unseal", str(good), "--key", str(tmp_path / "other" / "office_x25519.pem"),
        "--allow-unknown-devices",
    )  # fmt: skip
    assert rc == 2 and res["error"]["code"] == "wrong_key"
    rc, (res,) = run(capsys, "unseal", str(good), "--key", str(office[0]), "--devices", str(empty))
    assert rc == 2 and res["error"]["code"] == "unknown_device"
    rc, (res,) = run(capsys, "unseal", str(good), "--key", str(office[1]), "--devices", str(empty))
    # (public, not private)
    assert rc == 2 and res["error"]["code"] == "bad_key"


def test_export_mark_delivered_and_outbox_status(tmp_path, capsys, filled):
    state, _, _ = filled
    rc, (res,) = run(capsys, "outbox", "--state-dir", str(state))
    assert rc == 0 and res["pending"] == 2
    rc, (res,) = run(
        capsys,
        "export",
        "--to",
        str(tmp_path / "usb"),
        "--mark-delivered",
        "--state-dir",
        str(state),
    )
    assert res["marked_delivered"] == 2
    rc, (res,) = run(capsys, "outbox", "--state-dir", str(state))
    assert res["pending"] == 0 and res["acked"] == 2
    rc, (res,) = run(capsys, "outbox", "--upload", "--state-dir", str(state))
    assert rc == 2 and res["error"]["code"] == "config"  # no upload_url configured


def test_purge_command(capsys, filled, monkeypatch):
    state, _, _ = filled
    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "0")
    far = (datetime.now().astimezone() + timedelta(days=400)).isoformat()
    rc, (res,) = run(capsys, "purge", "--state-dir", str(state), "--now", far)
    assert rc == 0 and "held_back" in res and res["bundles_unsent"] == 0 and res["captures"] == 2
    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "1")
    rc, (res,) = run(capsys, "purge", "--state-dir", str(state), "--now", far, "--dry-run")
    assert rc == 0 and res["bundles_unsent"] == 2 and res["dry_run"] is True
    rc, (res,) = run(capsys, "purge", "--state-dir", str(state), "--now", far)
    assert res["bundles_unsent"] == 2 and "held_back" not in res
    rc, (res,) = run(capsys, "purge", "--state-dir", str(state), "--now", "tomorrow")
    assert rc == 2 and res["error"]["code"] == "usage"


def test_bench_store_subprocess(tmp_path):
    identity = tmp_path / "id.json"
    identity.write_text(json.dumps({**TEST_CITIZEN, "full_name": "TRẦN THỊ BÉ"}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "bench",
            "store",
            "--count",
            "3",
            "--identity",
            str(identity),
            "--state-dir",
            str(tmp_path / "b"),
            "--record",
            str(tmp_path / "rec"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert (
        res["ok"]
        and res["count"] == 3
        and res["median_ms"] > 0
        and res["p95_ms"] >= res["median_ms"]
    )
    assert res["bundle_bytes"] > 50 * 1024 + 2 * 70 * 1024
    assert "synchronous_normal" in res["alternatives"]
    (recorded,) = (tmp_path / "rec").glob("store-*.json")
    assert json.loads(recorded.read_text())["machine"]["cores"]
    # A given --state-dir keeps the sealed captures, so a leak scan can read them: no name in clear.
    kept = sorted(p.name.split("-")[0] for p in (tmp_path / "b").iterdir())
    assert kept == ["full", "normal"] and sorted(res["kept"]) == sorted(
        str(p) for p in (tmp_path / "b").iterdir()
    )
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert any(p.name == "appliance.db" for p in files)
    for name in ("TRẦN THỊ BÉ".encode(), TEST_CITIZEN["id_number"].encode()):
        assert not any(name in p.read_bytes() for p in files)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "bench",
            "store",
            "--identity",
            str(tmp_path / "no.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
