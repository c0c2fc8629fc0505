"""Opening the store: engine creation with SQLite pragmas, and migrations to head through Alembic.

A process opening the store upgrades it to the newest revision by default (``upgrade=True``:
the SQLite store of a developer or a demo). A deployment that upgrades explicitly, once, with
``paybridge db upgrade`` before its processes start (``store.auto_upgrade: false``) opens the store
with ``upgrade=False``: a schema behind or ahead of this code is then refused with the command to
run, never half-used. Upgrades on PostgreSQL hold an advisory lock, so processes that start
together upgrade one after the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text

from paybridge.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key of schema upgrades (a constant no other PayBridge lock uses).
_UPGRADE_LOCK = 0x50_42_55_50  # "PBUP"


@dataclass(frozen=True)
class SchemaState:
    """The revisions a store is at, and the heads this code brings (one per area's branch)."""

    current: frozenset[str]
    heads: frozenset[str]
    known: frozenset[str]

    @property
    def at_head(self) -> bool:
        return self.current == self.heads

    @property
    def unknown(self) -> frozenset[str]:
        """Revisions in the store this code does not have: a newer PayBridge upgraded it."""
        return self.current - self.known

    def describe(self) -> str:
        return _revisions(self.current) or "none (a new store)"


def _revisions(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def safe_url(url: str) -> str:
    """The URL as it may be shown: a password in it is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: its scheme only
        return url.split(":", 1)[0] + ":..."


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


def open_engine(url: str, *, echo: bool = False, upgrade: bool = True) -> Engine:
    """An Engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``) at head.

    With ``upgrade`` the schema is migrated to head; without, a store not at head is refused
    (``ConfigError`` naming ``paybridge db upgrade``).
    """
    engine = connect(url, echo=echo)
    if upgrade:
        migrate(engine)
    else:
        require_head(engine)
    return engine


def connect(url: str, *, echo: bool = False) -> Engine:
    """An Engine for ``url`` as it is, schema untouched (``paybridge db`` looks before it acts)."""
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
        # The type only: the message of a bad URL may repeat the URL, password included.
        raise ConfigError(
            f"cannot open the store at {safe_url(url)!r}: {type(exc).__name__}", operation="open"
        ) from exc
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


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _state(connection: Connection) -> SchemaState:
    script = ScriptDirectory.from_config(_config())
    current = MigrationContext.configure(connection).get_current_heads()
    return SchemaState(
        current=frozenset(current),
        heads=frozenset(script.get_heads()),
        known=frozenset(r.revision for r in script.walk_revisions()),
    )


def schema_state(engine: Engine) -> SchemaState:
    """Where the store's schema is, against the heads of this code's migrations."""
    with engine.connect() as connection:
        return _state(connection)


def migrate(engine: Engine) -> tuple[SchemaState, SchemaState]:
    """Bring the schema to the newest revision of every branch (each area owns one).

    Returns the state before and after. A store a newer PayBridge upgraded is refused, untouched.
    """
    cfg = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # one upgrade at a time; the lock ends with us
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        before = _state(connection)
        _refuse_unknown(before, engine)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
        return before, _state(connection)


def require_head(engine: Engine) -> SchemaState:
    """The store's state, if it is at head; otherwise a ConfigError saying what to run."""
    state = schema_state(engine)
    _refuse_unknown(state, engine)
    if not state.at_head:
        raise ConfigError(
            f"the store at {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {state.describe()}; this PayBridge needs {_revisions(state.heads)}: run "
            "`paybridge db upgrade --config <settings>` first (store.auto_upgrade is false)",
            operation="open",
        )
    return state


def _refuse_unknown(state: SchemaState, engine: Engine) -> None:
    if state.unknown:
        raise ConfigError(
            f"the store at {engine.url.render_as_string(hide_password=True)} has revisions this "
            f"PayBridge does not know ({_revisions(state.unknown)}): a newer version upgraded it; "
            "run that version, or restore a backup taken before its upgrade",
            operation="open",
        )


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())
