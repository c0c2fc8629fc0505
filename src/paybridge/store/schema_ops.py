"""The operations tables (revision 0007_ops): process heartbeats, alert state, reconciliation results."""

from __future__ import annotations

from sqlalchemy import Column, Date, Float, Index, Integer, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

# One row per engine process: its last beat and a snapshot of its own counters (HTTP requests,
# 429s, errors, messages handled), so that one /metrics shows every process's figures.
ops_processes = Table(
    "ops_processes",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("host", String(120), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    Column("counters", Text, nullable=False, default="[]"),
)
Index("ix_ops_processes_seen", ops_processes.c.seen_at)

# One row per (rule, subject) that fired: whether it fires now, and when it was last sent.
alert_state = Table(
    "alert_state",
    metadata,
    Column("rule", String(60), primary_key=True),
    Column("subject", String(200), primary_key=True),
    Column("firing", Integer, nullable=False),  # 1 firing, 0 resolved
    Column("first_at", UtcDateTime(), nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("sent", Integer, nullable=False, default=0),
    Column("summary", Text, nullable=False, default=""),
    Column("value", Float, nullable=True),
)

# Deliveries a channel's rate limit held back since its last delivery.
alert_suppressed = Table(
    "alert_suppressed",
    metadata,
    Column("channel", String(60), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("since", UtcDateTime(), nullable=False),
)

# The newest reconciliation of each company and day: how many differences it found.
reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("company", String(10), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("run_id", String(80), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("differences", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("counts", Text, nullable=False, default="{}"),
)
Index("ix_reconcile_runs_at", reconcile_runs.c.at)
