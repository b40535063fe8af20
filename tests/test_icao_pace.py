"""PACE and chip authentication through the emulator: CAN (from the QR) and MRZ, both curves,
the fallback policy, PACE-only and BAC-only chips, chip authentication passing, failing (a
clone) and superseding active authentication, AES block sizes and Le=00 under secure messaging."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cccd.qr import parse_qr
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.hal.sim_card import SimCardReader, sim_chip
from appliance.icao.apdu import Command, Transport
from appliance.icao.emulator import CardEmulator
from appliance.icao.errors import BacFailed
from appliance.icao.files import EXTENDED_MAX, BlockMemory
from appliance.icao.pace import PaceFailed, PaceNotSupported
from appliance.icao.personalise import build_card_access
from appliance.icao.reader import read_card
from appliance.icao.session import CardSession
from appliance.pipeline.workflows.verification import plain_words

CAN = TEST_CITIZEN["id_number"][-6:]
FUZZ = settings(
    max_examples=int(os.environ.get("ICAO_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def bac():
    return parse_qr(TEST_QR_PAYLOAD).bac


def reader_for(card: CardEmulator, trust=None) -> SimCardReader:
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card)
    reader.open()
    reader.insert()
    reader.trust_store = trust or sim_chip()[1]
    return reader


def chip(access="both", ca=False, params=(13, 12), **kw) -> CardEmulator:
    image, _ = sim_chip(ca=ca)
    if access != "bac":
        image = image.with_file("CardAccess", build_card_access(params))
    return CardEmulator(image, access=access, **kw)


def read(card, bac, **kw):
    return read_card(reader_for(card), bac, memory=BlockMemory(), **kw)


def test_pace_with_the_can_from_the_qr_only(bac):
    result = read(chip(access="pace"), None, can=CAN)
    out = result.to_dict()
    assert out["access"] == {
        "method": "pace",
        "pace_offered": True,
        "curve": "brainpoolP256r1",
        "sm_cipher": "aes-128",
        "password": "can",
        "fallback_reason": None,
    }
    assert out["stats"]["access"] == "pace" and out["stats"]["sm_cipher"] == "aes-128"
    assert out["dg1"]["id_number"] == TEST_CITIZEN["id_number"]
    assert out["passive_auth"]["status"] == "verified" and out["active_auth"]["status"] == "passed"
    assert out["stats"]["by_ins"]["86"] == 4 and out["stats"]["by_ins"]["22"] == 1


def test_pace_with_the_mrz_on_p256(bac):
    result = read(chip(params=(12,)), bac)
    assert result.access.method == "pace" and result.access.password == "mrz"
    assert result.access.curve == "P-256"
    assert result.passive_auth.status == "verified"


def test_a_wrong_can_fails_closed_by_default(bac):
    with pytest.raises(PaceFailed) as info:
        read(chip(), None, can="000000")  # no MRZ data: nothing else to try
    assert info.value.code == "pace_failed" and isinstance(info.value, BacFailed)
    assert "6300" in info.value.message
    with pytest.raises(PaceFailed):  # a wrong CAN and wrong MRZ data: still no BAC
        read(chip(), ("090012345", "900315", "300316"), can="000000")


def test_a_refused_can_is_retried_with_the_mrz_still_with_pace(bac):
    result = read(chip(), bac, can="000000")
    assert result.access.method == "pace" and result.access.password == "mrz"
    assert "refused the CAN" in result.access.fallback_reason
    assert result.stats.by_ins["22"] == 2  # two MSE:Set AT, no GET CHALLENGE
    assert "84" not in result.stats.by_ins


def _can_only_chip(**kw) -> CardEmulator:
    from appliance.icao.pace import can_password
    from appliance.icao.pace_card import CardPace
    from appliance.icao.secinfo import parse_chip_infos

    image, _ = sim_chip()
    access = build_card_access((13,))
    pace = CardPace(parse_chip_infos(access).pace, {2: can_password(CAN)})
    return CardEmulator(image.with_file("CardAccess", access), pace=pace, **kw)


def test_a_wrong_can_may_fall_back_to_bac_when_the_policy_says_so(bac):
    with pytest.raises(PaceFailed):  # the chip takes no MRZ password: the CAN's failure stands
        read(_can_only_chip(), bac, can="000000")
    result = read(_can_only_chip(), bac, can="000000", pace_fallback="always")
    assert result.access.method == "bac" and "6300" in result.access.fallback_reason
    assert result.passive_auth.status == "verified"


def test_pace_not_supported_falls_back_to_bac_with_the_reason(bac):
    card = chip(params=(14,))  # brainpoolP320r1: no curve parameters here, so not usable
    result = read(card, bac)
    assert result.access.method == "bac" and "not implemented" in result.access.fallback_reason
    with pytest.raises(PaceNotSupported):
        read(chip(params=(14,)), bac, pace_fallback="never")


def test_a_pace_only_chip_refuses_bac_and_a_bac_only_chip_refuses_pace(bac):
    with pytest.raises(BacFailed):
        read(chip(access="pace"), bac, access="bac")
    with pytest.raises(PaceNotSupported):
        read(chip(access="bac"), bac, access="pace")
    assert read(chip(access="bac"), bac).access.method == "bac"


def test_chip_authentication_passes_and_supersedes_active_authentication(bac):
    result = read(chip(ca=True), bac, can=CAN)
    assert result.chip_auth.status == "passed"
    assert result.chip_auth.algorithm == "ecdh-brainpoolP256r1-aes-128"
    assert result.active_auth.status == "skipped" and result.clone_check == "passed"
    assert result.to_dict()["chip_auth"]["status"] == "passed"
    assert result.passive_auth.status == "verified"  # every file read under the CA keys


def test_chip_authentication_after_bac_upgrades_to_aes(bac):
    result = read(chip(access="bac", ca=True), bac)
    assert result.access.method == "bac" and result.chip_auth.status == "passed"
    assert result.passive_auth.status == "verified"


def test_a_clone_without_the_chip_authentication_key_is_not_genuine(bac):
    result = read(chip(ca=True, fault="bad_ca"), bac, can=CAN)
    assert result.chip_auth.status == "failed" and result.clone_check == "failed"
    assert result.passive_auth.status == "verified"  # copied data, faithfully
    words = plain_words(result.passive_auth.status, result.clone_check)
    assert words["overall"] == "not_genuine"


def test_chip_authentication_off_in_the_reader_or_absent_from_dg14(bac):
    assert read(chip(ca=True), bac, chip_auth=False).chip_auth.status == "not_supported"
    off = read(chip(ca=False), bac)
    assert off.chip_auth.status == "not_supported" and off.active_auth.status == "passed"


def test_a_chip_whose_dg14_offers_ca_but_refuses_it_fails(bac):
    image, _ = sim_chip(ca=True)
    refusing = CardEmulator(image, ca=False)
    result = read(refusing, bac)
    assert result.chip_auth.status == "failed" and "refused" in result.chip_auth.message
    assert result.passive_auth.status == "verified"  # the rest read after a new session


def _session(card: CardEmulator, bac, can=None):
    from appliance.icao.access import establish, read_card_access
    from appliance.icao.reader import to_bac_keys

    session = CardSession(Transport(reader_for(card)))
    infos = read_card_access(session, 65536)
    establish(session, infos, to_bac_keys(bac), can=can)
    return session


@pytest.mark.parametrize(("access", "can", "plain"), [("bac", None, 231), ("pace", CAN, 223)])
def test_le_00_under_secure_messaging_returns_what_fits(bac, access, can, plain):
    session = _session(chip(access=access), bac, can)
    assert session.sm.max_short_plain == plain
    _, sw = session.send(Command(0x00, 0xA4, 0x02, 0x0C, b"\x01\x02"))  # DG2, 20 KB
    assert sw == 0x9000
    data, sw = session.send(Command(0x00, 0xB0, 0x00, 0x00, le=256))  # Le = 00
    assert sw == 0x9000 and len(data) == plain


def test_the_reader_reads_223_byte_blocks_under_aes_without_extended_length(bac):
    result = read(chip(extended_length=False), bac, can=CAN)
    assert result.stats.block_size == 223 and result.stats.step_downs == 0
    assert result.passive_auth.status == "verified"


def test_the_service_reads_with_the_can_and_tells_staff_the_protocol(bac):
    from appliance.config import load_config
    from appliance.pipeline.workflows import service_adapters

    cfg = load_config("sim")
    result = service_adapters._read_chip(
        cfg, reader_for(chip(access="pace", ca=True)), bac, lambda v: None
    )
    assert result.access == "PACE (brainpoolP256r1, AES-128) + chip authentication passed"
    assert result.passive == "verified" and result.active == "passed"
    assert result.photo_jpeg[:2] == b"\xff\xd8"


def test_pace_with_3des_secure_messaging(bac):
    from appliance.icao.pace import pace_oid
    from appliance.icao.secinfo import pace_info_der
    from appliance.icao.tlv import encode

    image, _ = sim_chip()
    card_access = encode(0x31, pace_info_der(pace_oid("GM", "ECDH", "3des-128"), 13))
    card = CardEmulator(image.with_file("CardAccess", card_access), access="pace")
    result = read(card, None, can=CAN)
    assert result.access.method == "pace" and result.access.sm_cipher == "3des"
    assert result.stats.block_size == EXTENDED_MAX and result.passive_auth.status == "verified"
    short = read(CardEmulator(image.with_file("CardAccess", card_access), access="pace",
                              extended_length=False), None, can=CAN)  # fmt: skip
    assert short.stats.block_size == 231


class HostileChip:
    """Answers MSE:Set AT with 9000 and every GENERAL AUTHENTICATE with ``answers`` in turn."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)

    def transmit(self, apdu: bytes):
        if apdu[1] == 0x22:
            return b"", 0x9000
        raw = self.answers.pop(0) if self.answers else b"\x90\x00"
        raw = raw if len(raw) >= 2 else raw + b"\x90\x00"
        return raw[:-2], int.from_bytes(raw[-2:], "big")


