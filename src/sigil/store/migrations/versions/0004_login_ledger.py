"""Device-key login without a database write per login: consumed challenge ids (where nodes share
PostgreSQL); the rate-limit counters move to node memory, so ``auth_rate`` goes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "auth_challenge_uses",
        sa.Column("id", sa.LargeBinary(16), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_auth_challenge_uses_expires_at", "auth_challenge_uses", ["expires_at"])
    op.drop_table("auth_rate")


def downgrade() -> None:
    op.create_table(
        "auth_rate",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.drop_index("ix_auth_challenge_uses_expires_at", "auth_challenge_uses")
    op.drop_table("auth_challenge_uses")
