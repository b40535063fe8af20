"""The running gate: sim scanner -> decision -> gpiozero mock pins -> SQLite log; the report;
retention; the relay released on start, stop and crash; no ID number or name stored or logged."""

import asyncio
import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance.cccd.qr import build_payload
from appliance.citizen import TEST_CITIZEN, TEST_QR_PAYLOAD
from appliance.cli import main
from appliance.config import load_config
from appliance.hal.manager import DeviceManager
from appliance.pipeline.gate import Gate, GateDecider
from appliance.pipeline.report_cli import summarize
from appliance.store import Store, purge

EXPIRED = build_payload(
    {
        **TEST_CITIZEN,
        "id_number": "035199001234",
        "full_name": "TRẦN THỊ CÚC",
        "sex": "female",
        "date_of_birth": "1999-01-01",
        "issue_date": "2021-01-01",
    }
)
UNKNOWN_LAYOUT = "079190054321|123456789|LÊ VĂN BÌNH|01011990|Nam|Huế|10042021|X|Y"
NAMES = ("NGUYỄN VĂN AN", "TRẦN THỊ CÚC", "LÊ VĂN BÌNH")
IDS = ("001090012345", "035199001234", "079190054321")


def make_cfg(tmp_path, **gate):
    cfg = load_config("tourist-gate", sim=True)
    cfg.service.state_dir = str(tmp_path / "state")
    cfg.qr_scanner.sim_interval_s = 0.0  # payloads only when injected
    cfg.qr_scanner.dedupe_s = 0.2
    cfg.indicators.max_gate_pulse_ms = 3000
    cfg.gate.relay_pulse_ms = 2000
    for key, value in gate.items():
        setattr(cfg.gate, key, value)
    return cfg


