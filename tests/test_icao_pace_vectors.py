"""PACE against the ICAO 9303-11 worked examples (Appendix G.1: ECDH Generic Mapping,
brainpoolP256r1, AES-128; G.2: DH Generic Mapping, the RFC 5114 1024/160 group, AES-128; MRZ
password ``T22000129 / 640812 / 101031``), byte for byte at each step, on both sides: the
reader's PACE against the published chip answers, and the emulator's
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


# --- Appendix G.2: DH Generic Mapping, the RFC 5114 1024/160 group (ID 0), AES-128 -------------

DH_CARD_ACCESS = H("31143012060A04007F00070202040102020102020100")
DH_NONCE_Z = H("854D8DF5827FA6852D1A4FA701CDDDCA")
DH_NONCE_S = H("FA5B7E3E49753A0DB9178B7B9BD898C8")
DH_SK_MAP_IFD = 0x5265030F751F4AD18B08AC565FC7AC952E41618D
DH_SK_MAP_IC = 0x66DDAFEAC1609CB5B963BB0CB3FF8B3E047F336C
DH_SK_IFD = 0x89CCD99B0E8D3B1F11E1296DCA68EC53411CF2CA
DH_SK_IC = 0xA5B780126B7C980E9FCEA1D4539DA1D27C342DFA
DH_PK_MAP_IFD = H(
    "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3EB71C343DB13D1DEBCE9A3666DB"
    "CFC920B49174A602CB47965CAA73DC702489A44D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D0"
    "1B03AD54022DCB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C"
)
DH_PK_MAP_IC = H(
    "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E623EA5738B26381E4DA19E00470"
    "6FACE7B235C2DBF2F38748312F3C98C2DD4882A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6"
    "783FE42C9F2449400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6"
)
DH_H = H(
    "5BABEBEF5B74E5BA94B5C063FDA15F1F1CDE94873EE0A5D3A2FCAB49F258D07F544F13CB66658C3AFEE9E72738"
    "9BE3F6CBBBD32128A8C21DD6EEA3CF7091CDDFB08B8D007D40318DCCA4FFBF51208790FB4BD111E5A968ED6B6F"
    "08B26CA87C410B3CE0C310CE104EABD16629AA48620C1279270CB0750C0D37C57FFFE302AE7F"
)
DH_G_MAPPED = H(
    "7C9CBFE98F9FBDDA8D143506FA7D9306F4CB17E3C71707AFF5E1C1A12370249684D64EE37AF44B8DBD9D45BF60"
    "23919CBAA027AB97ACC771666C8E98FF483301BFA4872DEDE9034EDFACB70814166B7F360676829B826BEA5729"
    "1B5AD69FBC84EF1E779032A305803F74341793E869742D401325B37EE8565FFCDEE618342DC5"
)
DH_PK_IFD = H(
    "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD911551B9AE4D04369F29A02626C86FB"
    "C6747CC7BC352645B6161A2A42D44EDA80A08FA8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67"
    "F43173172236B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4"
)
DH_PK_IC = H(
    "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152BD8B3A213F53820C42ADC79AB5D"
    "0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A"
    "6D46DB974064386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1"
)
DH_SHARED = H(
    "6BABC7B3A72BCD7EA385E4C62DB2625BD8613B24149E146A629311C4CA6698E38B834B6A9E9CD7184BA8834AFF"
    "5043D436950C4C1E7832367C10CB8C314D40E5990B0DF7013E64B4549E2270923D06F08CFF6BD3E977DDE6ABE4"
    "C31D55C0FA2E465E553E77BDF75E3193D3834FC26E8EB1EE2FA1E4FC97C18C3F6CFFFE2607FD"
)
DH_KS_ENC = H("2F7F46ADCC9E7E521B45D192FAFA9126")
DH_KS_MAC = H("805A1D27D45A5116F73C54469462B7D8")
DH_T_IFD = H("B46DD9BD4D98381F")
DH_T_IC = H("917F37B5C0E6D8D1")
DH_TRANSCRIPT = [
    ("0022C1A40F800A04007F00070202040102830101", "9000"),
    ("10860000027C0000", "7C128010" + DH_NONCE_Z.hex() + "9000"),
    (
        "10860000867C8183818180" + DH_PK_MAP_IFD.hex() + "00",
        "7C8183828180" + DH_PK_MAP_IC.hex() + "9000",
    ),
    ("10860000867C8183838180" + DH_PK_IFD.hex() + "00", "7C8183848180" + DH_PK_IC.hex() + "9000"),
    ("008600000C7C0A8508" + DH_T_IFD.hex() + "00", "7C0A8608" + DH_T_IC.hex() + "9000"),
]


def test_each_step_of_the_dh_example():
    from appliance.icao.dhgroup import RFC5114_1024_160 as grp

    info = parse_chip_infos(DH_CARD_ACCESS).pace[0]
    assert (info.mapping, info.agreement, info.parameter_id) == ("GM", "DH", 0)
    assert info.supported() and info.curve_name == "MODP-1024-160"
    _, decrypt = nonce_cipher(K_PI, "aes")
    assert decrypt(DH_NONCE_Z) == DH_NONCE_S
    assert grp.encode(grp.mul(DH_SK_MAP_IFD, grp.g)) == DH_PK_MAP_IFD
    assert grp.encode(grp.mul(DH_SK_MAP_IC, grp.g)) == DH_PK_MAP_IC
    assert grp.encode(grp.mul(DH_SK_MAP_IFD, grp.decode(DH_PK_MAP_IC))) == DH_H
    s = int.from_bytes(DH_NONCE_S, "big")
    mapped = map_generator(grp, s, DH_SK_MAP_IFD, grp.decode(DH_PK_MAP_IC))
    assert grp.encode(mapped) == DH_G_MAPPED
    assert grp.encode(grp.mul(DH_SK_IFD, mapped)) == DH_PK_IFD
    assert grp.encode(grp.mul(DH_SK_IC, mapped)) == DH_PK_IC
    assert grp.secret(grp.mul(DH_SK_IFD, grp.decode(DH_PK_IC))) == DH_SHARED
    sm = session_from_secret(DH_SHARED, "aes", 16)
    assert (sm.ks_enc, sm.ks_mac) == (DH_KS_ENC, DH_KS_MAC)
    assert auth_token(DH_KS_MAC, "aes", info.oid, DH_PK_IC, 0x84) == DH_T_IFD
    assert auth_token(DH_KS_MAC, "aes", info.oid, DH_PK_IFD, 0x84) == DH_T_IC


def test_the_reader_and_the_emulator_replay_the_dh_example():
    from appliance.hal.sim_card import sim_chip

    chip = ScriptedChip(DH_TRANSCRIPT)
    keys = iter([DH_SK_MAP_IFD, DH_SK_IFD])
    sm = perform_pace(
        lambda cmd: chip.transmit(cmd.encode()),
        parse_chip_infos(DH_CARD_ACCESS).pace[0],
        K,
        1,
        keygen=lambda c: next(keys),
    )
    assert (sm.ks_enc, sm.ks_mac) == (DH_KS_ENC, DH_KS_MAC) and chip.script == []
    image, _ = sim_chip()
    pace = CardPace(
        parse_chip_infos(DH_CARD_ACCESS).pace,
        {1: K},
        private_keys=iter([DH_SK_MAP_IC, DH_SK_IC]),
        nonce=DH_NONCE_S,
    )
    card = CardEmulator(image.with_file("CardAccess", DH_CARD_ACCESS), pace=pace)
    for command, answer in DH_TRANSCRIPT:
        assert card.process(H(command)).hex().upper() == answer.upper()
