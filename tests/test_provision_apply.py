"""Applying provision.toml under a root prefix: files written, secrets scrubbed, errors reported."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest
from test_provision_validate import csca_cert, office_pub

from appliance.cli import main
from appliance.config import load_config
from appliance.provision import ProvisionError, provision, read_status, verify_secret

SECRETS = ("246813", "admin-password-42", "upload-token-77", "wifi-pass-99")
FULL = """\
profile = "commune-kiosk"
device_name = "kiosk-hn-01"

[office]
public_key = "office.pub"
upload_url = "https://office.example/bundles"
upload_token = "upload-token-77"

[trust]
csca_dir = "csca"

[time]
ntp = ["ntp.site.local"]

[operator]
pin = "246813"
admin_password = "admin-password-42"

[wifi]
ssid = "site-net"
psk = "wifi-pass-99"

[appliance.service]
log_level = "DEBUG"
"""


@pytest.fixture
def card(tmp_path) -> Path:
    boot = tmp_path / "boot"
    (boot / "csca").mkdir(parents=True)
    (boot / "csca" / "vn.pem").write_bytes(csca_cert())
    (boot / "office.pub").write_bytes(office_pub())
    (boot / "provision.toml").write_text(FULL)
    return boot


def tree_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_full_provisioning(card, tmp_path):
    root = tmp_path / "root"
    result = provision(card / "provision.toml", root)
    etc, state = root / "etc/appliance", root / "var/lib/appliance"

    assert result["ok"] and result["scrubbed"]
    assert result["device_name"] == "kiosk-hn-01"
    assert len(result["device_key_id"]) == 32
    # The site config is what the service will load on the device.
    cfg = load_config(None, etc / "appliance.toml", env={})
    assert cfg.profile == "commune-kiosk"
    assert cfg.service.device_name == "kiosk-hn-01"
    assert cfg.service.log_level == "DEBUG"
    assert cfg.store.office_public_key == "/etc/appliance/office_x25519.pub"
    assert cfg.store.upload_url == "https://office.example/bundles"
    assert cfg.store.upload_token_file == "/etc/appliance/upload.token"
    assert cfg.card_reader.trust_dir == "/etc/appliance/csca"
    assert (etc / "office_x25519.pub").read_bytes() == (card / "office.pub").read_bytes()
    assert (etc / "csca" / "vn.pem").read_bytes() == (card / "csca" / "vn.pem").read_bytes()
    assert (etc / "upload.token").read_text().strip() == "upload-token-77"
    assert "NTP=ntp.site.local" in (etc / "timesyncd.conf").read_text()
    wifi = (etc / "wifi/wpa_supplicant-wlan0.conf").read_text()
    assert 'ssid="site-net"' in wifi and "psk=" in wifi
    # Credentials hashed, and verifiable.
    creds = json.loads((etc / "credentials.json").read_text())
    assert verify_secret(creds["operator_pin"], "246813")
    assert "admin_password" not in creds  # no use for it: not kept (warned)
    assert any("admin_password is not used" in w for w in result["warnings"])
    # Secret files are not world-readable.
    assert mode(etc / "upload.token") == 0o640
    assert mode(etc / "credentials.json") == 0o640
    assert mode(etc / "wifi/wpa_supplicant-wlan0.conf") == 0o600
    assert mode(state / "keys" / "device_ed25519.pem") == 0o600
    # The only clear secret kept on the device is the upload credential (it must be sent).
    everything = tree_bytes(root)
    for secret in ("246813", "admin-password-42", "wifi-pass-99"):
        assert secret.encode() not in everything, secret

    # The card: the clear file is gone, its secret-free copy, the key and the result are there.
    assert not (card / "provision.toml").exists()
    done = (card / "provision-done.toml").read_text()
    assert "kiosk-hn-01" in done and "ntp.site.local" in done
    for secret in SECRETS:
        assert secret.encode() not in tree_bytes(card), secret
    device_pub = (state / "keys" / "device_ed25519.pub").read_text()
    assert (card / "device_ed25519.pub").read_text() == device_pub
    on_card = json.loads((card / "provision-result.json").read_text())
    assert on_card["device_key_id"] == result["device_key_id"]

    status = read_status(state)
    assert status["ok"] is True and status["device_key_id"] == result["device_key_id"]
    marker = json.loads((etc / "provisioned.json").read_text())
    assert marker["device_name"] == "kiosk-hn-01"


def test_reprovisioning_keeps_the_device_key_and_replaces_settings(card, tmp_path):
    root = tmp_path / "root"
    first = provision(card / "provision.toml", root)
    (card / "csca" / "vn.pem").unlink()
    (card / "csca" / "vn-2025.crt").write_bytes(csca_cert())
    text = FULL.replace("kiosk-hn-01", "kiosk-hn-02").replace("[wifi]", "[old]")
    text = text.split("[old]")[0] + '\n[appliance.service]\nlog_level = "INFO"\n'
    (card / "provision.toml").write_text(text)
    second = provision(card / "provision.toml", root)
    assert second["device_key_id"] == first["device_key_id"]
    etc = root / "etc/appliance"
    assert sorted(p.name for p in (etc / "csca").iterdir()) == ["vn-2025.crt"]
    assert not (etc / "wifi/wpa_supplicant-wlan0.conf").exists()  # Wi-Fi removed
    assert load_config(None, etc / "appliance.toml", env={}).service.device_name == "kiosk-hn-02"


def test_invalid_file_changes_nothing_and_is_reported(card, tmp_path):
    root = tmp_path / "root"
    provision(card / "provision.toml", root)
    etc = root / "etc/appliance"
    before = {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    bad = FULL.replace('pin = "246813"', 'pin = "12"')
    (card / "provision.toml").write_text(bad)

    with pytest.raises(ProvisionError) as info:
        provision(card / "provision.toml", root)
    assert info.value.key == "operator.pin"
    assert {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()} == before
    status = read_status(root / "var/lib/appliance")
    assert status["ok"] is False
    assert status["error"]["code"] == "provision"
    assert "operator.pin" in status["error"]["message"]
    assert status["provisioned_before"] is True
    assert "operator.pin" in (card / "provision-error.txt").read_text()
    assert (card / "provision.toml").read_text() == bad  # left for the technician to fix

    # Fixed on the laptop: the next run succeeds and clears the error file.
    (card / "provision.toml").write_text(FULL)
    provision(card / "provision.toml", root)
    assert not (card / "provision-error.txt").exists()
    assert read_status(root / "var/lib/appliance")["ok"] is True


def test_missing_file_on_an_unprovisioned_device_is_reported(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(ProvisionError) as info:
        provision(tmp_path / "boot" / "provision.toml", root)
    assert info.value.code == "provision_missing"
    status = read_status(root / "var/lib/appliance")
    assert status["ok"] is False and status["error"]["code"] == "provision_missing"
    assert not (root / "etc/appliance").exists()


def test_unwritable_settings_are_reported(card, tmp_path, capsys):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/appliance").write_text("a file where the folder should be")
    code, body = run_cli(
        capsys, "provision", "--from", str(card / "provision.toml"), "--root", str(root)
    )
    assert code == 1 and body["error"]["code"] == "provision_write"
    assert read_status(root / "var/lib/appliance")["error"]["code"] == "provision_write"
    assert "cannot write" in (card / "provision-error.txt").read_text()
    assert (card / "provision.toml").read_text() == FULL  # kept for the next boot


def test_keep_source(card, tmp_path):
    provision(card / "provision.toml", tmp_path / "root", keep_source=True)
    assert (card / "provision.toml").read_text() == FULL


def test_read_only_card_is_a_warning_not_a_failure(card, tmp_path, monkeypatch):
    import appliance.store.files as files

    real = files.write_file_durably

    def refuse_on_card(path, data, mode):
        if card in Path(path).parents:
            raise OSError(30, "Read-only file system")
        return real(path, data, mode)

    monkeypatch.setattr(files, "write_file_durably", refuse_on_card)
    result = provision(card / "provision.toml", tmp_path / "root")
    assert result["ok"] and not result["scrubbed"]
    assert any("clear secrets" in w for w in result["warnings"])
    assert (tmp_path / "root/etc/appliance/provisioned.json").is_file()


def test_ownership_for_the_service_user(card, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "appliance:x:4242:4343::/var/lib/appliance:/usr/sbin/nologin\n"
    )
    provision(card / "provision.toml", root)
    state = root / "var/lib/appliance"
    for path in (
        state,
        state / "keys",
        state / "keys/device_ed25519.pem",
        state / "provision-status.json",
    ):
        assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4343), path
    token = root / "etc/appliance/upload.token"
    assert (token.stat().st_uid, token.stat().st_gid) == (0, 4343)


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_cli_provision_check_and_errors(card, tmp_path, capsys):
    root = tmp_path / "root"
    source = str(card / "provision.toml")
    code, body = run_cli(capsys, "provision", "--from", source, "--root", str(root), "--check")
    assert code == 0 and body["checked"] and body["csca_certificates"] == 1 and body["wifi"]
    assert not root.exists() and (card / "provision.toml").exists()  # --check writes nothing

    code, body = run_cli(capsys, "provision", "--from", source, "--root", str(root), "--json")
    assert code == 0 and body["ok"] and body["device_name"] == "kiosk-hn-01"
    assert all(s not in json.dumps(body) for s in SECRETS)

    (card / "provision.toml").write_text(textwrap.dedent(FULL).replace("commune-kiosk", "bank"))
    code, body = run_cli(capsys, "provision", "--from", source, "--root", str(root), "--json")
    assert code == 2
    assert body["ok"] is False and body["error"]["code"] == "provision"
    assert "profile" in body["error"]["message"]

    code, body = run_cli(
        capsys, "provision", "--from", str(tmp_path / "nope.toml"), "--root", str(root)
    )
    assert code == 2 and body["error"]["code"] == "provision_missing"
