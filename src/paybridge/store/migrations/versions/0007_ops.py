"""Operations: dead-letter triage, process heartbeats, alert state, reconciliation results.

Revision ID: 0007_ops
Revises: 0003_runtime
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paybridge.store.schema import UtcDateTime

revision = "0007_ops"
down_revision = "0003_runtime"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
        autoincrement=True,
    )  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("triage_state", sa.String(10), nullable=True))
        batch.add_column(sa.Column("assignee", sa.String(120), nullable=True))
        batch.add_column(sa.Column("triaged_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("triaged_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("replays", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "dead_letter_log",
        _id(),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("assignee", sa.String(120), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_dead_letter_log_message", "dead_letter_log", ["message_id", "id"])
    op.create_table(
        "ops_processes",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("host", sa.String(120), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.Column("counters", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_ops_processes_seen", "ops_processes", ["seen_at"])
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(60), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("firing", sa.Integer, nullable=False),
        sa.Column("first_at", UtcDateTime(), nullable=False),
        sa.Column("last_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("value", sa.Float, nullable=True),
    )
    op.create_table(
        "alert_suppressed",
        sa.Column("channel", sa.String(60), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "reconcile_runs",
        sa.Column("company", sa.String(10), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("differences", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_reconcile_runs_at", "reconcile_runs", ["at"])


def downgrade() -> None:
    op.drop_index("ix_reconcile_runs_at", table_name="reconcile_runs")
    op.drop_index("ix_ops_processes_seen", table_name="ops_processes")
    for table in ("reconcile_runs", "alert_suppressed", "alert_state", "ops_processes"):
        op.drop_table(table)
    op.drop_index("ix_dead_letter_log_message", table_name="dead_letter_log")
    op.drop_table("dead_letter_log")
    with op.batch_alter_table("queue") as batch:
        for column in ("replays", "triaged_at", "triaged_by", "assignee", "triage_state"):
            batch.drop_column(column)
