"""The charges table (revision 0004_charges): one row per request/reply charge, keyed by its idempotency key."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

# ``fingerprint`` binds the key to one request body; ``outcome`` keeps the answer a repeat of the
# same request gets, so a retry never reaches PayTrace again once the outcome is known.
charges = Table(
    "charges",
    metadata,
    Column("idempotency_key", String(120), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("request", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
)
Index("ix_charges_status", charges.c.status, charges.c.updated_at)
