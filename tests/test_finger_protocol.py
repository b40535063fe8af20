"""The R30x packet protocol: bytes computed by hand, the stream parser, errors, image packing."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import DeviceTimeout, ProtocolError
from appliance.hal import r30x_protocol as p


def reader_over(data: bytes, chunk: int = 7) -> p.PacketReader:
    """A PacketReader fed ``data`` in small chunks, then nothing (a timeout)."""
    buf = bytearray(data)

    def read(n: int, deadline: float) -> bytes:
        take = bytes(buf[: min(n, chunk)])
        del buf[: len(take)]
        return take

    return p.PacketReader(read)


# --- encoding against hand-computed bytes ------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        # VfyPwd(0): sum = 01 + 00 + 07 + 13 + 00*4 = 0x1B
        (p.command(p.VFY_PWD, b"\x00\x00\x00\x00"), "EF01FFFFFFFF010007130000000000 1B"),
        # GenImg: 01 + 00 + 03 + 01 = 0x05
        (p.command(p.GEN_IMG), "EF01FFFFFFFF0100030100 05"),
        # UpImage: 01 + 03 + 0A = 0x0E
        (p.command(p.UP_IMAGE), "EF01FFFFFFFF0100030A00 0E"),
        # ReadSysPara: 01 + 03 + 0F = 0x13
        (p.command(p.READ_SYS_PARA), "EF01FFFFFFFF0100030F00 13"),
        # SetSysPara(baud, N=12): 01 + 05 + 0E + 04 + 0C = 0x24
        (p.command(p.SET_SYS_PARA, b"\x04\x0c"), "EF01FFFFFFFF0100050E040C00 24"),
        # AuraLedConfig(breathe, 0x80, blue, 0): 01 + 07 + 35 + 01 + 80 + 02 + 00 = 0xC0
        (p.command(p.AURA_LED_CONFIG, b"\x01\x80\x02\x00"), "EF01FFFFFFFF010007350180020000 C0"),
        # VfyPwd(0x01020304) to address 0x12345678: 01+07+13+01+02+03+04 = 0x25
        (
            p.command(p.VFY_PWD, bytes.fromhex("01020304"), 0x12345678),
            "EF0112345678010007130102030400 25",
        ),
        # an OK acknowledge: 07 + 00 + 03 + 00 = 0x0A
        (p.encode(p.ACK, b"\x00"), "EF01FFFFFFFF0700030000 0A"),
        # an end packet with two data bytes FF FF: 08 + 04 + FF + FF = 0x020A
        (p.encode(p.END, b"\xff\xff"), "EF01FFFFFFFF080004FFFF020A"),
    ],
)
def test_encode_matches_hand_computed_bytes(packet, expected):
    assert packet.hex().upper() == expected.replace(" ", "")


def test_checksum_wraps_at_16_bits():
    payload = b"\xff" * 256  # 256 * 255 + 2 + 1 + 2 = 65283: still < 65536
    assert p.checksum(p.DATA, payload) == (0x02 + 0x01 + 0x02 + 255 * 256) & 0xFFFF
    assert p.checksum(p.DATA, b"\xff" * 300) == (0x02 + 0x01 + 0x2E + 255 * 300) & 0xFFFF


def test_decode_round_trip_and_fields():
    raw = p.encode(p.ACK, b"\x00\x12\x34", 0xCAFEBABE)
    pkt = p.decode(raw)
    assert (pkt.ptype, pkt.payload, pkt.address, pkt.confirmation) == (
        p.ACK,
        b"\x00\x12\x34",
        0xCAFEBABE,
        0,
    )


def test_decode_rejects_bad_checksum_and_framing():
    raw = bytearray(p.encode(p.ACK, b"\x00"))
    raw[-1] ^= 1
    with pytest.raises(p.ChecksumError):
        p.decode(bytes(raw))
    with pytest.raises(p.FramingError):
        p.decode(b"\xef\x02" + bytes(raw[2:]))
    with pytest.raises(p.FramingError):
        p.decode(p.encode(p.ACK, b"\x00")[:-1])
    assert issubclass(p.ChecksumError, ProtocolError)


def test_confirmation_of_non_ack_is_a_framing_error():
    with pytest.raises(p.FramingError):
        p.Packet(p.DATA, b"\x00").confirmation  # noqa: B018


# --- the stream parser -------------------------------------------------------------------------


def test_reader_resyncs_after_junk_and_fake_headers():
    good = p.encode(p.ACK, b"\x00\x01")
    junk = b"\x00\x55\xef\xef\x01\xff\xff\xff\xff\x09\x00\x03"  # a header with a bad type
    reader = reader_over(junk + good + good)
    deadline = time.monotonic() + 1
    assert reader.read_packet(deadline).payload == b"\x00\x01"
    assert reader.read_packet(deadline).payload == b"\x00\x01"
    assert reader.skipped == len(junk)


def test_reader_times_out_with_a_typed_error():
    reader = reader_over(p.encode(p.ACK, b"\x00")[:6])
    with pytest.raises(p.ReadTimeout) as info:
        reader.read_packet(time.monotonic() + 0.01)
    assert isinstance(info.value, DeviceTimeout) and isinstance(info.value, TimeoutError)


def test_reader_keeps_a_trailing_header_half():
    reader = reader_over(b"\x11\x22\xef" + p.encode(p.ACK, b"\x00")[1:], chunk=3)
    # the 0xEF at the end of the first chunk is the start of the real header
    assert reader.read_packet(time.monotonic() + 1).confirmation == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_reader_on_random_bytes_raises_only_typed_errors(data):
    reader = reader_over(data, chunk=13)
    try:
        while True:
            pkt = reader.read_packet(time.monotonic() + 1)
            assert pkt.ptype in p.PACKET_TYPES
    except (ProtocolError, p.ReadTimeout):
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(p.PACKET_TYPES),
    st.binary(max_size=256),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=20),
)
def test_round_trip_through_junk(ptype, payload, address, junk):
    junk = junk.replace(b"\xef", b"\x00")  # junk without a header start
    reader = reader_over(junk + p.encode(ptype, payload, address))
    pkt = reader.read_packet(time.monotonic() + 1)
    assert (pkt.ptype, pkt.payload, pkt.address) == (ptype, payload, address)


# --- confirmation codes ------------------------------------------------------------------------


def test_every_confirmation_code_has_its_own_typed_error():
    codes = set()
    for conf, (cls, code, _msg) in p.CONFIRMATIONS.items():
        err = p.error_for(conf, "GenImg")
        assert type(err) is cls and err.code == code and err.confirmation == conf
        assert f"0x{conf:02X}" in err.message and err.message.startswith("GenImg: ")
        codes.add(code)
    assert len(codes) == len(p.CONFIRMATIONS)
    assert isinstance(p.error_for(0x02), p.NoFinger)
    assert isinstance(p.error_for(0x13), p.WrongPassword)
    unknown = p.error_for(0x77)
    assert type(unknown) is p.R30xError and unknown.confirmation == 0x77


# --- system parameters and images ------------------------------------------------------------


def test_sys_params_decode_hand_bytes():
    data = bytes.fromhex("0004 0009 03E8 0003 FFFFFFFF 0002 0006".replace(" ", ""))
    prm = p.SysParams.from_bytes(data)
    assert prm == p.SysParams(4, 9, 1000, 3, 0xFFFFFFFF, 128, 57600)
    assert prm.to_bytes() == data
    with pytest.raises(p.FramingError):
        p.SysParams.from_bytes(data[:10])


def test_unpack_4bit_to_8bit_exact():
    data = bytes([0x0F, 0xA5, 0x70, 0xFF])
    img = p.unpack_image(data, 2, 4)
    assert img.dtype == np.uint8
    assert img.tolist() == [[0, 255, 170, 85], [119, 0, 255, 255]]


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(1)
    nibbles = rng.integers(0, 16, (288, 256)).astype(np.uint8)
    img = nibbles * 17
    packed = p.pack_image(img)
    assert len(packed) == 288 * 256 // 2
    assert np.array_equal(p.unpack_image(packed, 288, 256), img)
    # any 8-bit image comes back as its top nibble times 17
    grey = rng.integers(0, 256, (4, 6)).astype(np.uint8)
    assert np.array_equal(p.unpack_image(p.pack_image(grey), 4, 6), (grey >> 4) * 17)


def test_unpack_checks_size_against_model():
    rows, cols = p.image_size("r503")
    assert (rows, cols) == (192, 192) and p.image_size("R307") == (288, 256)
    with pytest.raises(p.ImageSizeError, match="18432"):
        p.unpack_image(b"\x00" * (288 * 256 // 2), rows, cols)
    with pytest.raises(ValueError):
        p.image_size("r999")
