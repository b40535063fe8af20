"""Passive authentication: SOD signatures (RSA PKCS#1 v1.5, PSS, ECDSA), CSCAs with explicit
curve parameters, the trust store (PEM, DER, master lists), and each failed step."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as ax509

from appliance.citizen import TEST_CITIZEN
from appliance.icao import lds, tlv
from appliance.icao.passive import TrustStore, passive_authentication
from appliance.icao.personalise import jpeg_of_size, personalise
from appliance.icao.pki import generate_pki, load_pki

PHOTO = jpeg_of_size(3000)


@pytest.fixture(scope="module")
def pkis():
    return {
        kind: generate_pki(*kind)
        for kind in (("ec-explicit", "ec"), ("rsa", "rsa"), ("ec", "rsa-pss"))
    }


@pytest.fixture(scope="module")
def chip(pkis):
    pki = pkis[("ec-explicit", "ec")]
    return personalise(TEST_CITIZEN, PHOTO, pki, aa="none"), pki


def groups(image) -> dict[int, bytes]:
    return {int(k[2:]): v for k, v in image.files.items() if k.startswith("DG") and k != "DG3"}


def store_of(*ders: bytes) -> TrustStore:
    store = TrustStore()
    store.add([ax509.Certificate.load(d) for d in ders])
    return store


@pytest.mark.parametrize("kind", [("ec-explicit", "ec"), ("rsa", "rsa"), ("ec", "rsa-pss")])
def test_verified_for_every_signature_scheme(pkis, tmp_path, kind):
    pki = pkis[kind]
    image = personalise(TEST_CITIZEN, PHOTO, pki, aa="none")
    pki.save(tmp_path)
    result = passive_authentication(
        image.files["SOD"], groups(image), TrustStore.from_dir(tmp_path)
    )
    assert result.status == "verified", result.message
    assert result.failed_step is None and "CSCA Test Vietnam" in result.csca_subject
    expected = {"ec": "sha256_ecdsa", "rsa": "sha256_rsa", "rsa-pss": "rsassa_pss"}[kind[1]]
    assert result.signature_algorithm == expected
    assert result.data_groups == {"DG1": "ok", "DG2": "ok", "DG13": "ok"}


def test_pki_round_trips_through_its_folder(pkis, tmp_path):
    pki = pkis[("ec", "rsa-pss")]
    pki.save(tmp_path)
    loaded = load_pki(tmp_path)
    assert loaded.ds_signature == "pss" and loaded.csca_der == pki.csca_der


@pytest.mark.parametrize("name", ["DG1", "DG2", "DG13"])
def test_one_changed_byte_fails_its_hash(chip, name):
    image, pki = chip
    dgs = groups(image)
    data = bytearray(dgs[int(name[2:])])
    data[len(data) // 2] ^= 0x20
    dgs[int(name[2:])] = bytes(data)
    result = passive_authentication(image.files["SOD"], dgs, store_of(pki.csca_der))
    assert (result.status, result.failed_step) == ("failed", f"hash:{name}")
    assert result.data_groups[name] == "mismatch"


def test_data_group_missing_from_the_sod_fails(chip):
    image, pki = chip
    dgs = {**groups(image), 11: tlv.encode(0x6B, b"")}
    result = passive_authentication(image.files["SOD"], dgs, store_of(pki.csca_der))
    assert result.failed_step == "hash:DG11"


def test_chain_unknown_without_the_csca(chip, pkis):
    image, _ = chip
    other = pkis[("rsa", "rsa")]  # same CSCA name, another key: its key identifier differs
    for store in (TrustStore(), None, store_of(other.csca_der)):
        result = passive_authentication(image.files["SOD"], groups(image), store)
        assert (result.status, result.failed_step) == ("chain_unknown", None)


def test_missing_or_garbage_sod(chip):
    image, pki = chip
    for sod in (None, b"", tlv.encode(0x77, b"\x30\x03\x02\x01\x00"), image.files["DG1"]):
        result = passive_authentication(sod, groups(image), store_of(pki.csca_der))
        assert (result.status, result.failed_step) == ("failed", "sod")


def _signed_data(sod: bytes) -> cms.SignedData:
    return cms.ContentInfo.load(tlv.unwrap(sod, 0x77, "SOD"))["content"]


def test_broken_sod_signature(chip):
    image, pki = chip
    signature = bytes(_signed_data(image.files["SOD"])["signer_infos"][0]["signature"].native)
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    sod = image.files["SOD"].replace(signature, flipped)
    result = passive_authentication(sod, groups(image), store_of(pki.csca_der))
    assert (result.status, result.failed_step) == ("failed", "signature")


def test_changed_security_object_fails_the_signed_digest(chip):
    image, pki = chip
    sod = lds.parse_sod(image.files["SOD"])
    old_hash = sod.hashes[2]
    new_hash = bytes(len(old_hash))
    forged = image.with_file("DG2", image.files["DG2"])
    result = passive_authentication(
        image.files["SOD"].replace(old_hash, new_hash), groups(forged), store_of(pki.csca_der)
    )
    assert result.failed_step == "hash:DG2"  # DG2 no longer matches the edited list
    dgs = {k: v for k, v in groups(image).items() if k != 2}
    result = passive_authentication(
        image.files["SOD"].replace(old_hash, new_hash), dgs, store_of(pki.csca_der)
    )
    assert (result.failed_step, "digest" in result.message) == ("signature", True)


def test_ds_certificate_not_signed_by_the_csca(chip):
    image, pki = chip
    cert = ax509.Certificate.load(pki.ds_der)
    sig = bytes(cert["signature_value"].native)
    sod = image.files["SOD"].replace(sig, sig[:-1] + bytes([sig[-1] ^ 1]))
    result = passive_authentication(sod, groups(image), store_of(pki.csca_der))
    assert (result.status, result.failed_step) == ("failed", "chain")


def test_ds_certificate_missing_unless_in_the_trust_store(chip):
    image, pki = chip
    info = cms.ContentInfo.load(tlv.unwrap(image.files["SOD"], 0x77, "SOD"))
    signed = info["content"]
    signed["certificates"] = cms.CertificateSet([])
    bare = tlv.encode(0x77, info.dump(force=True))
    result = passive_authentication(bare, groups(image), store_of(pki.csca_der))
    assert (result.status, result.failed_step) == ("failed", "certificate")
    result = passive_authentication(bare, groups(image), store_of(pki.csca_der, pki.ds_der))
    assert result.status == "verified"


def test_expired_certificates_are_warnings(chip):
    image, pki = chip
    later = datetime(2100, 1, 1, tzinfo=UTC)
    result = passive_authentication(
        image.files["SOD"], groups(image), store_of(pki.csca_der), later
    )
    assert result.status == "verified"
    assert {"ds_certificate_expired", "csca_certificate_expired"} <= set(result.warnings)


def master_list(*ders: bytes) -> bytes:
    from appliance.icao.passive import CscaMasterList

    content = CscaMasterList(
        {"version": 0, "cert_list": [ax509.Certificate.load(d) for d in ders]}
    ).dump()
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [],
            "encap_content_info": {
                "content_type": "2.23.136.1.1.2",
                "content": core.ParsableOctetString(content),
            },
            "signer_infos": [],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def test_trust_store_folder_pem_der_and_master_list(chip, pkis, tmp_path):
    image, pki = chip
    other = generate_pki("ec", "ec")
    bundle = other.csca_pem + pki.csca_pem  # several certificates in one PEM file
    (tmp_path / "bundle.pem").write_bytes(bundle)
    (tmp_path / "rsa.cer").write_bytes(pkis[("rsa", "rsa")].csca_der)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.ml").write_bytes(master_list(other.csca_der))
    (tmp_path / "junk.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    store = TrustStore.from_dir(tmp_path)
    assert len(store.certificates) == 3  # bundle (2, one repeated in the list) + rsa.cer
    assert len(store.errors) == 1 and "junk.pem" in store.errors[0]
    result = passive_authentication(image.files["SOD"], groups(image), store)
    assert result.status == "verified"


def test_master_list_alone_is_a_trust_anchor(chip, tmp_path):
    image, pki = chip
    (tmp_path / "vn.ml").write_bytes(master_list(pki.csca_der))
    store = TrustStore.from_dir(tmp_path)
    assert passive_authentication(image.files["SOD"], groups(image), store).status == "verified"


def test_missing_trust_folder_is_an_empty_store(tmp_path):
    store = TrustStore.from_dir(tmp_path / "nope")
    assert store.certificates == [] and store.errors
