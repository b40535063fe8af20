"""Active authentication: ISO/IEC 9796-2 RSA and ECDSA, passed, failed and not supported."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from appliance.citizen import TEST_CITIZEN
from appliance.hal.sim_card import SimCardReader
from appliance.icao.active import (
    sign_ecdsa_plain,
    sign_rsa_9796_2,
    verify_ecdsa,
    verify_rsa_9796_2,
)
from appliance.icao.emulator import CardEmulator
from appliance.icao.personalise import jpeg_of_size, personalise
from appliance.icao.pki import generate_pki
from appliance.icao.reader import read_card

CHALLENGE = bytes.fromhex("0102030405060708")


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(65537, 1024)


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
def test_rsa_9796_2_round_trip(rsa_key, hash_name):
    signature = sign_rsa_9796_2(rsa_key, CHALLENGE, hash_name)
    assert len(signature) == 128
    assert verify_rsa_9796_2(rsa_key.public_key(), CHALLENGE, signature) == hash_name


def test_rsa_9796_2_rejects_forgeries(rsa_key):
    good = sign_rsa_9796_2(rsa_key, CHALLENGE)
    public = rsa_key.public_key()
    assert verify_rsa_9796_2(public, CHALLENGE[::-1], good) is None  # another challenge
    assert verify_rsa_9796_2(public, CHALLENGE, good[:-1] + bytes([good[-1] ^ 1])) is None
    assert verify_rsa_9796_2(public, CHALLENGE, good[1:]) is None  # wrong length
    assert verify_rsa_9796_2(public, CHALLENGE, bytes(128)) is None
    other = rsa.generate_private_key(65537, 1024)
    assert verify_rsa_9796_2(public, CHALLENGE, sign_rsa_9796_2(other, CHALLENGE)) is None


def test_rsa_9796_2_structure(rsa_key):
    """The recovered block is 6A || M1 || SHA-1(M1 || challenge) || BC."""
    signature = sign_rsa_9796_2(rsa_key, CHALLENGE)
    numbers = rsa_key.public_key().public_numbers()
    f = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(128, "big")
    assert f[0] == 0x6A and f[-1] == 0xBC
    m1, digest = f[1:-21], f[-21:-1]
    assert hashlib.sha1(m1 + CHALLENGE).digest() == digest


def test_ecdsa_plain_and_der():
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    plain = sign_ecdsa_plain(key, CHALLENGE, "sha256")
    assert len(plain) == 64
    assert verify_ecdsa(key.public_key(), CHALLENGE, plain, "sha256") == "sha256"
    assert verify_ecdsa(key.public_key(), CHALLENGE, plain, None) == "sha256"  # found by trying
    assert verify_ecdsa(key.public_key(), CHALLENGE, plain, "sha384") is None
    r, s = int.from_bytes(plain[:32], "big"), int.from_bytes(plain[32:], "big")
    der = utils.encode_dss_signature(r, s)
    assert verify_ecdsa(key.public_key(), CHALLENGE, der, "sha256") == "sha256"
    assert verify_ecdsa(key.public_key(), CHALLENGE[::-1], plain, None) is None


def chip_read(aa: str, **emulator_kwargs):
    pki = generate_pki("ec", "ec")
    image = personalise(TEST_CITIZEN, jpeg_of_size(2000), pki, aa=aa)
    card = CardEmulator(image, **emulator_kwargs)
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card)
    reader.open()
    reader.insert()
    return image, read_card(reader, image.bac_input(), memory=None)


@pytest.mark.parametrize(
    ("aa", "algorithm"), [("rsa", "rsa-iso9796-2-sha1"), ("ec", "ecdsa-sha256")]
)
def test_read_with_active_authentication(aa, algorithm):
    _, result = chip_read(aa)
    assert result.active_auth.status == "passed"
    assert result.active_auth.algorithm == algorithm
    if aa == "ec":  # DG14 names the hash (ActiveAuthenticationInfo)
        assert result.security_infos.aa_hash == "sha256"


@pytest.mark.parametrize("aa", ["rsa", "ec"])
def test_cloned_chip_fails_active_authentication(aa):
    _, result = chip_read(aa, fault="bad_aa")
    assert result.active_auth.status == "failed"
    assert "does not verify" in result.active_auth.message


def test_chip_without_dg15_is_not_supported():
    image, result = chip_read("none")
    assert "DG15" not in image.files
    assert result.active_auth.status == "not_supported"
    assert result.stats.by_ins.get("88", 0) == 0


def test_chip_refusing_internal_authenticate_fails():
    image, _ = chip_read("rsa")
    image.aa_key = None  # DG15 announces AA, the chip does not do it
    card = CardEmulator(image)
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card)
    reader.open()
    reader.insert()
    result = read_card(reader, image.bac_input(), memory=None)
    assert result.active_auth.status == "failed" and "6D00" in result.active_auth.message
