"""Offline hand-over: copy sealed bundles to a folder (a USB stick) for the office.

``DIR/<bundle_id>.ccsb`` per bundle (the exact bytes the outbox would upload), the device's
public key ``DIR/device-<key id>.pub`` (the office checks it against its provisioning register),
and ``DIR/manifest.json`` listing every bundle with kind, time, size and SHA-256. Files are
written to a temporary name, fsync'd and renamed; bundles already on the stick are skipped, so an
interrupted export can simply be run again. The bundles stay sealed: the stick reveals nothing
without the office private key.

``mark_delivered`` records the hand-over as the acknowledgement (the bundles then follow the
``uploaded_grace_days`` retention); without it they stay queued for upload.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from appliance.store.bundle import FILE_SUFFIX
from appliance.store.errors import StoreError
from appliance.store.files import fsync_dir, write_file_durably
from appliance.store.store import Store

MANIFEST = "manifest.json"


def export_bundles(
    store: Store,
    to_dir: str | Path,
    *,
    include_acked: bool = False,
    mark_delivered: bool = False,
    now_ts: float | None = None,
) -> dict[str, Any]:
    """Write pending (or all, with ``include_acked``) bundles to ``to_dir``."""
    out = Path(to_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {out}: {exc.strerror}") from None
    now_ts = time.time() if now_ts is None else now_ts
    where = "" if include_acked else " WHERE state = 'pending'"
    rows = store.query(
        "SELECT bundle_id, kind, created_ts, size, sha256, state FROM outbox"
        + where
        + " ORDER BY created_ts"
    )
    written = skipped = total = 0
    manifest = []
    try:
        for row in rows:
            path = out / f"{row['bundle_id']}{FILE_SUFFIX}"
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]:
                skipped += 1
            else:
                data = store.bundle_bytes(row["bundle_id"])
                if data is None:
                    continue
                write_file_durably(path, data, 0o644)
                written += 1
                total += len(data)
            store.mark_exported(row["bundle_id"], now_ts)
            if mark_delivered:
                store.mark_acked(row["bundle_id"], now_ts, "export")
            manifest.append(
                {
                    "bundle_id": row["bundle_id"],
                    "file": path.name,
                    "kind": row["kind"],
                    "created_ts": row["created_ts"],
                    "size": row["size"],
                    "sha256": row["sha256"],
                }
            )
        key_file = out / f"device-{store.device_key.key_id}.pub"
        write_file_durably(key_file, store.device_key.public_pem().encode(), 0o644)
        previous = _read_manifest(out)
        known = {b["bundle_id"] for b in manifest}
        merged = [b for b in previous if b.get("bundle_id") not in known] + manifest
        body = {
            "format": "cccd-export/1",
            "device_key_id": store.device_key.key_id,
            "bundles": merged,
        }
        write_file_durably(out / MANIFEST, (json.dumps(body, indent=2) + "\n").encode(), 0o644)
        fsync_dir(out)
    except OSError as exc:
        raise StoreError(f"export to {out} failed: {exc.strerror or exc}") from None
    return {
        "to": str(out),
        "bundles": len(manifest),
        "written": written,
        "already_there": skipped,
        "bytes_written": total,
        "marked_delivered": len(manifest) if mark_delivered else 0,
        "device_key_id": store.device_key.key_id,
    }


def _read_manifest(out: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((out / MANIFEST).read_text())
        return [b for b in data.get("bundles", []) if isinstance(b, dict)]
    except (OSError, ValueError, AttributeError):
        return []