@FUZZ
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4))
def test_a_hostile_chip_during_pace_gives_a_typed_error(answers):
    from appliance.icao.pace import PaceInfo, pace_oid, perform_pace

    chip_ = HostileChip([b"\x7c\x12\x80\x10" + bytes(16) + b"\x90\x00", *answers])
    with pytest.raises(PaceFailed):
        perform_pace(
            lambda cmd: chip_.transmit(cmd.encode()), PaceInfo(pace_oid(), 2, 12), b"123456", 2
        )


@FUZZ
@given(st.binary(max_size=120), st.sampled_from([0x00, 0x10]), st.integers(0, 4))
def test_the_emulators_pace_answers_anything_with_a_status_word(data, cla, steps):
    card = chip(access="pace")
    card.process(bytes.fromhex("0022C1A40F800A04007F00070202040202830102"))
    for _ in range(steps):
        card.process(bytes([0x10, 0x86, 0, 0, 2, 0x7C, 0, 0]))
    out = card.process(bytes([cla, 0x86, 0, 0, len(data)]) + data + b"\x00" if data else b"")
    assert len(out) >= 2


@FUZZ
@given(st.binary(max_size=200))
def test_security_infos_parse_or_give_lds_error(data):
    from appliance.icao.errors import LdsError
    from appliance.icao.secinfo import parse_chip_infos

    try:
        parse_chip_infos(data)
    except LdsError:
        pass


