"""Runtime scheduler: one row per job and period, so a period runs once however many workers there are.

Revision ID: 0003_runtime
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0003_runtime"
down_revision = "0001"
branch_labels = ("runtime",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("job", sa.String(80), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("worker", sa.String(80), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
