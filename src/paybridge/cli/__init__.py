"""`paybridge` command line: parses, calls services, prints. Errors become exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from paybridge import __version__
from paybridge.app.settings import Settings
from paybridge.cli.alerts import alerts_app
from paybridge.cli.charge import charge as charge_command
from paybridge.cli.check import SkipCheckOption, require_access
from paybridge.cli.check import check as check_command
from paybridge.cli.common import (
    ConfigOption,
    audit_cli,
    audit_log,
    err,
    friendly,
    out,
    settings_from,
    store_of,
)
from paybridge.cli.customers import customers_app
from paybridge.cli.db import db_app
from paybridge.cli.dlq import dlq_app
from paybridge.cli.init import init as init_command
from paybridge.cli.insight import insight_app
from paybridge.cli.level3 import level3_app
from paybridge.cli.mapping import mapping_app
from paybridge.cli.paylinks import paylink_app
from paybridge.cli.reconcile import reconcile as reconcile_command
from paybridge.cli.refunds import refunds_app
from paybridge.cli.security import audit_app, keys_app, vault_app, webhooks_app
from paybridge.cli.subscriptions import subscriptions_app
from paybridge.cli.users import users_app

app = typer.Typer(
    name="paybridge",
    help="Keeps Dynamics 365 F&O and PayTrace in exact agreement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
xref_app = typer.Typer(help="Cross-references between PayTrace and D365 ids.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(xref_app, name="xref")

app.add_typer(mapping_app, name="mapping")
app.add_typer(customers_app, name="customers")
app.add_typer(refunds_app, name="refunds")
app.add_typer(paylink_app, name="paylink")
app.add_typer(level3_app, name="level3")
app.add_typer(db_app, name="db")
app.add_typer(vault_app, name="vault")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(webhooks_app, name="webhooks")
app.command("reconcile")(reconcile_command)
app.command("charge")(charge_command)
app.command("check")(check_command)
app.command("init")(init_command)
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(alerts_app, name="alerts")
app.add_typer(users_app, name="users")
app.add_typer(insight_app, name="insight")


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
@friendly
def demo(
    payments: Annotated[int, typer.Option(min=1, max=100_000, help="Payments to make.")] = 50,
    exit_: Annotated[
        bool, typer.Option("--exit", help="Stop when done; print a JSON summary last.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Storefront RNG seed.")] = 7,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 300.0,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Folder for the reconciliation report (default: paybridge-demo/reports).",
        ),
    ] = None,
) -> None:
    """Start both sandboxes and the engine; a storefront makes payments that reach D365."""
    from paybridge.harness.demo import run_demo, summary_json

    try:
        summary = asyncio.run(
            run_demo(
                payments, exit_when_done=exit_, seed=seed, timeout=timeout, report_dir=report_dir,
                on_done=lambda done: print(summary_json(done), flush=True),
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        err.print("stopped")
        return
    print(summary_json(summary))
    if not summary.ok:
        raise typer.Exit(1)


def _logging(settings: Settings) -> None:
    """Log to stderr as ``logging:`` says, through the card-data redactor (every handler)."""
    from paybridge.ops.logs import setup_logging

    setup_logging(settings.logging)


async def _until_signal(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask for a graceful stop: the batch in hand finishes, then we exit."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


@app.command()
@friendly
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker loops.")] = 1,
    skip_check: SkipCheckOption = False,
) -> None:
    """Run the engine: the scheduler (PayTrace poller) and the queue workers, until SIGTERM."""
    from paybridge.app.engine import build_engine
    from paybridge.app.runner import run_rebuilding
    from paybridge.runtime import heap

    settings = settings_from(config)
    d365_calls = require_access(settings, skip_check)
    _logging(settings)

    async def main() -> None:
        engine = build_engine(settings, d365_calls=d365_calls)
        heap.settle()
        stop = asyncio.Event()
        await _until_signal(stop)
        jobs = ", ".join(job.name for job in engine.scheduler.jobs)
        err.print(f"worker ready: {', '.join(engine.worker.handlers)} handled; jobs {jobs}")
        await run_rebuilding(engine, stop, concurrency=concurrency)
        err.print("worker stopped")

    asyncio.run(main())


@app.command()
@friendly
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (web.host).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port (web.port).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker loops.")] = 1,
    skip_check: SkipCheckOption = False,
) -> None:
    """The API and the engine in one process (the embedded default), until SIGTERM.

    HTTPS when web.tls_cert and web.tls_key are set.
    """
    import uvicorn

    from paybridge.app.api import build_api
    from paybridge.app.engine import Engine, build_engine
    from paybridge.app.runner import run_rebuilding
    from paybridge.runtime import heap
    from paybridge.web.server import EmbeddedServer, SwitchableApp

    settings = settings_from(config)
    web = settings.web
    if (web.tls_cert is None) != (web.tls_key is None):
        err.print("[red]error:[/red] web.tls_cert and web.tls_key go together")
        raise typer.Exit(2)
    d365_calls = require_access(settings, skip_check)
    _logging(settings)

    async def main() -> None:
        engine = build_engine(settings, d365_calls=d365_calls)
        stop = asyncio.Event()
        api = SwitchableApp(build_api(engine))
        server = EmbeddedServer(
            uvicorn.Config(
                api, host=host or web.host, port=port or web.port,
                log_level=settings.logging.level.lower(),
                ssl_certfile=str(web.tls_cert) if web.tls_cert else None,
                ssl_keyfile=str(web.tls_key) if web.tls_key else None,
                # uvicorn keeps its hands off logging: its access and error lines go through
                # the root handler, which masks card data and secrets (set up by _logging()).
                log_config=None,
            )
        )  # fmt: skip
        _logging(settings)  # again, after uvicorn's Config: every handler there is now is masked
        heap.settle()
        await _until_signal(stop)
        serving = asyncio.create_task(server.serve())

        def rebuilt(fresh: Engine) -> None:
            api.app = build_api(fresh)

        try:
            await run_rebuilding(engine, stop, concurrency=concurrency, on_rebuild=rebuilt)
        finally:
            server.should_exit = True
            await serving
        err.print("server stopped")

    asyncio.run(main())


@app.command()
@friendly
def chaos(
    payments: Annotated[int, typer.Option(min=1, max=1_000_000, help="Payments to make.")] = 300,
    seed: Annotated[int, typer.Option(help="RNG seed: faults, kills, storefront.")] = 1,
    kill_every: Annotated[
        float, typer.Option(min=0.5, help="Mean seconds between SIGKILLs of each worker.")
    ] = 3.0,
    faults: Annotated[
        str,
        typer.Option(
            help="Sandbox fault profile: none, flaky, chaos, or storm (chaos plus answers held "
            "past the clients' timeouts after the commit)."
        ),
    ] = "storm",
    store_url: Annotated[
        str | None, typer.Option(help="Store URL (default: a temporary SQLite file).")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up draining after this many seconds.")
    ] = 900.0,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="`paybridge worker` processes on the store.")
    ] = 2,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Worker loops in each worker process.")
    ] = 4,
    short_lease: Annotated[
        bool,
        typer.Option(
            "--short-lease", help="A lease of 3 s instead of the product's default (120 s)."
        ),
    ] = False,
    outage_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            help="D365 down this long halfway through (0: no outage); long enough to "
            "dead-letter payments.",
        ),
    ] = 45.0,
    store_loss: Annotated[
        str,
        typer.Option(
            help="At two thirds: none, delete (a fresh store), or restore (the copy taken at "
            "one third)."
        ),
    ] = "restore",
    dst: Annotated[
        bool,
        typer.Option(
            "--dst/--no-dst",
            help="Live the next DST fall-back night of the merchant's zone (every clock shifted).",
        ),
    ] = True,
    client_timeout: Annotated[
        float, typer.Option(min=1, help="The PayTrace and D365 clients' timeout (seconds).")
    ] = 5.0,
    keep_logs: Annotated[
        Path | None, typer.Option(help="Keep the processes' logs and the reconciliation here.")
    ] = None,
    without: Annotated[
        list[str] | None,
        typer.Option(
            help="Leave out: adjust, void_refund, void_capture (storefront operations), heal, replay "
            "(the operator's steps after the outage), billing (the subscriptions' charges), "
            "orders (card orders: authorize, capture, void, refund). "
            "Repeatable."
        ),
    ] = None,
) -> None:
    """Faults, an outage, SIGKILLed workers, a lost store; prove nothing is lost or doubled."""
    from paybridge.harness.chaos import FAULT_PROFILES, WITHOUT, run_chaos

    if faults not in FAULT_PROFILES:
        err.print(f"[red]error:[/red] --faults: use {', '.join(FAULT_PROFILES)}")
        raise typer.Exit(2)
    left_out = frozenset(without or ())
    if not left_out <= WITHOUT:
        err.print(f"[red]error:[/red] --without: use {', '.join(sorted(WITHOUT))}")
        raise typer.Exit(2)
    if store_loss not in ("none", "delete", "restore"):
        err.print("[red]error:[/red] --store-loss: use none, delete or restore")
        raise typer.Exit(2)

    def progress(n: int, total: int, kills: int) -> None:
        if n % max(total // 20, 1) == 0 or n == total:
            err.print(f"payments {n}/{total} · worker kills {kills}")

    report = asyncio.run(
        run_chaos(
            payments, seed=seed, kill_every=kill_every, faults=faults, store_url=store_url,
            timeout=timeout, progress=progress, workers=workers, concurrency=concurrency,
            short_lease=short_lease, outage_seconds=outage_seconds, store_loss=store_loss,
            dst=dst, client_timeout=client_timeout, keep_logs=keep_logs, without=left_out,
        )
    )  # fmt: skip
    print(report.line())
    detail = report.detail
    err.print(json.dumps({k: v for k, v in detail.items() if k != "examples"}, default=str))
    for count, examples in detail.get("examples", {}).items():
        err.print(f"{count}: " + "; ".join(examples))
    if detail.get("card_numbers_kept"):
        err.print(f"card numbers kept by PayBridge: {detail['card_numbers_kept']}")
    if detail.get("worker_crashes"):
        err.print(f"a worker exited by itself {detail['worker_crashes']} time(s)")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@friendly
def trace(
    transaction_id: Annotated[str, typer.Argument(help="PayTrace transaction id.")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The lineage of one payment: when each fact was seen, each step, and the D365 records."""

    if not transaction_id.strip().isdigit():
        err.print("[red]error:[/red] transaction_id: a PayTrace transaction id is a number")
        raise typer.Exit(2)
    from paybridge.console.lineage import lineage_of

    store = store_of(settings_from(config))
    lineage = lineage_of(store.ledger, store.queue, transaction_id)
    if as_json:
        print(json.dumps(lineage.to_json(), default=str))
        return
    if not lineage.known:
        err.print(f"nothing known about PayTrace transaction {transaction_id}")
        raise typer.Exit(1)
    table = Table(title=f"PayTrace transaction {transaction_id}")
    for column in ("when", "fact", "step", "system", "record", "status", "attempts"):
        table.add_column(column)
    for row in lineage.seen:
        message = row.message or {}
        status = str(message.get("status", ""))
        if status == "dead":
            status = f"dead ({message.get('triage_state') or 'open'}, dlq {message.get('id')})"
        table.add_row(
            str(row.received_at), row.key, "seen", row.source, "",
            status, str(message.get("attempts", "")),
        )  # fmt: skip
    for step in lineage.steps:
        table.add_row(
            str(step.at), step.event_key, step.step, step.system,
            f"{step.entity} {step.entity_id}", step.status, str(step.attempts),
        )  # fmt: skip
    out.print(table)
    for line in lineage.why():
        out.print(Text(line))


