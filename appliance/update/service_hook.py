"""The service's side of updates: the idle hold's routes and ``update`` in /healthz.

/healthz (and so the hub's heartbeat) carries the running release, the hold, the pending install
and the last result, with the failed version after a rollback (the hub's /updates page shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.update.idle import UpdateHold, install_routes
from appliance.update.installer import release_file_version
from appliance.update.state import UpdateState


def attach_to_service(
    service: Any, in_session: Callable[[], bool], on_hold: Callable[[bool], None] | None = None
) -> UpdateHold:
    hold = UpdateHold(in_session, service.cfg.update.hold_s)
    if on_hold:
        hold.listeners.append(on_hold)
    install_routes(service.app, hold)
    state = UpdateState(service.cfg.update_dir)

    def health() -> dict[str, Any]:
        data = state.read()
        return {
            "release": release_file_version(),
            **hold.health(),
            "pending": data.get("pending"),
            "last": data.get("last"),
            "failed_versions": data.get("failed_versions", []),
        }

    service.extra_health["update"] = health
    return hold
