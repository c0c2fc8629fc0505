"""The security tables: vault secrets, API keys, the keyed hash-chained audit log, seen webhook ids."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

# One encrypted secret: its own data key, wrapped under the key-encryption key ``kek_id``.
vault_secrets = Table(
    "vault_secrets",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("kek_id", String(32), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)
Index("ix_vault_secrets_kek", vault_secrets.c.kek_id)

# A key is found by its public id and proven by a salted hash of its secret part.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Column("role", String(16), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("last_used_at", UtcDateTime(), nullable=True),
)

# Append-only; ``seq`` is given by the writer (not autoincrement) so two writers racing for the
# same place collide on the primary key instead of forking the chain. ``hash`` is the HMAC under
# the audit key ``key_id`` (empty: a row from before the chain had a key, plain SHA-256).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(80), nullable=False),
    Column("target", String(200), nullable=False),
    Column("client", String(80), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(32), nullable=False, server_default=""),
)
Index("ix_audit_at", audit_log.c.at)
Index("ix_audit_actor", audit_log.c.actor, audit_log.c.at)

# A signed inbound event id seen once; a second delivery with the same id is a replay.
webhook_seen = Table(
    "webhook_seen",
    metadata,
    Column("webhook_id", String(200), primary_key=True),
    Column("source", String(40), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
)
Index("ix_webhook_seen_at", webhook_seen.c.seen_at)
