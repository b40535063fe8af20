"""``appliance card pki|read|emulate``: JSON contract, exit codes, files written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.cli import main
from appliance.hal.sim_card import sim_chip
from appliance.icao.personalise import jpeg_of_size

WRONG_BAC = "090012345,900315,300316"


def run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["card", *argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pki")
    assert main(["card", "pki", "--out", str(out), "--json"]) == 0
    return out


def test_pki_writes_the_trust_anchor_and_keys(pki_dir):
    for name in ("csca.pem", "csca.key.pem", "ds.pem", "ds.key.pem", "pki.json"):
        assert (pki_dir / name).is_file(), name
    assert (pki_dir / "csca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (pki_dir / "ds.key.pem").stat().st_mode & 0o077 == 0


def test_read_sim_from_the_qr(capsys, tmp_path):
    code, out = run(
        capsys, "read", "--reader", "sim", "--qr", TEST_QR_PAYLOAD, "--out", str(tmp_path)
    )
    assert code == 0 and out["ok"] is True
    assert out["dg1"]["id_number"] == TEST_CITIZEN["id_number"]
    assert out["dg1"]["sex"] == "male" and out["dg1"]["date_of_birth"] == "1990-03-15"
    assert out["dg13"]["full_name"] == TEST_CITIZEN["full_name"]
    assert out["dg13"]["issue_date"] == "2021-04-10" and out["dg13"]["expiry_date"] == "2030-03-15"
    assert out["passive_auth"] == {**out["passive_auth"], "status": "verified", "failed_step": None}
    assert out["active_auth"]["status"] == "passed"
    assert out["face_image"] == str(tmp_path / "face.jpg")
    assert (tmp_path / "face.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert set(out["stats"]) >= {"apdus", "bytes", "block_size", "ms"}


def test_read_from_an_mrz_file_and_default_backend(capsys, tmp_path):
    image, _ = sim_chip()
    mrz = tmp_path / "mrz.txt"
    mrz.write_bytes(
        image.files["DG1"][5:35]
        + b"\n"
        + image.files["DG1"][35:65]
        + b"\n"
        + image.files["DG1"][65:95]
    )
    code, out = run(capsys, "read", "--mrz-file", str(mrz))  # sim profile: sim backend
    assert code == 0 and out["passive_auth"]["status"] == "verified"
    assert out["face_image"] is None and out["face_format"] == "jpeg"


def test_wrong_key_is_bac_failed_exit_1(capsys):
    code, out = run(capsys, "read", "--reader", "sim", "--bac", WRONG_BAC)
    assert code == 1 and out["error"]["code"] == "bac_failed"


@pytest.mark.parametrize(
    "argv",
    [
        ["read", "--reader", "sim", "--bac", "090012345,900315"],
        ["read", "--reader", "sim", "--bac", "090012345,901315,300315"],
        ["read", "--reader", "sim", "--mrz-file", "/nonexistent/mrz.txt"],
        ["read", "--reader", "sim", "--qr", "not a qr"],
        ["read", "--reader", "sim", "--qr", TEST_QR_PAYLOAD, "--trust", "/nonexistent"],
        ["read", "--reader", "sim", "--qr", TEST_QR_PAYLOAD, "--identity", "x.json"],
    ],
)
def test_invalid_input_exits_2(capsys, argv):
    code, out = run(capsys, *argv)
    assert code == 2 and out["ok"] is False and out["error"]["code"]


def test_custom_chip_and_trust_store(capsys, tmp_path, pki_dir):
    identity = {**TEST_CITIZEN, "id_number": "079195000123", "full_name": "LÊ THỊ HOA",
                "sex": "female", "date_of_birth": "1995-07-20", "issue_date": "2022-01-05",
                "spouse_name": "PHẠM VĂN C", "old_id_number": "123456789"}  # fmt: skip
    (tmp_path / "id.json").write_text(json.dumps(identity, ensure_ascii=False))
    (tmp_path / "face.jpg").write_bytes(jpeg_of_size(5000))
    common = ["read", "--reader", "sim", "--identity", str(tmp_path / "id.json"),
              "--photo", str(tmp_path / "face.jpg"), "--pki", str(pki_dir),
              "--bac", "195000123,950720,350720"]  # fmt: skip
    code, out = run(capsys, *common)
    assert code == 0 and out["passive_auth"]["status"] == "verified"
    assert out["dg13"]["full_name"] == "LÊ THỊ HOA" and out["dg13"]["sex"] == "female"
    assert (
        out["dg13"]["spouse_name"] == "PHẠM VĂN C" and out["dg13"]["old_id_number"] == "123456789"
    )
    assert out["dg1"]["id_number"] == "079195000123"
    (tmp_path / "empty").mkdir()
    code, out = run(capsys, *common, "--trust", str(tmp_path / "empty"))
    assert code == 0 and out["passive_auth"]["status"] == "chain_unknown"


def test_pcsc_without_a_reader_is_a_device_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(tmp_path / "no-pcscd.comm"))
    cmd = [sys.executable, "-m", "appliance", "card", "read", "--reader", "No Such Reader",
           "--bac", WRONG_BAC, "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"]["code"] == "unavailable" and "Traceback" not in proc.stderr


def test_cli_subprocess_prints_one_json_object(tmp_path):
    cmd = [sys.executable, "-m", "appliance", "card", "read", "--reader", "sim", "--qr",
           TEST_QR_PAYLOAD]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # piped: JSON without --json
    assert out["passive_auth"]["status"] == "verified"
    assert "001090012345" not in proc.stderr  # logs never show the full ID number


def test_bad_extended_length_setting_is_a_config_error(capsys, monkeypatch):
    monkeypatch.setenv("APPLIANCE_CARD_READER_EXTENDED_LENGTH", "maybe")
    code, out = run(capsys, "read", "--reader", "sim", "--qr", TEST_QR_PAYLOAD)
    assert code == 2 and out["error"]["code"] == "config"


@pytest.mark.parametrize(
    ("offer", "method", "chip_auth"),
    [
        (["--sim-access", "pace"], "pace", "not_supported"),
        (["--sim-access", "both", "--sim-ca"], "pace", "passed"),
        (["--sim-access", "bac"], "bac", "not_supported"),
    ],
)
def test_read_sim_with_pace_from_the_qr_with_ca_and_with_bac(capsys, offer, method, chip_auth):
    qr = TEST_QR_PAYLOAD.decode() if isinstance(TEST_QR_PAYLOAD, bytes) else TEST_QR_PAYLOAD
    code, out = run(capsys, "read", "--reader", "sim", "--qr", qr, *offer)
    assert code == 0 and out["access"]["method"] == method
    assert out["chip_auth"]["status"] == chip_auth and out["passive_auth"]["status"] == "verified"
    if method == "pace":
        assert out["access"]["password"] == "can" and out["stats"]["curve"] == "brainpoolP256r1"


def test_read_with_a_can_only_and_a_wrong_can(capsys):
    code, out = run(capsys, "read", "--reader", "sim", "--sim-access", "pace", "--can", "012345")
    assert code == 0 and out["dg1"]["id_number"] == TEST_CITIZEN["id_number"]
    code, out = run(capsys, "read", "--reader", "sim", "--sim-access", "pace", "--can", "999999")
    assert code == 1 and out["error"]["code"] == "pace_failed"
    code, out = run(capsys, "read", "--reader", "sim", "--can", "12ab56")
    assert code == 2
