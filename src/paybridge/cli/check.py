"""`paybridge check`: the go-live access check of PayTrace and D365, as a table or JSON.

Also the start-up gate of ``worker`` and ``serve``: they refuse to start (exit 2, one line per
failure) when an essential check fails for certain, unless ``--skip-check`` is given.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from paybridge.app.settings import Settings
from paybridge.cli.common import ConfigOption, err, friendly, out, settings_from
from paybridge.golive import AccessReport

SkipCheckOption = Annotated[
    bool,
    typer.Option(
        "--skip-check",
        help="Start without the access check (emergencies only: a wrong setting then costs "
        "payments' attempts instead of stopping here).",
    ),
]


def run_check(settings: Settings, *, store: bool = True) -> AccessReport:
    from paybridge.app.golive import check_access

    return asyncio.run(check_access(settings, store=store))


def render(report: AccessReport) -> Table:
    table = Table(title="PayBridge access check", title_justify="left")
    for column in ("", "system", "check", "found", "fix"):
        table.add_column(column)
    styles = {"ok": "green", "fail": "red", "warn": "yellow", "skip": "dim"}
    for r in report.results:
        table.add_row(
            Text(r.mark, style=styles[r.status]), r.system, r.name, Text(r.detail), Text(r.fix)
        )
    return table


@friendly
def check(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check access to PayTrace and D365 before go-live: logins, rights, records, clocks."""
    report = run_check(settings_from(config))
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        out.print(render(report))
        failures = report.failures()
        for failure in failures:
            err.print(Text(f"✗ {failure.line()}"))
        verdict = "all checks passed" if report.ok else f"{len(failures)} check(s) failed"
        err.print(f"{verdict} in {report.seconds:.1f}s")
    if not report.ok:
        raise typer.Exit(1)


def require_access(settings: Settings, skip: bool) -> list[float]:
    """The start-up gate: exit 2 with one line per essential that failed for certain.

    Returns when the check's D365 calls ended, for the engine's service-protection window."""
    if skip:
        err.print("access check skipped (--skip-check)")
        return []
    report = run_check(settings, store=False)  # the engine opens the store right after
    for result in report.failures():
        if result not in report.blocking():
            err.print(Text(f"warning: {result.line()}"))
    blocking = report.blocking()
    if blocking:
        for result in blocking:
            err.print(Text(f"error: {result.line()}"))
        err.print("refusing to start: fix the settings above, or start with --skip-check")
        raise typer.Exit(2)
    return report.d365_calls
