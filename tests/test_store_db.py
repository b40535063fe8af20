"""The store: schema, durability settings, captures, consent, check-ins."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest

from appliance.citizen import TEST_CITIZEN
from appliance.config import Config, StoreConfig
from appliance.errors import ConfigError
from appliance.store import Store, age_band, unseal
from appliance.store.errors import ConsentError, OfficeKeyMissing, RecordRejected, StoreError
from appliance.store.schema import SCHEMA_VERSION
from appliance.store.testing import CONSENT_HASH, office_keys, sample_images

NOW = datetime(2025, 6, 2, 10, 30).astimezone()


@pytest.fixture
def office(tmp_path):
    return office_keys(tmp_path / "office")


@pytest.fixture
def store(tmp_path, office):
    with Store.open(tmp_path / "state", office_public_key=office[1]) as s:
        yield s


def capture(store, consent=None, now=NOW, identity=None, **kw):
    consent = consent or store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=now)
    portrait, fingers = sample_images(2000, 3000)
    return store.save_capture(
        identity or dict(TEST_CITIZEN),
        portrait=portrait,
        fingerprints=fingers,
        quality={"face": {"score": 80}},
        consent_id=consent,
        now=now,
        clock_synced=kw.get("clock_synced", True),
    )


def test_schema_and_durability_settings(store, tmp_path):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert set(store.db.table_names()) >= {"captures", "consents", "checkins", "outbox", "bundles"}
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_reopen_keeps_data_and_does_not_remigrate(tmp_path, office):
    with Store.open(tmp_path / "s", office_public_key=office[1]) as s:
        receipt = capture(s)
        assert s.schema_before == 0
    with Store.open(tmp_path / "s", office_public_key=office[1]) as s:
        assert s.schema_before == SCHEMA_VERSION
        assert [r["receipt_code"] for r in s.list_captures(NOW.date())] == [receipt.receipt_code]


def test_newer_schema_is_refused(tmp_path, office):
    with Store.open(tmp_path / "s", office_public_key=office[1]) as s:
        s.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this software"):
        Store.open(tmp_path / "s", office_public_key=office[1])


def test_save_capture_seals_everything(store, office):
    portrait, fingers = sample_images(2000, 3000)
    consent = store.record_consent(["biometric_enrollment", "card_issuance"], CONSENT_HASH, "v1")
    receipt = store.save_capture(
        dict(TEST_CITIZEN),
        portrait=portrait,
        fingerprints=fingers,
        quality={"face": {"score": 80, "status": "ok"}},
        consent_id=consent,
        now=NOW,
        clock_synced=False,
    )
    assert receipt.masked_id == "001******345"
    assert len(receipt.receipt_code) == 9 and receipt.receipt_code[4] == "-"
    assert receipt.clock_synced is False
    data = store.bundle_bytes(receipt.bundle_id)
    out = unseal(data, office[0])
    assert out.record["identity"] == TEST_CITIZEN
    assert out.record["receipt_code"] == receipt.receipt_code
    assert out.record["consent"]["purposes"] == ["biometric_enrollment", "card_issuance"]
    assert out.record["consent"]["text_hash"] == CONSENT_HASH
    assert out.record["clock_synced"] is False and out.header["clock_synced"] is False
    assert out.parts["portrait"] == portrait
    assert out.parts["finger_right_index"] == fingers["right_index"]
    assert store.outbox_status()["pending"] == 1


def test_list_captures_is_per_local_day(store):
    capture(store, now=NOW)
    capture(store, now=NOW + timedelta(days=1))
    rows = store.list_captures(NOW.date())
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"time", "state", "receipt_code", "masked_id", "uploaded", "clock_synced"}
    assert (
        row["state"] == "saved" and row["uploaded"] is False and row["masked_id"] == "001******345"
    )
    assert len(store.list_captures((NOW + timedelta(days=1)).date().isoformat())) == 1
    assert store.list_captures(date(2000, 1, 1)) == []
    with pytest.raises(RecordRejected):
        store.list_captures("yesterday")


def test_capture_without_office_key_is_refused_and_nothing_stored(tmp_path):
    with Store.open(tmp_path / "s", store_cfg=StoreConfig(office_public_key="")) as s:
        consent = s.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
        with pytest.raises(OfficeKeyMissing, match="office_public_key"):
            capture(s, consent)
        assert s.query("SELECT COUNT(*) AS n FROM captures")[0]["n"] == 0
        assert s.health()["sealing"] is False


def test_demo_office_key_only_when_asked(tmp_path):
    cfg = StoreConfig(office_public_key="", demo_office_key=True)
    with Store.open(tmp_path / "s", store_cfg=cfg) as s:
        assert s.sealing_available and "demo" in s.office_key_source
        assert (
            tmp_path / "s" / "demo-office-key" / "office_x25519.pem"
        ).stat().st_mode & 0o077 == 0


def test_open_from_config(tmp_path, office):
    cfg = Config()
    cfg.service.state_dir = str(tmp_path / "cfgstate")
    cfg.store.office_public_key = str(office[1])
    with Store.open(cfg) as s:
        assert s.path == tmp_path / "cfgstate" / "appliance.db" and s.sealing_available
    cfg.store.backoff_base_s = 0
    with pytest.raises(ConfigError, match="backoff_base_s"):
        Store.open(cfg)


def test_consent_is_required_and_checked(store):
    with pytest.raises(ConsentError, match="no consent"):
        store.save_capture({}, portrait=None, fingerprints={}, quality={}, consent_id=None)
    with pytest.raises(ConsentError, match="unknown consent"):
        store.save_capture({}, portrait=None, fingerprints={}, quality={}, consent_id="nope")
    consent = store.record_consent(["biometric_enrollment"], "sha256:" + CONSENT_HASH.upper(), "v1")
    store.withdraw_consent(consent, now=NOW)
    with pytest.raises(ConsentError, match="withdrawn"):
        capture(store, consent)


def test_required_purposes(tmp_path, office):
    cfg = StoreConfig(required_consent_purposes=["biometric_enrollment"])
    with Store.open(tmp_path / "s", store_cfg=cfg, office_public_key=office[1]) as s:
        other = s.record_consent(["newsletter"], CONSENT_HASH, "v1")
        with pytest.raises(ConsentError, match="biometric_enrollment"):
            capture(s, other)
        assert capture(s).receipt_code


@pytest.mark.parametrize(
    "purposes, text_hash, version",
    [
        ([], CONSENT_HASH, "v1"),
        (["Biometric"], CONSENT_HASH, "v1"),
        (["a", "a"], CONSENT_HASH, "v1"),
        (["a"], "abc", "v1"),
        (["a"], CONSENT_HASH, ""),
        ("biometric", CONSENT_HASH, "v1"),
    ],
)
def test_bad_consent_rejected(store, purposes, text_hash, version):
    with pytest.raises(RecordRejected):
        store.record_consent(purposes, text_hash, version)


def test_consent_record_fields(store):
    cid = store.record_consent(["a", "b"], CONSENT_HASH, "vi-2025-01", language="vi", now=NOW)
    rec = store.consent(cid)
    assert rec["purposes"] == ["a", "b"] and rec["text_version"] == "vi-2025-01"
    assert rec["given_at"].startswith("2025-06-02T10:30") and rec["withdrawn_at"] is None


def test_withdrawal_deletes_unsent_and_queues_notice(store, office):
    consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    first = capture(store, consent)
    second = capture(store, consent)
    store.mark_acked(first.bundle_id, NOW.timestamp(), "upload")  # the office has the first
    result = store.withdraw_consent(
        receipt_code=second.receipt_code.lower(), reason="citizen_request", now=NOW
    )
    assert result["consent_id"] == consent and result["captures"] == 2
    assert result["deleted_unsent"] == 1
    assert store.bundle_bytes(second.bundle_id) is None  # the unsent one is gone
    notice = unseal(store.bundle_bytes(result["notice_bundle_id"]), office[0])
    assert notice.header["kind"] == "consent_withdrawal"
    assert set(notice.record["capture_bundle_ids"]) == {first.bundle_id, second.bundle_id}
    assert {r["state"] for r in store.list_captures(NOW.date())} == {"withdrawn"}
    again = store.withdraw_consent(consent)
    assert again["already_withdrawn"] is True
    with pytest.raises(RecordRejected):
        store.withdraw_consent(consent, reason="Nguyễn Văn An asked")


def test_checkins(store, office):
    a = store.add_checkin("allow", None, "25-34", "Nam", "001", now=NOW, clock_synced=True)
    b = store.add_checkin(
        "deny", "card_expired", "65+", "female", "079", sealed_record={"qr": "x"}, now=NOW
    )
    rows = store.checkins(NOW.date())
    assert [r["id"] for r in rows] == [a, b]
    assert rows[0]["sex"] == "male" and rows[0]["sealed"] is False
    assert rows[1]["reason"] == "card_expired" and rows[1]["sealed"] is True
    bundle_id = store.query("SELECT bundle_id FROM checkins WHERE id = ?", (b,))[0]["bundle_id"]
    assert unseal(store.bundle_bytes(bundle_id), office[0]).record == {"qr": "x"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"decision": "001090012345"},
        {"decision": "allow", "reason": "NGUYỄN VĂN AN"},
        {"decision": "allow", "reason": "id_001090012345"},
        {"decision": "allow", "age_band": "1990"},
        {"decision": "allow", "age_band": "34-35"},
        {"decision": "allow", "age_band": "1990-1999"},
        {"decision": "allow", "birth_code": "001090012345"},
        {"decision": "allow", "birth_code": "01"},
        {"decision": "allow", "sex": "x"},
        {"decision": ""},
    ],
)
def test_checkin_refuses_identifying_values(store, kwargs):
    with pytest.raises(RecordRejected):
        store.add_checkin(**kwargs)
    assert store.checkins(date.today()) == []


def test_age_band():
    assert age_band(date(1990, 3, 15), date(2025, 3, 14)) == "25-34"
    assert age_band(date(1990, 3, 15), date(2025, 3, 15)) == "35-44"
    assert age_band(date(1950, 1, 1), date(2025, 6, 1)) == "65+"
    assert age_band(date(2015, 1, 1), date(2025, 6, 1)) == "0-13"


def test_bad_record_inputs(store):
    consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    with pytest.raises(RecordRejected):
        store.save_capture([], portrait=None, fingerprints={}, quality={}, consent_id=consent)
    with pytest.raises(RecordRejected):
        store.save_capture(
            {}, portrait=None, fingerprints={"Right Index": b"x"}, quality={}, consent_id=consent
        )
    with pytest.raises(RecordRejected, match="cannot be sealed"):
        store.save_capture(
            {"x": object()}, portrait=None, fingerprints={}, quality={}, consent_id=consent
        )
    # Dates in a record are fine (ISO 8601 inside the bundle).
    assert (
        store.save_capture(
            {"date_of_birth": date(1990, 3, 15)},
            portrait=None,
            fingerprints={},
            quality={},
            consent_id=consent,
        ).masked_id
        is None
    )


def test_listener_called_after_commit(store):
    seen = []

    def listener():
        seen.append(store.outbox_status()["pending"])

    store.add_listener(listener)
    capture(store)
    assert seen == [1]
    store.remove_listener(listener)
    capture(store)
    assert seen == [1]


def test_concurrent_threads_share_one_store(store):
    import threading

    consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    errors = []

    def worker():
        try:
            for _ in range(5):
                capture(store, consent)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_captures(NOW.date())) == 15
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_second_process_connection_sees_committed_capture(store):
    receipt = capture(store)
    other = sqlite3.connect(store.path)
    try:
        codes = [r[0] for r in other.execute("SELECT receipt_code FROM captures")]
    finally:
        other.close()
    assert codes == [receipt.receipt_code]


def test_explicit_office_key_must_exist(tmp_path):
    from appliance.store.errors import KeyFileError

    with pytest.raises(KeyFileError, match="not found"):
        Store.open(tmp_path / "s", office_public_key=tmp_path / "nope.pub")


def test_withdrawal_without_captures_queues_nothing(store):
    cid = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
    result = store.withdraw_consent(cid, now=NOW)
    assert result["captures"] == 0 and result["notice_bundle_id"] is None
    assert store.outbox_status()["pending"] == 0


async def test_attach_to_service(tmp_path, office):
    import asyncio
    from types import SimpleNamespace

    from appliance.store import attach_to_service

    cfg = Config()
    cfg.service.state_dir = str(tmp_path / "svc")
    cfg.store.office_public_key = str(office[1])
    service = SimpleNamespace(cfg=cfg, extra_health={}, components=[])
    store = attach_to_service(service)
    try:
        assert service.store is store and (tmp_path / "svc" / "keys").is_dir()
        health = service.extra_health["store"]()
        assert health["sealing"] is True and health["outbox"]["pending"] == 0
        stop = asyncio.Event()
        task = asyncio.create_task(service.components[0](service, stop))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 2)  # no upload_url: idles until stopped
    finally:
        store.close()
