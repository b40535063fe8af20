"""Power loss: a process saving captures is killed with SIGKILL at random moments, many times.

After every kill the database must pass ``PRAGMA integrity_check`` and hold every capture the
process had reported as saved (``save_capture`` returned), with its sealed bundle intact. The
writer is a forked child (so each round costs milliseconds, not an interpreter start-up).
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import time

from appliance.citizen import TEST_CITIZEN
from appliance.store import Store, unseal
from appliance.store.testing import CONSENT_HASH, office_keys, sample_images

ROUNDS = 24
FRESH_EVERY = 6  # every 6th round starts a new state dir, so kills also land in first start-up


def _writer(state_dir, office_pub, fd) -> None:
    """Child: open the store, then save captures forever, reporting each receipt once saved."""
    try:
        store = Store.open(state_dir, office_public_key=office_pub)
        consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
        portrait, fingers = sample_images(20_000, 30_000)
        os.write(fd, b"ready\n")
        while True:
            receipt = store.save_capture(
                dict(TEST_CITIZEN),
                portrait=portrait,
                fingerprints=fingers,
                quality={},
                consent_id=consent,
                clock_synced=True,
            )
            os.write(fd, f"{receipt.receipt_code} {receipt.bundle_id}\n".encode())
    except BaseException as exc:
        os.write(fd, f"error {type(exc).__name__}: {exc}\n".encode())
        os._exit(1)


def _read_until_ready(fd, deadline) -> bytes:
    buf = b""
    while b"ready\n" not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
    return buf


def _round(state_dir, office_pub, rng: random.Random, kill_early: bool) -> list[tuple[str, str]]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        _writer(state_dir, office_pub, w)
        os._exit(0)
    os.close(w)
    try:
        if kill_early:
            time.sleep(rng.uniform(0.0, 0.03))  # somewhere in open/migrate/keys/first save
            buf = b""
        else:
            buf = _read_until_ready(r, time.monotonic() + 20)
            assert b"ready\n" in buf or b"error" in buf, buf
            time.sleep(rng.uniform(0.005, 0.25))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        while chunk := os.read(r, 65536):
            buf += chunk
    finally:
        os.close(r)
    lines = buf.decode().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert not errors, errors
    return [tuple(line.split()) for line in lines if line != "ready"]


def test_sigkill_never_loses_a_saved_capture(tmp_path):
    rng = random.Random(int.from_bytes(os.urandom(4)))
    office_priv, office_pub = office_keys(tmp_path / "office")
    saved: dict[str, list[tuple[str, str]]] = {}
    total = 0
    state_dir = tmp_path / "state-0"
    for i in range(ROUNDS):
        if i and i % FRESH_EVERY == 0:
            state_dir = tmp_path / f"state-{i}"
        reported = _round(state_dir, office_pub, rng, kill_early=(i % FRESH_EVERY == 0))
        saved.setdefault(str(state_dir), []).extend(reported)
        total += len(reported)
        if not (state_dir / "appliance.db").exists():
            assert not reported
            continue
        conn = sqlite3.connect(state_dir / "appliance.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "captures" not in tables:  # killed before the first migration committed
                assert not reported
                continue
            rows = dict(conn.execute("SELECT receipt_code, bundle_id FROM captures").fetchall())
            for receipt_code, bundle_id in saved[str(state_dir)]:
                assert rows.get(receipt_code) == bundle_id, f"round {i}: {receipt_code} lost"
            # Nothing half-written: every capture row has its bundle and its outbox entry.
            orphans = conn.execute(
                "SELECT COUNT(*) FROM captures c LEFT JOIN bundles b ON b.bundle_id = c.bundle_id"
                " LEFT JOIN outbox o ON o.bundle_id = c.bundle_id"
                " WHERE b.bundle_id IS NULL OR o.bundle_id IS NULL"
            ).fetchone()[0]
            assert orphans == 0
            if reported:
                last = conn.execute(
                    "SELECT data FROM bundles WHERE bundle_id = ?", (reported[-1][1],)
                ).fetchone()[0]
                assert unseal(bytes(last), office_priv).record["receipt_code"] == reported[-1][0]
        finally:
            conn.close()
    assert total > ROUNDS  # the kills really landed among saves, not only before the first one
    # A killed store reopens normally and can carry on.
    with Store.open(state_dir, office_public_key=office_pub) as store:
        consent = store.record_consent(["biometric_enrollment"], CONSENT_HASH, "v1")
        store.save_capture({}, portrait=None, fingerprints={}, quality={}, consent_id=consent)
