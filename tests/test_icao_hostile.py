"""Hostile chips (issue #16, defects 2, 3, 5, 6, 7): each test replays an attack that worked
before the fix. JPEG 2000 bombs, a 6Cxx card that shrinks the remembered block size, active
authentication downgraded by withholding DG15, chip data that raised untyped exceptions, and one
APDU that held the reader far past the read's budget."""

from __future__ import annotations

import os
import struct
import threading
import time
from types import SimpleNamespace

import pytest
from asn1crypto import x509 as ax509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cccd.qr import parse_qr
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.config import load_config
from appliance.hal.sim_card import SimCardReader, sim_chip
from appliance.icao import lds
from appliance.icao.apdu import MAX_GET_RESPONSE, Transport
from appliance.icao.emulator import CardEmulator
from appliance.icao.errors import CardTimeout, FaceImageError, ReadError
from appliance.icao.faceimage import to_jpeg
from appliance.icao.files import EXTENDED_MAX, MIN_BLOCK, MIN_REMEMBERED, BlockMemory
from appliance.icao.passive import TrustStore, passive_authentication, verify_signature
from appliance.icao.personalise import build_com, build_dg2, jpeg_of_size, personalise
from appliance.icao.pki import generate_pki
from appliance.icao.reader import read_card
from appliance.pipeline.workflows import service_adapters
from appliance.pipeline.workflows.verification import plain_words

