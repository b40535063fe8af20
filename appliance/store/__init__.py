"""The appliance's data: SQLite store, sealing, consent, gate check-ins, outbox, retention.

Entry points (docs/data-lifecycle.md explains the lifecycle for a data protection officer):

* :class:`Store` (``Store.open(cfg)``): ``save_capture``, ``list_captures``, ``record_consent``,
  ``withdraw_consent``, ``add_checkin``, ``checkins``, ``health``.
* :func:`run_outbox` (the service's uploader task) and :func:`upload_once` (one pass).
* :func:`purge`: retention; :func:`export_bundles`: hand-over on a USB stick.
* :func:`unseal` (office side), in :mod:`appliance.store.bundle`.
* :func:`attach_to_service`: opens the store on a running service and starts the uploader.
"""

from __future__ import annotations

import logging
from typing import Any

from appliance.store.bundle import UnsealedBundle, unseal
from appliance.store.export import export_bundles
from appliance.store.heartbeat import run_heartbeats
from appliance.store.outbox import run_outbox, upload_once
from appliance.store.privacy import age_band
from appliance.store.retention import purge
from appliance.store.store import CaptureReceipt, Store

log = logging.getLogger(__name__)

__all__ = [
    "CaptureReceipt",
    "Store",
    "UnsealedBundle",
    "age_band",
    "attach_to_service",
    "export_bundles",
    "purge",
    "run_outbox",
    "unseal",
    "upload_once",
]


def attach_to_service(service: Any) -> Store:
    """Open the store for ``service`` (``service.store``), add its health and its uploader."""
    store = Store.open(service.cfg)
    service.store = store
    service.extra_health["store"] = store.health
    if not store.sealing_available:
        log.warning("no office public key (%s): captures cannot be saved", store.office_key_source)
    elif store.office_key_source.startswith("demo"):
        log.warning("captures are sealed to a DEMO office key: for the simulator only")

    async def outbox_component(svc: Any, stop: Any) -> None:
        await run_outbox(store, svc.cfg, stop)

    service.components.append(outbox_component)
    if service.cfg.store.upload_url and service.cfg.hub.heartbeat_s > 0:

        async def heartbeat_component(svc: Any, stop: Any) -> None:
            await run_heartbeats(store, svc.cfg.store, svc.cfg.hub.heartbeat_s, stop, svc)

        service.components.append(heartbeat_component)
    return store
