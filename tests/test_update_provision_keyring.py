"""`appliance provision` installs the office's update-signing certificate (the RAUC keyring).

The keyring that provisioning writes is the one the kiosk then checks a hub manifest with; a
missing, malformed, private-key-carrying or unusable file is refused before anything is written.
"""

from __future__ import annotations

import datetime
import json
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from test_provision_apply import FULL, card  # noqa: F401 (fixture)

from appliance.cli import main
from appliance.provision import ProvisionError, provision, read_status
from appliance.update.keyring import check_keyring
from appliance.update.manifest import Manifest, load_keyring, load_manifest
from appliance.update.publish import sign_manifest


def make_cert(key=None, *, days: int = 365, start_days: int = -1):
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "office updates (TEST)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_keyring_beside_provision_toml_is_installed_and_checks_manifests(card, tmp_path):  # noqa: F811
    key, cert = make_cert()
    (card / "update-keyring.pem").write_bytes(cert)
    root = tmp_path / "root"
    result = provision(card / "provision.toml", root)
    installed = root / "etc/appliance/update-keyring.pem"
    assert "/etc/appliance/update-keyring.pem" in result["written"]
    assert installed.read_bytes() == cert
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    assert not any("update keyring" in w for w in result["warnings"])
    # The installed keyring is what the kiosk verifies the hub's manifests with.
    m = Manifest("9.9.9", "cccd-kiosk-arm64", "stable", "https://h/b.raucb", "a" * 64, 10, 100)
    assert load_manifest(sign_manifest(m, key), load_keyring(installed)).version == "9.9.9"
    # The certificate is public: it stays on the card, the secrets do not.
    assert (card / "update-keyring.pem").is_file()


def test_keyring_named_in_office_table(card, tmp_path):  # noqa: F811
    _, cert1 = make_cert()
    _, cert2 = make_cert(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    (card / "keys").mkdir()
    (card / "keys" / "office-updates.pem").write_bytes(cert1 + cert2)  # old and new key
    text = FULL.replace("[office]\n", '[office]\nupdate_keyring = "keys/office-updates.pem"\n')
    (card / "provision.toml").write_text(text)
    provision(card / "provision.toml", tmp_path / "root")
    certs = load_keyring(tmp_path / "root/etc/appliance/update-keyring.pem")
    assert len(certs) == 2


def test_no_keyring_is_a_warning_and_keeps_an_installed_one(card, tmp_path):  # noqa: F811
    root = tmp_path / "root"
    result = provision(card / "provision.toml", root)
    assert any("no update keyring" in w for w in result["warnings"])
    assert not (root / "etc/appliance/update-keyring.pem").exists()
    # Re-provisioning without one (a new Wi-Fi, say) keeps the installed keyring.
    _, cert = make_cert()
    (root / "etc/appliance/update-keyring.pem").write_bytes(cert)
    (card / "provision.toml").write_text(FULL)
    provision(card / "provision.toml", root)
    assert (root / "etc/appliance/update-keyring.pem").read_bytes() == cert


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found beside provision.toml"),
        (b"", "empty"),
        (b"hello, not a certificate\n", "no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be read"),
        ("with-key", "PRIVATE KEY"),
        ("p192", "curve"),
        ("rsa1024", "too short"),
    ],
)
def test_bad_keyring_refused_before_anything_is_written(card, tmp_path, content, message):  # noqa: F811
    text = FULL.replace("[office]\n", '[office]\nupdate_keyring = "update.pem"\n')
    (card / "provision.toml").write_text(text)
    if content == "with-key":
        key, cert = make_cert()
        content = cert + key_pem(key)
    elif content == "p192":
        content = make_cert(ec.generate_private_key(ec.SECP192R1()))[1]
    elif content == "rsa1024":
        content = make_cert(rsa.generate_private_key(public_exponent=65537, key_size=1024))[1]
    if content is not None:
        (card / "update.pem").write_bytes(content)
    root = tmp_path / "root"
    with pytest.raises(ProvisionError) as err:
        provision(card / "provision.toml", root)
    assert err.value.key == "office.update_keyring"
    assert message in err.value.message
    assert not (root / "etc/appliance/appliance.toml").exists()
    assert not (root / "etc/appliance/update-keyring.pem").exists()
    status = read_status(root / "var/lib/appliance")
    assert status["ok"] is False and "office.update_keyring" in status["error"]["message"]
    # The card keeps its file (nothing scrubbed) and says why.
    assert (card / "provision.toml").is_file()
    assert "office.update_keyring" in (card / "provision-error.txt").read_text()


def test_cli_refusal_is_a_clean_message(card, tmp_path, capsys):  # noqa: F811
    key, cert = make_cert()
    (card / "update-keyring.pem").write_bytes(key_pem(key) + cert)
    rc = main(
        [
            "provision",
            "--from",
            str(card / "provision.toml"),
            "--root",
            str(tmp_path / "r"),
            "--json",
        ]
    )
    assert rc != 0
    out = json.loads(capsys.readouterr().out)
    assert "PRIVATE KEY" in out["error"]["message"]
    assert "Traceback" not in json.dumps(out)


def test_expired_certificate_is_installed_with_a_warning():
    _, cert = make_cert(days=-1, start_days=-30)
    ring = check_keyring(cert)
    assert ring.pem == cert
    assert ring.warnings and "expired" in ring.warnings[0]