EXAMPLES = int(os.environ.get("ICAO_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def j2k_header(width: int, height: int, components: int = 3) -> bytes:
    """A JPEG 2000 codestream that is all header: SOC, SIZ declaring width x height, COD, QCD,
    EOC (a few dozen bytes that declare any size)."""
    siz = struct.pack(">HIIIIIIIIH", 0, width, height, 0, 0, width, height, 0, 0, components)
    siz += bytes([7, 1, 1]) * components
    cod = bytes([0, 0, 0, 1, 0, 5, 4, 4, 0, 0])
    qcd = bytes([0x40]) + bytes(2 * 16)
    out = b"\xff\x4f"
    for marker, body in ((0xFF51, siz), (0xFF52, cod), (0xFF5C, qcd)):
        out += struct.pack(">HH", marker, len(body) + 2) + body
    return out + b"\xff\xd9"


@pytest.fixture
def bac():
    return parse_qr(TEST_QR_PAYLOAD).bac


def reader_for(card: CardEmulator, trust=None) -> SimCardReader:
    _, sim_trust = sim_chip()
    reader = SimCardReader(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card, trust)
    reader.open()
    reader.insert()
    reader.trust_store = trust or sim_trust
    return reader


# --- 2. JPEG 2000 bomb ------------------------------------------------------------------------


def test_a_j2k_bomb_is_refused_from_its_header():
    bomb = j2k_header(13000, 13000)
    assert len(bomb) < 400
    with pytest.raises(FaceImageError, match="budget"):
        to_jpeg(bomb)
    with pytest.raises(FaceImageError, match=r"2000x1200 .* over the budget"):
        to_jpeg(j2k_header(2000, 1200))


def test_the_service_converts_within_the_configured_budget():
    cfg = load_config("sim").card_reader
    with pytest.raises(FaceImageError):  # was OSError from the decoder (or 1.9 GB of RAM)
        service_adapters.to_jpeg(j2k_header(3000, 3000), cfg)
    photo = jpeg_of_size(5000)
    assert service_adapters.to_jpeg(photo, cfg) == photo
    cfg.face_max_pixels = 240 * 320 - 1  # the photo's own size, less one pixel
    with pytest.raises(FaceImageError):
        service_adapters.to_jpeg(photo, cfg)


@FUZZ
@given(st.binary(max_size=60), st.integers(0, 80), st.sampled_from(["j2k", "jpeg"]))
def test_broken_image_headers_give_a_typed_error(noise, cut, kind):
    base = j2k_header(64, 64) if kind == "j2k" else jpeg_of_size(1500)
    data = base[:cut] + noise + base[cut + len(noise) :]
    try:
        out = to_jpeg(data)
    except FaceImageError:
        return
    assert out[:2] == b"\xff\xd8"


def _chip_result(image, monkeypatch, bac):
    calls = []
    real = service_adapters.chip_face_jpeg

    def spy(data, **kw):
        calls.append(len(data))
        return real(data, **kw)

    monkeypatch.setattr(service_adapters, "chip_face_jpeg", spy)
    cfg = load_config("sim")
    result = service_adapters._read_chip(cfg, reader_for(CardEmulator(image)), bac, lambda v: None)
    return result, calls


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # personalise sizes it
def test_the_service_decodes_dg2_only_when_its_sod_hash_matched(monkeypatch, bac):
    image, _ = sim_chip()
    bombed = image.with_file("DG2", build_dg2(j2k_header(13000, 13000)))
    result, calls = _chip_result(bombed, monkeypatch, bac)
    assert calls == [] and result.photo_jpeg is None
    assert result.passive == "failed" and result.failed_step == "hash:DG2"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_signed_bomb_is_not_decoded_and_the_read_goes_on(monkeypatch, bac):
    image = personalise(TEST_CITIZEN, j2k_header(13000, 13000), generate_pki(), aa="rsa")
    result, calls = _chip_result(image, monkeypatch, bac)  # its CSCA is not trusted: hashes ok
    assert calls and result.photo_jpeg is None and result.fields["full_name"]
    assert result.passive == "chain_unknown"


# --- 3. a 6Cxx card must not slow down the next one -------------------------------------------


def test_a_hostile_6cxx_card_does_not_change_the_next_read(bac):
    memory = BlockMemory()
    pki = generate_pki()
    trust = TrustStore()
    trust.add([ax509.Certificate.load(pki.csca_der)])
    small = personalise(TEST_CITIZEN, jpeg_of_size(1500), pki, aa="none")
    hostile = CardEmulator(small, max_le=40, refusal_sw=0x6C00)
    first = read_card(reader_for(hostile, trust), bac, memory=memory, timeout_s=60)
    assert first.passive_auth.status == "verified"  # a faithful clone, signed data
    assert first.stats.block_size == 40  # the hostile chip got its way within its own session
    tiny_card = CardEmulator(small, max_le=20, refusal_sw=0x6C00)
    tiny = read_card(reader_for(tiny_card, trust), bac, memory=memory, timeout_s=60)
    assert tiny.stats.block_size >= MIN_BLOCK  # 6C14 caps single APDUs, not the block size
    with pytest.raises(ReadError):  # 6C01 for the 8-byte header: a typed error, nothing kept
        read_card(reader_for(CardEmulator(small, max_le=1, refusal_sw=0x6C00)), bac, memory=memory)
    assert memory.get(hostile.atr).block == EXTENDED_MAX  # nothing small was carried over
    genuine = CardEmulator(sim_chip()[0])
    assert genuine.atr == hostile.atr
    after = read_card(reader_for(genuine), bac, memory=memory)
    fresh = read_card(reader_for(CardEmulator(sim_chip()[0])), bac, memory=BlockMemory())
    assert after.stats.block_size == EXTENDED_MAX and after.stats.step_downs == 0
    assert after.stats.apdus == fresh.stats.apdus


def test_a_block_size_is_remembered_only_after_a_verified_read(bac):
    memory = BlockMemory()
    tampered = sim_chip()[0].with_file("DG13", sim_chip()[0].files["DG13"][:-1] + b"\x00")
    hostile = CardEmulator(tampered, max_le=160, refusal_sw=0x6C00)
    assert MIN_REMEMBERED <= 160
    first = read_card(reader_for(hostile), bac, memory=memory)
    assert first.passive_auth.status == "failed" and first.stats.block_size == 160
    assert memory.get(hostile.atr) is None
    honest_small = CardEmulator(sim_chip()[0], max_le=160, refusal_sw=0x6C00)
    read_card(reader_for(honest_small), bac, memory=memory)
    assert memory.get(hostile.atr).block == 160  # a verified card's limit is remembered


# --- 5. active authentication downgrade --------------------------------------------------------


def _without(image, *names: str, com_drop: tuple[int, ...] = ()):
    files = {k: v for k, v in image.files.items() if k not in names}
    com = lds.parse_com(image.files["COM"])
    files["COM"] = build_com([n for n in com.data_groups if n not in com_drop])
    return image.__class__(**{**image.__dict__, "files": files})


def test_a_clone_that_hides_dg15_fails_active_authentication(bac):
    image, _trust = sim_chip()
    clone = _without(image, "DG15", com_drop=(15,))
    result = read_card(reader_for(CardEmulator(clone)), bac, memory=BlockMemory())
    assert result.passive_auth.status == "verified"
    assert result.active_auth.status == "failed"  # was not_supported: "cannot confirm"
    assert "DG15" in result.active_auth.message
    words = plain_words(result.passive_auth.status, result.active_auth.status)
    assert words["overall"] == "not_genuine"


def test_dg15_is_read_when_only_ef_com_omits_it(bac):
    image, _ = sim_chip()
    edited = _without(image, com_drop=(15,))
    result = read_card(reader_for(CardEmulator(edited)), bac, memory=BlockMemory())
    assert result.active_auth.status == "passed" and "DG15" in result.files


def test_a_withheld_data_group_listed_in_the_sod_fails_passive_authentication(bac):
    image, _ = sim_chip()
    clone = _without(image, "DG13", com_drop=(13,))
    result = read_card(reader_for(CardEmulator(clone)), bac, memory=BlockMemory())
    assert result.passive_auth.status == "failed"
    assert result.passive_auth.failed_step == "missing:DG13"


# --- 6. untyped exceptions from chip data -------------------------------------------------------


@pytest.fixture(scope="module")
def signed_chip():
    pki = generate_pki()
    image = personalise(TEST_CITIZEN, jpeg_of_size(1500), pki, aa="none")
    groups = {int(k[2:]): v for k, v in image.files.items() if k.startswith("DG") and k != "DG3"}
    return image, groups


@FUZZ
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=6))
def test_any_signature_algorithm_oid_is_a_typed_verdict(signed_chip, arcs):
    from asn1crypto import cms

    image, groups = signed_chip
    info = cms.ContentInfo.load(image.files["SOD"][4:])
    signer = info["content"]["signer_infos"][0]
    signer["signature_algorithm"]["algorithm"] = "1.2." + ".".join(map(str, arcs))
    sod = lds_wrap(info.dump(force=True))
    result = passive_authentication(sod, groups, None)
    assert result.status == "failed" and result.failed_step == "signature"


