"""The database schema and its versioned migrations (sqlite-utils), run at every open.

``PRAGMA user_version`` holds the schema version. Each migration runs in one transaction with the
version bump, so a power cut mid-migration leaves the previous version intact and the next start
runs it again. Append new migrations; never edit one that has shipped.

Tables (version 1):

* ``captures``: the operator's list. Time, state, receipt code, masked ID, consent id, bundle id.
  Nothing else in clear: the identity and images live only inside the sealed bundle.
* ``consents``: purposes agreed, hash and version of the text shown, time, withdrawal.
* ``checkins``: gate decisions. Decision, reason code, age band, sex, birth-registration code;
  never a name, an address or an ID number in any form.
* ``outbox``: one row per sealed bundle (state, attempts, next attempt, acknowledgement).
* ``bundles``: the sealed bytes, apart so that outbox scans never touch the large blobs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from appliance.store.errors import StoreError


def _v1(db: sqlite_utils.Database) -> None:
    db["consents"].create(
        {
            "consent_id": str,
            "purposes": str,  # JSON list
            "text_hash": str,
            "text_version": str,
            "language": str,
            "given_ts": float,
            "given_at": str,
            "clock_synced": int,
            "withdrawn_ts": float,
            "withdrawn_at": str,
            "withdrawal_reason": str,
            "last_used_ts": float,
        },
        pk="consent_id",
        not_null=["purposes", "text_hash", "text_version", "given_ts", "given_at"],
    )
    db["outbox"].create(
        {
            "bundle_id": str,
            "kind": str,
            "created_ts": float,
            "size": int,
            "sha256": str,
            "state": str,  # pending | acked
            "attempts": int,
            "next_attempt_ts": float,
            "last_error": str,
            "acked_ts": float,
            "ack_via": str,  # upload | export
            "exported_ts": float,
        },
        pk="bundle_id",
        not_null=["kind", "created_ts", "size", "sha256", "state", "attempts", "next_attempt_ts"],
        defaults={"state": "pending", "attempts": 0},
    )
    db["outbox"].create_index(["state", "next_attempt_ts"])
    db["bundles"].create({"bundle_id": str, "data": bytes}, pk="bundle_id", not_null=["data"])
    db["captures"].create(
        {
            "id": int,
            "receipt_code": str,
            "masked_id": str,
            "created_ts": float,
            "created_at": str,
            "clock_synced": int,
            "state": str,  # saved | uploaded | delivered | withdrawn | expired
            "consent_id": str,
            "bundle_id": str,
        },
        pk="id",
        not_null=["receipt_code", "created_ts", "created_at", "state"],
    )
    db["captures"].create_index(["receipt_code"], unique=True)
    db["captures"].create_index(["created_ts"])
    db["captures"].create_index(["consent_id"])
    db["checkins"].create(
        {
            "id": int,
            "created_ts": float,
            "created_at": str,
            "clock_synced": int,
            "decision": str,
            "reason": str,
            "age_band": str,
            "sex": str,
            "birth_code": str,
            "bundle_id": str,
        },
        pk="id",
        not_null=["created_ts", "created_at", "decision"],
    )
    db["checkins"].create_index(["created_ts"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]
SCHEMA_VERSION = len(MIGRATIONS)
# Rollback after a system update (docs/updates.md): for each version, the oldest schema version
# whose software still reads and writes it. Additive migrations (new tables, new nullable
# columns) keep it, so the previous release, booted again after a failed trial, keeps using the
# database. A migration that raises it gets a copy of the database made first
# (``appliance.db.schema-v<N>``) for the older release.
MIN_READER: dict[int, int] = {1: 1}


def _record_compat(conn: sqlite3.Connection, version: int) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_compat "
        "(version INTEGER PRIMARY KEY, min_reader INTEGER NOT NULL)"
    )
    conn.execute(
        "INSERT OR REPLACE INTO schema_compat VALUES (?, ?)",
        (version, MIN_READER.get(version, version)),
    )


def _min_reader(conn: sqlite3.Connection, version: int) -> int:
    try:
        row = conn.execute(
            "SELECT min_reader FROM schema_compat WHERE version = ?", (version,)
        ).fetchone()
    except sqlite3.Error:  # a database from before schema_compat: strict
        return version
    return int(row[0]) if row else version


def _keep_copy(conn: sqlite3.Connection, before: int) -> None:
    """A consistent copy for the older release, beside the database (sqlite's backup API)."""
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    if not path:
        return
    copy = sqlite3.connect(f"{path}.schema-v{before}")
    try:
        conn.backup(copy)
    finally:
        copy.close()


def migrate(db: sqlite_utils.Database) -> tuple[int, int]:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns (version before, version after)."""
    conn = db.conn
    before = conn.execute("PRAGMA user_version").fetchone()[0]
    if before > SCHEMA_VERSION:
        if _min_reader(conn, before) <= SCHEMA_VERSION:
            return before, before  # a newer release's additive schema: usable as it is
        raise StoreError(
            f"database schema version {before} is newer than this software ({SCHEMA_VERSION}); "
            "install the newer software or restore a matching backup (a copy made before the "
            f"migration is kept as appliance.db.schema-v{SCHEMA_VERSION} when there is one)"
        )
    for version in range(before + 1, SCHEMA_VERSION + 1):
        if before and MIN_READER.get(version, version) > version - 1:
            _keep_copy(conn, version - 1)
        try:
            conn.execute("BEGIN IMMEDIATE")
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current >= version:  # another process migrated meanwhile
                conn.execute("ROLLBACK")
                continue
            MIGRATIONS[version - 1](db)
            _record_compat(conn, version)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"schema migration to version {version} failed: {exc}") from exc
    return before, SCHEMA_VERSION
