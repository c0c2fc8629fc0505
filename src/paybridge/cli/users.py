"""`paybridge users`: the console's users (add, list, passwd, role, disable, enable).

Passwords are read from a hidden prompt or standard input, never from arguments, and kept only
as a scrypt hash. A new password, a new role or disabling ends the user's console sessions.
Every change is an audit row by ``cli:<user>`` from ``local``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from paybridge.cli.common import ConfigOption, err, friendly, out
from paybridge.cli.security import _read_secret, _record, _security

users_app = typer.Typer(
    help="Console users: add, list, passwd, role, disable, enable.", no_args_is_help=True
)
Name = Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")]
RoleOption = Annotated[str, typer.Option("--role", help="viewer, operator or admin.")]


@users_app.command("add")
@friendly
def users_add(name: Name, role: RoleOption = "viewer", config: ConfigOption = None) -> None:
    """Add a user; the password comes from a hidden prompt or standard input."""
    security = _security(config)
    user = security.users.add(name, _read_secret(f"the password of {name}"), role)
    _record(security, "users.add", f"user:{user.username}", role=user.role)
    out.print(Text(f"added {user.username} ({user.role})"))


@users_app.command("list")
@friendly
def users_list(config: ConfigOption = None) -> None:
    """Every user with role, state and last sign-in (never a password or its hash)."""
    table = Table(title="Console users")
    for column in ("user", "role", "created", "last sign-in", "disabled"):
        table.add_column(column)
    for user in _security(config).users.all():
        table.add_row(
            Text(user.username), user.role, user.created_at.isoformat(timespec="seconds"),
            user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "",
            user.disabled_at.isoformat(timespec="seconds") if user.disabled_at else "",
        )  # fmt: skip
    out.print(table)


def _change(action: str, name: str, done: bool) -> None:
    if not done:
        err.print(f"[red]error:[/red] name: no user {name}", markup=True, highlight=False)
        raise typer.Exit(2)
    out.print(Text(f"{name}: {action}"))


@users_app.command("passwd")
@friendly
def users_passwd(name: Name, config: ConfigOption = None) -> None:
    """Set a new password (from a hidden prompt or standard input); the user's sessions end."""
    security = _security(config)
    done = security.users.set_password(name, _read_secret(f"the new password of {name}"))
    _record(security, "users.passwd", f"user:{name}", outcome="ok" if done else "not_found")
    _change("password changed", name, done)


@users_app.command("role")
@friendly
def users_role(name: Name, role: RoleOption, config: ConfigOption = None) -> None:
    """Give a user another role; their sessions end, so the next sign-in carries it."""
    security = _security(config)
    done = security.users.set_role(name, role)
    _record(
        security, "users.role", f"user:{name}", outcome="ok" if done else "not_found", role=role
    )
    _change(f"role {role}", name, done)


@users_app.command("disable")
@friendly
def users_disable(name: Name, config: ConfigOption = None) -> None:
    """Stop a user signing in; their sessions end at once."""
    security = _security(config)
    done = security.users.disable(name)
    _record(security, "users.disable", f"user:{name}", outcome="ok" if done else "not_found")
    _change("disabled", name, done)


@users_app.command("enable")
@friendly
def users_enable(name: Name, config: ConfigOption = None) -> None:
    """Let a disabled user sign in again."""
    security = _security(config)
    done = security.users.enable(name)
    _record(security, "users.enable", f"user:{name}", outcome="ok" if done else "not_found")
    _change("enabled", name, done)