def lds_wrap(content: bytes) -> bytes:
    from appliance.icao import tlv

    return tlv.encode(0x77, content)


@FUZZ
@given(st.binary(min_size=17, max_size=17), st.sampled_from(["utf8", "rtl"]))
def test_a_hostile_ds_issuer_name_is_a_typed_verdict(signed_chip, noise, kind):
    image, groups = signed_chip
    name = b"CSCA Test Vietnam"
    hostile = noise if kind == "utf8" else ("\u05d0a\u05d1" + "b" * 11).encode()[:17]
    sod = image.files["SOD"].replace(name, hostile.ljust(17, b"x")[:17])
    _, trust = sim_chip()
    result = passive_authentication(sod, groups, trust)
    assert result.status in ("failed", "chain_unknown")
    assert isinstance(result.to_dict()["ds_subject"], str | None)


@FUZZ
@given(st.integers(-(2**70), 2**70))
def test_any_pss_salt_length_is_a_typed_verdict(salt):
    from asn1crypto import algos
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = _rsa_key()
    algorithm = algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                "salt_length": salt,
                "trailer_field": "trailer_field_bc",
            },
        }
    )
    assert isinstance(key, rsa.RSAPublicKey)
    assert verify_signature(key, algorithm, b"\x01" * 256, b"data") is False


_RSA: list = []


def _rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not _RSA:
        _RSA.append(rsa.generate_private_key(65537, 2048).public_key())
    return _RSA[0]


class ChainingCard:
    """Answers 61xx ``chain`` times (then 9000), or forever when ``chain`` is None."""

    def __init__(self, chain: int | None, sw2: int) -> None:
        self.chain, self.sw2, self.sent = chain, sw2, 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent += 1
        if self.chain is None or self.sent <= self.chain:
            return b"\xaa" * 4, 0x6100 | self.sw2
        return b"\xbb", 0x9000


@FUZZ
@given(st.one_of(st.none(), st.integers(0, 2 * MAX_GET_RESPONSE)), st.integers(0, 255))
def test_a_get_response_chain_is_bounded(chain, sw2):
    card = ChainingCard(chain, sw2)
    transport = Transport(card)
    if chain is None or chain > MAX_GET_RESPONSE:
        with pytest.raises(ReadError, match="GET RESPONSE"):
            transport.transmit(bytes.fromhex("00B0000008"))
        assert card.sent <= MAX_GET_RESPONSE + 1  # was: recursion until RecursionError
    else:
        data, sw = transport.transmit(bytes.fromhex("00B0000008"))
        assert sw == 0x9000 and data == b"\xaa" * 4 * chain + b"\xbb"


# --- 7. one APDU cannot outlast the read's budget ----------------------------------------------


class StallingChip(CardEmulator):
    """A chip whose ``stall_at``-th command takes until ``release`` is set (up to 120 s)."""

    def __init__(self, image, stall_at: int) -> None:
        super().__init__(image)
        self.stall_at, self.release = stall_at, threading.Event()

    def _process(self, apdu: bytes) -> bytes:
        if self.commands == self.stall_at:
            self.release.wait(120)
        return super()._process(apdu)


class WatchedReader(SimCardReader):
    def __init__(self, card: CardEmulator) -> None:
        super().__init__(SimpleNamespace(sim_fault="", sim_insert_after_s=0.0), card)
        self.aborted = threading.Event()

    def abort_transmit(self) -> None:
        self.aborted.set()
        super().abort_transmit()


def test_a_stalled_apdu_ends_the_read_at_its_budget(bac):
    image, trust = sim_chip()
    chip = StallingChip(image, stall_at=12)
    reader = WatchedReader(chip)
    reader.open()
    reader.insert()
    reader.trust_store = trust
    t0 = time.monotonic()
    try:
        with pytest.raises(CardTimeout):
            read_card(reader, bac, timeout_s=1.0, memory=BlockMemory())
        elapsed = time.monotonic() - t0
        assert reader.aborted.is_set()
        assert elapsed < 60  # the stalled command would have held the reader for 120 s
    finally:
        chip.release.set()
    chip.stall_at = -1  # the next read (the chip reset first, a new session) succeeds
    again = read_card(reader, bac, memory=BlockMemory())
    assert again.passive_auth.status == "verified"
