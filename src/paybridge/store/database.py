"""Opening the store: engine creation with SQLite pragmas, and migrations to head through Alembic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, make_url

from paybridge.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL syncs at checkpoints, safe under WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock at BEGIN so two writers never deadlock on an upgrade from read to write.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_engine(url: str, *, echo: bool = False) -> Engine:
    """An Engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``), migrated to head."""
    try:
        if url.startswith("sqlite"):
            _make_folder(url)
            engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "isolation_level": None},
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, echo=echo, pool_pre_ping=True)
    except Exception as exc:  # SQLAlchemy raises several types for a bad URL
        raise ConfigError(f"cannot open the store at {url!r}: {exc}", operation="open") from exc
    migrate(engine)
    return engine


def _make_folder(url: str) -> None:
    """A SQLite file's folder is made on first use (the default store is var/paybridge.db).

    The file is the owner's alone (0600; SQLite gives its -wal and -shm files the same mode):
    it holds the ledger, masked cards and the vault's ciphertexts.
    """
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not file.exists():
        os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
    elif file.stat().st_mode & 0o077:
        file.chmod(0o600)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch (each area owns one)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
