"""The capture workflow: sequence, guided retries, best kept, operator marks, device errors."""

import threading
import time

import numpy as np
import pytest

from appliance.config import FingerprintConfig
from appliance.errors import DeviceUnavailable, InvalidInput
from appliance.hal import r30x_protocol as p
from appliance.hal.base import FingerprintSensor
from appliance.hal.r30x import R30xSensor
from appliance.hal.r30x_sim import R30xSimulator
from appliance.pipeline import fingerprint_synth as fs
from appliance.pipeline.finger_capture import FingerCapture, check_sequence
from appliance.pipeline.finger_quality import FingerQuality


@pytest.fixture(scope="module")
def assessor():
    return FingerQuality()


@pytest.fixture(scope="module")
def imgs():
    return {
        "good": fs.render(fs.PrintSpec(seed=31)),
        "good2": fs.render(fs.PrintSpec(seed=32)),
        "wet": fs.render(fs.degraded(31, "wet", 0.7)),
        "dry": fs.render(fs.degraded(31, "dry", 0.75)),
        "partial": fs.render(fs.degraded(31, "partial", 0.8)),
        "blank": fs.render(fs.PrintSpec(seed=31, present=False)),
    }


class ScriptedSensor(FingerprintSensor):
    """Each attempt takes the next item: an image, None (no finger in time) or an exception."""

    backend = "test"

    def __init__(self, script, wait_s=0.0):
        super().__init__(None)
        self.script = list(script)
        self.wait_s = wait_s
        self.leds = []
        self.is_open = True
        self._next = None

    def open(self):
        self.is_open = True

    def wait_finger(self, timeout):
        time.sleep(self.wait_s)
        self._next = self.script.pop(0)
        return self._next is not None

    def capture(self, progress=None):
        item = self._next
        if isinstance(item, Exception):
            raise item
        if progress:
            progress(0.5)
            progress(1.0)
        return item

    def led(self, color="blue", mode="on"):
        self.leds.append((color, mode))


def test_retries_until_a_print_passes_and_keeps_the_best(assessor, imgs):
    events = []
    sensor = ScriptedSensor([imgs["wet"], imgs["dry"], imgs["good"], imgs["good2"]])
    cap = FingerCapture(sensor, assessor, ["right_index"], max_attempts=4, on_event=events.append)
    (res,) = cap.run()
    assert res.status == "captured" and len(res.attempts) == 3
    assert [a.verdict for a in res.attempts] == ["fail", "fail", "pass"]
    assert "too_wet" in res.attempts[0].feedback and "too_dry" in res.attempts[1].feedback
    assert np.array_equal(res.image, imgs["good"]) and res.best_score == res.attempts[2].score
    attempts = [e for e in events if e["event"] == "attempt"]
    assert attempts[0]["instructions"][0]["code"] == "too_wet"
    assert attempts[0]["instructions"][0]["vi"] and attempts[0]["instructions"][0]["en"]
    assert [e["fraction"] for e in events if e["event"] == "progress"][:2] == [0.5, 1.0]
    assert events[-1]["event"] == "done" and ("green", "on") in sensor.leds


def test_all_attempts_fail_keeps_the_best_as_low_quality(assessor, imgs):
    sensor = ScriptedSensor([imgs["partial"], imgs["dry"], imgs["wet"]])
    (res,) = FingerCapture(sensor, assessor, ["left_thumb"], max_attempts=3).run()
    assert res.status == "low_quality" and len(res.attempts) == 3
    scores = [a.score for a in res.attempts]
    best = int(np.argmax(scores))
    assert res.best_score == max(scores)
    assert np.array_equal(res.image, [imgs["partial"], imgs["dry"], imgs["wet"]][best])


def test_no_finger_and_device_errors_use_up_attempts(assessor, imgs):
    script = [None, p.ChecksumError("garbled"), imgs["blank"]]
    (res,) = FingerCapture(ScriptedSensor(script), assessor, ["right_index"], max_attempts=3).run()
    assert res.status == "low_quality"  # only the blank frame was captured and scored
    assert res.attempts[0].feedback == ["no_finger"] and res.attempts[0].score is None
    assert res.attempts[1].error == "fp_checksum"
    assert res.attempts[2].feedback == ["no_finger"] and res.attempts[2].score == 0.0
    (res2,) = FingerCapture(
        ScriptedSensor([None, None]), assessor, ["right_index"], max_attempts=2
    ).run()
    assert res2.status == "failed" and res2.image is None


def test_a_vanished_sensor_stops_the_workflow(assessor):
    cap = FingerCapture(ScriptedSensor([DeviceUnavailable("unplugged")]), assessor, ["right_index"])
    with pytest.raises(DeviceUnavailable):
        cap.run()


def test_sequence_of_fingers_and_operator_marks(assessor, imgs):
    sensor = ScriptedSensor([imgs["good"], imgs["good2"]])
    cap = FingerCapture(sensor, assessor, ["right_index", "right_middle", "left_index"])
    cap.mark_unavailable("right_middle", "bandaged")
    results = cap.run()
    assert [r.finger for r in results] == ["right_index", "right_middle", "left_index"]
    assert [r.status for r in results] == ["captured", "unavailable", "captured"]
    assert results[1].reason == "bandaged" and results[1].attempts == []
    cap.mark_unavailable("right_index")  # already captured: stays captured
    assert cap.results["right_index"].status == "captured"
    with pytest.raises(InvalidInput):
        cap.mark_unavailable("left_thumb")


def test_operator_marks_a_finger_during_its_attempts(assessor, imgs):
    sensor = ScriptedSensor([imgs["wet"]] * 5, wait_s=0.15)
    cap = FingerCapture(sensor, assessor, ["right_thumb"], max_attempts=5)
    threading.Timer(0.2, cap.mark_unavailable, ("right_thumb", "amputated")).start()
    (res,) = cap.run()
    assert res.status == "unavailable" and res.reason == "amputated"
    assert len(res.attempts) <= 2


def test_bad_sequences_are_refused(assessor):
    for seq in ([], ["right_index", "right_index"], ["right_toe"]):
        with pytest.raises(InvalidInput):
            check_sequence(seq)
    with pytest.raises(InvalidInput):
        FingerCapture(ScriptedSensor([]), assessor, ["right_index"], max_attempts=0)


def test_workflow_over_the_real_driver_and_simulator(assessor, imgs, tmp_path):
    """Wet then good prints from the pty simulator through the r30x driver."""
    with R30xSimulator("r307", images=[imgs["wet"], imgs["good"]], link_dir=tmp_path) as sim:
        dev = R30xSensor(
            FingerprintConfig(
                backend="r30x", port=sim.port, upload_baud=0, ready_wait_s=0.05, poll_s=0.02
            )
        )
        dev.open()
        try:
            (res,) = FingerCapture(dev, assessor, ["right_index"], max_attempts=3).run()
        finally:
            dev.close()
    assert res.status == "captured" and len(res.attempts) == 2
    assert "too_wet" in res.attempts[0].feedback
    assert np.array_equal(res.image, (imgs["good"] >> 4) * 17)  # 4-bit on the wire
    assert sim.led == {"on": True}  # R307: OpenLED after the last attempt
