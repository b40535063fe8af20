"""The serial QR scanner through a pty: terminators, partial reads, garbage, unplug and replug.
Also the keyboard-wedge (HID) key decoding, which needs no device."""

import os
import pty
import time
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.config import load_config
from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal.qr_hid import KeyDecoder
from appliance.hal.qr_serial import SerialQrScanner, terminator_bytes
from appliance.hal.registry import create_device

NAME = "001090012345||NGUYỄN VĂN AN|15031990|Nam|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|10042021"


class Module:
    """A scanner module on the far side of a pty, reachable through a stable symlink."""

    def __init__(self, folder):
        self.link = os.path.join(folder, "ttyQR")
        self.master = self.slave = None
        self.plug()

    def plug(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        if os.path.lexists(self.link):
            os.unlink(self.link)
        os.symlink(os.ttyname(self.slave), self.link)

    def unplug(self):
        os.close(self.master)
        os.close(self.slave)
        os.unlink(self.link)

    def send(self, data: bytes):
        os.write(self.master, data)

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def module(tmp_path):
    m = Module(str(tmp_path))
    yield m
    m.close()


def scanner_for(module, terminator="\r"):
    cfg = load_config("sim").qr_scanner
    cfg.backend, cfg.port, cfg.baud, cfg.terminator = "serial", module.link, 115200, terminator
    dev = create_device("qr_scanner", cfg)
    assert isinstance(dev, SerialQrScanner)
    dev.open()
    return dev


@pytest.mark.parametrize(
    ("terminator", "wire"),
    [("\r", b"\r"), ("\n", b"\n"), ("\\r\\n", b"\r\n"), ("CRLF", b"\r\n"), ("\r", b"\r\n")],
)
def test_terminators(module, terminator, wire):
    dev = scanner_for(module, terminator)
    module.send(NAME.encode() + wire + b"second" + wire)
    assert dev.read(1.0) == NAME.encode()  # raw bytes; the UTF-8 decode happens later
    assert dev.read(1.0) == b"second"
    assert dev.read(0.1) is None
    dev.close()


def test_no_terminator_frames_end_on_silence(module):
    dev = scanner_for(module, "")
    module.send(b"first")
    assert dev.read(1.0) == b"first"
    dev.close()


def test_partial_reads_across_calls(module):
    dev = scanner_for(module)
    data = NAME.encode()
    cut = data.index("Ễ".encode()) + 1  # split inside a multi-byte character
    module.send(data[:cut])
    assert dev.read(0.15) is None
    module.send(data[cut:])
    assert dev.read(0.15) is None
    module.send(b"\r")
    assert dev.read(1.0) == data
    dev.close()


def test_garbage_bytes(module):
    dev = scanner_for(module)
    module.send(b"\x00\xff\x00\r")  # line noise at power-up: dropped
    module.send(b"\r\r")  # empty frames: dropped
    module.send(b"\x02abc\xe9\x03\r")  # STX/ETX framing removed, a non-UTF-8 byte kept raw
    assert dev.read(1.0) == b"abc\xe9"
    module.send(b"x" * 5000)  # no terminator at all: discarded, the next frame still comes
    module.send(b"y" * 10 + b"\r" + b"ok\r")
    assert dev.read(1.0) == b"ok"
    assert dev.dropped >= 2
    dev.close()


def test_unplug_and_replug(module):
    dev = scanner_for(module)
    module.send(b"one\r")
    assert dev.read(1.0) == b"one"
    module.send(b"half a fra")
    module.unplug()
    with pytest.raises(DeviceUnavailable, match="disconnected"):
        dev.read(1.0)
    assert not dev.is_open
    with pytest.raises(DeviceUnavailable, match="cannot open"):
        dev.open()  # still unplugged
    module.plug()
    dev.open()  # back (the device manager retries this)
    module.send(b"two\r")
    assert dev.read(1.0) == b"two"  # the half frame from before the unplug is gone
    dev.close()


def test_check_notices_a_vanished_port(module):
    dev = scanner_for(module)
    dev.check()
    module.unplug()
    with pytest.raises(DeviceUnavailable):
        dev.check()


async def test_device_manager_reopens_a_replugged_scanner(module):
    from appliance.hal.manager import DeviceManager

    cfg = load_config("tourist-gate", sim=True)
    cfg.qr_scanner.backend, cfg.qr_scanner.port = "serial", module.link
    manager = DeviceManager(cfg)
    await manager.open_all()
    assert manager.get("qr_scanner") is not None
    module.unplug()
    await manager.check_all()
    assert manager.get("qr_scanner") is None
    assert module.link in manager.health()["qr_scanner"]["error"]
    module.plug()
    await manager.check_all()
    scanner = manager.get("qr_scanner")
    assert scanner is not None
    module.send(b"back\r")
    assert scanner.read(1.0) == b"back"
    manager.close_all()


def test_terminator_config_values():
    assert terminator_bytes("\r") == b"\r"
    assert terminator_bytes("\\r\\n") == b"\r\n"
    assert terminator_bytes("lf") == b"\n"
    assert terminator_bytes("NONE") == b""
    with pytest.raises(InvalidInput):
        terminator_bytes("\\x")


def test_missing_port_is_unavailable(tmp_path):
    cfg = load_config("sim").qr_scanner
    cfg.backend, cfg.port = "serial", str(tmp_path / "ttyACM9")
    dev = create_device("qr_scanner", cfg)
    t0 = time.monotonic()
    with pytest.raises(DeviceUnavailable):
        dev.open()
    assert time.monotonic() - t0 < 2
    assert "dialout" in dev.fix_hint(None)


def keys(text_events):
    dec = KeyDecoder()
    out = []
    for code, value in text_events:
        frame = dec.feed(code, value)
        if frame is not None:
            out.append(frame)
    return out


def press(code):
    return [(code, 1), (code, 0)]


def test_hid_key_decoding_ascii():
    # "0|A" + Enter: KEY_0 (11), shift + backslash (43) = "|", shift + a (30) = "A"
    events = [*press(11), (42, 1), *press(43), *press(30), (42, 0), *press(28)]
    assert keys(events) == [b"0|A"]


def test_hid_frame_with_keys_of_no_ascii_meaning_is_dropped():
    # a scanner typing a Vietnamese letter as something unmappable (here KEY_F1 = 59)
    events = [*press(30), *press(59), *press(28), *press(48), *press(28)]
    assert keys(events) == [b"b"]


class ChunkPort:
    """A stand-in for the pyserial port that hands over a byte stream in given chunks."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.timeout = 0.2
        self.in_waiting = 0

    def read(self, n):
        return self.chunks.pop(0) if self.chunks else b""

    def close(self):
        pass


FRAME = st.lists(
    st.sampled_from([b for b in range(256) if b not in b"\r\n\x00\x02\x03 \t\xff"]),
    min_size=1,
    max_size=40,
).map(bytes)  # any bytes but the framing ones (noise-only frames are dropped on purpose)


@settings(max_examples=100, deadline=None)
@given(st.lists(FRAME, min_size=1, max_size=6), st.data())
def test_any_chunking_gives_the_same_frames(frames, data):
    stream = b"".join(f + b"\r" for f in frames)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    cfg = load_config("sim").qr_scanner
    dev = SerialQrScanner(cfg)
    dev._port, dev.is_open = ChunkPort(chunks), True
    got = []
    for _ in range(len(chunks) + len(frames) + 2):
        frame = dev.read(0.0001)
        if frame is not None:
            got.append(frame)
    assert got == frames
