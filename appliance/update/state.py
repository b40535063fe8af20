"""What the updater remembers across reboots, on the data partition (``state.json``).

``pending``: an install done and not yet confirmed (version, the slot it went to, the version it
replaced). ``last``: the last result (``installed``, ``good``, ``rolled_back``, ``refused``,
``failed``) with its version and message, for ``--status``, /healthz and the hub's heartbeat.
Written atomically (temporary file, fsync, rename), so a power cut leaves the old or the new file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS = ("installed", "good", "rolled_back", "refused", "failed")


class UpdateState:
    def __init__(self, folder: str | Path, *, now=time.time) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "state.json"
        self._now = now

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @property
    def pending(self) -> dict[str, Any] | None:
        return self.read().get("pending")

    @property
    def last(self) -> dict[str, Any] | None:
        return self.read().get("last")

    def set_pending(self, version: str, slot: str, previous: str) -> None:
        data = self.read()
        data["pending"] = {
            "version": version,
            "slot": slot,
            "previous": previous,
            "installed_at": self._now(),
        }
        self._write(data)

    def record(
        self, result: str, version: str, message: str = "", *, clear_pending: bool = False
    ) -> dict[str, Any]:
        assert result in RESULTS, result
        data = self.read()
        entry = {"result": result, "version": version, "message": message, "at": self._now()}
        data["last"] = entry
        if result in ("rolled_back", "failed") and version:
            failed = [v for v in data.get("failed_versions", []) if v != version]
            data["failed_versions"] = [*failed, version][-10:]
        if clear_pending:
            data.pop("pending", None)
        self._write(data)
        return entry

    def failed_versions(self) -> list[str]:
        return list(self.read().get("failed_versions", []))
