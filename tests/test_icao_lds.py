"""LDS parsers: EF.COM, DG1, DG2, DG13 by item number, DG14, DG15, EF.SOD, BER-TLV; and fuzzing:
whatever a malicious chip sends, the reader answers with a typed error or a result."""

from __future__ import annotations

import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest
from asn1crypto import core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.citizen import TEST_CITIZEN
from appliance.errors import ApplianceError
from appliance.hal.sim_card import SimCardReader, sim_chip
from appliance.icao import lds, tlv
from appliance.icao.emulator import CardEmulator
from appliance.icao.errors import CardError, LdsError
from appliance.icao.keys import explicit_spki, load_public_key
from appliance.icao.passive import passive_authentication
from appliance.icao.personalise import build_dg2, build_dg13, jpeg_of_size
from appliance.icao.reader import read_card

H = bytes.fromhex
EXAMPLES = int(os.environ.get("ICAO_FUZZ_EXAMPLES", "300"))  # raise it for a deep fuzzing run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def item(n: int, value: bytes) -> bytes:
    return tlv.encode(0x30, tlv.encode(0x02, bytes([n])) + value)


def utf8(text: str) -> bytes:
    return tlv.encode(0x0C, text.encode())


def dg13_of(*items: bytes) -> bytes:
    oid = core.ObjectIdentifier("1.0.10646.1.0.8").dump()
    body = tlv.encode(0x02, b"\x01") + oid + tlv.encode(0x31, b"".join(items))
    return tlv.encode(0x6D, tlv.encode(0x30, body))


# --- TLV --------------------------------------------------------------------------------------


def test_tlv_roundtrip_and_long_lengths():
    for size in (0, 127, 128, 255, 256, 65535, 70000):
        data = tlv.encode(0x5F2E, bytes(size))
        item_ = tlv.parse(data)
        assert item_.tag == 0x5F2E and len(item_.value) == size and item_.end == len(data)
    assert tlv.read_header(H("7F61")) is None  # more bytes needed
    assert tlv.read_header(H("758200")) is None
    assert tlv.read_header(H("7583FFFFFF")) == (0x75, 0xFFFFFF, 5)


@pytest.mark.parametrize("bad", ["6180", "6185000000000001", "61050102", "00", "1F", "5F"])
def test_tlv_malformed_is_typed(bad):
    with pytest.raises(LdsError):
        tlv.children(H(bad))


# --- files ------------------------------------------------------------------------------------


def test_ef_com_from_appendix_d():
    com = lds.parse_com(H("60145F0104303130365F36063034303030305C026175"))
    assert com.lds_version == "0106" and com.unicode_version == "040000"
    assert com.data_groups == (1, 2)


def test_dg1_bad_mrz_is_reported_not_raised():
    image, _ = sim_chip()
    good = lds.parse_dg1(image.files["DG1"])
    assert good.td1 is not None and good.td1.id_number == TEST_CITIZEN["id_number"]
    mrz = bytearray(image.files["DG1"])
    mrz[-1] = ord("X")  # breaks the composite check digit... or the name: either way reported
    mrz[20] = ord("9")
    bad = lds.parse_dg1(bytes(mrz))
    assert bad.td1 is None and bad.to_dict()["ok"] is False and bad.error["code"]


def test_dg2_jpeg_and_jpeg2000():
    jpeg = jpeg_of_size(3000)
    face = lds.parse_dg2(build_dg2(jpeg, "female"))
    assert face.format == "jpeg" and face.data == jpeg and (face.width, face.height) == (240, 320)
    jp2 = H("0000000C6A5020200D0A870A") + bytes(200)
    face = lds.parse_dg2(build_dg2(jp2))
    assert face.format == "jp2" and face.data == jp2 and face.suffix == ".jp2"


def test_dg2_other_record_format_is_scanned():
    jpeg = jpeg_of_size(2000)
    bdb = b"\x00\x01\x02unknown-format" + jpeg
    template = tlv.encode(0x7F60, tlv.encode(0xA1, b"") + tlv.encode(0x7F2E, bdb))
    dg2 = tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x01") + template))
    assert lds.parse_dg2(dg2).data == jpeg


