"""BAC key material: ICAO 9303-11 Appendix D vectors and the Vietnamese example."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.cccd.bac import (
    BacKeys,
    adjust_parity,
    bac_keys,
    bac_keys_from_qr,
    bac_keys_from_td1,
    kdf,
    keys_from_mrz_information,
    mrz_information,
)
from appliance.cccd.errors import BacError
from appliance.cccd.mrz import parse_td1, td1_from_identity
from appliance.cccd.qr import parse_qr
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.errors import InvalidInput

TODAY = date(2025, 6, 1)
H = bytes.fromhex

# ICAO 9303-11 Appendix D (DOMAIN.md section 6)
ICAO_INFO = "L898902C<369080619406236"
ICAO_KSEED = "239AB9CB282DAF66231DC5A4DF6BFBAE"
ICAO_KENC = "AB94FDECF2674FDFB9B391F85D7F76F2"
ICAO_KMAC = "7962D9ECE03D1ACD4C76089DCE131543"
# DOMAIN.md section 4
VN_INFO = "090012345090031523003150"
VN_KSEED = "13153308008AD6D6E8F6709002E103DF"


def test_icao_appendix_d():
    keys = bac_keys("L898902C", "690806", "940623")
    assert keys.mrz_information == ICAO_INFO
    assert keys.kseed == H(ICAO_KSEED)
    assert keys.kenc == H(ICAO_KENC)
    assert keys.kmac == H(ICAO_KMAC)
    assert keys.to_dict() == {
        "ok": True,
        "mrz_information": ICAO_INFO,
        "kseed": ICAO_KSEED,
        "kenc": ICAO_KENC,
        "kmac": ICAO_KMAC,
    }


def test_icao_padded_document_number_gives_the_same_keys():
    assert bac_keys("L898902C<", "690806", "940623").kseed == H(ICAO_KSEED)
    assert bac_keys("l898902c", "690806", "940623").kseed == H(ICAO_KSEED)


def test_kdf_derives_the_appendix_d_session_keys():
    """kdf is generic: K.IC xor K.IFD -> KSenc/KSmac. K.IC comes out of the chip's
    EXTERNAL AUTHENTICATE response decrypted with Kenc (3DES-CBC, zero IV)."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    kenc = H(ICAO_KENC)
    response = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")
    decryptor = Cipher(TripleDES(kenc + kenc[:8]), modes.CBC(bytes(8))).decryptor()
    plain = decryptor.update(response[:32]) + decryptor.finalize()
    assert plain[:16] == H("4608F91988702212781723860C06C226")  # RND.IC || RND.IFD
    k_ic, k_ifd = plain[16:], H("0B795240CB7049B01C19B33E32804F0B")
    seed = bytes(a ^ b for a, b in zip(k_ic, k_ifd, strict=True))
    assert kdf(seed, 1) == H("979EC13B1CBFE9DCD01AB0FED307EAE5")
    assert kdf(seed, 2) == H("F1CB1F1FB5ADF208806B89DC579DC1F8")


def test_kdf_output_has_des_parity():
    key = kdf(b"\x00" * 16, 1)
    assert len(key) == 16
    assert all(bin(b).count("1") % 2 == 1 for b in key)


def test_adjust_parity():
    assert adjust_parity(bytes([0x00, 0x01, 0xFE, 0xFF, 0x80])) == bytes(
        [0x01, 0x01, 0xFE, 0xFE, 0x80]
    )


def test_vietnamese_example_from_the_qr():
    keys = bac_keys_from_qr(parse_qr(TEST_QR_PAYLOAD, today=TODAY))
    assert keys.mrz_information == VN_INFO
    assert keys.kseed == H(VN_KSEED)
    assert keys == bac_keys("090012345", "900315", "300315")


def test_qr_and_mrz_give_the_same_keys():
    from_qr = bac_keys_from_qr(parse_qr(TEST_QR_PAYLOAD, today=TODAY))
    from_mrz = bac_keys_from_td1(parse_td1(td1_from_identity(TEST_CITIZEN), today=TODAY))
    assert from_qr == from_mrz


def test_never_expiring_card_uses_991231():
    keys = bac_keys("060012345", "600315", "991231")
    assert keys.mrz_information == "060012345" + "1" + "600315" + "1" + "991231" + "5"
    assert keys == keys_from_mrz_information(keys.mrz_information)


def test_unknown_layout_has_no_bac():
    with pytest.raises(BacError) as info:
        bac_keys_from_qr(parse_qr("001090012345|a|b", today=TODAY))
    assert info.value.code == "unknown_layout"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("", "900315", "300315"), "bad_document_number"),
        (("09001234-", "900315", "300315"), "bad_document_number"),
        (("090012345", "90031", "300315"), "bad_date"),
        (("090012345", "901315", "300315"), "bad_date"),
        (("090012345", "900315", "30031X"), "bad_date"),
        (("090012345", "900315", "300230"), "bad_date"),
    ],
)
def test_bad_input(args, code):
    with pytest.raises(BacError) as info:
        mrz_information(*args)
    assert info.value.code == code
    assert isinstance(info.value, InvalidInput)


def test_29_february_2000_is_a_real_yymmdd():
    assert mrz_information("090012345", "000229", "991231").startswith("090012345")


def test_bac_keys_dataclass():
    keys = bac_keys("090012345", "900315", "300315")
    assert isinstance(keys, BacKeys)
    assert keys.to_dict()["kseed"] == VN_KSEED
