"""Console: users (scrypt password hashes), sign-in sessions (hashed tokens), the payment index,
and an index of the ledger by step and time (the dashboard's lines per hour).

A branch of its own from 0001, like each area's tables: nothing here alters another's.

Revision ID: 0010_console
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0010_console"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("username", sa.String(80), primary_key=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("disabled_at", UtcDateTime(), nullable=True),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_console_sessions_actor", "console_sessions", ["actor"])
    op.create_table(
        "payment_index",
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
        ),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("transaction_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount_e4", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("customer_id", sa.String(120), nullable=True),
        sa.Column("invoice_id", sa.String(120), nullable=True),
        sa.Column("order_id", sa.String(120), nullable=True),
    )
    for name, column in (
        ("key", "key"), ("tx", "transaction_id"), ("customer", "customer_id"),
        ("invoice", "invoice_id"), ("order", "order_id"),
    ):  # fmt: skip
        op.create_index(f"ix_payment_index_{name}", "payment_index", [column])
    op.create_index("ix_payment_index_time", "payment_index", ["occurred_at", "amount_e4"])
    # The dashboard's lines per hour and latency read posted lines by step and time.
    op.create_index("ix_ledger_step_at", "ledger", ["step", "status", "at"])
    # Whether a fact's line is posted, by key and step: a search must not take the index above.
    op.create_index("ix_ledger_event_step", "ledger", ["event_key", "step", "status"])


def downgrade() -> None:
    op.drop_index("ix_ledger_event_step", table_name="ledger")
    op.drop_index("ix_ledger_step_at", table_name="ledger")
    op.drop_table("payment_index")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
