"""The orders tables (revision 0013_orders): card orders PayBridge authorized, their captures, refund requests.

Amounts are exact decimal text (``"123.45"``) with the ISO 4217 currency beside them; PayTrace
and D365 are the authorities, these rows are the working state that decides the next write.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

order_payments = Table(
    "order_payments",
    metadata,
    Column("company", String(10), primary_key=True),
    Column("order_number", String(40), primary_key=True),
    Column("account", String(40), nullable=False),
    Column("customer_id", String(60), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("total", String(32), nullable=False),
    Column("captured", String(32), nullable=False),
    # open (authorized or between authorizations), declined (on hold), closed
    Column("state", String(16), nullable=False),
    Column("auth_number", Integer, nullable=False),
    Column("auth_id", String(20), nullable=True),  # the live, uncaptured authorization
    Column("auth_amount", String(32), nullable=True),
    Column("auth_expires_at", UtcDateTime(), nullable=True),
    Column("brand", String(20), nullable=True),
    Column("reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_order_payments_state", order_payments.c.state)

order_captures = Table(
    "order_captures",
    metadata,
    Column("company", String(10), primary_key=True),
    Column("invoice", String(40), primary_key=True),
    Column("order_number", String(40), nullable=False),
    Column("transaction_id", String(20), nullable=False),
    Column("amount", String(32), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
)
Index("ix_order_captures_order", order_captures.c.company, order_captures.c.order_number)

refund_requests = Table(
    "refund_requests",
    metadata,
    Column("request_id", String(160), primary_key=True),
    Column("company", String(10), nullable=False),
    Column("order_number", String(40), nullable=False),
    Column("credit_note", String(40), nullable=False),
    Column("amount", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    # awaiting_approval, approved, refunding, refunded, rejected, refused
    Column("status", String(20), nullable=False),
    Column("requested_by", String(80), nullable=False),
    Column("decided_by", String(80), nullable=True),
    Column("reason", Text, nullable=True),
    Column("parts", Text, nullable=True),  # JSON [[transaction id, amount], ...] once planned
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_refund_requests_order", refund_requests.c.company, refund_requests.c.order_number)
Index("ix_refund_requests_status", refund_requests.c.status)
