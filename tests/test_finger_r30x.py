"""The real r30x driver against the pty protocol simulator, faults included."""

import threading
import time

import numpy as np
import pytest

from appliance.config import FingerprintConfig, load_config
from appliance.errors import DeviceTimeout, DeviceUnavailable, InvalidInput, ProtocolError
from appliance.hal import r30x_protocol as p
from appliance.hal.r30x import R30xSensor, candidate_bauds
from appliance.hal.r30x_sim import Faults, R30xSimulator
from appliance.hal.registry import create_device


def pattern(i: int, rows: int = 288, cols: int = 256) -> np.ndarray:
    """Cheap, distinct test images (every grey level used)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    return ((xx * 7 + yy * 3 + i * 50) % 256).astype(np.uint8)


@pytest.fixture
def make(tmp_path):
    """make(model=..., sim options..., cfg overrides...) -> (sim, driver not yet opened)."""
    sims, devs = [], []

    def _make(
        model="r307",
        *,
        faults=None,
        images=None,
        cfg_model=None,
        sim_baud=57600,
        cfg_kw=None,
        **sim_kw,
    ):
        sim = R30xSimulator(
            model,
            baud=sim_baud,
            faults=faults,
            link_dir=tmp_path,
            images=images or (lambda i: pattern(i, *p.image_size(model))),
            **sim_kw,
        )
        sim.start()
        sims.append(sim)
        kw = {
            "baud": sim_baud,
            "upload_baud": 0,
            "ready_wait_s": 0.05,
            "open_timeout_s": 3.0,
            "timeout_s": 0.5,
            "poll_s": 0.02,
            **(cfg_kw or {}),
        }
        cfg = FingerprintConfig(backend="r30x", port=sim.port, model=cfg_model or model, **kw)
        dev = R30xSensor(cfg)
        devs.append(dev)
        return sim, dev

    yield _make
    for dev in devs:
        dev.close()
    for sim in sims:
        sim.stop()


def test_open_handshakes_and_reads_system_parameters(make):
    sim, dev = make()
    dev.open()
    assert dev.is_open and dev.found_baud == 57600 and dev.baud == 57600
    assert dev.params.packet_size == 128 and dev.params.library_size == 1000
    assert sim.stats.commands[p.VFY_PWD] == 1 and sim.stats.commands[p.READ_SYS_PARA] == 1
    dev.check()
    text = dev.probe()
    assert "R307 answered at 57600 baud" in text and "256x288" in text
    assert sim.stats.commands[p.TEMPLATE_NUM] == 1 and sim.stats.commands[p.HANDSHAKE] == 1


def test_capture_uploads_the_exact_image_with_progress(make):
    sim, dev = make()
    dev.open()
    seen = []
    assert dev.wait_finger(1.0)
    img = dev.capture(progress=seen.append)
    assert img.shape == (288, 256) and img.dtype == np.uint8
    assert np.array_equal(img, (pattern(0) >> 4) * 17)
    assert np.array_equal(img, sim.sent[-1])
    assert len(seen) == 36864 // 128 and seen[-1] == 1.0 and seen == sorted(seen)
    # wait_finger's image was reused: one GenImg, one UpImage
    assert sim.stats.commands[p.GEN_IMG] == 1 and sim.stats.commands[p.UP_IMAGE] == 1
    # a second capture takes a fresh image
    assert np.array_equal(dev.capture(), (pattern(1) >> 4) * 17)


def test_r503_size_and_aura_led(make):
    sim, dev = make("r503")
    dev.open()
    assert dev.image_size == (192, 192)
    assert dev.capture().shape == (192, 192)
    dev.led("green", "breathe")
    assert sim.led == {"mode": 0x01, "speed": 0x80, "color": 0x04, "count": 0}
    dev.led("red", "off")
    assert sim.led["mode"] == 0x04 and sim.led["color"] == 0x01
    with pytest.raises(InvalidInput):
        dev.led("pink", "on")


def test_r307_led_on_off(make):
    sim, dev = make("r307")
    dev.open()
    dev.led("blue", "on")
    assert sim.led == {"on": True}
    dev.led("blue", "off")
    assert sim.led == {"on": False}


def test_unknown_instruction_is_a_typed_module_error(make):
    _sim, dev = make("r503")
    dev.open()
    with pytest.raises(p.Unsupported):
        dev.transact(0x7E, what="test")


def test_model_mismatch_is_caught_from_the_byte_count(make):
    sim, dev = make("r503", cfg_model="r307")  # an R503 configured as an R307
    dev.open()
    with pytest.raises(p.ImageSizeError, match="18432 bytes"):
        dev.capture()
    assert sim.stats.commands[p.UP_IMAGE] == 1  # a clean stream of the wrong size: no retry
    assert "model" in dev.fix_hint(p.ImageSizeError("x"))


def test_baud_raised_with_setsyspara(make):
    sim, dev = make(cfg_kw={"upload_baud": 115200})
    dev.open()
    assert dev.found_baud == 57600 and dev.baud == 115200 and sim.baud == 115200
    assert "raised to 115200" in dev.baud_note
    assert np.array_equal(dev.capture(), (pattern(0) >> 4) * 17)
    assert sim.stats.lost_bytes == 0
    dev.close()
    # the module keeps the rate in flash: the next open finds it at 115200
    dev2 = R30xSensor(
        FingerprintConfig(
            backend="r30x",
            port=sim.port,
            baud=57600,
            upload_baud=0,
            ready_wait_s=0.05,
            open_timeout_s=3.0,
        )
    )
    try:
        dev2.open()
        assert (
            dev2.found_baud == 115200
            and "answered at 115200 baud (configured 57600" in dev2.probe()
        )
    finally:
        dev2.close()


def test_baud_refused_keeps_the_old_rate(make):
    sim, dev = make(faults=Faults(reject_baud=True), cfg_kw={"upload_baud": 115200})
    dev.open()
    assert dev.baud == 57600 and sim.baud == 57600 and "refused" in dev.baud_note
    assert dev.capture().shape == (288, 256)


def test_open_finds_a_module_stored_at_another_rate(make):
    sim, dev = make(sim_baud=19200, cfg_kw={"baud": 57600})
    dev.open()
    assert dev.found_baud == 19200
    assert sim.stats.lost_bytes > 0  # what was sent at 57600 and 115200 never arrived
    assert candidate_bauds(57600, 115200)[:5] == [57600, 115200, 9600, 19200, 38400]


def test_wrong_password_is_typed(make):
    _sim, dev = make(password=0x1234)
    with pytest.raises(p.WrongPassword):
        dev.open()
    assert not dev.is_open
    assert "password" in dev.fix_hint(p.WrongPassword("x"))
    _sim2, dev2 = make(password=0x1234, cfg_kw={"password": 0x1234})
    dev2.open()
    assert dev2.capture().shape == (288, 256)


def test_wait_finger_polls_until_a_finger_arrives(make):
    sim, dev = make(finger=False)
    dev.open()
    t0 = time.monotonic()
    assert dev.wait_finger(0.2) is False
    assert 0.2 <= time.monotonic() - t0 < 0.6
    with pytest.raises(p.NoFinger):
        dev.capture()
    threading.Timer(0.15, sim.place_finger).start()
    assert dev.wait_finger(2.0) is True
    assert sim.stats.commands[p.GEN_IMG] >= 3


def test_no_finger_fault_then_finger(make):
    sim, dev = make(faults=Faults(no_finger=3))
    dev.open()
    assert dev.wait_finger(2.0)
    assert sim.stats.commands[p.GEN_IMG] == 4


def test_bad_checksum_while_opening_is_survived(make):
    _sim, dev = make(faults=Faults(bad_checksum=1))
    dev.open()
    assert dev.found_baud == 57600


def test_one_bad_checksum_on_an_answer_is_retried(make):
    sim, dev = make()
    dev.open()
    sim.faults.bad_checksum, sim.faults.packets = 1, "ack"
    assert dev.wait_finger(1.0)
    assert dev.retries_used == 1 and sim.stats.commands[p.GEN_IMG] == 2


def test_one_bad_checksum_in_the_image_is_retried(make):
    sim, dev = make(faults=Faults(bad_checksum=1, packets="data"))
    dev.open()
    assert np.array_equal(dev.capture(), (pattern(0) >> 4) * 17)
    assert dev.retries_used == 1 and sim.stats.commands[p.UP_IMAGE] == 2


def test_checksum_always_bad_gives_a_typed_error_in_bounded_time(make):
    sim, dev = make()
    dev.open()
    sim.faults.bad_checksum = -1
    t0 = time.monotonic()
    with pytest.raises(p.ChecksumError):
        dev.transact(p.TEMPLATE_NUM)
    assert sim.stats.commands[p.TEMPLATE_NUM] == dev.cfg.retries + 1
    assert time.monotonic() - t0 < 3.0


def test_dropped_byte_in_the_image_is_retried(make):
    sim, dev = make(faults=Faults(drop_byte=1, packets="data"))
    dev.open()
    img = dev.capture()
    assert np.array_equal(img, (pattern(0) >> 4) * 17)
    assert sim.stats.commands[p.UP_IMAGE] == 2 and dev.retries_used == 1


def test_bytes_always_dropped_give_a_typed_error_in_bounded_time(make):
    sim, dev = make(faults=Faults(drop_byte=-1, packets="data"))
    dev.open()
    t0 = time.monotonic()
    with pytest.raises((ProtocolError, DeviceTimeout)):
        dev.capture()
    assert sim.stats.commands[p.UP_IMAGE] == dev.cfg.retries + 1
    assert time.monotonic() - t0 < 10.0


def test_extra_bytes_are_skipped_by_resync(make):
    _sim, dev = make(faults=Faults(extra_bytes=-1))
    dev.open()
    img = dev.capture()
    assert np.array_equal(img, (pattern(0) >> 4) * 17)
    assert dev._reader.skipped >= 4 * (36864 // 128) and dev.retries_used == 0


def test_slow_answers_within_the_timeout_succeed(make):
    _sim, dev = make(faults=Faults(slow_s=0.2), cfg_kw={"timeout_s": 1.0})
    dev.open()
    assert dev.wait_finger(2.0)


def test_answers_slower_than_the_timeout_are_typed_timeouts(make):
    sim, dev = make()
    dev.open()
    sim.faults.slow_s = 0.4
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout):
        dev.transact(p.TEMPLATE_NUM, timeout=0.1, retries=1)
    assert time.monotonic() - t0 < 2.0


def test_module_not_ready_at_start_sends_the_ready_byte(make):
    _sim, dev = make(faults=Faults(not_ready_s=0.5), cfg_kw={"ready_wait_s": 1.5})
    t0 = time.monotonic()
    dev.open()
    assert 0.45 <= time.monotonic() - t0 < 1.2  # opened as soon as 0x55 came, not after 1.5 s
    assert dev.ready_seen and dev.found_baud == 57600


def test_module_not_ready_is_found_by_probing_again(make):
    _sim, dev = make(faults=Faults(not_ready_s=0.6), cfg_kw={"ready_wait_s": 0.0})
    t0 = time.monotonic()
    dev.open()  # the first handshakes go unanswered; a later round finds it
    assert 0.55 <= time.monotonic() - t0 < dev.cfg.open_timeout_s
    assert dev.found_baud == 57600


def test_silent_module_is_unavailable_after_the_open_timeout(make):
    _sim, dev = make(faults=Faults(silent=True), cfg_kw={"open_timeout_s": 0.8})
    t0 = time.monotonic()
    with pytest.raises(DeviceUnavailable, match=r"no answer .* 57600"):
        dev.open()
    assert time.monotonic() - t0 < 2.5
    assert "wiring" in dev.fix_hint(DeviceUnavailable("no answer from a fingerprint module"))


def test_unplug_is_noticed_and_replug_reopens(make):
    sim, dev = make()
    dev.open()
    sim.unplug()
    with pytest.raises(DeviceUnavailable, match="unplugged"):
        dev.check()
    assert not dev.is_open
    with pytest.raises(DeviceUnavailable):
        dev.open()
    sim.replug()
    dev.open()
    assert dev.capture().shape == (288, 256)


def test_unplug_during_io_is_device_unavailable(make):
    sim, dev = make()
    dev.open()
    sim.unplug()
    with pytest.raises(DeviceUnavailable):
        dev.wait_finger(0.5)


def test_missing_port_says_what_to_fix(tmp_path):
    dev = R30xSensor(FingerprintConfig(backend="r30x", port=str(tmp_path / "ttyNONE")))
    with pytest.raises(DeviceUnavailable) as info:
        dev.open()
    assert "raspi-config" in dev.fix_hint(info.value)


def test_registry_backend_from_config(make, tmp_path):
    sim, _ = make()
    cfg = load_config("sim").fingerprint
    cfg.backend, cfg.port, cfg.ready_wait_s = "r30x", sim.port, 0.05
    dev = create_device("fingerprint", cfg)
    try:
        dev.open()
        assert isinstance(dev, R30xSensor) and dev.location() == sim.port
    finally:
        dev.close()


def test_images_from_a_folder(make, tmp_path):
    from PIL import Image

    folder = tmp_path / "prints"
    folder.mkdir()
    Image.fromarray(pattern(3)).save(folder / "a.png")
    _sim, dev = make(images=str(folder))
    dev.open()
    assert np.array_equal(dev.capture(), (pattern(3) >> 4) * 17)


def test_wire_timing_is_simulated(make):
    sim, dev = make("r503", timing=True, sim_baud=115200, cfg_kw={"baud": 115200})
    dev.open()
    b0 = sim.stats.bytes_out
    t0 = time.monotonic()
    dev.capture()
    elapsed = time.monotonic() - t0
    wire = (sim.stats.bytes_out - b0) * 10 / 115200  # ~1.75 s for an R503 image
    assert wire > 1.5 and wire * 0.95 <= elapsed <= wire * 1.5


def test_sim_backend_can_run_the_real_driver():
    cfg = load_config("sim").fingerprint
    cfg.sim_protocol, cfg.sim_finger_delay_s, cfg.ready_wait_s = True, 0.05, 0.05
    dev = create_device("fingerprint", cfg)
    dev.open()
    try:
        assert dev.wait_finger(2.0)
        seen = []
        img = dev.capture(seen.append)
        assert img.shape == (288, 256) and seen[-1] == 1.0
        assert "R307 answered" in dev.probe()
    finally:
        dev.close()


def test_led_reports_what_the_module_answers(make):
    """An R503 driven as an R307 answers 'unsupported' to OpenLED: that reaches the caller."""
    from appliance.hal.r30x_protocol import Unsupported

    _sim, dev = make("r503", cfg_model="r307")
    dev.open()
    with pytest.raises(Unsupported):
        dev.led("blue", "on")
    sim, dev = make("r503")
    dev.open()
    assert dev.led("green", "on") == 0 and sim.led["color"] == 0x04
