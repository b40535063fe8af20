"""Sealed bundles: round trip, and tampered / unknown-device / wrong-key bundles refused."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.citizen import TEST_CITIZEN
from appliance.store.bundle import Part, parse, seal, unseal
from appliance.store.errors import (
    BundleError,
    BundleMalformed,
    BundleTampered,
    UnknownDevice,
    WrongRecipient,
)
from appliance.store.keys import (
    DeviceKey,
    ensure_device_key,
    key_id,
    load_device_registry,
)
from appliance.store.testing import sample_images

OFFICE = X25519PrivateKey.generate()


@pytest.fixture(scope="module")
def device(tmp_path_factory) -> DeviceKey:
    return ensure_device_key(tmp_path_factory.mktemp("dev"))


@pytest.fixture(scope="module")
def sealed(device) -> tuple[bytes, bytes, dict[str, bytes]]:
    portrait, fingers = sample_images(4000, 5000)
    parts = [Part("portrait", "image/jpeg", portrait)] + [
        Part(f"finger_{n}", "image/png", b) for n, b in fingers.items()
    ]
    data = seal(
        "capture",
        {"identity": TEST_CITIZEN},
        parts,
        device_key=device,
        office_key=OFFICE.public_key(),
        bundle_id="0" * 32,
        created_at="2025-06-01T09:00:00.000+07:00",
        clock_synced=False,
    )
    return data, portrait, fingers


def test_round_trip(sealed, device):
    data, portrait, fingers = sealed
    out = unseal(data, OFFICE)
    assert out.record == {"identity": TEST_CITIZEN}
    assert out.parts["portrait"] == portrait
    assert out.parts["finger_right_index"] == fingers["right_index"]
    assert out.parts["finger_left_index"] == fingers["left_index"]
    assert out.header["kind"] == "capture" and out.header["clock_synced"] is False
    assert out.signer_key_id == device.key_id and out.signer_registered is False


def test_registered_device_verifies(sealed, device, tmp_path):
    (tmp_path / "kiosk-7.pub").write_text(device.public_pem())
    (tmp_path / "notes.txt").write_text("ignored")
    registry = load_device_registry(tmp_path)
    out = unseal(sealed[0], OFFICE, registry)
    assert out.signer_registered is True and out.signer_key_id == device.key_id


def test_header_is_clear_but_holds_no_personal_data(sealed):
    data = sealed[0]
    header = parse(data).header
    text = json.dumps(header, ensure_ascii=False)
    for value in ("001090012345", "NGUYỄN", "Hà Nội", "1990"):
        assert value not in text
    assert TEST_CITIZEN["full_name"].encode() not in data


def test_wrong_office_key_refused(sealed):
    with pytest.raises(WrongRecipient, match="sealed to office key"):
        unseal(sealed[0], X25519PrivateKey.generate())


def test_unknown_device_refused(sealed, tmp_path):
    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.pub").write_text(DeviceKey(other, key_id(other.public_key())).public_pem())
    with pytest.raises(UnknownDevice, match="not among the 1 registered"):
        unseal(sealed[0], OFFICE, load_device_registry(tmp_path))


def test_resigned_by_another_device_is_unknown(sealed, device, tmp_path):
    """An attacker re-signing a bundle with their own key is caught by the device register."""
    data = sealed[0]
    parsed = parse(data)
    thief = Ed25519PrivateKey.generate()
    thief_key = DeviceKey(thief, key_id(thief.public_key()))
    header = dict(parsed.header)
    header["device_key_id"] = thief_key.key_id
    header["device_public_key"] = base64.b64encode(thief_key.public_raw).decode()
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    signed = (
        data[:6]
        + struct.pack(">H", len(hbytes))
        + hbytes
        + struct.pack(">I", len(parsed.sealed))
        + parsed.sealed
    )
    forged = signed + thief.sign(signed)
    (tmp_path / "kiosk.pub").write_text(device.public_pem())
    with pytest.raises(UnknownDevice):
        unseal(forged, OFFICE, load_device_registry(tmp_path))
    # Even without a register, the new header no longer matches the ciphertext (HPKE info).
    with pytest.raises(WrongRecipient, match="cannot decrypt"):
        unseal(forged, OFFICE)


def test_signature_flip_is_tampered(sealed):
    data = bytearray(sealed[0])
    data[-1] ^= 0x01
    with pytest.raises(BundleTampered, match="altered"):
        unseal(bytes(data), OFFICE)


def test_ciphertext_flip_is_tampered(sealed):
    data = bytearray(sealed[0])
    data[len(data) // 2] ^= 0x80
    with pytest.raises(BundleTampered):
        unseal(bytes(data), OFFICE)


@pytest.mark.parametrize(
    "mangle, error",
    [
        (lambda d: b"XXXX" + d[4:], BundleMalformed),
        (lambda d: d[:100], BundleMalformed),
        (lambda d: d + b"\0", BundleMalformed),
        (lambda d: d[:4] + b"\x09" + d[5:], BundleMalformed),
        (lambda d: b"", BundleMalformed),
    ],
)
def test_malformed_refused(sealed, mangle, error):
    with pytest.raises(error):
        unseal(mangle(sealed[0]), OFFICE)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_single_byte_change_is_refused(sealed, data):
    blob = bytearray(sealed[0])
    pos = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    blob[pos] ^= 1 << bit
    with pytest.raises(BundleError):
        unseal(bytes(blob), OFFICE)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_crashes(blob):
    with pytest.raises(BundleError):
        unseal(b"CCSB\x01\x01" + blob, OFFICE)


def test_device_key_files_are_private(tmp_path, caplog):
    caplog.set_level("DEBUG")
    key = ensure_device_key(tmp_path)
    keys = tmp_path / "keys"
    assert (keys.stat().st_mode & 0o777) == 0o700
    assert ((keys / "device_ed25519.pem").stat().st_mode & 0o777) == 0o600
    # Loading again gives the same key, and a widened mode is put back to 0600.
    (keys / "device_ed25519.pem").chmod(0o644)
    again = ensure_device_key(tmp_path)
    assert again.key_id == key.key_id
    assert ((keys / "device_ed25519.pem").stat().st_mode & 0o777) == 0o600
    pem = (keys / "device_ed25519.pem").read_text()
    body = "".join(pem.splitlines()[1:-1])
    assert "PRIVATE KEY" not in caplog.text and body not in caplog.text
    assert key.key_id in caplog.text  # the public fingerprint is what gets logged
    assert "private" not in repr(key).lower()
