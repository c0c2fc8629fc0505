"""The console's tables (revision 0010_console): users, sign-in sessions, and the payment index.

A user's password is kept only as a scrypt hash; a session only as the SHA-256 of its random
token. The payment index is a read model of the ``payment`` messages' payloads (transaction,
invoice, order, customer, amount, time), so the explorer searches columns with indexes instead
of parsing JSON; the message itself stays the record (its status is read from the queue).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from paybridge.store.schema import UtcDateTime, metadata

console_users = Table(
    "console_users",
    metadata,
    Column("username", String(80), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("last_login_at", UtcDateTime(), nullable=True),
)

# A signed-in browser: found by the hash of its cookie, with the role it signed in with.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("actor", String(120), nullable=False),  # user:<name> or key:<key id>
    Column("role", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
)
Index("ix_console_sessions_actor", console_sessions.c.actor)

payment_index = Table(
    "payment_index",
    metadata,
    Column("message_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("key", String(200), nullable=False),
    Column("transaction_id", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("amount_e4", BigInteger, nullable=False),  # the amount x 10,000: exact, orderable
    Column("currency", String(3), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("customer_id", String(120), nullable=True),
    Column("invoice_id", String(120), nullable=True),
    Column("order_id", String(120), nullable=True),
)
Index("ix_payment_index_key", payment_index.c.key)
Index("ix_payment_index_tx", payment_index.c.transaction_id)
# Time order with the amount in the index: an amount range is checked without reading rows.
Index("ix_payment_index_time", payment_index.c.occurred_at, payment_index.c.amount_e4)
Index("ix_payment_index_customer", payment_index.c.customer_id)
Index("ix_payment_index_invoice", payment_index.c.invoice_id)
Index("ix_payment_index_order", payment_index.c.order_id)

# Template versions made in the console's mapping designer (revision 0012_console_designer): the
# YAML as saved, who saved it from which version, and once promoted, who promoted it. A promoted
# version is laid over the shipped and folder templates by every process (``app.clients``).
mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(120), nullable=False),
    Column("version", Integer, nullable=False),
    Column("based_on", Integer, nullable=True),
    Column("text", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("saved_by", String(120), nullable=False),
    Column("saved_at", UtcDateTime(), nullable=False),
    Column("promoted_by", String(120), nullable=True),
    Column("promoted_at", UtcDateTime(), nullable=True),
    UniqueConstraint("name", "version", name="uq_mapping_versions_name_version"),
)
