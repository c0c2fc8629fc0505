"""Runtime: the queue's indexes hold only the messages of the states they serve (partial).

``ix_queue_claim`` (status, id, not_before) and ``ix_queue_partition`` (partition_key, status,
id) held every message ever queued, and each claim, ack, retry and dead letter (a change of
status, so never an in-place update) wrote a new entry in both. Nearly every message ends
``done`` and stays: now the claim walks ``ix_queue_ready`` (ready messages by id), a
partition's order reads ``ix_queue_open`` (ready and leased), expired leases
``ix_queue_leased`` and the dead-letter pages ``ix_queue_dead``; an ack writes no entry in any
of them. Queries name the states as literals, which a partial index needs.

Revision ID: 0017_queue_speed
Revises: 0011_queue_claim_order
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_queue_speed"
down_revision = "0011_queue_claim_order"
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_queue_ready", ["id", "not_before"], "status = 'ready'"),
    ("ix_queue_open", ["partition_key", "id"], "status IN ('ready', 'leased')"),
    ("ix_queue_leased", ["lease_until"], "status = 'leased'"),
    ("ix_queue_dead", ["id"], "status = 'dead'"),
)


def upgrade() -> None:
    for name, columns, where in _PARTIAL:
        op.create_index(
            name, "queue", columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )
    op.drop_index("ix_queue_claim", table_name="queue")
    op.drop_index("ix_queue_partition", table_name="queue")


def downgrade() -> None:
    op.create_index("ix_queue_claim", "queue", ["status", "id", "not_before"])
    op.create_index("ix_queue_partition", "queue", ["partition_key", "status", "id"])
    for name, _columns, _where in _PARTIAL:
        op.drop_index(name, table_name="queue")
