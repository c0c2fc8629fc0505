"""What every `paybridge` command shares: consoles, the --config option, and friendly errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from paybridge.app.settings import Settings, load_settings
from paybridge.errors import PayBridgeError

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
