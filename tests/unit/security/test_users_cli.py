"""`paybridge users`: passwords from standard input only, never printed, every change audited."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from paybridge.cli.users import users_app
from paybridge.clock import SystemClock
from paybridge.security.context import open_security
from paybridge.store import open_engine

PASSWORD = "a very long password"
cli = typer.Typer()
cli.add_typer(users_app, name="users")


def test_users_are_added_listed_re_roled_and_disabled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    env = {"PAYBRIDGE__STORE__URL": url}

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["users", *args], env=env, input=stdin)
        return result.exit_code, result.output

    assert run("add", "alice", "--role", "operator", stdin=PASSWORD) == (
        0,
        "added alice (operator)\n",
    )
    code, shown = run("add", "bob", stdin="short")
    assert code == 2 and "at least 12 characters" in shown
    code, listed = run("list")
    assert code == 0 and "alice" in listed and "operator" in listed and PASSWORD not in listed
    assert "scrypt" not in listed
    assert run("role", "alice", "--role", "viewer")[0] == 0
    assert run("passwd", "alice", stdin=PASSWORD + "!")[0] == 0
    assert run("disable", "alice")[0] == 0
    code, shown = run("disable", "nobody")
    assert code == 2 and "no user nobody" in shown

    security = open_security(open_engine(url), clock=SystemClock())
    user = security.users.get("alice")
    assert user is not None and user.role == "viewer" and user.disabled_at is not None
    assert security.users.verify("alice", PASSWORD + "!") is None  # disabled
    actions = [r.action for r in reversed(security.audit.search(action="users."))]
    assert actions == ["users.add", "users.role", "users.passwd", "users.disable", "users.disable"]
    assert all(PASSWORD not in str(r.detail) for r in security.audit.search(action="users."))
