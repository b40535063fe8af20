"""Retention: every kind of record has a period in ``[store]``; :func:`purge` deletes what is due.

* operator-list rows (captures): ``captures_days`` after the capture;
* gate check-ins: ``checkins_days`` after the check-in;
* consent records: ``consent_days`` after withdrawal or last use, once no capture row refers to
  them;
* sealed bundles the office acknowledged: ``uploaded_grace_days`` after the acknowledgement;
* sealed bundles never acknowledged: ``unsent_days`` after sealing (logged as a warning; the
  capture's row turns ``expired``).

Deleted rows are overwritten (``secure_delete``), then free pages go back to the file system
(``incremental_vacuum``) and the WAL is checkpointed and truncated. All periods are counted from
``now``. With an unsynchronised clock (a Pi has no battery-backed clock; an offline field kit may
never synchronise) the purge still runs, because deleting early is what retention wants anyway,
except for sealed bundles never acknowledged: a clock that jumped ahead must not destroy a
capture the office has not received, so those wait for a synchronised clock (or ``force``), and
the result says so (``held_back``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from appliance.clock import clock_synchronized
from appliance.store.store import Store, aware

log = logging.getLogger(__name__)

DAY = 86400.0


def purge(
    store: Store,
    now: datetime | None = None,
    *,
    clock_synced: bool | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete every record past its retention period; returns counts per kind and bytes freed."""
    cfg = store.cfg
    when = aware(now)
    ts = when.timestamp()
    synced = clock_synchronized() if clock_synced is None else bool(clock_synced)
    result: dict[str, Any] = {
        "now": when.isoformat(timespec="seconds"),
        "clock_synchronized": synced,
        "dry_run": dry_run,
        "captures": 0,
        "checkins": 0,
        "consents": 0,
        "bundles_acked": 0,
        "bundles_unsent": 0,
        "bytes_before": store.disk_bytes(),
    }
    hold_unsent = not synced and not force
    if hold_unsent:
        result["held_back"] = (
            "bundles never acknowledged are kept while the clock is not synchronised (--force)"
        )
        log.warning("purge: clock not synchronised; unacknowledged bundles kept")

    acked_cut = ts - cfg.uploaded_grace_days * DAY
    unsent_cut = ts - cfg.unsent_days * DAY
    plans = {
        "bundles_acked": (
            "SELECT bundle_id FROM outbox WHERE state = 'acked' AND acked_ts <= ?",
            (acked_cut,),
        ),
        "bundles_unsent": (
            "SELECT bundle_id FROM outbox WHERE state = 'pending' AND created_ts <= ?",
            (unsent_cut,),
        ),
    }
    with store.transaction() as conn:
        for kind, (sql, params) in plans.items():
            if kind == "bundles_unsent" and hold_unsent:
                continue
            ids = [r[0] for r in conn.execute(sql, params).fetchall()]
            result[kind] = len(ids)
            if dry_run:
                continue
            for bundle_id in ids:
                conn.execute("DELETE FROM bundles WHERE bundle_id = ?", (bundle_id,))
                conn.execute("DELETE FROM outbox WHERE bundle_id = ?", (bundle_id,))
                if kind == "bundles_unsent":
                    conn.execute(
                        "UPDATE captures SET state = 'expired' WHERE bundle_id = ?"
                        " AND state = 'saved'",
                        (bundle_id,),
                    )
        result["captures"] = _delete(
            conn, "captures", "created_ts <= ?", (ts - cfg.captures_days * DAY,), dry_run
        )
        result["checkins"] = _delete(
            conn, "checkins", "created_ts <= ?", (ts - cfg.checkins_days * DAY,), dry_run
        )
        result["consents"] = _delete(
            conn,
            "consents",
            "COALESCE(withdrawn_ts, last_used_ts, given_ts) <= ? AND NOT EXISTS"
            " (SELECT 1 FROM captures c WHERE c.consent_id = consents.consent_id)",
            (ts - cfg.consent_days * DAY,),
            dry_run,
        )
    if not dry_run:
        store.reclaim_space()
    result["bytes_after"] = store.disk_bytes()
    result["reclaimed_bytes"] = max(0, result["bytes_before"] - result["bytes_after"])
    if result["bundles_unsent"]:
        log.warning(
            "purge: %d sealed bundle(s) never acknowledged were deleted after %d days",
            result["bundles_unsent"],
            cfg.unsent_days,
        )
    log.info(
        "purge: captures %d, checkins %d, consents %d, bundles %d acked + %d unsent, %d B freed",
        result["captures"],
        result["checkins"],
        result["consents"],
        result["bundles_acked"],
        result["bundles_unsent"],
        result["reclaimed_bytes"],
    )
    return result


def _delete(conn, table: str, where: str, params: tuple, dry_run: bool) -> int:
    if dry_run:
        return conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0]
    return conn.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount
