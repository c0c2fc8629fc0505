"""The billing tables (revision 0005_billing): subscriptions and one charge row per subscription period."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Index, Integer, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

# Amounts are kept as decimal text: SQLite has no exact decimal type, and a float is never money.
subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("customer_id", String(50), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("frequency", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("total_count", Integer, nullable=True),
    Column("end_date", Date, nullable=True),
    Column("company", String(10), nullable=False),
    Column("account", String(40), nullable=False),
    Column("d365_reference", String(120), nullable=True),
    Column("engine", String(16), nullable=False),  # paybridge | paytrace
    Column("status", String(16), nullable=False),
    Column("next_index", Integer, nullable=False),  # how many periods have a charge row
    Column("last_reason", Text, nullable=True),
    Column("hold", String(12), nullable=False),  # none | holding | held | releasing
    Column("hold_key", String(200), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_billing_subscriptions_status", subscriptions.c.status)

# ``key`` (sub:<id>:<period>) is the idempotency key PayTrace's description carries.
billing_charges = Table(
    "billing_charges",
    metadata,
    Column("subscription_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("period", Date, primary_key=True),
    Column("key", String(120), nullable=False, unique=True),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),  # due | retrying | approved | failed | cancelled
    Column("attempts", Integer, nullable=False),  # definite refusals so far
    Column("source", String(20), nullable=False),  # paybridge | paytrace_recurring
    Column("transaction_id", String(40), nullable=True),
    Column("first_failed_at", UtcDateTime(), nullable=True),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_reason", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_billing_charges_open", billing_charges.c.status, billing_charges.c.next_attempt_at)
