"""provision.toml validation and the secret hashing (appliance/provision.py)."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.provision import (
    ProvisionError,
    _validate_site,
    hash_secret,
    read_provision,
    verify_secret,
    wpa_psk,
)

BASE = """\
profile = "commune-kiosk"
device_name = "kiosk-01"

[office]
public_key = "office.pub"

[operator]
pin = "246813"
"""


def office_pub() -> bytes:
    return (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def csca_cert(der: bool = False) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def write(tmp_path: Path, text: str, *, key: bytes | None = None) -> Path:
    (tmp_path / "office.pub").write_bytes(key if key is not None else office_pub())
    path = tmp_path / "provision.toml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str, **kw) -> ProvisionError:
    with pytest.raises(ProvisionError) as info:
        prov = read_provision(write(tmp_path, text, **kw))
        _validate_site(prov)
    return info.value


def test_minimal_file_is_valid(tmp_path):
    prov = read_provision(write(tmp_path, BASE))
    assert prov.profile == "commune-kiosk"
    assert prov.device_name == "kiosk-01"
    assert b"BEGIN PUBLIC KEY" in prov.office_key_pem
    assert verify_secret(prov.credentials["operator_pin"], "246813")
    assert prov.ntp == [] and prov.fallback_ntp  # the public pool until a site sets its own
    assert prov.wifi is None
    # No CSCA trust store and no upload endpoint: valid for a commune kiosk, with warnings.
    assert any("CSCA" in w for w in prov.warnings)
    assert any("upload_url" in w for w in prov.warnings)
    assert "246813" not in repr(prov)


def test_inline_office_key_and_device_name_case(tmp_path):
    pem = office_pub().decode()
    text = BASE.replace('public_key = "office.pub"', f'public_key = """{pem}"""')
    text = text.replace("kiosk-01", "Kiosk-01")
    prov = read_provision(write(tmp_path, text))
    assert prov.office_key_pem == pem.encode()
    assert prov.device_name == "kiosk-01"


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (('profile = "commune-kiosk"\n', ""), "profile", "missing"),
        (("commune-kiosk", "bank"), "profile", "unknown profile"),
        (("kiosk-01", "-kiosk"), "device_name", "dashes"),
        (("kiosk-01", "kiosk 01"), "device_name", "dashes"),
        (("[operator]", "colour = 1\n[operator]"), "office.colour", "unknown key"),
        (("office.pub", "missing.pub"), "office.public_key", "not found"),
        (("office.pub", "../office.pub"), "office.public_key", "beside"),
        (('pin = "246813"', "pin = 246813"), "operator.pin", "quotes"),
        (('pin = "246813"', 'pin = "123"'), "operator.pin", "6 to 12 digits"),
        (('pin = "246813"', 'pin = "4731"'), "operator.pin", "6 to 12 digits"),  # 4 is too few
        (('pin = "246813"', 'pin = "111111"'), "operator.pin", "guess"),
        (('pin = "246813"', 'pin = "123456"'), "operator.pin", "guess"),
        (('pin = "246813"', 'admin_password = "a-long-passphrase"'), "operator", "PIN is required"),
        (('pin = "246813"', ""), "operator", "required"),
        (('pin = "246813"', 'pin_hash = "md5$abc"'), "operator.pin_hash", "scrypt"),
    ],
)
def test_invalid_files_name_the_key(tmp_path, edit, key, words):
    exc = error_of(tmp_path, BASE.replace(*edit))
    assert exc.key == key
    assert words in exc.message
    assert exc.code == "provision"


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('[office]\nupload_url = "http://office.example/x"', "office.upload_url", "https"),
        ('[office]\nupload_url = "https://u:p@office.example/x"', "office.upload_url", "token"),
        ('[office]\nupload_token = "a b c d e f g h"', "office.upload_token", "spaces"),
        ('[office]\nupload_method = "GET"', "office.upload_method", "PUT or POST"),
        ('[office]\nupload_ca = "ca.pem"', "office.upload_ca", "not found"),
        ('[time]\nntp = ["bad host!"]', "time.ntp", "host name"),
        ("[time]\nntp = [1]", "time.ntp", "list"),
        ("[time]\nntp = []\nfallback_ntp = []", "time", "no NTP server"),
        ('[wifi]\npsk = "12345678"', "wifi.ssid", "missing"),
        ('[wifi]\nssid = "site"\npsk = "short"', "wifi.psk", "8 to 63"),
        ('[wifi]\nssid = "site"\ncountry = "Vietnam"', "wifi.country", "two-letter"),
        ('[trust]\ncsca_dir = "nowhere"', "trust.csca_dir", "not found"),
        (
            '[appliance.store]\noffice_public_key = "/tmp/k"',
            "appliance.store.office_public_key",
            "[office]",
        ),
        ('[appliance]\nprofile = "sim"', "appliance.profile", "top-level"),
        ("[appliance.service]\nport = 'x'", "appliance", "expected int"),
        ("[appliance.camera]\nzoom = 2", "appliance", "unknown key"),
        ('[appliance.camera]\nbackend = "gopro"', "appliance", "unknown backend"),
    ],
)
def test_invalid_tables(tmp_path, table, key, words):
    text = BASE
    if table.startswith("[office]"):
        text = text.replace(
            'public_key = "office.pub"', 'public_key = "office.pub"\n' + table.split("\n", 1)[1]
        )
    else:
        text += "\n" + table + "\n"
    exc = error_of(tmp_path, text)
    assert exc.key == key, exc.message
    assert words in exc.message


def test_wrong_kind_of_office_key(tmp_path):
    ed = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "X25519" in error_of(tmp_path, BASE, key=ed).message
    assert "PEM" in error_of(tmp_path, BASE, key=b"not a key").message


def test_csca_folder(tmp_path):
    csca = tmp_path / "csca"
    csca.mkdir()
    (csca / "vn-csca-1.pem").write_bytes(csca_cert())
    (csca / "vn-csca-2.der").write_bytes(csca_cert(der=True))
    (csca / "README.txt").write_text("ignored")
    prov = read_provision(write(tmp_path, BASE))
    assert sorted(prov.csca) == ["vn-csca-1.pem", "vn-csca-2.der"]
    assert not any("CSCA" in w for w in prov.warnings)
    (csca / "broken.crt").write_bytes(b"garbage")
    exc = error_of(tmp_path, BASE)
    assert exc.key == "trust.csca_dir" and "broken.crt" in exc.message


def test_upload_and_wifi(tmp_path):
    (tmp_path / "ca.pem").write_bytes(csca_cert())
    text = BASE.replace(
        'public_key = "office.pub"',
        'public_key = "office.pub"\nupload_url = "https://office.example/b"\n'
        'upload_token = "tok-123456"\nupload_ca = "ca.pem"\nupload_method = "post"',
    )
    text += '\n[wifi]\nssid = "IEEE"\npsk = "password"\nhidden = true\n'
    prov = read_provision(write(tmp_path, text))
    assert prov.upload_method == "POST" and prov.upload_token == "tok-123456"
    assert prov.upload_ca_pem.startswith(b"-----BEGIN CERTIFICATE")
    assert prov.wifi == {
        "ssid": "IEEE",
        "key": "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e",
        "country": "VN",
        "hidden": True,
    }


def test_unreadable_or_broken_files(tmp_path):
    with pytest.raises(ProvisionError) as info:
        read_provision(tmp_path / "provision.toml")
    assert info.value.code == "provision_missing"
    bad = tmp_path / "provision.toml"
    bad.write_bytes(b"profile = \n")
    with pytest.raises(ProvisionError, match="not valid TOML"):
        read_provision(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ProvisionError, match="UTF-8"):
        read_provision(bad)


# --- hashing --------------------------------------------------------------------------------


def test_hash_and_verify():
    stored = hash_secret("246813")
    assert stored.startswith("scrypt$16384$8$1$")
    assert "246813" not in stored
    assert verify_secret(stored, "246813")
    assert not verify_secret(stored, "246814")
    assert not verify_secret(stored, "")
    assert hash_secret("246813") != stored  # salted


def test_verify_rejects_malformed_or_tampered_hashes():
    stored = hash_secret("pw-1234567890", n=2**10)
    parts = stored.split("$")
    assert verify_secret(stored, "pw-1234567890")
    for bad in (
        "",
        "plain",
        "scrypt$1024$8$1$abc",
        "$".join([parts[0], "1000", *parts[2:]]),  # N not a power of two
        "$".join([*parts[:4], "!!!", parts[5]]),
        "$".join([parts[0], "1024", "9", *parts[3:]]),  # other parameters: another hash
    ):
        assert not verify_secret(bad, "pw-1234567890"), bad


def test_pre_hashed_credentials_are_accepted(tmp_path):
    stored = hash_secret("24681357")
    text = BASE.replace('pin = "246813"', f'pin_hash = "{stored}"')
    prov = read_provision(write(tmp_path, text))
    assert prov.credentials == {"operator_pin": stored}


def test_wpa_psk_matches_the_ieee_vector():
    # IEEE 802.11i-2004 Annex H.4 test vector.
    assert wpa_psk("IEEE", "password") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_any_text_is_a_provision_error_or_valid(tmp_path, text):
    path = tmp_path / "provision.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_provision(path)
    except ProvisionError as exc:
        assert exc.message


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(["profile", "device_name", "office", "operator", "time", "wifi", "trust"]),
        st.one_of(
            st.text(max_size=20),
            st.integers(),
            st.lists(st.text(max_size=10), max_size=3),
            st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=20), st.integers())),
        ),
    )
)
def test_any_structure_is_a_provision_error_or_valid(tmp_path, data):
    import json

    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            body = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
            tables.append(f"[{key}]\n{body}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "provision.toml"
    path.write_text("\n".join(lines + tables) + "\n")
    try:
        read_provision(path)
    except ProvisionError as exc:
        assert exc.message


def test_documented_example_is_valid(tmp_path):
    """Valid once its example secrets are replaced (unchanged, it is refused: test_field_rules)."""
    example = Path(__file__).resolve().parent.parent / "docs" / "provision.example.toml"
    text = example.read_text()
    for old, new in (
        ("40731985", "58291473"),
        ("change-me-to-a-long-passphrase", "a-site-chosen-passphrase-9"),
        ("paste-the-office-issued-token-here", "site-issued-token-31337"),
    ):
        text = text.replace(f'"{old}"', f'"{new}"')
    (tmp_path / "provision.toml").write_text(text)
    (tmp_path / "office_x25519.pub").write_bytes(office_pub())
    (tmp_path / "csca").mkdir()
    (tmp_path / "csca" / "csca-vn.pem").write_bytes(csca_cert())
    prov = read_provision(tmp_path / "provision.toml")
    _validate_site(prov)
    assert prov.profile == "commune-kiosk" and len(prov.csca) == 1
    assert set(prov.credentials) == {"operator_pin"}
