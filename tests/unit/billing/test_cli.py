"""`paybridge subscriptions ...`: add/list/show/pause/resume/cancel; bad input exits 2 naming the option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from paybridge.cli.subscriptions import subscriptions_app


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.config = tmp_path / "paybridge.yaml"
        self.config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'pb.db'}\n", encoding="utf-8")

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(subscriptions_app, [*args, "--config", str(self.config)])

    def add(self, *extra: str) -> Result:
        base = ["add", "--customer", "PT-1", "--amount", "19.99", "--currency", "USD",
                "--frequency", "monthly", "--start", "2026-01-31"]  # fmt: skip
        return self(*base, *extra)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_add_list_pause_resume_cancel(cli: Cli) -> None:
    added = cli.add("--count", "12", "--d365", "usmf/US-001", "--d365-reference", "SA-7")
    assert added.exit_code == 0, added.output
    assert "subscription 1: 19.99 USD monthly from 2026-01-31, 12 periods" in added.output
    assert "D365 usmf/US-001" in added.output

    listed = cli("list", "--json")
    assert listed.exit_code == 0
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["amount"] == "19.99" and row["status"] == "active"
    assert row["next_period"] == "2026-01-31" and row["frequency"] == "monthly"
    assert "PT-1" in cli("list").stdout

    assert "paused" in cli("pause", "1").stdout
    assert [
        json.loads(x)["id"] for x in cli("list", "--json", "--status", "paused").stdout.splitlines()
    ] == [1]
    assert cli("list", "--json", "--status", "active").stdout.strip() == ""
    again = cli("pause", "1")
    assert again.exit_code == 2 and "ID: status paused" in again.stderr
    resumed = cli("resume", "1")
    assert resumed.exit_code == 0 and "resumed" in resumed.stdout
    assert cli("cancel", "1").exit_code == 0
    assert json.loads(cli("list", "--json").stdout)["status"] == "cancelled"
    shown = cli("show", "1")
    assert shown.exit_code == 0 and "cancelled" in shown.stdout


def test_the_d365_customer_comes_from_the_xref_or_is_asked_for(cli: Cli) -> None:
    missing = cli.add()
    assert missing.exit_code == 2 and "--d365:" in missing.stderr
    with_end = cli.add("--end", "2026-12-31", "--d365", "usmf/US-002", "--frequency", "1st & 15th")
    assert with_end.exit_code == 0, with_end.output
    assert "1st-and-15th from 2026-01-31 until 2026-12-31" in with_end.stdout
    assert "D365 usmf/US-002" in cli.add("--count", "2").stdout  # now linked through the xref


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--amount", "abc"], "--amount"),
        (["--amount", "19.999"], "--amount"),
        (["--amount", "-1"], "--amount"),
        (["--amount", "NaN"], "--amount"),
        (["--currency", "EUR"], "--currency"),
        (["--currency", "US1"], "--currency"),
        (["--frequency", "fortnightly"], "--frequency"),
        (["--start", "2026-02-30"], "--start"),
        (["--end", "31/12/2026"], "--end"),
        (["--count", "3", "--end", "2026-12-31"], "--count/--end"),
        (["--end", "2025-12-31"], "--count/--end"),
        (["--engine", "cron"], "--engine"),
    ],
)
def test_bad_input_exits_2_naming_the_option(cli: Cli, args: list[str], option: str) -> None:
    result = cli.add("--d365", "usmf/US-001", *args)
    assert result.exit_code == 2, result.output
    assert f"{option}:" in result.stderr
    assert cli("list", "--json").stdout.strip() == ""  # nothing was stored


def test_a_count_below_one_and_an_unknown_id_exit_2(cli: Cli) -> None:
    assert cli.add("--d365", "usmf/US-001", "--count", "0").exit_code == 2
    unknown = cli("cancel", "42")
    assert unknown.exit_code == 2 and "ID: no such subscription" in unknown.stderr
    assert cli("show", "42").exit_code == 2


def test_subscription_changes_and_refusals_are_audit_rows(cli: Cli, tmp_path: Path) -> None:
    """Issue 14 item 6: subscription changes from the CLI left no audit row."""
    from paybridge.app.settings import load_settings
    from paybridge.cli.common import audit_log
    from paybridge.store import open_engine

    assert cli.add("--count", "3", "--d365", "usmf/US-001").exit_code == 0
    assert cli.add("--amount", "abc").exit_code == 2
    for verb in ("pause", "pause", "resume", "cancel"):
        cli(verb, "1")
    settings = load_settings(cli.config)
    log = audit_log(settings, open_engine(settings.store.url))
    rows = [(r.action, r.target, r.outcome) for r in reversed(log.search(action="subscription."))]
    assert rows == [
        ("subscription.create", "subscription:1", "ok"),
        ("subscription.create", "customer:PT-1", "invalid"),
        ("subscription.pause", "subscription:1", "ok"),
        ("subscription.pause", "subscription:1", "invalid"),
        ("subscription.resume", "subscription:1", "ok"),
        ("subscription.cancel", "subscription:1", "ok"),
    ]
    created = log.search(action="subscription.create", outcome="ok")[0]
    assert '"amount": "19.99"' in created.detail and created.actor.startswith("cli:")
    assert log.verify().ok
