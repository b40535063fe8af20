"""Retention: each kind of record is purged after its own period, and the space comes back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from appliance.citizen import TEST_CITIZEN
from appliance.config import StoreConfig
from appliance.store import Store, purge
from appliance.store.testing import CONSENT_HASH, office_keys, sample_images

T0 = datetime(2025, 1, 10, 9, 0).astimezone()
CFG = StoreConfig(
    captures_days=30,
    checkins_days=7,
    consent_days=90,
    uploaded_grace_days=3,
    unsent_days=60,
)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def store(tmp_path):
    _, pub = office_keys(tmp_path / "office")
    with Store.open(tmp_path / "state", store_cfg=CFG, office_public_key=pub) as s:
        yield s


def save(store, when, consent=None, size=20_000):
    consent = consent or store.record_consent(
        ["biometric_enrollment"], CONSENT_HASH, "v1", now=when
    )
    portrait, fingers = sample_images(size, size)
    return store.save_capture(
        dict(TEST_CITIZEN),
        portrait=portrait,
        fingerprints=fingers,
        quality={},
        consent_id=consent,
        now=when,
        clock_synced=True,
    )


def count(store, table):
    return store.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


def test_each_kind_by_its_period(store):
    acked = save(store, days(0))
    store.mark_acked(acked.bundle_id, days(1).timestamp(), "upload")
    unsent = save(store, days(0))
    store.add_checkin("allow", None, "25-34", "male", "001", now=days(0), clock_synced=True)
    store.add_checkin("allow", None, "25-34", "male", "001", now=days(6), clock_synced=True)
    lonely = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=days(0))

    # Day 3.5: nothing is due yet except ... nothing (grace ends on day 4).
    r = purge(store, days(3.5), clock_synced=True)
    assert (r["bundles_acked"], r["checkins"], r["captures"], r["consents"]) == (0, 0, 0, 0)

    r = purge(store, days(4.1), clock_synced=True)  # the acknowledged bundle's grace is over
    assert r["bundles_acked"] == 1 and r["bundles_unsent"] == 0
    assert store.bundle_bytes(acked.bundle_id) is None
    assert store.bundle_bytes(unsent.bundle_id) is not None

    r = purge(store, days(7.5), clock_synced=True)  # the first check-in is 7.5 days old
    assert r["checkins"] == 1 and count(store, "checkins") == 1

    r = purge(store, days(30.5), clock_synced=True)  # operator-list rows, after 30 days
    assert r["captures"] == 2 and count(store, "captures") == 0
    assert store.bundle_bytes(unsent.bundle_id) is not None  # the sealed copy waits for upload

    r = purge(store, days(60.5), clock_synced=True)  # never acknowledged: given up after 60 days
    assert r["bundles_unsent"] == 1 and count(store, "outbox") == 0 and count(store, "bundles") == 0

    assert store.consent(lonely) is not None
    r = purge(store, days(90.5), clock_synced=True)
    assert r["consents"] == 3 and count(store, "consents") == 0  # two used, one never used


def test_consent_kept_while_a_capture_refers_to_it(store):
    cfg_consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=days(0))
    save(store, days(0), cfg_consent)
    store.cfg.captures_days = 200  # the operator-list row outlives the consent period
    r = purge(store, days(120), clock_synced=True)
    assert r["consents"] == 0 and store.consent(cfg_consent) is not None
    store.cfg.captures_days = 30


def test_withdrawn_consent_counted_from_withdrawal(store):
    cid = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1", now=days(0))
    store.withdraw_consent(cid, now=days(80), clock_synced=True)
    assert purge(store, days(100), clock_synced=True)["consents"] == 0
    assert purge(store, days(171), clock_synced=True)["consents"] == 1


def test_expired_capture_state(store):
    receipt = save(store, days(0))
    store.cfg.captures_days = 365
    purge(store, days(61), clock_synced=True)
    rows = store.list_captures(days(0).date())
    assert [r["state"] for r in rows] == ["expired"] and rows[0][
        "receipt_code"
    ] == receipt.receipt_code
    store.cfg.captures_days = 30


def test_unsynchronised_clock_keeps_only_undelivered_bundles(store):
    save(store, days(0))
    store.add_checkin("admit", None, now=days(0), clock_synced=False)
    r = purge(store, days(400), clock_synced=False)
    assert r["clock_synchronized"] is False and "not synchronised" in r["held_back"]
    assert r["captures"] == 1 and r["checkins"] == 1 and r["bundles_unsent"] == 0
    assert count(store, "bundles") == 1  # the office has not got it: kept on a clock guess
    r = purge(store, days(400), clock_synced=False, force=True)
    assert r["bundles_unsent"] == 1 and "held_back" not in r
    assert count(store, "bundles") == 0


def test_dry_run_counts_without_deleting(store):
    save(store, days(0))
    r = purge(store, days(100), clock_synced=True, dry_run=True)
    assert r["captures"] == 1 and r["bundles_unsent"] == 1
    assert count(store, "captures") == 1 and count(store, "bundles") == 1


def test_purge_reclaims_space(store):
    for _ in range(15):
        store.mark_acked(save(store, days(0), size=60_000).bundle_id, days(0).timestamp(), "upload")
    assert store.checkpoint_truncate()
    before = store.disk_bytes()
    assert before > 15 * 170_000
    r = purge(store, days(40), clock_synced=True)
    assert r["bundles_acked"] == 15 and r["captures"] == 15
    assert store.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert store.disk_bytes() < before / 5
    assert r["reclaimed_bytes"] > before * 0.8 - 1
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