def test_pace_dh_generic_mapping_end_to_end(bac):
    from appliance.icao.pace import pace_oid
    from appliance.icao.secinfo import pace_info_der
    from appliance.icao.tlv import encode

    image, _ = sim_chip()
    card_access = encode(0x31, pace_info_der(pace_oid("GM", "DH", "aes-128"), 0))
    card = CardEmulator(image.with_file("CardAccess", card_access), access="pace")
    result = read(card, None, can=CAN)
    assert result.access.method == "pace" and result.access.curve == "MODP-1024-160"
    assert result.passive_auth.status == "verified"


def test_chip_authentication_with_3des_uses_mse_set_kat(bac):
    from appliance.citizen import TEST_CITIZEN as citizen
    from appliance.hal.sim_card import _sim_pki, sim_portrait_jpeg
    from appliance.icao.personalise import personalise

    image = personalise(citizen, sim_portrait_jpeg(), _sim_pki(), aa="rsa", ca="3des")
    result = read(CardEmulator(image), bac)
    assert result.access.method == "bac" and result.chip_auth.status == "passed"
    assert result.chip_auth.algorithm == "ecdh-brainpoolP256r1-3des-128"
    assert result.stats.by_ins["22"] == 1 and "86" not in result.stats.by_ins  # MSE:Set KAT
    assert result.passive_auth.status == "verified"
    clone = read(CardEmulator(image, fault="bad_ca"), bac)
    assert clone.chip_auth.status == "failed"


class RecordingReader(SimCardReader):
    def __init__(self, card: CardEmulator) -> None:
        super().__init__(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card)
        self.sent: list[str] = []

    def transmit(self, apdu: bytes):
        self.sent.append(apdu.hex().upper())
        return super().transmit(apdu)


def test_ef_cardaccess_is_selected_directly_when_the_chip_refuses_sfi(bac):
    card = chip(access="pace", sfi=False)
    reader = RecordingReader(card)
    reader.open()
    reader.insert()
    reader.trust_store = sim_chip()[1]
    result = read_card(reader, None, can=CAN, memory=BlockMemory())
    assert result.access.method == "pace" and result.passive_auth.status == "verified"
    assert reader.sent[0] == "00B09C0008" and "00A4020C02011C" in reader.sent[:3]
    assert not any(cmd.startswith("00A4000C023F00") for cmd in reader.sent)  # never the MF


def test_pace_and_chip_authentication_with_a_named_curve_test_pki(bac):
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore
    from appliance.icao.personalise import personalise
    from appliance.icao.pki import generate_pki

    pki = generate_pki(csca="ec")
    image = personalise(TEST_CITIZEN, b"\xff\xd8\xff" + bytes(500), pki, aa="none", ca=True,
                        card_access=True)  # fmt: skip
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)])
    result = read_card(reader_for(CardEmulator(image), trust), bac, can=CAN, memory=None)
    assert result.passive_auth.status == "verified" and result.chip_auth.status == "passed"