class Rig:
    """A gate on sim devices with a store in tmp_path, driven from the test."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.devices = DeviceManager(cfg)
        self.extra_health = {}
        self.components = []
        self.service = SimpleNamespace(
            cfg=cfg, devices=self.devices, extra_health={}, components=[]
        )
        self.store = Store.open(cfg)
        self.gate = Gate(cfg, self.store, GateDecider(cfg.gate, clock_ok=lambda: True))
        self.stop = asyncio.Event()
        self.task = None
        self.events = None

    async def start(self):
        await self.devices.open_all()
        self.ind = self.devices.get("indicators")
        self.scanner = self.devices.get("qr_scanner")
        self.events = self.gate.subscribe()
        self.task = asyncio.create_task(self.gate.run(self.service, self.stop))
        await asyncio.sleep(0.05)

    async def scan(self, payload):
        self.scanner.inject(payload.encode() if isinstance(payload, str) else payload)
        event = await asyncio.wait_for(self.events.get(), 5)
        await asyncio.sleep(0.05)  # the log row is written in a worker thread after the event
        return event

    def pin(self, name):
        return self.ind.factory.pin(getattr(self.cfg.indicators, name))

    async def close(self):
        self.stop.set()
        if self.task:
            await asyncio.wait_for(self.task, 5)
        self.store.close()
        self.devices.close_all()


@pytest.fixture
async def rig(tmp_path):
    r = Rig(make_cfg(tmp_path))
    await r.start()
    yield r
    await r.close()


async def test_admit_pulses_relay_and_lights_green(rig):
    ev = await rig.scan(TEST_QR_PAYLOAD)
    assert ev.decision.decision == "admit" and ev.count_today == 1
    assert rig.pin("gate_relay").state is True
    assert rig.pin("led_green").state is True
    assert rig.pin("led_red").state is False
    assert rig.pin("buzzer").state is False
    assert ev.latency_ms < 1000
    rows = rig.store.checkins(date.today())
    facts = [(r["decision"], r["reason"], r["age_band"], r["sex"], r["birth_code"]) for r in rows]
    assert facts == [("admit", None, "35-44", "male", "001")]


@pytest.mark.parametrize(
    ("payload", "decision", "reason"),
    [
        (b"not a card", "invalid", "malformed"),
        (EXPIRED.encode(), "expired", "policy_refuse"),
    ],
)
async def test_refusal_lights_red_and_buzzes_relay_stays_off(rig, payload, decision, reason):
    buzzer = rig.pin("buzzer")
    buzzer.clear_states()
    ev = await rig.scan(payload)
    assert (ev.decision.decision, ev.decision.reason) == (decision, reason)
    assert rig.pin("gate_relay").state is False
    assert rig.pin("led_red").state is True and rig.pin("led_green").state is False
    await asyncio.sleep(0.6)  # three 100 ms beeps
    assert [s.state for s in buzzer.states[1:]] == [True, False] * 3
    assert rig.store.checkins(date.today())[-1]["decision"] == decision


async def test_duplicate_and_unknown_layout(rig):
    assert (await rig.scan(TEST_QR_PAYLOAD)).decision.decision == "admit"
    rig.ind.release()
    await asyncio.sleep(0.3)  # longer than dedupe_s: a new scan, not the same one held still
    ev = await rig.scan(TEST_QR_PAYLOAD)
    assert ev.decision.decision == "duplicate" and not ev.decision.admitted
    assert rig.pin("gate_relay").state is False and rig.pin("led_red").state is True
    ev = await rig.scan(UNKNOWN_LAYOUT)  # refused by default: any 12 digits would pass
    assert (ev.decision.decision, ev.decision.reason) == ("unknown_layout", "policy_refuse")
    assert rig.pin("gate_relay").state is False
    assert rig.gate.health()["counts_today"] == {"admit": 1, "duplicate": 1, "unknown_layout": 1}
    assert rig.gate.admitted_today() == 1


async def test_a_card_held_still_is_one_scan(rig):
    rig.gate.dedupe.window_s = 5.0
    await rig.scan(TEST_QR_PAYLOAD)
    rig.scanner.inject(TEST_QR_PAYLOAD.encode())  # the scanner reads it again at once
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rig.events.get(), 0.5)
    assert len(rig.store.checkins(date.today())) == 1


async def test_relay_released_on_start_and_stop(tmp_path):
    r = Rig(make_cfg(tmp_path))
    await r.devices.open_all()
    ind = r.devices.get("indicators")
    ind.open_gate(3000)  # left on by whatever ran before
    assert ind.gate_open()
    r.events = r.gate.subscribe()
    r.ind, r.scanner = ind, r.devices.get("qr_scanner")
    r.task = asyncio.create_task(r.gate.run(r.service, r.stop))
    await asyncio.sleep(0.05)
    assert not ind.gate_open()  # released on start
    await r.scan(TEST_QR_PAYLOAD)
    assert ind.gate_open()
    r.stop.set()
    await asyncio.wait_for(r.task, 5)
    assert not ind.gate_open()  # released on stop, long before the 2 s pulse ends
    r.task = None
    await r.close()


async def test_relay_released_when_a_scan_crashes_and_the_gate_goes_on(rig, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rig.store, "add_checkin", broken)
    rig.scanner.inject(TEST_QR_PAYLOAD.encode())
    ev = await asyncio.wait_for(rig.events.get(), 5)
    assert ev.decision.admitted
    await asyncio.sleep(0.1)
    assert rig.pin("gate_relay").state is False  # released after the crash
    monkeypatch.undo()
    ev = await rig.scan(EXPIRED)
    assert ev.decision.decision == "expired"  # the loop survived


async def test_scanner_errors_do_not_end_the_gate(rig, monkeypatch):
    from appliance.errors import DeviceUnavailable

    real_read = rig.scanner.read
    failures = [RuntimeError("driver bug"), DeviceUnavailable("unplugged")]

    def flaky(timeout):
        if failures:
            raise failures.pop(0)
        return real_read(timeout)

    monkeypatch.setattr(rig.scanner, "read", flaky)
    rig.devices.report_failure = lambda kind, exc: None  # keep the sim scanner in place
    for _ in range(60):  # the read in progress ends (0.5 s), then both failures are met
        if not failures:
            break
        await asyncio.sleep(0.05)
    assert not failures
    ev = await rig.scan(TEST_QR_PAYLOAD)
    assert ev.decision.decision == "admit"


async def test_relay_released_when_the_component_is_cancelled(rig):
    await rig.scan(TEST_QR_PAYLOAD)
    assert rig.pin("gate_relay").state is True
    rig.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rig.task
    rig.task = None
    assert rig.pin("gate_relay").state is False


async def test_nothing_identifying_in_the_database_or_the_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cfg = make_cfg(tmp_path, seal_records=True)
    cfg.store.demo_office_key = True  # sealed records need an office key
    cfg.store.office_public_key = ""
    r = Rig(cfg)
    await r.start()
    for payload in (TEST_QR_PAYLOAD, EXPIRED, UNKNOWN_LAYOUT, TEST_QR_PAYLOAD + "|"):
        await r.scan(payload)
        await asyncio.sleep(0.25)
    rows = r.store.checkins(date.today())
    assert len(rows) == 4 and all(row["sealed"] for row in rows)
    await r.close()
    state = Path(cfg.service.state_dir)
    blob = b"".join(p.read_bytes() for p in state.glob("appliance.db*"))
    assert blob  # the database and its WAL were read
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "check-in admit" in text  # the decisions were logged ...
    for secret in (*IDS, *NAMES, "001******345"):
        assert secret.encode() not in blob, secret  # ... but no ID number or name, in any form
        assert secret not in text, secret


async def test_report_counts(tmp_path, capsys):
    cfg = make_cfg(tmp_path)
    day = date(2025, 6, 1)
    with Store.open(cfg) as store:
        for hour, decision, reason in [
            (8, "admit", None),
            (8, "admit", None),
            (8, "invalid", "malformed"),
            (9, "expired", "policy_refuse"),
            (9, "unknown_layout", "policy_admit"),
            (9, "duplicate", "seen_recently"),
            (10, "admit", "clock_unsynced"),
        ]:
            when = datetime(day.year, day.month, day.day, hour, 15)
            store.add_checkin(decision, reason, "25-34", "female", "035", now=when)
        store.add_checkin("admit", None, now=datetime(2025, 6, 2, 8, 0))  # another day
        report = summarize(store.checkins(day), day)
    assert report["total"] == 7 and report["admitted"] == 4
    assert report["by_decision"] == {
        "admit": 3,
        "expired": 1,
        "invalid": 1,
        "duplicate": 1,
        "unknown_layout": 1,
        "chip_refused": 0,
    }
    assert [(h["hour"], h["total"], h["admitted"]) for h in report["by_hour"]] == [
        (8, 3, 2),
        (9, 3, 1),
        (10, 1, 1),
    ]
    state = ["--state-dir", cfg.service.state_dir, "--profile", "tourist-gate", "--sim"]
    assert main(["report", "checkins", "--date", "2025-06-01", "--json", *state]) == 0
    assert json.loads(capsys.readouterr().out) == report
    assert main(["report", "checkins", "--date", "2025-06-01", "--format", "csv", *state]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("time,hour,decision,admitted,reason")
    assert len(lines) == 8 and lines[3].split(",")[2:5] == ["invalid", "False", "malformed"]


async def test_retention_purge_removes_old_checkins(tmp_path):
    cfg = make_cfg(tmp_path)
    cfg.store.checkins_days = 30
    now = datetime(2025, 6, 1, 12, 0).astimezone()
    with Store.open(cfg) as store:
        store.add_checkin("admit", None, "25-34", "male", "001", now=now - timedelta(days=31))
        store.add_checkin("invalid", "malformed", now=now - timedelta(days=29))
        result = purge(store, now, clock_synced=True)
        assert result["checkins"] == 1
        left = store.query("SELECT decision FROM checkins")
    assert [r["decision"] for r in left] == ["invalid"]


async def test_in_the_service_for_mode_checkin(tmp_path, monkeypatch):
    """`appliance run --profile tourist-gate --sim`, in process: admits, refuses and logs."""
    import socket

    from appliance.pipeline.gate import attach_to_service, run_gate
    from appliance.service import Service

    monkeypatch.setenv("APPLIANCE_CLOCK_SYNCED", "1")
    cfg = make_cfg(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        cfg.service.port = s.getsockname()[1]
    service = Service(cfg)
    gate = attach_to_service(service)  # the kiosk UI may have attached it already: once only
    assert service.components.count(run_gate) == 1
    events = gate.subscribe()
    task = asyncio.create_task(service.run())
    for _ in range(100):
        if service.devices.get("qr_scanner") is not None:
            break
        await asyncio.sleep(0.05)
    scanner = service.devices.get("qr_scanner")
    scanner.inject(TEST_QR_PAYLOAD.encode())
    assert (await asyncio.wait_for(events.get(), 5)).decision.decision == "admit"
    scanner.inject(b"garbage")
    assert (await asyncio.wait_for(events.get(), 5)).decision.decision == "invalid"
    health = service.health()["gate"]
    assert health["counts_today"] == {"admit": 1, "invalid": 1}
    await asyncio.sleep(0.1)
    relay = service.devices.get("indicators")
    service.stop_event.set()
    await asyncio.wait_for(task, 10)
    assert not relay.factory.pin(cfg.indicators.gate_relay).state
    with Store.open(cfg) as store:
        assert [r["decision"] for r in store.checkins(date.today())] == ["admit", "invalid"]
