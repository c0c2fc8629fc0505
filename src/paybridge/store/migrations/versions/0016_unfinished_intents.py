"""Runtime: a partial index of the intents still on their way (planned or sent).

The cut-off (``o2c.cutoff``) does not post a journal while PayBridge still has lines headed to
it; it finds them by step and time among the unfinished intents, which this index holds apart
from the done ones (nearly all, for good).

Revision ID: 0016_unfinished_intents
Revises: 0017_queue_speed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_unfinished_intents"
down_revision = "0017_queue_speed"
branch_labels = None
depends_on = None

_WHERE = "status IN ('planned', 'sent')"


def upgrade() -> None:
    op.create_index(
        "ix_intents_unfinished", "intents", ["step", "updated_at"],
        sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_intents_unfinished", table_name="intents")
