"""PACE against the ICAO 9303-11 worked example (Appendix G.1: ECDH Generic Mapping,
brainpoolP256r1, AES-128, MRZ password ``T22000129 / 640812 / 101031``), byte for byte at each
step, on both sides: the reader's PACE against the published chip answers, and the emulator's
PACE (with the example's chip keys and nonce) against the published terminal commands.

The values are the public worked example's (also used as data by JMRTD, gmrtd, dmrtd and other
readers' test suites, read with the search tool; no code taken). The SELECT under the new AES
session (SSC 0) is not in the ICAO text: it is the one other project's suite computes from the
example's keys, and matches ours; it checks the AES secure messaging rules (IV = E(KSenc, SSC),
CMAC over the padded header and data objects).
"""

from __future__ import annotations

from appliance.cccd.bac import mrz_information
from appliance.icao import tlv
from appliance.icao.apdu import Command
from appliance.icao.ecmath import curve
from appliance.icao.emulator import CardEmulator
from appliance.icao.pace import (
    PARAMETER_CURVES,
    PaceInfo,
    auth_token,
    kdf,
    map_generator,
    mrz_password,
    nonce_cipher,
    pace_oid,
    perform_pace,
    session_from_secret,
)
from appliance.icao.pace_card import CardPace
from appliance.icao.secinfo import parse_chip_infos

H = bytes.fromhex
MRZ = ("T22000129", "640812", "101031")
CARD_ACCESS = H("31143012060A04007F0007020204020202010202010D")
K = H("7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD")
K_PI = H("89DED1B26624EC1E634C1989302849DD")
NONCE_Z = H("95A3A016522EE98D01E76CB6B98B42C3")
NONCE_S = H("3F00C4D39D153F2B2A214A078D899B22")
SK_MAP_IFD = 0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99
SK_MAP_IC = 0x498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560
SK_IFD = 0xA73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595
SK_IC = 0x107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A
PK_MAP_IFD = H(
    "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E"
    "544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D"
)
PK_MAP_IC = H(
    "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
    "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54"
)
H_POINT = H(
    "0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5"
    "0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181"
)
G_MAPPED = H(
    "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2"
    "8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522"
)
PK_IFD = H(
    "042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C"
    "3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462"
)
PK_IC = H(
    "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
    "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094"
)
SHARED = H("28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925")
KS_ENC = H("F5F0E35C0D7161EE6724EE513A0D9A7F")
KS_MAC = H("FE251C7858B356B24514B3BD5F4297D1")
T_IFD = H("C2B0BD78D94BA866")
T_IC = H("3ABB9674BCE93C08")
TRANSCRIPT = [  # (terminal command, chip response incl. status word)
    ("0022C1A40F800A04007F00070202040202830101", "9000"),
    ("10860000027C0000", "7C1280" + "10" + NONCE_Z.hex() + "9000"),
    ("10860000457C438141" + PK_MAP_IFD.hex() + "00", "7C438241" + PK_MAP_IC.hex() + "9000"),
    ("10860000457C438341" + PK_IFD.hex() + "00", "7C438441" + PK_IC.hex() + "9000"),
    ("008600000C7C0A8508" + T_IFD.hex() + "00", "7C0A8608" + T_IC.hex() + "9000"),
]
SELECT_UNDER_SM = H("0CA4040C1D871101752F676B09FAC86A87D632749A49C7CC8E08C18BA1FCE707BD9F00")
SELECT_ANSWER = H("990290008E08BEA7B381C494A0799000")
BP256 = curve(PARAMETER_CURVES[13])


def test_ef_cardaccess_of_the_example():
    infos = parse_chip_infos(CARD_ACCESS).pace
    assert infos == [PaceInfo(pace_oid("GM", "ECDH", "aes-128"), 2, 13)]
    assert infos[0].supported() and infos[0].curve_name == "brainpoolP256r1"


