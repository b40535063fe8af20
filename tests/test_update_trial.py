"""Trial boots: mark good only when healthy within confirm_within_s, else back to the old slot,
and the failed version reported; a watchdog reset during the trial ends the same way."""

from pathlib import Path

import pytest
from update_fakes import BundleInfo, FakeRauc

from appliance.update.installer import install_bundle
from appliance.update.state import UpdateState
from appliance.update.trial import Health, judge
from appliance.update.trial import confirm as confirm_slot

NO_SERVICE = "http://127.0.0.1:9"
HEALTHY = {
    "devices": {
        "camera": {"state": "ok", "error": None},
        "fingerprint": {"state": "unavailable", "error": "no module on /dev/serial0"},
    },
    "store": {"schema_version": 1, "sealing": True},
}


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_judge_accepts_ok_and_honestly_unavailable_devices():
    assert judge(HEALTHY, True, True).ok


@pytest.mark.parametrize(
    "healthz,ui,writable,problem",
    [
        (None, True, True, "service"),
        (
            {**HEALTHY, "devices": {"camera": {"state": "unavailable", "error": None}}},
            True,
            True,
            "camera",
        ),
        ({**HEALTHY, "devices": {}}, True, True, "devices"),
        ({**HEALTHY, "store": {"state": "unavailable", "error": "disk"}}, True, True, "store"),
        ({k: v for k, v in HEALTHY.items() if k != "store"}, True, True, "store"),
        (HEALTHY, True, False, "writable"),
        (HEALTHY, False, True, "ui"),
    ],
)
def test_judge_names_what_is_wrong(healthz, ui, writable, problem):
    h = judge(healthz, ui, writable)
    assert not h.ok and any(problem in p for p in h.problems), h.problems


def installed(tmp_path, version="0.3.0"):
    bundle = Path("new.raucb")
    rauc = FakeRauc(infos={bundle: BundleInfo("cccd-kiosk", version)})
    state = UpdateState(tmp_path / "u")
    rel = tmp_path / "rel"
    rel.write_text("VERSION=0.2.0\n")
    install_bundle(bundle, rauc=rauc, state=state, service_url=NO_SERVICE, release_file=rel)
    rauc.boot()
    assert rauc.booted == "B"
    return rauc, state


def test_healthy_trial_is_marked_good_and_stays(tmp_path):
    rauc, state = installed(tmp_path)
    clock = Clock()
    answers = iter([Health(False, ["service: /healthz does not answer"])] * 3)
    probe = lambda: next(answers, Health(True))  # noqa: E731
    reboots = []
    out = confirm_slot(
        rauc,
        state,
        probe,
        within_s=60,
        reboot=lambda: reboots.append(1),
        clock=clock,
        sleep=clock.sleep,
    )
    assert out["action"] == "marked_good" and rauc.marks == [("good", "B")]
    assert state.pending is None and state.last["result"] == "good"
    assert reboots == []
    rauc.boot()
    assert rauc.booted == "B"
    assert (
        confirm_slot(
            rauc, state, probe, within_s=60, reboot=lambda: None, clock=clock, sleep=clock.sleep
        )["action"]
        == "nothing"
    )


def test_unhealthy_trial_is_marked_bad_reboots_into_the_old_slot_and_reports(tmp_path):
    rauc, state = installed(tmp_path)
    clock = Clock()
    reboots = []
    out = confirm_slot(
        rauc,
        state,
        lambda: Health(False, ["appliance.service: not running"]),
        within_s=30,
        reboot=lambda: reboots.append(1),
        clock=clock,
        sleep=clock.sleep,
    )
    assert out["action"] == "marked_bad" and reboots == [1]
    assert clock.t >= 30  # it waited the whole confirm_within_s before giving up
    rauc.boot()
    assert rauc.booted == "A"
    out = confirm_slot(
        rauc,
        state,
        lambda: Health(True),
        within_s=30,
        reboot=lambda: None,
        clock=clock,
        sleep=clock.sleep,
    )
    assert out == {"action": "rolled_back", "version": "0.3.0", "slot": "A"}
    assert rauc.marks[-2:] == [("bad", "B"), ("good", "A")]
    assert state.last["result"] == "rolled_back" and "0.3.0" in state.last["message"]
    assert state.failed_versions() == ["0.3.0"] and state.pending is None


def test_watchdog_reset_during_the_trial_is_a_rollback_too(tmp_path):
    rauc, state = installed(tmp_path)
    # The board resets before --confirm ran: the boot loader's one try is used up.
    rauc.boot_status["B"] = "bad"
    rauc.boot()
    assert rauc.booted == "A"
    out = confirm_slot(rauc, state, lambda: Health(True), within_s=30, reboot=lambda: None)
    assert out["action"] == "rolled_back" and state.failed_versions() == ["0.3.0"]


def test_a_freshly_flashed_card_is_never_reboot_looped(tmp_path):
    rauc = FakeRauc()
    rauc.boot_status["A"] = ""
    state = UpdateState(tmp_path / "u")
    clock = Clock()
    reboots = []
    out = confirm_slot(
        rauc,
        state,
        lambda: Health(False, ["x"]),
        within_s=10,
        reboot=lambda: reboots.append(1),
        clock=clock,
        sleep=clock.sleep,
    )
    assert out["action"] == "kept_unhealthy" and out["problems"] == ["x"]
    assert reboots == [] and rauc.marks == [("good", "A")] and clock.t >= 10
    rauc.boot_status["A"] = ""  # the next boot counts as a try again
    out = confirm_slot(
        rauc,
        state,
        lambda: Health(True),
        within_s=10,
        reboot=lambda: None,
        clock=clock,
        sleep=clock.sleep,
    )
    assert out["action"] == "marked_good" and rauc.marks == [("good", "A"), ("good", "A")]
