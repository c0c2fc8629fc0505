"""Runtime: a message counts its failed attempts apart from its claims.

``attempts`` goes up at every claim (it is the fencing token), so a worker killed while holding
a message used one of the message's attempts although nothing failed. ``failures`` counts the
attempts that ended in a retry; the retry policy gives up on those.

Revision ID: 0008_queue_failures
Revises: 0007_ops
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_queue_failures"
down_revision = "0007_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("queue", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.execute("ALTER TABLE queue DROP COLUMN failures")
