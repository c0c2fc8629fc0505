"""Orders: card orders authorized at entry, their captures per invoice, refund requests.

Revision ID: 0013_orders
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0013_orders"
down_revision = "0001"
branch_labels = ("orders",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_payments",
        sa.Column("company", sa.String(10), primary_key=True),
        sa.Column("order_number", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(60), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.String(32), nullable=False),
        sa.Column("captured", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("auth_number", sa.Integer, nullable=False),
        sa.Column("auth_id", sa.String(20), nullable=True),
        sa.Column("auth_amount", sa.String(32), nullable=True),
        sa.Column("auth_expires_at", UtcDateTime(), nullable=True),
        sa.Column("brand", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_order_payments_state", "order_payments", ["state"])
    op.create_table(
        "order_captures",
        sa.Column("company", sa.String(10), primary_key=True),
        sa.Column("invoice", sa.String(40), primary_key=True),
        sa.Column("order_number", sa.String(40), nullable=False),
        sa.Column("transaction_id", sa.String(20), nullable=False),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("captured_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_order_captures_order", "order_captures", ["company", "order_number"])
    op.create_table(
        "refund_requests",
        sa.Column("request_id", sa.String(160), primary_key=True),
        sa.Column("company", sa.String(10), nullable=False),
        sa.Column("order_number", sa.String(40), nullable=False),
        sa.Column("credit_note", sa.String(40), nullable=False),
        sa.Column("amount", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(80), nullable=False),
        sa.Column("decided_by", sa.String(80), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("parts", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_refund_requests_order", "refund_requests", ["company", "order_number"])
    op.create_index("ix_refund_requests_status", "refund_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_refund_requests_status", table_name="refund_requests")
    op.drop_index("ix_refund_requests_order", table_name="refund_requests")
    op.drop_table("refund_requests")
    op.drop_index("ix_order_captures_order", table_name="order_captures")
    op.drop_table("order_captures")
    op.drop_index("ix_order_payments_state", table_name="order_payments")
    op.drop_table("order_payments")
