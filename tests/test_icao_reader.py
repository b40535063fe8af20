"""Full chip reads through the in-process emulator: data, authentication results, block-size
step-down, extended length, SFI fallback, and every fault mode as a typed error in bounded time."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from appliance.cccd.qr import parse_qr
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.config import load_config
from appliance.hal.registry import create_device
from appliance.hal.sim_card import SimCardReader, sim_chip
from appliance.icao import lds
from appliance.icao.emulator import CardEmulator
from appliance.icao.errors import (
    BacFailed,
    CardError,
    CardTimeout,
    FileTooLarge,
    NoCard,
    SecureMessagingError,
    TruncatedFile,
)
from appliance.icao.files import EXTENDED_MAX, BlockMemory
from appliance.icao.personalise import jpeg_of_size, personalise
from appliance.icao.reader import read_card

FAST = 3.0  # seconds: a fault must end the read well within this


def reader_for(card: CardEmulator | None = None, trust=None) -> SimCardReader:
    _, sim_trust = sim_chip()
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card, trust)
    reader.open()
    reader.insert()
    reader.trust_store = trust or sim_trust
    return reader


def emulator(**kwargs) -> CardEmulator:
    image, _ = sim_chip()
    return CardEmulator(image, **kwargs)


@pytest.fixture
def bac():
    return parse_qr(TEST_QR_PAYLOAD).bac  # nothing typed: the QR gives the BAC key


def test_full_read_of_the_sim_backend_from_config(bac):
    cfg = load_config("sim")
    cfg.card_reader.sim_insert_after_s = 0.0
    reader = create_device("card_reader", cfg.card_reader)
    reader.open()
    assert reader.wait_card(2.0)
    seen = []
    result = read_card(reader, bac, progress=lambda *a: seen.append(a), memory=BlockMemory())
    out = result.to_dict()
    assert out["dg1"]["id_number"] == TEST_CITIZEN["id_number"]
    assert out["dg1"]["date_of_birth"] == TEST_CITIZEN["date_of_birth"]
    for key in ("full_name", "address", "father_name", "mother_name", "place_of_origin", "sex"):
        assert out["dg13"][key] == TEST_CITIZEN[key], key
    assert out["dg13"]["expiry_date"] == "2030-03-15"
    assert out["passive_auth"]["status"] == "verified"
    assert out["passive_auth"]["failed_step"] is None
    assert out["active_auth"]["status"] == "passed"
    assert result.face_format == "jpeg" and result.face_image.startswith(b"\xff\xd8\xff")
    assert out["files"]["DG2"] > 10_000 and "DG3" not in out["files"]
    stats = out["stats"]
    assert stats["apdus"] > 10 and stats["bytes"] > out["files"]["DG2"]
    assert stats["block_size"] == EXTENDED_MAX and stats["extended_length"]
    dg2 = [(done, total) for stage, done, total in seen if stage == "DG2"]
    assert dg2[-1][0] == dg2[-1][1] == out["files"]["DG2"]
    assert [d for d, _ in dg2] == sorted(d for d, _ in dg2)
    assert ("passive_auth", 1, 1) in seen and ("bac", 1, 1) in seen


def test_short_apdus_give_the_same_data_with_exact_apdu_count(bac):
    image, _ = sim_chip()
    reader = reader_for(emulator())
    result = read_card(reader, bac, extended=False, memory=BlockMemory())
    sizes = {name: len(data) for name, data in result.files.items()}
    reads = sum(1 + -(-max(0, size - 8) // 231) for size in sizes.values())
    assert result.stats.apdus == 5 + reads  # probe, select, challenge, auth, internal auth
    assert result.stats.block_size == 231 and not result.stats.extended_length
    assert result.files["DG2"] == image.files["DG2"]
    assert result.passive_auth.status == "verified"


def test_wrong_bac_key_and_no_card():
    reader = reader_for(emulator())
    with pytest.raises(BacFailed):
        read_card(reader, ("090012345", "900315", "300316"), memory=None)
    reader.remove()
    with pytest.raises(NoCard):
        read_card(reader, ("090012345", "900315", "300315"), memory=None)
    assert issubclass(NoCard, CardError)


@pytest.mark.parametrize("refusal", [0x6700, 0x6B00, 0x6282, 0x6C00])
def test_block_size_steps_down_and_is_remembered(bac, refusal):
    memory = BlockMemory()
    card = emulator(max_le=128, refusal_sw=refusal, extended_length=False)
    reader = reader_for(card)
    first = read_card(reader, bac, memory=memory)
    assert first.stats.block_size == 128
    assert first.stats.step_downs == (1 if refusal == 0x6C00 else 3)  # 231 -> 224 -> 160 -> 128
    assert first.passive_auth.status == "verified"
    again = read_card(reader, bac, memory=memory)
    assert again.stats.step_downs == 0 and again.stats.block_size == 128
    assert again.stats.apdus < first.stats.apdus
    assert again.files == first.files


def test_step_down_when_the_chip_answers_without_secure_messaging(bac):
    """A bare 6700 leaves the two send sequence counters apart: a new session, smaller block."""
    card = emulator(max_le=200, plain_errors=True, extended_length=False)
    result = read_card(reader_for(card), bac, memory=BlockMemory())
    assert result.stats.block_size <= 200
    assert result.stats.by_ins["82"] >= 2  # BAC ran again
    assert result.passive_auth.status == "verified"


def test_extended_length_only_when_card_and_reader_support_it(bac):
    no_ext_card = reader_for(emulator(extended_length=False))
    assert not read_card(no_ext_card, bac, memory=None).stats.extended_length
    reader = reader_for(emulator())
    reader.supports_extended_length = False
    assert not read_card(reader, bac, memory=None).stats.extended_length
    both = reader_for(emulator())
    assert read_card(both, bac, memory=None).stats.extended_length


def test_forced_extended_on_a_card_without_it_falls_back(bac):
    result = read_card(reader_for(emulator(extended_length=False)), bac, extended=True, memory=None)
    assert not result.stats.extended_length and result.stats.block_size <= 231
    assert result.passive_auth.status == "verified"


def test_chip_without_sfi_support_is_read_with_select(bac):
    result = read_card(reader_for(emulator(sfi=False)), bac, memory=BlockMemory())
    assert not result.stats.sfi
    assert result.stats.by_ins["A4"] > 5
    assert result.passive_auth.status == "verified"


def test_large_file_uses_odd_read_binary(bac):
    """Past offset 32767 short reads need READ BINARY B1; one extended read takes it all."""
    from asn1crypto import x509 as ax509

    from appliance.icao.passive import TrustStore
    from appliance.icao.pki import generate_pki

    pki = generate_pki("ec", "ec")
    big = personalise(TEST_CITIZEN, jpeg_of_size(40_000), pki, aa="ec")
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)])
    for ext in (False, True):
        result = read_card(reader_for(CardEmulator(big), trust), bac, extended=ext, memory=None)
        assert result.files["DG2"] == big.files["DG2"]
        assert (result.stats.by_ins.get("B1", 0) > 10) is not ext
        assert result.passive_auth.status == "verified"
        assert result.active_auth.status == "passed"
    with pytest.raises(FileTooLarge):
        read_card(reader_for(CardEmulator(big), trust), bac, max_file_bytes=32768, memory=None)


def test_pace_is_used_when_offered_and_bac_on_request(bac):
    image, _ = sim_chip()
    with_access = image.with_file(
        "CardAccess",
        __import__(
            "appliance.icao.personalise", fromlist=["build_card_access"]
        ).build_card_access(),
    )
    result = read_card(reader_for(CardEmulator(with_access)), bac, memory=None)
    assert result.pace_offered and result.to_dict()["access"]["method"] == "pace"
    forced = read_card(reader_for(CardEmulator(with_access)), bac, memory=None, access="bac")
    assert forced.pace_offered and forced.to_dict()["access"]["method"] == "bac"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fault": "wrong_mac"}, SecureMessagingError),
        ({"fault": "truncated_tlv"}, TruncatedFile),
        ({"fault": "oversized_length"}, FileTooLarge),
        ({"fault": "slow", "slow_s": 0.15}, CardTimeout),
    ],
)
def test_fault_modes_give_typed_errors_in_bounded_time(bac, kwargs, error):
    reader = reader_for(emulator(**kwargs))
    t0 = time.monotonic()
    with pytest.raises(error) as info:
        read_card(reader, bac, timeout_s=1.0, memory=None)
    assert time.monotonic() - t0 < FAST
    assert info.value.code == "read_error"


def test_oversized_file_is_refused_after_its_header(bac):
    reader = reader_for(emulator(fault="oversized_length"))
    with pytest.raises(FileTooLarge, match="16777"):
        read_card(reader, bac, memory=None)
    assert reader.emulator.commands < 30  # not 70 000 reads


def test_card_removed_mid_read(bac):
    reader = reader_for(emulator())
    calls = 0

    def progress(stage, done, total):
        nonlocal calls
        calls += 1
        if stage == "DG2" and done > 0:
            reader.remove()

    with pytest.raises(NoCard):
        read_card(reader, bac, extended=False, progress=progress, memory=None)


def test_tampered_data_groups_fail_passive_authentication(bac):
    image, _ = sim_chip()
    for name, offset in (("DG2", 3000), ("DG13", 60)):
        data = bytearray(image.files[name])
        data[offset] ^= 0x01
        card = CardEmulator(image.with_file(name, bytes(data)))
        result = read_card(reader_for(card), bac, memory=None)
        assert result.passive_auth.status == "failed"
        assert result.passive_auth.failed_step == f"hash:{name}"
        assert result.active_auth.status == "passed"  # the chip itself is genuine


def test_chain_unknown_with_an_empty_trust_store(bac):
    from appliance.icao.passive import TrustStore

    result = read_card(reader_for(emulator()), bac, trust_store=TrustStore(), memory=None)
    assert result.passive_auth.status == "chain_unknown"
    assert result.passive_auth.failed_step is None


def test_active_authentication_fails_with_the_wrong_key(bac):
    result = read_card(reader_for(emulator(fault="bad_aa")), bac, memory=None)
    assert result.active_auth.status == "failed"
    assert result.passive_auth.status == "verified"  # a cloned chip copies signed data intact


def test_dg1_parsed_as_the_mrz_parse_contract(bac):
    image, _ = sim_chip()
    dg1 = lds.parse_dg1(image.files["DG1"]).to_dict()
    result = read_card(reader_for(emulator()), bac, memory=None).to_dict()
    assert result["dg1"] == dg1 and dg1["ok"] is True
    assert set(dg1) >= {"document_number", "id_number", "date_of_birth", "sex", "surname"}


def test_bac_input_forms():
    from appliance.cccd.bac import BacError
    from appliance.cccd.mrz import parse_td1, td1_from_identity
    from appliance.icao.reader import to_bac_keys

    qr = parse_qr(TEST_QR_PAYLOAD)
    expected = to_bac_keys(("090012345", "900315", "300315"))
    assert to_bac_keys(qr) == to_bac_keys(qr.bac) == expected
    assert to_bac_keys(parse_td1(td1_from_identity(TEST_CITIZEN))) == expected
    assert to_bac_keys(qr.bac.to_dict()) == to_bac_keys(expected) == expected
    unknown = parse_qr("001090012345|something else")
    with pytest.raises(BacError):
        to_bac_keys(unknown)


def test_bare_file_not_found_under_secure_messaging_starts_a_new_session(bac):
    """EF.COM lists DG14, the chip has none and says so without secure messaging."""
    from appliance.icao.personalise import build_com

    image, _ = sim_chip()
    listed = image.with_file("COM", build_com([1, 2, 3, 13, 14, 15]))
    card = CardEmulator(listed, plain_errors=True)
    result = read_card(reader_for(card), bac, memory=None)
    assert result.to_dict()["files"]["DG14"] == "absent"
    assert result.stats.by_ins["82"] == 2  # BAC again after the bare 6A82
    assert result.passive_auth.status == "verified" and result.active_auth.status == "passed"
