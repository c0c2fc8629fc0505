"""Alembic environment: runs migrations on the connection PayBridge hands over."""

from __future__ import annotations

from alembic import context

from paybridge.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("PayBridge runs migrations through paybridge.store.database.migrate()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
