"""BAC and secure messaging: every ICAO 9303-11 Appendix D value, both sides, and the
Vietnamese example key (DOMAIN.md sections 4 and 6)."""

from __future__ import annotations

import pytest

from appliance.cccd.bac import bac_keys, bac_keys_from_qr
from appliance.cccd.qr import parse_qr
from appliance.citizen import TEST_QR_PAYLOAD
from appliance.icao.apdu import Command
from appliance.icao.emulator import CardEmulator
from appliance.icao.errors import BacFailed, SecureMessagingError
from appliance.icao.personalise import ChipImage
from appliance.icao.sm import (
    SecureMessaging,
    check_mutual_auth_response,
    mutual_auth_data,
    pad,
    perform_bac,
    retail_mac,
    unpad,
)

H = bytes.fromhex
KSEED = H("239AB9CB282DAF66231DC5A4DF6BFBAE")
KENC = H("AB94FDECF2674FDFB9B391F85D7F76F2")
KMAC = H("7962D9ECE03D1ACD4C76089DCE131543")
RND_IC = H("4608F91988702212")
RND_IFD = H("781723860C06C226")
K_IFD = H("0B795240CB7049B01C19B33E32804F0B")
K_IC = H("0B4F80323EB3191CB04970CB4052790B")
EXT_AUTH_DATA = H(
    "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7"
)
EXT_AUTH_RESPONSE = H(
    "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449"
)
KS_ENC = H("979EC13B1CBFE9DCD01AB0FED307EAE5")
KS_MAC = H("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = H("887022120C06C226")
# (command, protected command, protected response, plain response data)
EXCHANGES = [
    (
        Command(0x00, 0xA4, 0x02, 0x0C, H("011E")),
        H("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800"),
        H("990290008E08FA855A5D4C50A8ED9000"),
        b"",
    ),
    (
        Command(0x00, 0xB0, 0x00, 0x00, le=4),
        H("0CB000000D9701048E08ED6705417E96BA5500"),
        H("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000"),
        H("60145F01"),
    ),
    (
        Command(0x00, 0xB0, 0x00, 0x04, le=0x12),
        H("0CB000040D9701128E082EA28A70F3C7B53500"),
        H("871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000"),
        H("04303130365F36063034303030305C026175"),
    ),
]
EF_COM = H("60145F0104303130365F36063034303030305C026175")


def icao_keys():
    return bac_keys("L898902C", "690806", "940623")


def test_appendix_d_keys():
    keys = icao_keys()
    assert keys.mrz_information == "L898902C<369080619406236"
    assert (keys.kseed, keys.kenc, keys.kmac) == (KSEED, KENC, KMAC)


def test_appendix_d_mutual_authentication_reader_side():
    keys = icao_keys()
    assert mutual_auth_data(keys, RND_IC, RND_IFD, K_IFD) == EXT_AUTH_DATA
    session = check_mutual_auth_response(keys, EXT_AUTH_RESPONSE, RND_IC, RND_IFD, K_IFD)
    assert (session.ks_enc, session.ks_mac, session.ssc) == (KS_ENC, KS_MAC, SSC)


def test_appendix_d_protected_apdus_reader_side():
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    for cmd, protected, response, plain in EXCHANGES:
        assert sm.wrap(cmd) == protected
        assert sm.unwrap(response[:-2], 0x9000) == (plain, 0x9000)


def _rng_from(*chunks: bytes):
    queue = list(chunks)

    def rng(n: int) -> bytes:
        value = queue.pop(0)
        assert len(value) == n
        return value

    return rng


def test_appendix_d_card_side_through_the_emulator():
    """The emulator, given RND.IC and K.IC, answers the Appendix D commands byte for byte."""
    image = ChipImage({"COM": EF_COM}, "L898902C", "690806", "940623")
    card = CardEmulator(image, rng=_rng_from(RND_IC, K_IC))
    assert card.process(H("00A4040C07A0000002471001")) == H("9000")
    assert card.process(H("0084000008")) == RND_IC + H("9000")
    assert card.process(H("0082000028") + EXT_AUTH_DATA + H("28")) == EXT_AUTH_RESPONSE + H("9000")
    for _, protected, response, _ in EXCHANGES:
        assert card.process(protected) == response


def test_perform_bac_against_the_emulator_with_appendix_d_randoms():
    image = ChipImage({"COM": EF_COM}, "L898902C", "690806", "940623")
    card = CardEmulator(image, rng=_rng_from(RND_IC, K_IC))
    card.process(H("00A4040C07A0000002471001"))
    sent = []

    def send(raw):
        sent.append(raw)
        return card.transmit(raw)

    sm = perform_bac(send, icao_keys(), rng=_rng_from(RND_IFD, K_IFD))
    assert sent[1] == H("0082000028") + EXT_AUTH_DATA + H("28")
    assert (sm.ks_enc, sm.ks_mac, sm.ssc.to_bytes(8, "big")) == (KS_ENC, KS_MAC, SSC)
    for cmd, protected, response, plain in EXCHANGES:
        raw = sm.wrap(cmd)
        assert raw == protected
        answer = card.process(raw)
        assert answer == response
        assert sm.unwrap(answer[:-2], 0x9000) == (plain, 0x9000)


def test_vietnamese_example_key_from_the_qr():
    keys = bac_keys_from_qr(parse_qr(TEST_QR_PAYLOAD))
    assert keys.mrz_information == "090012345090031523003150"
    assert keys.kseed == H("13153308008AD6D6E8F6709002E103DF")
    assert keys == bac_keys("090012345", "900315", "300315")


def test_wrong_bac_key_is_refused():
    image = ChipImage({"COM": EF_COM}, "L898902C", "690806", "940623")
    card = CardEmulator(image)
    card.process(H("00A4040C07A0000002471001"))
    with pytest.raises(BacFailed, match="refused"):
        perform_bac(card.transmit, bac_keys("L898902C", "690806", "940624"))


def test_bad_response_mac_ends_the_session():
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    sm.wrap(EXCHANGES[0][0])
    bad = bytearray(EXCHANGES[0][2][:-2])
    bad[-1] ^= 1
    with pytest.raises(SecureMessagingError, match="MAC"):
        sm.unwrap(bytes(bad), 0x9000)
    with pytest.raises(SecureMessagingError, match="ended"):
        sm.wrap(EXCHANGES[1][0])


@pytest.mark.parametrize(
    ("data", "sw", "match"),
    [
        (b"", 0x9000, "without secure messaging"),
        (b"", 0x6988, "ended secure messaging"),
        (H("990290008E04AABBCCDD"), 0x9000, "without a MAC"),
        (H("9902"), 0x9000, "malformed"),
    ],
)
def test_unprotected_or_malformed_responses_are_rejected(data, sw, match):
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    with pytest.raises(SecureMessagingError, match=match):
        sm.unwrap(data, sw)


def test_plain_error_status_passes_without_data():
    sm = SecureMessaging(KS_ENC, KS_MAC, SSC)
    assert sm.unwrap(b"", 0x6A82) == (b"", 0x6A82)
    assert sm.last_plain


def test_padding_and_retail_mac_basics():
    assert pad(b"") == H("8000000000000000")
    assert pad(bytes(7)) == bytes(7) + b"\x80"
    assert unpad(pad(b"abc")) == b"abc"
    with pytest.raises(SecureMessagingError):
        unpad(bytes(8))
    # the retail MAC of E.IFD is Appendix D's M.IFD
    assert retail_mac(KMAC, EXT_AUTH_DATA[:32]) == EXT_AUTH_DATA[32:]
