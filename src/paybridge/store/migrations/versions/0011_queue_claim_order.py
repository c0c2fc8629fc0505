"""Runtime: the claim index in id order, so a claim reads ready messages oldest first and stops.

``ix_queue_claim`` was (status, not_before, id): a claim (oldest ready messages, at most one
per partition) had to test every due message's partition and sort them all before taking the
first few hundred, at every claim. As (status, id, not_before) the database walks the ready
messages in id order, reads ``not_before`` from the index, and stops when it has enough.

Revision ID: 0011_queue_claim_order
Revises: 0009_queue_headers
"""

from __future__ import annotations

from alembic import op

revision = "0011_queue_claim_order"
down_revision = "0009_queue_headers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_queue_claim", table_name="queue")
    op.create_index("ix_queue_claim", "queue", ["status", "id", "not_before"])


def downgrade() -> None:
    op.drop_index("ix_queue_claim", table_name="queue")
    op.create_index("ix_queue_claim", "queue", ["status", "not_before", "id"])
