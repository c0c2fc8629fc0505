"""Insight: scores with reasons, model version and review state; the models' training rows.

A branch of its own from 0001, like each area's tables: nothing here alters another's. The
tables exist whether insight is on or off; nothing of ``paybridge.insight`` is imported here.

Revision ID: 0015_insight
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0015_insight"
down_revision = "0001"
branch_labels = ("insight",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "insight_scores",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("transaction_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customer", sa.String(80), nullable=False),
        sa.Column("card", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("signals", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("scored_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_insight_scores_state", "insight_scores", ["state", "id"])
    op.create_index("ix_insight_scores_customer", "insight_scores", ["customer", "seen_at"])
    op.create_index("ix_insight_scores_card", "insight_scores", ["card", "seen_at"])
    op.create_index("ix_insight_scores_ip", "insight_scores", ["ip", "seen_at"])
    op.create_table(
        "insight_models",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("trained_at", UtcDateTime(), nullable=False),
        sa.Column("first_id", ID, nullable=False),
        sa.Column("last_id", ID, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("frauds", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
    )
    op.create_index("ix_insight_models_trained", "insight_models", ["trained_at"])


def downgrade() -> None:
    op.drop_table("insight_models")
    op.drop_table("insight_scores")
