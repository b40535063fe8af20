"""The store: one SQLite database (WAL, full fsync) in the state directory.

Open it once per process and share it between threads (every call takes an internal lock)::

    store = Store.open(cfg)                     # a Config, or a state directory path
    cid = store.record_consent(["biometric_enrollment"], text_hash, "vi-2025-01")
    receipt = store.save_capture(identity, portrait=jpeg, fingerprints={"right_index": png},
                                 quality=quality_results, consent_id=cid)
    receipt.receipt_code, receipt.masked_id     # show these to the citizen: the capture is on disk
    store.list_captures(date.today())            # the operator's list
    store.add_checkin("allow", None, "25-34", "male", "001")   # the QR gate
    store.withdraw_consent(receipt_code="7K2M-Q9XD")

``save_capture`` seals the record (identity, portrait, fingerprints, quality, consent) into a
bundle encrypted to the office key and signed by the device key (:mod:`appliance.store.bundle`),
then commits it and its operator-list row in one transaction with ``synchronous=FULL``: when it
returns, the capture survives a power cut. What stays in clear is only time, state, receipt code,
masked ID and the links between rows (see :mod:`appliance.store.schema`).

Time-dependent calls take ``now`` (an aware datetime; naive means local time) and
``clock_synced`` (None asks :func:`appliance.clock.clock_synchronized`); both are recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from appliance.clock import clock_synchronized
from appliance.config import Config, StoreConfig
from appliance.store import privacy
from appliance.store.bundle import Part, seal
from appliance.store.errors import (
    ConsentError,
    OfficeKeyMissing,
    RecordRejected,
    StoreError,
)
from appliance.store.keys import (
    DeviceKey,
    demo_office_public_key,
    ensure_device_key,
    key_id,
    load_public_key,
)
from appliance.store.schema import migrate

log = logging.getLogger(__name__)

DB_NAME = "appliance.db"


def aware(now: datetime | None) -> datetime:
    """``now`` as an aware datetime in local time (None = the current time)."""
    if now is None:
        return datetime.now().astimezone()
    return now.astimezone()  # naive is taken as local time


def day_bounds(day: date | str | None) -> tuple[float, float]:
    """Epoch seconds of local midnight starting ``day`` (None = today) and the next one."""
    if day is None:
        day = date.today()
    elif isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            raise RecordRejected(f"day must be YYYY-MM-DD, not {day!r}") from None
    start = datetime(day.year, day.month, day.day).astimezone()
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day).astimezone()
    return start.timestamp(), end.timestamp()


def _synced(clock_synced: bool | None) -> bool:
    return clock_synchronized() if clock_synced is None else bool(clock_synced)


def _content_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"\xff\xa0\xff\xa8":
        return "image/x-wsq"
    return "application/octet-stream"


class _Checkpointer(threading.Thread):
    """Copies the WAL into the database soon after a save, on its own connection.

    Without it SQLite checkpoints inside whichever commit crosses the WAL size limit, and that
    citizen waits for megabytes to be copied and fsync'd. A PASSIVE checkpoint runs beside
    writers; the automatic one stays as a backstop.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(name="store-checkpoint", daemon=True)
        self.path = path
        self.wake = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            log.warning("checkpoint thread disabled: %s", exc)
            return
        try:
            while not self.stopped.is_set():
                self.wake.wait()
                self.wake.clear()  # stop() sets ``stopped`` before waking: checked next
                if self.stopped.wait(0.05):  # let a burst of writes finish first
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("background checkpoint failed: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
        if self.is_alive():
            self.join(5)


@dataclass(frozen=True)
class CaptureReceipt:
    """What the citizen is shown once the capture is durably saved."""

    receipt_code: str
    masked_id: str | None
    created_at: str
    bundle_id: str
    clock_synced: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Store:
    """The appliance's database. Thread-safe; one per process (other processes may share it)."""

    def __init__(
        self,
        path: Path,
        *,
        store_cfg: StoreConfig,
        device_key: DeviceKey,
        office_key: X25519PublicKey | None,
        office_key_source: str,
        synchronous: str = "FULL",
    ) -> None:
        self.path = path
        self.cfg = store_cfg
        self.device_key = device_key
        self.office_key = office_key
        self.office_key_source = office_key_source
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._checkpointer: _Checkpointer | None = None
        if not path.exists():  # the database and its WAL are private to the service user
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            conn = sqlite3.connect(path, timeout=15, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"cannot switch {path} to WAL (journal mode {mode})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA journal_size_limit = 8388608")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self.schema_before, self.schema_version = migrate(self.db)
        if self.schema_before != self.schema_version:
            log.info("database schema %d -> %d", self.schema_before, self.schema_version)

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        cfg_or_state_dir: Config | str | Path,
        *,
        store_cfg: StoreConfig | None = None,
        office_public_key: X25519PublicKey | str | Path | None = None,
        synchronous: str = "FULL",
    ) -> Store:
        """Open (creating and migrating) the store of a config or a state directory.

        ``office_public_key`` overrides ``[store] office_public_key``. Without any office key the
        store still opens (consent, check-ins, lists, purge work) but :meth:`save_capture` refuses
        with :class:`OfficeKeyMissing`: nothing sensitive is ever stored unsealed.
        """
        if isinstance(cfg_or_state_dir, Config):
            state_dir = cfg_or_state_dir.state_dir
            scfg = store_cfg or cfg_or_state_dir.store
        else:
            state_dir = Path(cfg_or_state_dir)
            scfg = store_cfg or StoreConfig()
        check_store_config(scfg)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {state_dir}: {exc.strerror}") from None
        device_key = ensure_device_key(state_dir)
        office, source = _office_key(scfg, state_dir, office_public_key)
        return cls(
            state_dir / DB_NAME,
            store_cfg=scfg,
            device_key=device_key,
            office_key=office,
            office_key_source=source,
            synchronous=synchronous,
        )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, fsync'd), under the store lock."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params))

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` (from the writing thread) whenever a new bundle is queued."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def _notify(self) -> None:
        with self._lock:
            if self._checkpointer is None:
                self._checkpointer = _Checkpointer(self.path)
                self._checkpointer.start()
            self._checkpointer.wake.set()
        for fn in list(self._listeners):
            try:
                fn()
            except Exception:  # a listener must never undo a committed save
                log.exception("outbox listener failed")

    @property
    def sealing_available(self) -> bool:
        return self.office_key is not None

    def _require_office_key(self) -> X25519PublicKey:
        if self.office_key is None:
            raise OfficeKeyMissing(
                f"no office public key ({self.office_key_source}): nothing can be sealed, so "
                "nothing is saved; install the office's key (appliance keys office) and set "
                "[store] office_public_key"
            )
        return self.office_key

    # --- sealing -------------------------------------------------------------------------------

    def _seal(
        self,
        kind: str,
        record: dict[str, Any],
        parts: list[Part],
        when: datetime,
        synced: bool,
    ) -> tuple[str, bytes]:
        bundle_id = uuid.uuid4().hex
        try:
            data = seal(
                kind,
                record,
                parts,
                device_key=self.device_key,
                office_key=self._require_office_key(),
                bundle_id=bundle_id,
                created_at=when.isoformat(timespec="milliseconds"),
                clock_synced=synced,
            )
        except (TypeError, ValueError) as exc:
            raise RecordRejected(f"record cannot be sealed: {exc}") from None
        return bundle_id, data

    def _queue(
        self, conn: sqlite3.Connection, kind: str, bundle_id: str, data: bytes, ts: float
    ) -> None:
        conn.execute("INSERT INTO bundles (bundle_id, data) VALUES (?, ?)", (bundle_id, data))
        conn.execute(
            "INSERT INTO outbox (bundle_id, kind, created_ts, size, sha256, state, attempts,"
            " next_attempt_ts) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
            (bundle_id, kind, ts, len(data), hashlib.sha256(data).hexdigest(), ts),
        )

    # --- captures ------------------------------------------------------------------------------

    def save_capture(
        self,
        record: dict[str, Any],
        *,
        portrait: bytes | None,
        fingerprints: dict[str, bytes],
        quality: dict[str, Any],
        consent_id: str | None,
        now: datetime | None = None,
        clock_synced: bool | None = None,
    ) -> CaptureReceipt:
        """Seal and durably commit one capture; returns the receipt only once it is on disk.

        ``record``: identity fields (``id_number``, ``full_name``... as read from QR or chip) and
        anything else the office needs; ``portrait``: JPEG/PNG bytes; ``fingerprints``:
        ``{"right_index": image bytes, ...}``; ``quality``: the quality results;
        ``consent_id``: from :meth:`record_consent`, required, not withdrawn.
        """
        if not isinstance(record, dict):
            raise RecordRejected("record must be a dict")
        if portrait is not None and not isinstance(portrait, bytes | bytearray):
            raise RecordRejected("portrait must be bytes")
        if not isinstance(fingerprints, dict):
            raise RecordRejected("fingerprints must be a dict of name -> image bytes")
        parts = []
        if portrait is not None:
            parts.append(Part("portrait", _content_type(portrait), bytes(portrait)))
        for name, image in fingerprints.items():
            privacy.check_part_name(name)
            if not isinstance(image, bytes | bytearray):
                raise RecordRejected(f"fingerprint {name!r} must be bytes")
            parts.append(Part(f"finger_{name}", _content_type(image), bytes(image)))
        when = aware(now)
        synced = _synced(clock_synced)
        consent = self._usable_consent(consent_id)
        receipt_code = privacy.new_receipt_code()
        masked = privacy.masked_id(record.get("id_number"))
        sealed_record = {
            "identity": record,
            "quality": quality,
            "consent": consent,
            "receipt_code": receipt_code,
            "captured_at": when.isoformat(timespec="milliseconds"),
            "clock_synced": synced,
            "device_key_id": self.device_key.key_id,
        }
        bundle_id, data = self._seal("capture", sealed_record, parts, when, synced)
        ts = when.timestamp()
        for _ in range(5):
            try:
                with self.transaction() as conn:
                    # Re-checked inside the transaction: a withdrawal may have just committed.
                    self._usable_consent(consent_id)
                    self._queue(conn, "capture", bundle_id, data, ts)
                    conn.execute(
                        "INSERT INTO captures (receipt_code, masked_id, created_ts, created_at,"
                        " clock_synced, state, consent_id, bundle_id)"
                        " VALUES (?, ?, ?, ?, ?, 'saved', ?, ?)",
                        (
                            receipt_code,
                            masked,
                            ts,
                            sealed_record["captured_at"],
                            int(synced),
                            consent_id,
                            bundle_id,
                        ),
                    )
                    conn.execute(
                        "UPDATE consents SET last_used_ts = ? WHERE consent_id = ?",
                        (ts, consent_id),
                    )
                break
            except sqlite3.IntegrityError as exc:  # a receipt code collision: draw another
                if "receipt_code" not in str(exc):
                    raise StoreError(f"capture not saved: {exc}") from exc
                # The code is inside the sealed record too, so re-seal with the new one.
                receipt_code = privacy.new_receipt_code()
                sealed_record["receipt_code"] = receipt_code
                bundle_id, data = self._seal("capture", sealed_record, parts, when, synced)
            except sqlite3.Error as exc:
                raise StoreError(f"capture not saved: {exc}") from exc
        else:
            raise StoreError("capture not saved: no free receipt code")
        log.info("capture saved, receipt %s, bundle %s", receipt_code, bundle_id)
        self._notify()
        return CaptureReceipt(receipt_code, masked, sealed_record["captured_at"], bundle_id, synced)

    def list_captures(self, day: date | str | None = None) -> list[dict[str, Any]]:
        """The operator's list for one local day: time, state, receipt code, masked ID, uploaded.

        ``state``: ``saved`` (sealed, waiting for upload), ``uploaded`` (the office acknowledged
        it), ``delivered`` (handed over by ``appliance export --mark-delivered``), ``withdrawn``
        (consent withdrawn) or ``expired`` (never delivered; deleted after ``unsent_days``).
        """
        start, end = day_bounds(day)
        rows = self.query(
            "SELECT created_at, state, receipt_code, masked_id, clock_synced FROM captures"
            " WHERE created_ts >= ? AND created_ts < ? ORDER BY created_ts",
            (start, end),
        )
        return [
            {
                "time": r["created_at"],
                "state": r["state"],
                "receipt_code": r["receipt_code"],
                "masked_id": r["masked_id"],
                "uploaded": r["state"] in ("uploaded", "delivered"),
                "clock_synced": bool(r["clock_synced"]),
            }
            for r in rows
        ]

    # --- consent -------------------------------------------------------------------------------

    def record_consent(
        self,
        purposes: list[str],
        text_hash: str,
        text_version: str,
        *,
        language: str | None = None,
        now: datetime | None = None,
        clock_synced: bool | None = None,
    ) -> str:
        """Record an explicit consent (one entry per purpose agreed); returns its id.

        ``text_hash``: SHA-256 (hex) of the exact text shown; ``text_version``: its version tag.
        Call it only after the citizen actively agreed: silence or a pre-ticked box is not consent.
        """
        purposes = privacy.check_purposes(purposes)
        text_hash = privacy.check_text_hash(text_hash)
        text_version = privacy.check_short_text(text_version, "text_version")
        if language is not None:
            language = privacy.check_short_text(language, "language", 16)
        when = aware(now)
        synced = _synced(clock_synced)
        consent_id = uuid.uuid4().hex
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO consents (consent_id, purposes, text_hash, text_version, language,"
                    " given_ts, given_at, clock_synced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        consent_id,
                        json.dumps(purposes),
                        text_hash,
                        text_version,
                        language,
                        when.timestamp(),
                        when.isoformat(timespec="milliseconds"),
                        int(synced),
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"consent not recorded: {exc}") from exc
        log.info("consent %s recorded (%s, text %s)", consent_id, ",".join(purposes), text_version)
        return consent_id

    def consent(self, consent_id: str) -> dict[str, Any] | None:
        """A consent record as a dict (purposes as a list), or None."""
        rows = self.query("SELECT * FROM consents WHERE consent_id = ?", (consent_id,))
        if not rows:
            return None
        row = rows[0]
        return {
            "consent_id": row["consent_id"],
            "purposes": json.loads(row["purposes"]),
            "text_hash": row["text_hash"],
            "text_version": row["text_version"],
            "language": row["language"],
            "given_at": row["given_at"],
            "clock_synced": bool(row["clock_synced"]),
            "withdrawn_at": row["withdrawn_at"],
            "withdrawal_reason": row["withdrawal_reason"],
        }

    def _usable_consent(self, consent_id: str | None) -> dict[str, Any]:
        if not consent_id:
            raise ConsentError("no consent: biometrics are captured and saved only after consent")
        consent = self.consent(consent_id)
        if consent is None:
            raise ConsentError(f"unknown consent {consent_id}")
        if consent["withdrawn_at"]:
            raise ConsentError(f"consent {consent_id} was withdrawn at {consent['withdrawn_at']}")
        missing = [p for p in self.cfg.required_consent_purposes if p not in consent["purposes"]]
        if missing:
            raise ConsentError(f"consent does not cover the purpose(s) {', '.join(missing)}")
        return consent

    def withdraw_consent(
        self,
        consent_id: str | None = None,
        *,
        receipt_code: str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
        clock_synced: bool | None = None,
    ) -> dict[str, Any]:
        """Withdraw a consent (by id, or by the receipt code of a capture made under it).

        Captures under it become ``withdrawn``; their bundles not yet uploaded are deleted from
        the device, and a sealed ``consent_withdrawal`` notice is queued for the office (which may
        already hold an uploaded or exported copy). Withdrawing twice is harmless.
        """
        reason = privacy.check_code(reason, "reason")
        if consent_id is None:
            if receipt_code is None:
                raise RecordRejected("give a consent id or a receipt code")
            rows = self.query(
                "SELECT consent_id FROM captures WHERE receipt_code = ?",
                (receipt_code.strip().upper(),),
            )
            if not rows or not rows[0]["consent_id"]:
                raise ConsentError(f"no capture with receipt code {receipt_code}")
            consent_id = rows[0]["consent_id"]
        consent = self.consent(consent_id)
        if consent is None:
            raise ConsentError(f"unknown consent {consent_id}")
        if consent["withdrawn_at"]:
            return {
                "consent_id": consent_id,
                "withdrawn_at": consent["withdrawn_at"],
                "already_withdrawn": True,
            }
        when = aware(now)
        synced = _synced(clock_synced)
        ts = when.timestamp()
        captures = self.query(
            "SELECT c.bundle_id, o.state FROM captures c LEFT JOIN outbox o"
            " ON o.bundle_id = c.bundle_id WHERE c.consent_id = ?",
            (consent_id,),
        )
        notice = None
        if captures and self.office_key is not None:
            notice = self._seal(
                "consent_withdrawal",
                {
                    "consent_id": consent_id,
                    "consent": consent,
                    "capture_bundle_ids": [c["bundle_id"] for c in captures],
                    "withdrawn_at": when.isoformat(timespec="milliseconds"),
                    "clock_synced": synced,
                    "reason": reason,
                },
                [],
                when,
                synced,
            )
        unsent = [c["bundle_id"] for c in captures if c["state"] == "pending"]
        with self.transaction() as conn:
            conn.execute(
                "UPDATE consents SET withdrawn_ts = ?, withdrawn_at = ?, withdrawal_reason = ?"
                " WHERE consent_id = ?",
                (ts, when.isoformat(timespec="milliseconds"), reason, consent_id),
            )
            conn.execute(
                "UPDATE captures SET state = 'withdrawn' WHERE consent_id = ?", (consent_id,)
            )
            for bundle_id in unsent:
                conn.execute("DELETE FROM bundles WHERE bundle_id = ?", (bundle_id,))
                conn.execute("DELETE FROM outbox WHERE bundle_id = ?", (bundle_id,))
            if notice:
                self._queue(conn, "consent_withdrawal", notice[0], notice[1], ts)
        log.info("consent %s withdrawn; %d unsent bundle(s) deleted", consent_id, len(unsent))
        if notice:
            self._notify()
        return {
            "consent_id": consent_id,
            "withdrawn_at": when.isoformat(timespec="milliseconds"),
            "already_withdrawn": False,
            "captures": len(captures),
            "deleted_unsent": len(unsent),
            "notice_bundle_id": notice[0] if notice else None,
        }

    # --- gate check-ins ------------------------------------------------------------------------

    def add_checkin(
        self,
        decision: str,
        reason: str | None = None,
        age_band: str | None = None,
        sex: str | None = None,
        birth_code: str | None = None,
        sealed_record: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
        clock_synced: bool | None = None,
    ) -> int:
        """Log one gate decision; returns its row id.

        ``decision`` and ``reason`` are short codes (``allow``/``deny``, ``card_expired``);
        ``age_band`` like ``"25-34"`` (:func:`appliance.store.privacy.age_band`); ``sex`` male or
        female; ``birth_code`` the ID's 3-digit birth-registration prefix. Nothing else about the
        visitor is kept in clear. ``sealed_record`` (optional) is sealed to the office and queued.
        """
        decision = privacy.check_code(decision, "decision") or ""
        if not decision:
            raise RecordRejected("decision is required")
        reason = privacy.check_code(reason, "reason")
        age_band = privacy.check_age_band(age_band)
        sex = privacy.check_sex(sex)
        birth_code = privacy.check_birth_code(birth_code)
        when = aware(now)
        synced = _synced(clock_synced)
        bundle = None
        if sealed_record is not None:
            if not isinstance(sealed_record, dict):
                raise RecordRejected("sealed_record must be a dict")
            bundle = self._seal("checkin", sealed_record, [], when, synced)
        ts = when.timestamp()
        try:
            with self.transaction() as conn:
                if bundle:
                    self._queue(conn, "checkin", bundle[0], bundle[1], ts)
                cur = conn.execute(
                    "INSERT INTO checkins (created_ts, created_at, clock_synced, decision, reason,"
                    " age_band, sex, birth_code, bundle_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ts,
                        when.isoformat(timespec="milliseconds"),
                        int(synced),
                        decision,
                        reason,
                        age_band,
                        sex,
                        birth_code,
                        bundle[0] if bundle else None,
                    ),
                )
                row_id = int(cur.lastrowid or 0)
        except sqlite3.Error as exc:
            raise StoreError(f"check-in not saved: {exc}") from exc
        if bundle:
            self._notify()
        return row_id

    def checkins(self, day: date | str | None = None) -> list[dict[str, Any]]:
        """The gate's check-ins of one local day, oldest first."""
        start, end = day_bounds(day)
        rows = self.query(
            "SELECT id, created_at, clock_synced, decision, reason, age_band, sex, birth_code,"
            " bundle_id FROM checkins WHERE created_ts >= ? AND created_ts < ? ORDER BY created_ts",
            (start, end),
        )
        return [
            {
                "id": r["id"],
                "time": r["created_at"],
                "decision": r["decision"],
                "reason": r["reason"],
                "age_band": r["age_band"],
                "sex": r["sex"],
                "birth_code": r["birth_code"],
                "sealed": r["bundle_id"] is not None,
                "clock_synced": bool(r["clock_synced"]),
            }
            for r in rows
        ]

    # --- outbox bookkeeping (used by appliance.store.outbox and .export) -----------------------

    def due_bundles(self, now_ts: float, limit: int = 50) -> list[dict[str, Any]]:
        return self.query(
            "SELECT bundle_id, kind, sha256, size, attempts FROM outbox WHERE state = 'pending'"
            " AND next_attempt_ts <= ? ORDER BY next_attempt_ts, created_ts LIMIT ?",
            (now_ts, limit),
        )

    def next_due_ts(self) -> float | None:
        rows = self.query("SELECT MIN(next_attempt_ts) AS t FROM outbox WHERE state = 'pending'")
        return rows[0]["t"] if rows else None

    def bundle_bytes(self, bundle_id: str) -> bytes | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT data FROM bundles WHERE bundle_id = ?", (bundle_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def mark_acked(self, bundle_id: str, now_ts: float, via: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'acked', acked_ts = ?, ack_via = ?, last_error = NULL"
                " WHERE bundle_id = ? AND state = 'pending'",
                (now_ts, via, bundle_id),
            )
            conn.execute(
                "UPDATE captures SET state = ? WHERE bundle_id = ? AND state = 'saved'",
                ("delivered" if via == "export" else "uploaded", bundle_id),
            )

    def mark_failed(self, bundle_id: str, error: str, next_ts: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ts = ?"
                " WHERE bundle_id = ? AND state = 'pending'",
                (error[:300], next_ts, bundle_id),
            )

    def mark_exported(self, bundle_id: str, now_ts: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET exported_ts = ? WHERE bundle_id = ?", (now_ts, bundle_id)
            )

    def outbox_status(self) -> dict[str, Any]:
        rows = self.query(
            "SELECT state, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes,"
            " MIN(created_ts) AS oldest FROM outbox GROUP BY state"
        )
        by_state = {r["state"]: r for r in rows}
        pending = by_state.get("pending") or {"n": 0, "bytes": 0, "oldest": None}
        last = self.query(
            "SELECT last_error FROM outbox WHERE state = 'pending' AND last_error IS NOT NULL"
            " ORDER BY next_attempt_ts DESC LIMIT 1"
        )
        oldest = pending["oldest"]
        return {
            "pending": pending["n"],
            "pending_bytes": pending["bytes"],
            "oldest_pending": datetime.fromtimestamp(oldest)
            .astimezone()
            .isoformat(timespec="seconds")
            if oldest
            else None,
            "acked": (by_state.get("acked") or {"n": 0})["n"],
            "last_error": last[0]["last_error"] if last else None,
        }

    def health(self) -> dict[str, Any]:
        """For the service's /healthz: sealing ready, keys, outbox, database size."""
        return {
            "sealing": self.sealing_available,
            "office_key_id": key_id(self.office_key) if self.office_key else None,
            "office_key_source": self.office_key_source,  # "demo key ..." must never be a site's
            "device_key_id": self.device_key.key_id,
            "schema_version": self.schema_version,
            "outbox": self.outbox_status(),
            "db_bytes": self.disk_bytes(),
        }

    def reclaim_space(self) -> None:
        """Give free pages back to the file system and truncate the WAL (after a purge)."""
        with self._lock:
            if self.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # incremental
                # executescript steps the pragma to the end (execute would free one page)
                self.conn.executescript("PRAGMA incremental_vacuum;")
            else:  # a database made before auto_vacuum was set: rebuild it
                self.conn.execute("VACUUM")
        self.checkpoint_truncate()

    def checkpoint_truncate(self, tries: int = 40) -> bool:
        """Copy the whole WAL into the database and truncate it (retries while busy)."""
        for _ in range(tries):
            with self._lock:
                busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return True
            time.sleep(0.05)  # the background checkpoint is running: wait for it
        log.warning("WAL not truncated: the database stayed busy")
        return False

    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total


def check_store_config(scfg: StoreConfig) -> None:
    """Semantic checks of ``[store]`` beyond types (raises ConfigError)."""
    from appliance.errors import ConfigError

    for name in (
        "captures_days",
        "checkins_days",
        "consent_days",
        "uploaded_grace_days",
        "unsent_days",
    ):
        if getattr(scfg, name) < 0:
            raise ConfigError("must be 0 or more", key=f"store.{name}")
    for name in (
        "upload_timeout_s",
        "upload_connect_timeout_s",
        "backoff_base_s",
        "backoff_max_s",
        "poll_s",
    ):
        if getattr(scfg, name) <= 0:
            raise ConfigError("must be more than 0", key=f"store.{name}")
    if scfg.backoff_max_s < scfg.backoff_base_s:
        raise ConfigError("must be at least backoff_base_s", key="store.backoff_max_s")
    if scfg.upload_method.upper() not in ("PUT", "POST"):
        raise ConfigError("must be PUT or POST", key="store.upload_method")
    for p in scfg.required_consent_purposes:
        if not privacy.PURPOSE_RE.fullmatch(p):
            raise ConfigError(f"{p!r} is not a purpose code", key="store.required_consent_purposes")


def _office_key(
    scfg: StoreConfig, state_dir: Path, given: X25519PublicKey | str | Path | None
) -> tuple[X25519PublicKey | None, str]:
    if isinstance(given, X25519PublicKey):
        return given, "given"
    if given is not None:  # asked for explicitly: it must be there
        return load_public_key(given, X25519PublicKey), str(given)
    path = scfg.office_public_key
    if path:
        if Path(path).is_file():
            return load_public_key(path, X25519PublicKey), path
        if not scfg.demo_office_key:
            log.info("office public key %s not found: captures cannot be saved", path)
            return None, f"{path} not found"
    if scfg.demo_office_key:
        demo = demo_office_public_key(state_dir)
        return load_public_key(demo, X25519PublicKey), f"demo key {demo}"
    return None, "[store] office_public_key is not set"
