"""The hub's one schema (SQLAlchemy Core); Alembic migrations in ``migrations/`` create it.

The hub keeps ciphertext and the clear header a bundle already carries: no name, ID number or
image ever reaches these tables, so a stolen hub database reveals no identity or biometric.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=False, unique=True),  # Ed25519 key fingerprint
    Column("public_key_pem", Text, nullable=False),
    Column("name", String(100), nullable=False, unique=True),
    Column("site", String(200), nullable=False),
    Column("commune_code", String(10), nullable=False),
    Column("profile", String(40), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),  # the token itself: never
    Column("registered_at", Float, nullable=False),
    Column("revoked_at", Float),
)

bundles = Table(
    "bundles",
    metadata,
    Column("bundle_id", String(32), primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("created_at", String(40), nullable=False),  # the kiosk's clock, from the header
    Column("clock_synced", Boolean),
    Column("office_key_id", String(32), nullable=False),
    Column("received_ts", Float, nullable=False),  # the hub's clock
    Column("pulled_ts", Float),  # marked received by the records officer
    Column("purged_ts", Float),  # ciphertext deleted
    Column("data", LargeBinary),  # the sealed bundle; NULL once purged
    Index("ix_bundles_received", "received_ts"),
    Index("ix_bundles_pulled", "pulled_ts"),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the kiosk's own counter: duplicates are dropped
    Column("sent_ts", Float, nullable=False),  # the kiosk's clock
    Column("received_ts", Float, nullable=False),
    Column("body", Text, nullable=False),  # JSON: health + counters (no personal data)
    UniqueConstraint("device_id", "seq", name="uq_heartbeat_seq"),
    Index("ix_heartbeats_received", "received_ts"),
)

device_state = Table(
    "device_state",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_ts", Float, nullable=False),  # hub clock at the latest heartbeat
    Column("body", Text, nullable=False),  # the latest heartbeat's JSON
)

officers = Table(
    "officers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("officer_id", Integer, ForeignKey("officers.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("expires_ts", Float, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("remote", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_login_failures_user", "username", "ts"),
)

# Campaign figures, summed as bundles and heartbeats arrive (revision 0002), so the pages never
# scan the history: one row per (local hour, kiosk, metric, key).
counts = Table(
    "counts",
    metadata,
    Column("hour", String(13), primary_key=True),  # "YYYY-MM-DD HH", [hub] utc_offset_hours
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("metric", String(20), primary_key=True),  # capture | verification | checkin | age_band
    Column("key", String(40), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

# System-update rollouts (revision 0003, appliance/hub/rollouts.py): per channel, the release and
# stage (a share, or "stopped") whose office-signed manifest the hub serves.
rollout_stage = Table(
    "rollout_stage",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("version", String(40), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("staged_ts", Float, nullable=False),
    Column("staged_by", String(64), nullable=False),
)
