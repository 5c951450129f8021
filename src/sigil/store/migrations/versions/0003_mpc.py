"""Two-party MPC ECDSA (issue 5): server parameters, wallets, keygen sessions, pairings, signing sessions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "mpc_params",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("server_params", sa.Text, nullable=False),
        sa.Column("sealed_ring_pedersen", sa.LargeBinary, nullable=False),
        sa.Column("transport_public_pem", sa.Text, nullable=False),
        sa.Column("sealed_transport_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "mpc_wallets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal_id", sa.String(32), sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(33), nullable=False),
        sa.Column("public_shares", sa.Text, nullable=False),
        sa.Column("sealed_share", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_mpc_wallets_principal_id", "mpc_wallets", ["principal_id"])
    op.create_table(
        "mpc_keygen_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal_id", sa.String(32), nullable=False),
        sa.Column("session_id", sa.LargeBinary(16), nullable=False),
        sa.Column("sealed_state", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("consumed_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_mpc_keygen_sessions_expires_at", "mpc_keygen_sessions", ["expires_at"])
    op.create_table(
        "mpc_pairings",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("wallet_id", sa.String(40), sa.ForeignKey("mpc_wallets.id"), nullable=False),
        sa.Column("client_index", sa.Integer, nullable=False),
        sa.Column("nonce", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("server_pairing", sa.Text, nullable=True),
        sa.Column("nonce_expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("activated_at", sa.BigInteger, nullable=True),
        sa.Column("locked_at", sa.BigInteger, nullable=True),
        sa.Column("lock_reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_mpc_pairings_wallet_id", "mpc_pairings", ["wallet_id"])
    op.create_table(
        "mpc_sign_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pairing_id", sa.String(40), sa.ForeignKey("mpc_pairings.id"), nullable=False),
        sa.Column("principal_id", sa.String(32), nullable=False),
        sa.Column("message_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("sealed_state", sa.LargeBinary, nullable=False),
        sa.Column("commitment", sa.Text, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("consumed_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_mpc_sign_sessions_expires_at", "mpc_sign_sessions", ["expires_at"])
    op.create_index("ix_mpc_sign_sessions_pairing_id", "mpc_sign_sessions", ["pairing_id"])


def downgrade() -> None:
    for table in ("mpc_sign_sessions", "mpc_pairings", "mpc_keygen_sessions", "mpc_wallets", "mpc_params"):
        op.drop_table(table)
