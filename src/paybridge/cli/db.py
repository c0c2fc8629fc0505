"""`paybridge db`: the store's schema, upgraded explicitly (``upgrade``) or looked at (``status``).

A deployment sets ``store.auto_upgrade: false`` and runs ``paybridge db upgrade`` once, before
``serve`` and the workers start (the compose file's ``migrate`` service, the systemd units'
``ExecStartPre``); the processes then refuse a store that is not at head instead of racing to
migrate it. Without that setting every process upgrades the store when it opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from paybridge.cli.common import (
    ConfigOption,
    audit_cli,
    audit_log,
    err,
    friendly,
    out,
    settings_from,
)
from paybridge.errors import ConfigError
from paybridge.store import SchemaState, connect, migrate, safe_url, schema_state

db_app = typer.Typer(
    help="The store's schema: upgrade it, or see where it is.", no_args_is_help=True
)
T = TypeVar("T")


def _revisions(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"


def _reach(url: str, step: Callable[[Engine], T]) -> T:
    """``step`` on the store; an unreachable database is one line naming it (no password)."""
    engine = connect(url)
    try:
        return step(engine)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(
            f"cannot reach the store at {safe_url(url)}: {reason}", operation="db"
        ) from None
    finally:
        engine.dispose()


@db_app.command("upgrade")
@friendly
def upgrade(config: ConfigOption = None) -> None:
    """Migrate the store to the newest schema (safe to re-run; one at a time on PostgreSQL)."""
    settings = settings_from(config)
    url = settings.store.url
    before, after = _reach(url, migrate)
    where = safe_url(url)
    if before.current == after.current:
        out.print(f"store {where}: already at {after.describe()}", markup=False, highlight=False)
        return
    engine = connect(url)
    try:  # an administrative change to the store: who ran it, from which revision to which
        audit_cli(
            audit_log(settings, engine), "db.upgrade", "store",
            before=sorted(before.current), after=sorted(after.current),
        )  # fmt: skip
    finally:
        engine.dispose()
    out.print(
        f"store {where}: upgraded from {before.describe()} to {after.describe()}",
        markup=False,
        highlight=False,
    )


@db_app.command("status")
@friendly
def status(config: ConfigOption = None) -> None:
    """Where the store's schema is: exit 0 at head, 1 when `db upgrade` has work to do."""
    url = settings_from(config).store.url
    state: SchemaState = _reach(url, schema_state)
    if state.unknown:
        err.print(
            f"store {safe_url(url)}: revisions {_revisions(state.unknown)} are newer than this "
            "PayBridge; run the version that upgraded it",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    out.print(
        f"store {safe_url(url)}: at {state.describe()}; this PayBridge's heads "
        f"{_revisions(state.heads)}",
        markup=False,
        highlight=False,
    )
    if not state.at_head:
        err.print("behind: run `paybridge db upgrade`", markup=False, highlight=False)
        raise typer.Exit(1)
