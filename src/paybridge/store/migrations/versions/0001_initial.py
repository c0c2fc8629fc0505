"""Initial store: inbox, queue, intents, ledger, cursors, xref.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
    )
    op.create_table(
        "queue",
        _id(),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("partition_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("leased_by", sa.String(80), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("dead_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_queue_claim", "queue", ["status", "not_before", "id"])
    op.create_index("ix_queue_partition", "queue", ["partition_key", "status", "id"])
    op.create_index("ix_queue_key", "queue", ["key"])
    op.create_table(
        "intents",
        sa.Column("event_key", sa.String(200), primary_key=True),
        sa.Column("step", sa.String(80), primary_key=True),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "ledger",
        _id(),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("step", sa.String(80), nullable=False),
        sa.Column("system", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(80), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("template_version", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_event", "ledger", ["event_key"])
    op.create_index("ix_ledger_entity", "ledger", ["system", "entity", "entity_id"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "xref",
        sa.Column("kind", sa.String(60), primary_key=True),
        sa.Column("source_id", sa.String(200), primary_key=True),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for name in ["xref", "cursors", "ledger", "intents", "queue", "inbox"]:
        op.drop_table(name)
