"""Idle gating: an install waits for the end of a citizen's session, and the start screen
refuses new sessions ("Đang cập nhật") while the update holds the kiosk."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import wait_http
from test_workflow_fakes import Driver
from update_fakes import FakeRauc

from appliance.update.errors import UpdateBusy
from appliance.update.idle import UpdateHold, release_hold, request_hold
from appliance.update.state import UpdateState
from appliance.update.trial import ServiceProbe
from appliance.update.trial import confirm as confirm_slot


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def test_hold_refused_during_a_session_and_expires_by_itself():
    busy = [True]
    clock = Clock()
    seen = []
    hold = UpdateHold(lambda: busy[0], max_s=600, clock=clock)
    hold.listeners.append(seen.append)
    assert hold.acquire("0.3.0") == (False, "session") and not hold.held
    busy[0] = False
    assert hold.acquire("0.3.0") == (True, "held") and hold.held
    busy[0] = True  # the hold is there: no new session can have started; re-asking extends
    clock.t = 500
    assert hold.acquire("0.3.0")[0] and hold.health()["remaining_s"] == 600
    clock.t = 1101
    assert not hold.held  # a crashed updater never locks the kiosk
    hold.release()
    assert seen == [True]
    busy[0] = False
    hold.acquire()
    hold.release()
    assert seen == [True, True, False]


async def test_start_screen_refuses_new_sessions_while_updating():
    async with Driver() as d:
        await d.screen("home")
        hold = UpdateHold(d.kiosk.in_session, max_s=600)
        hold.listeners.append(d.kiosk.set_updating)
        d.send("start", flow="verification")
        await d.screen("verify.scan")
        assert d.kiosk.in_session()
        assert hold.acquire("0.3.0") == (False, "session")
        d.send("cancel")
        await d.screen("home")
        assert not d.kiosk.in_session()
        assert hold.acquire("0.3.0")[0]
        assert {"type": "updating", "active": True} in d.messages
        assert d.kiosk.hello()[0]["updating"] is True
        seq = d.kiosk.seq
        d.send("start", flow="verification")
        assert d.kiosk.seq == seq and not d.kiosk.in_session()
        hold.release()
        assert d.messages[-1] == {"type": "updating", "active": False}
        d.send("start", flow="verification")
        await d.screen("verify.scan")


def test_no_running_service_means_no_citizen_to_wait_for():
    request_hold("http://127.0.0.1:9", "0.3.0", timeout_s=2)  # refused connection: no error


@pytest.mark.timeout(120)
def test_running_service_grants_the_hold_and_passes_the_trial_check(service_proc, tmp_path):
    proc, url = service_proc("--profile", "sim")
    wait_http(url + "/healthz", proc=proc, timeout=60)
    request_hold(url, "0.3.0")
    body = json.loads(wait_http(url + "/healthz"))
    assert body["update"]["held"] is True and body["update"]["version"] == "0.3.0"
    release_hold(url)
    assert json.loads(wait_http(url + "/healthz"))["update"]["held"] is False
    # The trial-boot check against the real service (sim devices): healthy, so marked good.
    probe = ServiceProbe(url, tmp_path / "state")  # the service's state dir (conftest)
    health = probe()
    assert health.ok, health.problems
    rauc = FakeRauc()
    rauc.boot_status["A"] = ""
    out = confirm_slot(rauc, UpdateState(tmp_path / "u"), probe, within_s=30, reboot=lambda: None)
    assert out["action"] == "marked_good"


@pytest.mark.timeout(120)
def test_trial_check_sees_a_dead_service(tmp_path):
    h = ServiceProbe("http://127.0.0.1:9", tmp_path)()
    assert not h.ok and "service" in h.problems[0]


def test_busy_service_refuses_the_hold(tmp_path):

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.send_response(409)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": false, "reason": "session"}')

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(UpdateBusy) as exc:
            request_hold(f"http://127.0.0.1:{httpd.server_address[1]}", "0.3.0")
        assert "session" in exc.value.message
    finally:
        httpd.shutdown()
        httpd.server_close()
