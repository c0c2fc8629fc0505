"""Console: the mapping designer's template versions (saved, then promoted by an admin).

Revision ID: 0012_console_designer
Revises: 0010_console
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0012_console_designer"
down_revision = "0010_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mapping_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("based_on", sa.Integer, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("saved_by", sa.String(120), nullable=False),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
        sa.Column("promoted_by", sa.String(120), nullable=True),
        sa.Column("promoted_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("name", "version", name="uq_mapping_versions_name_version"),
    )


def downgrade() -> None:
    op.drop_table("mapping_versions")