def test_dg2_without_image_is_typed():
    template = tlv.encode(0x7F60, tlv.encode(0x5F2E, b"FAC\x00" + bytes(60)))
    with pytest.raises(LdsError, match="no JPEG"):
        lds.parse_dg2(tlv.encode(0x75, tlv.encode(0x7F61, template)))


def test_dg13_from_identity_matches_every_field():
    out = lds.parse_dg13(build_dg13(TEST_CITIZEN))
    for key, value in TEST_CITIZEN.items():
        assert out[key] == value, key
    assert out["expiry_date"] == "2030-03-15" and len(out["item_16"]) == 16
    assert out["warnings"] == []


def test_dg13_is_parsed_by_item_number_not_position():
    data = dg13_of(
        item(4, utf8("Nữ")),
        item(2, utf8("TRẦN THỊ B")),
        item(13, tlv.encode(0x30, utf8("CHA") + utf8("MẸ"))),
        item(12, utf8("Không thời hạn")),
        item(3, utf8("01/02/1950")),
        item(17, utf8("new")),
        item(1, tlv.encode(0x13, b"001150012345")),
    )
    out = lds.parse_dg13(data)
    assert out["sex"] == "female" and out["full_name"] == "TRẦN THỊ B"
    assert out["father_name"] == "CHA" and out["mother_name"] == "MẸ"
    assert out["date_of_birth"] == "1950-02-01" and out["id_number"] == "001150012345"
    assert out["expiry_date"] is None and out["expiry_text"] == "Không thời hạn"
    assert out["address"] is None and out["spouse_name"] is None  # missing items
    assert out["other_items"] == {"17": ["new"]}
    assert "item_12_not_a_date" in out["warnings"]


def test_dg13_nfd_and_bad_values_become_warnings():
    out = lds.parse_dg13(
        dg13_of(
            item(2, utf8("NGUYÊ\u0303N")),  # NFD
            item(4, utf8("X")),
            item(6, tlv.encode(0x0C, b"\xff\xfe")),
            item(11, utf8("31/02/2020")),
        )
    )
    assert out["full_name"] == "NGUYỄN"
    assert out["sex"] is None and out["ethnicity"] is None and out["issue_date"] is None
    assert set(out["warnings"]) == {
        "item_4_unknown_sex",
        "item_6_undecodable",
        "item_11_not_a_date",
    }


def test_dg14_and_card_access_security_infos():
    from appliance.icao.personalise import build_card_access, build_dg14_aa

    infos = lds.parse_dg14(build_dg14_aa())
    assert infos.protocols == ("ActiveAuthentication",) and infos.aa_hash == "sha256"
    assert "PACE" in lds.parse_security_infos(build_card_access()).protocols


def test_dg15_rsa_and_ec_with_explicit_parameters():
    image, _ = sim_chip()
    assert lds.parse_dg15(image.files["DG15"]).key_size == 1024
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.BrainpoolP384R1()).public_key()
    loaded = lds.parse_dg15(tlv.encode(0x6F, explicit_spki(key)))
    assert loaded.curve.name == "brainpoolP384r1"
    assert loaded.public_numbers() == key.public_numbers()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
