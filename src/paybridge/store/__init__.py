"""SQLAlchemy tables and Alembic migrations (SQLite by default, PostgreSQL at scale)."""

from paybridge.store.database import open_engine, sqlite_url

__all__ = ["open_engine", "sqlite_url"]
