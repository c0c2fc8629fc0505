"""Charges: request/reply charges by idempotency key; the xref's reverse lookup index.

Revision ID: 0004_charges
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0004_charges"
down_revision = "0001"
branch_labels = ("charges",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charges",
        sa.Column("idempotency_key", sa.String(120), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_charges_status", "charges", ["status", "updated_at"])
    # A charge finds the PayTrace profile of a D365 account: xref read from target to source.
    op.create_index("ix_xref_target", "xref", ["kind", "target_id"])


def downgrade() -> None:
    op.drop_index("ix_xref_target", table_name="xref")
    op.drop_index("ix_charges_status", table_name="charges")
    op.drop_table("charges")
