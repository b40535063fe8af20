import time

import numpy as np
import pytest

from appliance.citizen import TEST_QR_PAYLOAD
from appliance.config import load_config
from appliance.errors import BackendMissing, DeviceTimeout, DeviceUnavailable
from appliance.hal.registry import BACKENDS, backend_class, create_device


def open_dev(kind, **overrides):
    cfg = load_config("sim")
    section = cfg.device(kind)
    for key, value in overrides.items():
        setattr(section, key, value)
    dev = create_device(kind, section)
    dev.open()
    return dev


def test_camera_frames_at_rate():
    cam = open_dev("camera", fps=20.0)
    t0 = time.monotonic()
    frames = [cam.read() for _ in range(6)]
    elapsed = time.monotonic() - t0
    assert all(f.shape == (480, 640, 3) and f.dtype == np.uint8 for f in frames)
    assert elapsed >= 5 / 20 * 0.9  # paced, not as fast as possible


def test_camera_from_image_folder(tmp_path):
    from PIL import Image

    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (100, 80), colour).save(tmp_path / f"{i}.png")
    cam = open_dev("camera", sim_source=str(tmp_path), width=50, height=40, fps=100.0)
    a, b, c = cam.read(), cam.read(), cam.read()
    assert a.shape == (40, 50, 3)
    assert tuple(a[0, 0]) == (255, 0, 0) and tuple(b[0, 0]) == (0, 0, 255)
    assert (c == a).all()  # loops


def test_fingerprint_finger_arrives_after_delay():
    fp = open_dev("fingerprint", sim_finger_delay_s=0.2)
    assert fp.wait_finger(timeout=0.05) is False
    assert fp.wait_finger(timeout=1.0) is True
    seen = []
    img = fp.capture(progress=seen.append)
    assert img.dtype == np.uint8 and img.shape == fp.image_size
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_card_inserted_and_removed():
    reader = open_dev("card_reader", sim_insert_after_s=0.1)
    assert not reader.card_present()
    assert reader.wait_card(timeout=2.0)
    assert reader.card_present()
    assert reader.transmit(bytes.fromhex("00A4000C023F00"))[1] == 0x6D00
    assert reader.transmit(bytes.fromhex("00A4040C07A0000002471001")) == (b"", 0x9000)
    reader.remove()
    assert reader.wait_card(timeout=0.05) is None
    # the reader is still there; the card is not (a card error, not an unavailable device)
    from appliance.icao.errors import NoCard

    with pytest.raises(NoCard):
        reader.transmit(bytes.fromhex("00A4040C07A0000002471001"))
    reader.close()


def test_qr_payloads_from_file_and_injected(tmp_path):
    f = tmp_path / "payloads.txt"
    f.write_bytes("a|b\nNGUYỄN|x\n".encode())
    qr = open_dev("qr_scanner", sim_payloads=str(f), sim_interval_s=0.05)
    got = [qr.read(timeout=1.0) for _ in range(3)]
    assert got == [b"a|b", "NGUYỄN|x".encode(), b"a|b"]
    qr.inject(b"manual")
    assert qr.read(timeout=0.01) == b"manual"


def test_qr_default_is_test_citizen_and_idle_without_interval():
    qr = open_dev("qr_scanner", sim_interval_s=0.0)
    assert qr.read(timeout=0.05) is None
    qr.inject(TEST_QR_PAYLOAD.encode())
    assert qr.read(timeout=0.05).decode() == TEST_QR_PAYLOAD


@pytest.mark.parametrize(
    "kind", ["camera", "fingerprint", "card_reader", "qr_scanner", "indicators"]
)
def test_fault_open(kind):
    cfg = load_config("sim")
    cfg.device(kind).sim_fault = "open"
    dev = create_device(kind, cfg.device(kind))
    with pytest.raises(DeviceUnavailable, match="sim_fault=open"):
        dev.open()


def test_fault_vanish_then_comes_back():
    cam = open_dev("camera", sim_fault="vanish")
    with pytest.raises(DeviceUnavailable, match="unplugged"):
        cam.check()
    cam.open()
    cam.check()  # plugged back in
    assert cam.read().shape == (480, 640, 3)


def test_fault_timeout_is_typed():
    fp = open_dev("fingerprint", sim_fault="timeout")
    with pytest.raises(DeviceTimeout):
        fp.wait_finger(timeout=5)
    assert isinstance(DeviceTimeout("x"), TimeoutError)


def test_missing_backend_library_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "fake_cam_backend.py").write_text("import picamera2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(BACKENDS["camera"], "fake", "fake_cam_backend:Cam")
    with pytest.raises(BackendMissing) as info:
        backend_class("camera", "fake")
    assert "python3-picamera2" in info.value.message


def test_unknown_backend_is_unavailable():
    with pytest.raises(DeviceUnavailable):
        backend_class("camera", "kodak")
    assert issubclass(BackendMissing, DeviceUnavailable)
