"""What every `paybridge` command shares: consoles, the --config option, friendly errors, audit rows."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine

from paybridge.app.settings import Settings, load_settings
from paybridge.app.store import Store, open_store
from paybridge.clock import Clock, SystemClock
from paybridge.errors import PayBridgeError
from paybridge.security.audit import AuditLog
from paybridge.security.auditkeys import AuditKeys, audit_locations

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings YAML (secrets as env:NAME references)."),
]


def friendly(func: F) -> F:
    """PayBridge errors become a one-line message and exit code 2; surprises exit 1, no traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PayBridgeError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("PAYBRIDGE_DEBUG"):
                raise
            err.print(
                f"[red]internal error:[/red] {type(exc).__name__}: {exc} "
                "(set PAYBRIDGE_DEBUG=1 for the traceback)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def settings_from(config: Path | None) -> Settings:
    if config is not None and not config.is_file():
        err.print(f"[red]error:[/red] --config: no such file {config}")
        raise typer.Exit(2)
    return load_settings(config)


def store_of(settings: Settings, clock: Clock | None = None) -> Store:
    """The settings' store, upgraded on opening only as ``store.auto_upgrade`` allows (a store
    not at this code's schema is then refused, naming ``paybridge db upgrade``)."""
    return open_store(settings.store.url, clock, upgrade=settings.store.auto_upgrade)


def cli_actor() -> str:
    """Who acts from the command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def audit_log(settings: Settings, engine: Engine) -> AuditLog:
    """The audit log of the store ``engine`` opens, with the settings' key and anchor."""
    locations = audit_locations(engine.url, settings.audit)
    return AuditLog(engine, SystemClock(), locations=locations, keys=AuditKeys(locations))


def audit_cli(
    log: AuditLog, action: str, target: str, *, outcome: str = "ok", **detail: Any
) -> None:
    """One audit row for a command run by ``cli:<user>`` on this host."""
    log.record(
        actor=cli_actor(), action=action, target=target, client="local", outcome=outcome,
        detail=detail,
    )  # fmt: skip