@xref_app.command("link")
@friendly
def xref_link(
    paytrace_customer: Annotated[str, typer.Argument(help="PayTrace customer_id.")],
    d365_customer: Annotated[str, typer.Argument(help="company/account, e.g. usmf/US-001.")],
    config: ConfigOption = None,
) -> None:
    """Link a PayTrace customer profile to a D365 customer."""

    settings = settings_from(config)
    company, slash, account = d365_customer.partition("/")
    if not slash or not company or not account:
        err.print("[red]error:[/red] d365_customer: write it as company/account, e.g. usmf/US-001")
        raise typer.Exit(2)
    store = store_of(settings)
    target = f"{company.lower()}/{account}"
    previous = store.xref.get("paytrace_customer", paytrace_customer)
    store.xref.link("paytrace_customer", paytrace_customer, target)
    audit_cli(
        audit_log(settings, store.engine), "xref.link", f"paytrace_customer:{paytrace_customer}",
        d365=target, previous=previous,
    )  # fmt: skip
    out.print(f"{paytrace_customer} -> {target}", markup=False, highlight=False)


@xref_app.command("list")
@friendly
def xref_list(config: ConfigOption = None) -> None:
    """All PayTrace customer -> D365 customer links."""

    for source, target in sorted(
        store_of(settings_from(config)).xref.all("paytrace_customer").items()
    ):
        out.print(f"{source} -> {target}", markup=False, highlight=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
