"""SQLAlchemy tables and Alembic migrations (SQLite by default, PostgreSQL at scale)."""

from paybridge.store.database import (
    SchemaState,
    connect,
    migrate,
    open_engine,
    require_head,
    safe_url,
    schema_state,
    sqlite_url,
)

__all__ = [
    "SchemaState",
    "connect",
    "migrate",
    "open_engine",
    "require_head",
    "safe_url",
    "schema_state",
    "sqlite_url",
]
