"""`paybridge charge` through the services against both sandboxes: exit codes and what it prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import paybridge.app.engine as services
from paybridge.app.engine import Engine, build_engine
from paybridge.app.settings import Settings
from paybridge.cli.charge import charge
from paybridge.clock import ManualClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.charging.conftest import (
    D365,
    PT,
    START,
    msal_for,
    open_profile,
    sandbox_settings,
)

SALE_PATH = "/v1/transactions/sale/by_customer"


class CliWorld:
    """The sandboxes live across CLI runs; each run builds its engine on them (same store)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pt = paytrace_app(clock=SandboxClock(START))
        self.d365 = dynamics_app()
        self.settings = sandbox_settings(tmp_path)
        self.config = tmp_path / "paybridge.yaml"
        self.config.write_text(f"store:\n  url: {self.settings.store.url}\n", encoding="utf-8")
        self.seen_settings: list[Settings] = []
        monkeypatch.setattr(services, "build_engine", self.build)
        self.app = typer.Typer()
        self.app.command("charge")(charge)
        self.app.command("noop")(lambda: None)  # two commands: "charge" stays a subcommand

    def build(self, settings: Settings, **_: Any) -> Engine:
        self.seen_settings.append(settings)
        return build_engine(
            self.settings, clock=ManualClock(START),
            paytrace_http=asgi_client(self.pt, PT), dynamics_http=asgi_client(self.d365, D365),
            token_provider=msal_for(self.d365),
        )  # fmt: skip

    def setup(self, step: Callable[[Engine], Any]) -> None:
        async def run() -> None:
            engine = self.build(self.settings)
            try:
                await step(engine)
            finally:
                await engine.aclose()

        asyncio.run(run())

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(self.app, ["charge", *args, "--config", str(self.config)])

    def transactions(self, invoice: str) -> list[Any]:
        state = self.pt.state.sandbox.state
        return [t for t in state.transactions.values() if t.invoice_id == invoice]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliWorld:
    world = CliWorld(tmp_path, monkeypatch)
    world.setup(lambda engine: open_profile(engine, "CLI-1", "US-001"))
    return world


def test_an_approved_charge_exits_0_and_a_repeat_does_not_charge_again(cli: CliWorld) -> None:
    args = ("--invoice", "CIV-000101", "--company", "usmf", "--amount", "12.30", "--key", "c-1")
    first = cli.run(*args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("approved: sale of 12.30 USD for CIV-000101")
    second = cli.run(*args)
    assert second.exit_code == 0 and "earlier call" in second.output
    (txn,) = cli.transactions("CIV-000101")
    assert str(txn.transaction_id) in first.output and str(txn.transaction_id) in second.output
    assert cli.seen_settings[-1].store.url == cli.settings.store.url  # --config was read


def test_a_decline_exits_1_and_says_declined(cli: CliWorld) -> None:
    result = cli.run("--invoice", "CIV-000101", "--company", "usmf", "--amount", "1.12")
    assert result.exit_code == 1
    assert result.output.startswith("declined: ")


def test_in_doubt_exits_1_and_says_in_doubt(cli: CliWorld) -> None:
    cli.pt.state.faults.script("commit_then_drop", path=SALE_PATH)
    args = ("--invoice", "CIV-000101", "--company", "usmf", "--amount", "7.00", "--key", "c-d")
    result = cli.run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("in doubt: ") and "--key c-d" in result.output
    again = cli.run(*args)  # looks it up: found, never sent twice
    assert again.exit_code == 0 and again.output.startswith("approved")
    assert len(cli.transactions("CIV-000101")) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--invoice", "CIV-000101", "--order", "000601", "--company", "usmf"),
        ("--company", "usmf"),
        ("--invoice", "CIV-000101", "--company", "usmf", "--amount", "abc"),
        ("--invoice", "CIV-000101", "--company", "usmf", "--amount", "-1"),
        ("--invoice", "CIV-000101", "--company", "usmf", "--mode", "refund"),
        ("--invoice", "CIV-000102", "--company", "usmf"),  # US-002 has no PayTrace profile
        ("--invoice", "CIV-000101", "--company", "usmf", "--key", "has space"),
    ],
)
def test_bad_input_exits_2_and_charges_nothing(cli: CliWorld, args: tuple[str, ...]) -> None:
    result = cli.run(*args)
    assert result.exit_code == 2, result.output
    assert "error" in result.output
    assert cli.transactions("CIV-000101") == [] and cli.transactions("CIV-000102") == []


def test_a_key_reused_for_another_amount_exits_2(cli: CliWorld) -> None:
    base = ("--invoice", "CIV-000101", "--company", "usmf", "--key", "c-x")
    assert cli.run(*base, "--amount", "5.00").exit_code == 0
    result = cli.run(*base, "--amount", "6.00")
    assert result.exit_code == 2 and "different request" in result.output
    assert len(cli.transactions("CIV-000101")) == 1


def test_without_a_key_the_same_command_twice_charges_once(cli: CliWorld) -> None:
    """Issue 13, 1: a fresh key per run used to charge the invoice again on every run."""
    args = ("--invoice", "CIV-000101", "--company", "usmf", "--amount", "7.00")
    first = cli.run(*args)
    assert first.exit_code == 0, first.output
    second = cli.run(*args)
    assert second.exit_code == 0 and "earlier call" in second.output, second.output
    assert len(cli.transactions("CIV-000101")) == 1
    other = cli.run(
        "--invoice", "CIV-000101", "--company", "usmf", "--amount", "7.00", "--key", "k2"
    )
    assert other.exit_code == 0, other.output  # a second charge on purpose names its own key
    assert len(cli.transactions("CIV-000101")) == 2


def test_every_cli_charge_and_refusal_is_an_audit_row(cli: CliWorld) -> None:
    """Issue 14 item 6: `paybridge charge` from the CLI left no audit row."""
    from paybridge.cli.common import audit_log
    from paybridge.store import open_engine

    base = ("--invoice", "CIV-000101", "--company", "usmf")
    assert cli.run(*base, "--amount", "5.00", "--key", "c-ok").exit_code == 0
    assert cli.run(*base, "--amount", "1.12", "--key", "c-decl").exit_code == 1
    assert cli.run(*base, "--amount", "6.00", "--key", "c-ok").exit_code == 2  # conflict
    assert cli.run(*base, "--amount", "abc", "--key", "c-bad").exit_code == 2
    assert cli.run("--invoice", "CIV-000102", "--company", "usmf", "--key", "c-np").exit_code == 2
    log = audit_log(cli.settings, open_engine(cli.settings.store.url))
    rows = [(r.target, r.outcome) for r in reversed(log.search(action="charge.create"))]
    assert rows == [
        ("charge:c-ok", "approved"), ("charge:c-decl", "declined"), ("charge:c-ok", "conflict"),
        ("charge:c-bad", "invalid"), ("charge:c-np", "refused"),
    ]  # fmt: skip
    approved = log.search(action="charge.create", outcome="approved")[0]
    assert approved.actor.startswith("cli:") and approved.client == "local"
    made = {str(t.transaction_id) for t in cli.transactions("CIV-000101")}
    assert json.loads(approved.detail)["transaction_id"] in made
    assert '"--amount"' in log.search(outcome="invalid")[0].detail
    assert log.verify().ok