def test_each_step_of_the_example():
    assert mrz_password(mrz_information(*MRZ)) == K
    assert kdf(K, 3, "aes", 16) == K_PI
    encrypt, decrypt = nonce_cipher(K_PI, "aes")
    assert decrypt(NONCE_Z) == NONCE_S and encrypt(NONCE_S) == NONCE_Z
    c = BP256
    assert c.encode(c.mul(SK_MAP_IFD, c.g)) == PK_MAP_IFD
    assert c.encode(c.mul(SK_MAP_IC, c.g)) == PK_MAP_IC
    assert c.encode(c.mul(SK_MAP_IFD, c.decode(PK_MAP_IC))) == H_POINT
    mapped = map_generator(c, int.from_bytes(NONCE_S, "big"), SK_MAP_IFD, c.decode(PK_MAP_IC))
    assert c.encode(mapped) == G_MAPPED
    assert mapped == map_generator(
        c, int.from_bytes(NONCE_S, "big"), SK_MAP_IC, c.decode(PK_MAP_IFD)
    )
    assert c.encode(c.mul(SK_IFD, mapped)) == PK_IFD and c.encode(c.mul(SK_IC, mapped)) == PK_IC
    shared = c.mul(SK_IFD, c.decode(PK_IC))
    assert (
        shared[0].to_bytes(32, "big")
        == SHARED
        == c.mul(SK_IC, c.decode(PK_IFD))[0].to_bytes(32, "big")
    )
    sm = session_from_secret(SHARED, "aes", 16)
    assert (sm.ks_enc, sm.ks_mac) == (KS_ENC, KS_MAC)
    oid = pace_oid()
    assert auth_token(KS_MAC, "aes", oid, PK_IC) == T_IFD
    assert auth_token(KS_MAC, "aes", oid, PK_IFD) == T_IC


class ScriptedChip:
    def __init__(self, script):
        self.script, self.sent = list(script), []

    def transmit(self, raw: bytes):
        self.sent.append(raw.hex().upper())
        expected, answer = self.script.pop(0)
        assert raw.hex().upper() == expected.upper(), f"step {len(self.sent)}"
        answer = H(answer)
        return answer[:-2], int.from_bytes(answer[-2:], "big")


def test_the_reader_sends_the_examples_commands_byte_for_byte():
    chip = ScriptedChip([*TRANSCRIPT, (SELECT_UNDER_SM.hex(), SELECT_ANSWER.hex())])
    keys = iter([SK_MAP_IFD, SK_IFD])
    info = parse_chip_infos(CARD_ACCESS).pace[0]
    sm = perform_pace(
        lambda cmd: chip.transmit(cmd.encode()),
        info,
        mrz_password(mrz_information(*MRZ)),
        1,
        keygen=lambda c: next(keys),
    )
    assert (sm.ks_enc, sm.ks_mac, sm.ssc) == (KS_ENC, KS_MAC, 0)
    select = Command(0x00, 0xA4, 0x04, 0x0C, H("A0000002471001"))
    data, sw = sm.unwrap(*chip.transmit(sm.wrap(select)))
    assert (data, sw) == (b"", 0x9000) and chip.script == []


def test_the_reader_names_the_parameter_id_when_several_are_offered():
    first = "0022C1A412800A04007F0007020204020283010184010D"
    chip = ScriptedChip([(first, "9000"), *TRANSCRIPT[1:]])
    keys = iter([SK_MAP_IFD, SK_IFD])
    perform_pace(
        lambda cmd: chip.transmit(cmd.encode()),
        parse_chip_infos(CARD_ACCESS).pace[0],
        K,
        1,
        several_offered=True,
        keygen=lambda c: next(keys),
    )
    assert chip.script == []


def test_the_emulator_answers_the_examples_commands_byte_for_byte():
    from appliance.hal.sim_card import sim_chip

    image, _ = sim_chip()
    infos = parse_chip_infos(CARD_ACCESS).pace
    pace = CardPace(
        infos,
        {1: mrz_password(mrz_information(*MRZ))},
        private_keys=iter([SK_MAP_IC, SK_IC]),
        nonce=NONCE_S,
    )
    card = CardEmulator(image.with_file("CardAccess", CARD_ACCESS), pace=pace)
    for command, answer in TRANSCRIPT:
        assert card.process(H(command)).hex().upper() == answer.upper()
    # the card's first protected answer under the new session: the applet SELECT
    assert card.process(SELECT_UNDER_SM) == SELECT_ANSWER


def test_a_wrong_password_gets_6300_at_the_token_step():
    from appliance.hal.sim_card import sim_chip

    image, _ = sim_chip()
    pace = CardPace(parse_chip_infos(CARD_ACCESS).pace, {1: b"another MRZ"}, nonce=NONCE_S)
    card = CardEmulator(image.with_file("CardAccess", CARD_ACCESS), pace=pace)
    answers = [card.process(H(c)) for c, _ in TRANSCRIPT]
    assert answers[-1] == H("6300")
    assert tlv.parse(answers[1][:-2]).tag == 0x7C
