"""Power-cut test, host side: check a data disk's state against what the guest reported.

    check.py --state DIR --export DIR --office-key office_x25519.pem CONSOLE.log...

DIR are copies taken (debugfs rdump) from the data disk after QEMU was killed and the ext4
journal replayed; the console logs are every cycle's serial output since the disk was made. Every
``PC ...`` line (see ``writer.py``) was printed after the call that made it durable returned, so
each is a promise the disk must keep:

* the database passes ``PRAGMA integrity_check`` and ``foreign_key_check``;
* every reported consent and receipt is there, each capture with its bundle and outbox entry, and
  every bundle in the database (reported or not) verifies against the device key on the disk and
  decrypts with the office key;
* the device key on the disk is the one every cycle reported (a key lost or replaced after a cut
  would orphan every bundle it signed);
* every reported export file exists with its SHA-256, verifies and decrypts, is listed in the
  manifest and acknowledged in the database; any ``.ccsb`` file present at all is complete.

Prints one JSON line with the figures; exit status 1 with the failures listed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from appliance.store.bundle import FILE_SUFFIX, unseal
from appliance.store.errors import BundleError, KeyFileError
from appliance.store.keys import (
    DEVICE_PRIVATE,
    DEVICE_PUBLIC,
    KEYS_DIR,
    key_id,
    load_private_key,
    load_public_key,
)
from appliance.store.store import DB_NAME

LINE = {
    "ready": re.compile(r"PC ready ([0-9a-f]{32}) (\d+)"),
    "consent": re.compile(r"PC consent ([0-9a-f]{32})"),
    "saved": re.compile(r"PC saved ([0-9A-Z]{4}-[0-9A-Z]{4}) ([0-9a-f]{32})"),
    "exported": re.compile(r"PC exported ([0-9a-f]{32}) ([0-9a-f]{64})"),
    "error": re.compile(r"PC error (.*)"),
}


def parse_console(paths: list[Path]) -> dict[str, list[tuple[str, ...]]]:
    """The writer's complete lines (a line cut off by the kill, or broken by a kernel message,
    matches nothing and promises nothing)."""
    out: dict[str, list[tuple[str, ...]]] = {k: [] for k in LINE}
    for path in paths:
        for raw in path.read_bytes().decode("utf-8", "replace").splitlines():
            line = raw.strip("\r\x00 ")
            for kind, rx in LINE.items():
                m = rx.fullmatch(line)
                if m:
                    out[kind].append(m.groups())
    return out


def check(state: Path, export: Path, office: X25519PrivateKey, reported: dict) -> dict[str, Any]:
    fail: list[str] = []
    res: dict[str, Any] = {"failures": fail}
    fail += [f"writer error: {e[0]}" for e in reported["error"]]
    kids = {r[0] for r in reported["ready"]}
    if len(kids) > 1:
        fail.append(f"the device key changed between cycles: {sorted(kids)}")
    db_path = state / DB_NAME
    if not reported["ready"]:  # cut before the store had opened once: nothing was promised
        res["promised"] = 0
        return res
    devices: dict[str, Ed25519PublicKey] = {}
    try:
        pub = load_public_key(state / KEYS_DIR / DEVICE_PUBLIC, Ed25519PublicKey)
        priv = load_private_key(state / KEYS_DIR / DEVICE_PRIVATE, Ed25519PrivateKey)
        if key_id(priv.public_key()) != key_id(pub):
            fail.append("device_ed25519.pem and device_ed25519.pub do not match")
        devices[key_id(pub)] = pub
        if kids and key_id(pub) not in kids:
            fail.append(f"device key on disk {key_id(pub)} is not the reported {sorted(kids)}")
    except KeyFileError as exc:
        fail.append(f"device key: {exc}")
    if not db_path.exists():
        fail.append("appliance.db missing although the store had opened")
        return res
    conn = sqlite3.connect(db_path)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            fail.append(f"integrity_check: {integrity[:5]}")
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            fail.append("foreign_key_check found dangling references")
        consents = {r[0] for r in conn.execute("SELECT consent_id FROM consents")}
        captures = dict(conn.execute("SELECT receipt_code, bundle_id FROM captures"))
        rows = conn.execute("SELECT bundle_id, sha256, state, ack_via FROM outbox")
        outbox = {r[0]: r[1:] for r in rows}
        bundles = {r[0]: bytes(r[1]) for r in conn.execute("SELECT bundle_id, data FROM bundles")}
    except sqlite3.Error as exc:
        fail.append(f"database unreadable: {exc}")
        return res
    finally:
        conn.close()
    lost_consents = [c for (c,) in reported["consent"] if c not in consents]
    if lost_consents:
        fail.append(f"{len(lost_consents)} reported consent(s) missing, e.g. {lost_consents[0]}")
    for receipt, bundle_id in reported["saved"]:
        if captures.get(receipt) != bundle_id:
            fail.append(f"receipt {receipt} reported saved but not in captures")
    for receipt, bundle_id in captures.items():
        if bundle_id not in bundles or bundle_id not in outbox:
            fail.append(f"capture {receipt} has no bundle or outbox entry")
    receipts = {b: r for r, b in captures.items()}
    for bundle_id, data in bundles.items():
        row = outbox.get(bundle_id)
        if row is None or hashlib.sha256(data).hexdigest() != row[0]:
            fail.append(f"bundle {bundle_id} does not match its outbox SHA-256")
            continue
        try:
            opened = unseal(data, office, devices)
        except BundleError as exc:
            fail.append(f"bundle {bundle_id} in the database: {type(exc).__name__}: {exc}")
            continue
        if bundle_id in receipts and opened.record.get("receipt_code") != receipts[bundle_id]:
            fail.append(f"bundle {bundle_id} holds another receipt code")
    manifest: set[str] = set()
    if reported["exported"]:
        try:
            body = json.loads((export / "manifest.json").read_text())
            manifest = {b["bundle_id"] for b in body["bundles"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail.append(f"export manifest.json unreadable: {exc}")
        for kid in devices:
            if not (export / f"device-{kid}.pub").is_file():
                fail.append(f"export lacks device-{kid}.pub")
    for bundle_id, sha in reported["exported"]:
        path = export / f"{bundle_id}{FILE_SUFFIX}"
        try:
            data = path.read_bytes()
        except OSError:
            fail.append(f"exported {path.name} reported but missing")
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            fail.append(f"exported {path.name} does not match the reported SHA-256")
        if bundle_id not in manifest:
            fail.append(f"exported {bundle_id} not in manifest.json")
        if outbox.get(bundle_id, (None, None, None))[1:] != ("acked", "export"):
            fail.append(f"exported {bundle_id} not acknowledged as delivered in the database")
    files = sorted(export.glob(f"*{FILE_SUFFIX}")) if export.is_dir() else []
    for path in files:  # renamed into place only after fsync: never a partial file
        data = path.read_bytes()
        try:
            unseal(data, office, devices)
        except BundleError as exc:
            fail.append(f"export file {path.name} is damaged: {type(exc).__name__}: {exc}")
    res.update(
        {
            "promised": len(reported["saved"]),
            "consents_promised": len(reported["consent"]),
            "exports_promised": len(reported["exported"]),
            "captures_on_disk": len(captures),
            "bundles_on_disk": len(bundles),
            "export_files": len(files),
            "device_key_id": next(iter(devices), None),
        }
    )
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--export", type=Path, required=True)
    ap.add_argument("--office-key", type=Path, required=True)
    ap.add_argument("console", type=Path, nargs="+")
    args = ap.parse_args(argv)
    office = load_private_key(args.office_key, X25519PrivateKey)
    res = check(args.state, args.export, office, parse_console(args.console))
    print(json.dumps(res))
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
