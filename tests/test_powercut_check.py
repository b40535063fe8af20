"""The power-cut test's two halves, natively (the QEMU run is `make powercut`).

``image-build/powercut/writer.py`` is run as the guest runs it (the real store, captures and
exports, a line per durable call), killed, and ``powercut/check.py`` must accept the state it
left, and must reject the same state with one promise broken: a receipt the disk does not hold,
a bundle gone, an export file cut short, another device key, a damaged database page.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from appliance.store.keys import generate_office_keypair, load_private_key

REPO = Path(__file__).resolve().parents[1]
POWERCUT = REPO / "image-build" / "powercut"


def _load_check():
    spec = importlib.util.spec_from_file_location("powercut_check", POWERCUT / "check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


check_mod = _load_check()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One writer run killed after at least 7 receipts (two exports at every 3)."""
    tmp = tmp_path_factory.mktemp("powercut")
    priv_path, pub_path, _ = generate_office_keypair(tmp / "office")
    console = tmp / "console.log"
    with console.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(POWERCUT / "writer.py"),
                str(tmp / "state"),
                str(tmp / "export"),
                str(pub_path),
                "3",
            ],
            stdout=out,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        deadline = time.monotonic() + 60
        while console.read_bytes().count(b"PC saved") < 7 and time.monotonic() < deadline:
            assert proc.poll() is None, console.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return tmp, load_private_key(priv_path, X25519PrivateKey), console


def _copy(run, dest: Path) -> tuple[Path, Path]:
    tmp, _, _ = run
    shutil.copytree(tmp / "state", dest / "state")
    shutil.copytree(tmp / "export", dest / "export")
    return dest / "state", dest / "export"


def _check(run, state: Path, export: Path, extra: str = "") -> dict:
    _, office, console = run
    paths = [console]
    if extra:
        (state.parent / "extra.log").write_text(extra)
        paths.append(state.parent / "extra.log")
    return check_mod.check(state, export, office, check_mod.parse_console(paths))


def test_the_killed_writer_kept_every_promise(run, tmp_path):
    state, export = _copy(run, tmp_path)
    res = _check(run, state, export)
    assert res["failures"] == []
    assert res["promised"] >= 7 and res["consents_promised"] >= 7
    assert res["exports_promised"] >= 6 and res["export_files"] >= 6
    assert res["captures_on_disk"] >= res["promised"]


def test_a_receipt_the_disk_lacks_is_caught(run, tmp_path):
    state, export = _copy(run, tmp_path)
    res = _check(run, state, export, "PC saved ZZZZ-ZZZZ " + "ab" * 16 + "\n")
    assert any("ZZZZ-ZZZZ" in f for f in res["failures"])


def test_a_line_cut_off_by_the_kill_promises_nothing(run, tmp_path):
    state, export = _copy(run, tmp_path)
    res = _check(run, state, export, "PC saved ZZZZ-ZZZZ " + "ab" * 15)
    assert res["failures"] == []


def test_a_lost_bundle_or_outbox_row_is_caught(run, tmp_path):
    state, export = _copy(run, tmp_path)
    conn = sqlite3.connect(state / "appliance.db")
    with conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        bundle_id = conn.execute("SELECT bundle_id FROM captures LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM bundles WHERE bundle_id = ?", (bundle_id,))
    conn.close()
    assert any("no bundle" in f for f in _check(run, state, export)["failures"])


def test_a_short_export_file_is_caught(run, tmp_path):
    state, export = _copy(run, tmp_path)
    victim = sorted(export.glob("*.ccsb"))[0]
    victim.write_bytes(victim.read_bytes()[:-100])
    failures = _check(run, state, export)["failures"]
    assert any(victim.name in f and "SHA-256" in f for f in failures)
    assert any(victim.name in f and "damaged" in f for f in failures)


def test_a_replaced_device_key_is_caught(run, tmp_path):
    from appliance.store.keys import ensure_device_key

    state, export = _copy(run, tmp_path)
    for name in ("device_ed25519.pem", "device_ed25519.pub"):
        (state / "keys" / name).unlink()
    ensure_device_key(state)  # a new key, as a store would make after losing its key file
    failures = _check(run, state, export)["failures"]
    assert any("device key on disk" in f for f in failures)
    assert any("UnknownDevice" in f for f in failures)


def test_a_damaged_database_is_caught(run, tmp_path):
    state, export = _copy(run, tmp_path)
    conn = sqlite3.connect(state / "appliance.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    db = state / "appliance.db"
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 2 * page, "the writer's database is too small to damage"
    # Every b-tree page after the first gets an impossible page type and a garbage cell count:
    # bytes at a fixed offset inside a page can fall in its free space, where nothing notices.
    for off in range(page, len(data), page):
        data[off : off + 8] = b"\x55" + os.urandom(7)
    db.write_bytes(bytes(data))
    failures = _check(run, state, export)["failures"]
    assert any("integrity_check" in f or "database unreadable" in f for f in failures)


def test_the_scripts_parse():
    sh = shutil.which("dash") or shutil.which("sh")
    for cmd in (
        ["bash", "-n", str(REPO / "image-build/powercut.sh")],
        [sh, "-n", str(POWERCUT / "init")],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert (POWERCUT / "init").stat().st_mode & 0o111
