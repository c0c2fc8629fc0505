"""Security: the audit chain gets a key; each row names the audit key its HMAC is under.

Rows already written keep an empty ``key_id``: they are the legacy (plain SHA-256) segment, which
the first keyed row seals. They are not re-chained: rewriting history would need the append-only
triggers dropped and would bless any edit made before the upgrade.

Revision ID: 0006_audit_key
Revises: 0002_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_key"
down_revision = "0002_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "audit_log", sa.Column("key_id", sa.String(32), nullable=False, server_default="")
    )


def downgrade() -> None:
    # SQLite 3.35+ and PostgreSQL both drop a column in place (a batch copy would lose the triggers).
    op.execute("ALTER TABLE audit_log DROP COLUMN key_id")
