"""Runtime: a message keeps its publisher's trace context.

With tracing on, ``SqlQueue.publish`` stores the W3C trace-context headers of the span that
published a message, and the worker continues that trace; NULL when tracing is off.

Revision ID: 0009_queue_headers
Revises: 0008_queue_failures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_queue_headers"
down_revision = "0008_queue_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("queue", sa.Column("headers", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE queue DROP COLUMN headers")
