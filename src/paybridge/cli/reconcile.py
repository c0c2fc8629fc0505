"""`paybridge reconcile`: one day's PayTrace settlements against D365; exit 0 matched, 1 differences, 2 error.

A report by default: it writes to D365 only when asked, ``--heal`` (re-drive what is missing)
and ``--journal`` (the settlement general journal per batch, clearing -> bank).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from paybridge.app.engine import build_engine
from paybridge.app.settings import Settings, load_settings
from paybridge.cli.common import audit_cli
from paybridge.clock import SystemClock
from paybridge.errors import ConfigError, PayBridgeError
from paybridge.reconcile import MatchClass, ReconcileSettings
from paybridge.reconcile.render import FORMATS, Format, render, render_csv_files
from paybridge.reconcile.report import ReconciliationReport

err = Console(stderr=True)


def load_reconcile_settings(config: Path | None) -> tuple[Settings, ReconcileSettings]:
    """The settings file, ``reconcile:`` section included."""
    if config is not None and not config.is_file():
        raise ConfigError(f"--config: no such file {config}", operation="settings")
    settings = load_settings(config)
    return settings, settings.reconcile


def _day(text: str | None, timezone: str) -> date:
    if text is None:  # the scheduler's morning run: yesterday, merchant-local
        return datetime.now(ZoneInfo(timezone)).date() - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--date: {text!r} is not a date (YYYY-MM-DD)", operation="reconcile"
        ) from None


class _Bar:
    """The progress callback as a Rich progress bar on stderr (stdout may carry the report)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(task, completed=done, total=total)


async def run_reconcile(
    settings: Settings,
    reconcile: ReconcileSettings,
    day: date,
    company: str,
    *,
    heal: bool,
    journal: bool = False,
    fmt: Format,
    out: Path | None,
) -> int:
    if journal and not reconcile.settlement_journal:
        raise ConfigError(
            "--journal: reconcile.settlement_journal is false in the settings",
            operation="reconcile",
        )
    engine = build_engine(settings, clock=SystemClock())
    target = f"reconcile:{company}:{day.isoformat()}"
    try:
        reconciler = engine.reconciler(reconcile)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeElapsedColumn(), console=err, transient=True) as progress:
            report = await reconciler.run(
                day, company, heal=heal, journal=journal, progress=_Bar(progress)
            )
    except Exception as exc:
        # A heal or journal that failed half-way may still have written some of its part.
        for asked, action in ((heal, "reconcile.heal"), (journal, "reconcile.journal")):
            if asked:
                audit_cli(engine.security.audit, action, target, outcome="error",
                          error=type(exc).__name__)  # fmt: skip
        raise
    finally:
        await engine.aclose()
    if journal:
        # --journal moves money between ledger accounts in D365: who asked, and what it wrote.
        audit_cli(
            engine.security.audit, "reconcile.journal", target,
            outcome="error" if report.errors else "ok", run_id=report.run_id,
            journals=[f"{j.batch}:{j.journal}:{j.how}" for j in report.journals][:200],
            errors=len(report.errors),
        )  # fmt: skip
    if heal:
        # --heal moves money into D365 (re-driven payments): who asked, and what it enqueued.
        audit_cli(
            engine.security.audit, "reconcile.heal", target,
            outcome="ok" if report.exit_code == 0 else "differences", run_id=report.run_id,
            healed=[f"{h.transaction_id}:{h.kind}" for h in report.heals if h.enqueued][:200],
            already_enqueued=sum(1 for h in report.heals if not h.enqueued),
            errors=len(report.errors),
        )  # fmt: skip
    out = write_report(report, fmt, out, f"reconcile-{company}-{day.isoformat()}")
    counts = report.counts
    exceptions = sum(n for c, n in counts.items() if c is not MatchClass.MATCHED)
    where = f"; report in {out}" if out else ""
    journals = (
        f"{len(report.journals)} settlement journals"
        if journal
        else "no settlement journal (--journal writes it)"
    )
    err.print(
        f"{company} {day.isoformat()}: {counts.get(MatchClass.MATCHED, 0)} matched, "
        f"{exceptions} exceptions, {len(report.heals)} healed, {journals}{where}",
        markup=False,
        highlight=False,
        soft_wrap=True,  # one line, whatever the terminal's width: scripts read it
    )
    for problem in report.errors:
        err.print(f"[red]error:[/red] {problem}")
    return report.exit_code


def write_report(
    report: ReconciliationReport, fmt: Format, out: Path | None, stem: str
) -> Path | None:
    """Write the report; ``None`` when it went to stdout (HTML and JSON without ``--out``).

    XLSX without ``--out`` goes to ``<stem>.xlsx``; CSV is a folder of one file per table
    (``--out DIR``, default ``<stem>/``).
    """
    if fmt == "csv":
        folder = out or Path(stem)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(
                f"--out: {folder} is a file; --format csv writes a folder (one file per table)",
                operation="reconcile",
            )
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in render_csv_files(report).items():
            (folder / name).write_bytes(data)
        return folder
    data = render(report, fmt)
    if out is None and fmt == "xlsx":
        out = Path(f"{stem}.xlsx")
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return None
    out.write_bytes(data)
    return out


def reconcile(
    day: Annotated[
        str | None,
        typer.Option(
            "--date", help="Settlement day YYYY-MM-DD (merchant-local); default yesterday."
        ),
    ] = None,
    company: Annotated[
        str | None, typer.Option("--company", help="D365 legal entity; default dynamics.company.")
    ] = None,
    heal: Annotated[
        bool, typer.Option("--heal", help="Re-drive what is missing in D365 (exactly once).")
    ] = False,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal",
            help="Also write the settlement general journal per batch (clearing -> bank, "
            "exactly once). Without it the run only reports.",
        ),
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="Report format: html, csv, xlsx or json.")
    ] = "html",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the report here (default: stdout; xlsx: reconcile-<company>-<day>.xlsx). "
            "With --format csv a folder: summary.csv, batches.csv, exceptions.csv, ...",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings YAML (with reconcile:).")
    ] = None,
) -> None:
    """Reconcile one day's PayTrace settlements with D365: exit 0 all matched, 1 differences, 2 error.

    A report: nothing is written to D365 unless --heal or --journal asks for it.
    """
    try:
        if fmt not in FORMATS:
            raise ConfigError(
                f"--format must be one of {', '.join(FORMATS)}", operation="reconcile"
            )
        settings, reconcile_settings = load_reconcile_settings(config)
        when = _day(day, settings.paytrace.timezone)
        code = asyncio.run(
            run_reconcile(
                settings, reconcile_settings, when, (company or settings.dynamics.company).lower(),
                heal=heal, journal=journal, fmt=fmt, out=out,
            )
        )  # fmt: skip
    except PayBridgeError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # exit code 2 means "error", whatever its kind
        if os.environ.get("PAYBRIDGE_DEBUG"):
            raise
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(code)