@pytest.mark.parametrize(
    ("openssl_name", "expected"),
    [("prime256v1", "secp256r1"), ("brainpoolP256r1", "brainpoolP256r1"),
     ("brainpoolP512r1", "brainpoolP512r1"), ("secp384r1", "secp384r1")],
)  # fmt: skip
def test_explicit_curve_keys_made_by_openssl_map_to_named_curves(openssl_name, expected):
    key_pem = subprocess.run(
        ["openssl", "ecparam", "-name", openssl_name, "-param_enc", "explicit", "-genkey",
         "-noout"], capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    spki = subprocess.run(
        ["openssl", "ec", "-pubout", "-param_enc", "explicit", "-outform", "DER"],
        input=key_pem, capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert b"\x06\x07\x2a\x86\x48\xce\x3d\x01\x01" in spki  # prime-field: explicit parameters
    assert load_public_key(spki).curve.name == expected


def test_sod_lists_every_data_group_hash():
    image, _ = sim_chip()
    sod = lds.parse_sod(image.files["SOD"])
    assert sod.hash_algorithm == "sha256"
    assert sorted(sod.hashes) == [1, 2, 3, 13, 15]
    assert len(sod.certificates) == 1


# --- fuzzing ----------------------------------------------------------------------------------

PARSERS = {
    "COM": lds.parse_com,
    "DG1": lds.parse_dg1,
    "DG2": lds.parse_dg2,
    "DG13": lds.parse_dg13,
    "DG14": lds.parse_dg14,
    "DG15": lds.parse_dg15,
    "SOD": lds.parse_sod,
    "CardAccess": lds.parse_security_infos,
}


def _samples() -> dict[str, bytes]:
    from appliance.icao.personalise import build_card_access, build_dg14_aa

    image, _ = sim_chip()
    files = dict(image.files)
    files["DG2"] = build_dg2(jpeg_of_size(1500))
    files["DG14"] = build_dg14_aa()
    files["CardAccess"] = build_card_access()
    return files


SAMPLES = _samples()


@st.composite
def mutated(draw, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[i] = draw(st.sampled_from([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xFF, 0x00]))
    return bytes(data)


def _only_typed(fn, data: bytes) -> None:
    try:
        fn(data)
    except LdsError:
        pass


@FUZZ
@given(name=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=300))
def test_fuzz_parsers_with_random_bytes(name, data):
    _only_typed(PARSERS[name], data)


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(PARSERS)))
def test_fuzz_parsers_with_mutated_files(data, name):
    _only_typed(PARSERS[name], data.draw(mutated(SAMPLES[name])))


@FUZZ
@given(data=st.data())
def test_fuzz_passive_authentication_never_raises(data):
    image, trust = sim_chip()
    sod = data.draw(mutated(image.files["SOD"]))
    result = passive_authentication(sod, {1: image.files["DG1"]}, trust)
    assert result.status in ("failed", "verified", "chain_unknown")
    if result.status != "verified":
        assert result.status == "failed" or result.failed_step is None


@settings(
    max_examples=max(60, EXAMPLES // 5), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), name=st.sampled_from(["COM", "DG1", "DG13", "DG15", "SOD", "DG2"]))
def test_fuzz_a_malicious_chip_gives_a_result_or_a_typed_error(data, name):
    """The chip serves a mutated file through correct secure messaging: read_card returns or
    raises a CardError, nothing else."""
    image, trust = sim_chip()
    base = SAMPLES["DG2"] if name == "DG2" else image.files[name]
    card = CardEmulator(image.with_file(name, data.draw(mutated(base))))
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card, trust)
    reader.open()
    reader.insert()
    try:
        result = read_card(reader, image.bac_input(), memory=None, timeout_s=5.0)
    except CardError:
        return
    except ApplianceError as exc:  # pragma: no cover - would be a contract breach
        pytest.fail(f"untyped error for a malicious chip: {exc!r}")
    assert result.passive_auth.status in ("failed", "verified", "chain_unknown")


def test_a_td1_with_a_filler_instead_of_the_national_id_check_digit():
    from appliance.cccd.mrz import check_digit
    from appliance.icao.personalise import build_dg1

    line1 = "IDVNM0900123450001090012345<<<"
    line2 = "9003152M3003150VNM<<<<<<<<<<<"
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    mrz = f"{line1}\n{line2}{check_digit(composite)}\nNGUYEN<<VAN<AN<<<<<<<<<<<<<<<<"
    dg1 = lds.parse_dg1(build_dg1(mrz)).to_dict()
    assert dg1["ok"] and dg1["id_number"] == "001090012345" and dg1["issuing_state"] == "VNM"
    assert dg1["warnings"] == ["id_check_digit_absent"]
    assert dg1["date_of_birth"] == "1990-03-15"
    wrong = mrz.replace("345<<<\n", "345<<7\n")  # a wrong digit stays an error
    assert lds.parse_dg1(build_dg1(wrong)).to_dict()["ok"] is False
