"""Heartbeats: queued on the kiosk while the hub is down, sent in order later, kept by the hub."""

from __future__ import annotations

import asyncio
import json
import time

from hub_support import HubRunner, Kiosk, office, register
from sqlalchemy import text
from test_hub_outbox import fill, kiosk_cfg

from appliance.hub.config import HubSettings
from appliance.hub.heartbeats import accept_beat, parse_beat
from appliance.hub.records import purge
from appliance.hub.testing import free_port, make_ca
from appliance.store import Store
from appliance.store.heartbeat import (
    Sender,
    count_outcome,
    heartbeat_url,
    queue_beat,
    queued,
    take_verifications,
)


def test_heartbeat_url_follows_the_upload_url():
    from appliance.config import StoreConfig

    for url, want in [
        ("https://hub.example/bundles", "https://hub.example/heartbeats"),
        ("https://hub.example/bundles/", "https://hub.example/heartbeats"),
        ("https://hub.example/p/bundles/{bundle_id}", "https://hub.example/p/heartbeats"),
        ("https://hub.example/p/bundles?id={bundle_id}", "https://hub.example/p/heartbeats"),
    ]:
        assert heartbeat_url(StoreConfig(upload_url=url)) == want


async def test_beats_queue_while_down_and_arrive_in_order(tmp_path, hub_db_url):
    _, pub_path, _ = office(tmp_path / "office")
    tls = make_ca(tmp_path / "tls")
    settings = HubSettings(port=free_port(), tls_cert=str(tls["cert"]), tls_key=str(tls["key"]))
    hub = HubRunner(hub_db_url, settings)
    state = tmp_path / "state"
    kiosk = Kiosk(state)
    from appliance.hub.db import open_engine

    engine = open_engine(hub_db_url)
    register(engine, kiosk, "kiosk-hb")
    token = tmp_path / "token"
    token.write_text(kiosk.token)
    cfg = kiosk_cfg(f"https://127.0.0.1:{settings.port}", tls["ca"], token)
    take_verifications()
    store = Store.open(state, store_cfg=cfg, office_public_key=pub_path)
    try:
        sender = Sender(store, cfg)
        # the hub is down: three periods pass, each with some activity
        t0 = time.time()
        for i in range(3):
            fill(store, i + 1)
            store.add_checkin("allow", age_band="25-34")
            store.add_checkin("deny", reason="card_expired", age_band="65+")
            count_outcome("verification", "read:genuine")
            count_outcome("verification", "timeout")
            count_outcome("enrollment", "saved")
            queue_beat(store, now=time.time())
            async with sender.session() as session:
                assert await sender.drain(session) == 0
        assert [r["seq"] for r in queued(store)] == [1, 2, 3]
        await hub.start()
        async with sender.session() as session:
            assert await sender.drain(session) == 3
        assert queued(store) == []
        # the next beat counts only what happened after the last one
        queue_beat(store)
        async with sender.session() as session:
            assert await sender.drain(session) == 1
    finally:
        store.close()
        await hub.stop()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, body FROM heartbeats ORDER BY id")).all()
        state_row = conn.execute(text("SELECT last_seq, body FROM device_state")).one()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    beats = [json.loads(r.body) for r in rows]
    assert [b["counters"]["captures_saved"] for b in beats] == [1, 2, 3, 0]
    assert beats[0]["counters"]["verifications"] == {"genuine": 1, "unfinished": 1}
    assert beats[1]["counters"]["checkins"] == {
        "by_decision": {"allow": 1, "deny": 1},
        "by_age_band": {"25-34": 1, "65+": 1},
    }
    assert beats[0]["period"][0] == 0.0 and beats[1]["period"][0] == beats[0]["period"][1]
    assert beats[0]["sent_ts"] >= t0
    health = beats[0]["health"]
    assert health["outbox_depth"] == 1 and health["outbox_oldest_age_s"] >= 0
    assert health["disk_free_bytes"] > 0 and health["version"]
    assert state_row.last_seq == 4
    # nothing personal: no test citizen field ever leaves in a beat
    dump = json.dumps(beats)
    assert "id_number" not in dump and "full_name" not in dump
    engine.dispose()


def test_hub_side_repeats_ordering_refusals_and_retention(hub_engine, tmp_path):
    import pytest

    from appliance.errors import InvalidInput

    kiosk = Kiosk(tmp_path / "k")
    register(hub_engine, kiosk, "kiosk-1")
    from appliance.hub.registry import get_device

    dev = {**get_device(hub_engine, "kiosk-1")}
    beat = lambda seq, **kw: {"seq": seq, "sent_ts": 1.0, "health": {}, "counters": {}, **kw}  # noqa: E731
    assert accept_beat(hub_engine, dev, beat(5))[0] == 201
    assert accept_beat(hub_engine, dev, beat(5))[0] == 200  # a repeat
    assert accept_beat(hub_engine, dev, beat(3, health={"late": True}))[0] == 201
    with hub_engine.connect() as conn:
        assert conn.execute(text("SELECT last_seq FROM device_state")).scalar() == 5
    for bad in (b"not json", b'{"seq": "1"}', json.dumps(beat(9, health={"full_name": "A"}))):
        with pytest.raises(InvalidInput):
            parse_beat(bad if isinstance(bad, bytes) else bad.encode())
    from appliance.hub.config import HubSettings

    later = time.time() + 91 * 86400
    assert purge(hub_engine, HubSettings(), now=later)["heartbeats_deleted"] == 2
    with hub_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM device_state")).scalar() == 1


async def test_service_runs_heartbeats_when_an_upload_url_is_set(tmp_path):
    from appliance.store.heartbeat import run_heartbeats

    _, pub_path, _ = office(tmp_path / "office")
    cfg = kiosk_cfg("http://127.0.0.1:9", "", tmp_path / "none")
    cfg.upload_ca_file = ""
    with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=pub_path) as store:
        stop = asyncio.Event()
        task = asyncio.create_task(run_heartbeats(store, cfg, 0.05, stop))
        await asyncio.sleep(0.4)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert len(queued(store)) >= 2  # nobody listens on port 9: they wait in order


async def test_a_finished_verification_is_counted_for_the_next_beat():
    from test_workflow_fakes import Driver
    from test_workflow_others import start_verification

    take_verifications()
    async with Driver() as d:
        await start_verification(d)
        await d.screen("verify.tap")
        d.adapters.card.set()
        await d.screen("verify.result")
        d.send("done")
        await d.screen("home")
    assert take_verifications() == {"genuine": 1}
    assert take_verifications() == {}  # taken once, for one beat
