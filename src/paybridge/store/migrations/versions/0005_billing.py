"""Billing: subscriptions and their per-period charges (recurring billing with dunning).

Revision ID: 0005_billing
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0005_billing"
down_revision = "0001"
branch_labels = ("billing",)
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(50), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("frequency", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("total_count", sa.Integer, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("company", sa.String(10), nullable=False),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("d365_reference", sa.String(120), nullable=True),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_index", sa.Integer, nullable=False),
        sa.Column("last_reason", sa.Text, nullable=True),
        sa.Column("hold", sa.String(12), nullable=False),
        sa.Column("hold_key", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_billing_subscriptions_status", "billing_subscriptions", ["status"])
    op.create_table(
        "billing_charges",
        sa.Column("subscription_id", _id(), primary_key=True),
        sa.Column("period", sa.Date, primary_key=True),
        sa.Column("key", sa.String(120), nullable=False, unique=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("transaction_id", sa.String(40), nullable=True),
        sa.Column("first_failed_at", UtcDateTime(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_reason", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_billing_charges_open", "billing_charges", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_billing_charges_open", table_name="billing_charges")
    op.drop_table("billing_charges")
    op.drop_index("ix_billing_subscriptions_status", table_name="billing_subscriptions")
    op.drop_table("billing_subscriptions")
