"""The hub's first schema: devices, bundles, heartbeats, officers, sessions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("commune_code", sa.String(10), nullable=False),
        sa.Column("profile", sa.String(40), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "bundles",
        sa.Column("bundle_id", sa.String(32), primary_key=True),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("clock_synced", sa.Boolean),
        sa.Column("office_key_id", sa.String(32), nullable=False),
        sa.Column("received_ts", sa.Float, nullable=False),
        sa.Column("pulled_ts", sa.Float),
        sa.Column("purged_ts", sa.Float),
        sa.Column("data", sa.LargeBinary),
    )
    op.create_index("ix_bundles_received", "bundles", ["received_ts"])
    op.create_index("ix_bundles_pulled", "bundles", ["pulled_ts"])
    op.create_table(
        "heartbeats",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sent_ts", sa.Float, nullable=False),
        sa.Column("received_ts", sa.Float, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("device_id", "seq", name="uq_heartbeat_seq"),
    )
    op.create_index("ix_heartbeats_received", "heartbeats", ["received_ts"])
    op.create_table(
        "device_state",
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_ts", sa.Float, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officers.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("expires_ts", sa.Float, nullable=False),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("remote", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_login_failures_user", "login_failures", ["username", "ts"])


def downgrade() -> None:
    for name in (
        "login_failures",
        "sessions",
        "officers",
        "device_state",
        "heartbeats",
        "bundles",
        "devices",
    ):
        op.drop_table(name)
