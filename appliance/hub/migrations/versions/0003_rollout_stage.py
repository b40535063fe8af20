"""System-update rollouts: the release and stage each channel serves.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_stage",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("staged_ts", sa.Float, nullable=False),
        sa.Column("staged_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollout_stage")
