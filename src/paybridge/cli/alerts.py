"""`paybridge alerts`: send a test alert to the channels, and see the rules and what fires."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from paybridge.cli.common import ConfigOption, err, friendly, out, settings_from, store_of

alerts_app = typer.Typer(help="Alert channels and rules: test, status.", no_args_is_help=True)


@alerts_app.command("test")
@friendly
def alerts_test(
    config: ConfigOption = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
) -> None:
    """Send a test alert straight to every channel (or one): ✓ or ✗ with why; exit 1 on any ✗."""
    from paybridge.app.engine import build_engine

    settings = settings_from(config)
    if not settings.alerting.channels:
        err.print("[red]error:[/red] alerting.channels: no channel is configured")
        raise typer.Exit(2)
    if channel is not None and channel not in settings.alerting.channels:
        err.print(f"[red]error:[/red] --channel: no channel named {channel} in alerting.channels")
        raise typer.Exit(2)

    async def main() -> dict[str, str | None]:
        engine = build_engine(settings)
        try:
            return await engine.alerts.test(channel)
        finally:
            await engine.aclose()

    results = asyncio.run(main())
    for name, problem in results.items():
        kind = settings.alerting.channels[name].type
        line = f"✓ {name} ({kind})" if problem is None else f"✗ {name} ({kind}): {problem}"
        out.print(Text(line))
    if any(problem is not None for problem in results.values()):
        raise typer.Exit(1)


@alerts_app.command("status")
@friendly
def alerts_status(config: ConfigOption = None) -> None:
    """The rules, their channels, and every subject firing now or before."""
    from sqlalchemy import select

    from paybridge.store.schema_ops import alert_state

    settings = settings_from(config)
    alerting = settings.alerting
    rules = Table(title="Alert rules")
    for column in ("rule", "when", "above", "window", "channels", "repeat"):
        rules.add_column(column)
    for rule in alerting.rules:
        rules.add_row(
            rule.name, rule.when if rule.when != "event" else f"event {','.join(rule.kinds)}",
            f"{rule.above:g}", f"{rule.window_seconds:g} s",
            ", ".join(alerting.channels_of(rule)) or "(log only)", f"{rule.repeat_seconds:g} s",
        )  # fmt: skip
    out.print(rules)
    store = store_of(settings)
    with store.engine.connect() as conn:
        rows = (
            conn.execute(select(alert_state).order_by(alert_state.c.rule, alert_state.c.subject))
            .mappings()
            .all()
        )
    state = Table(title="Alerts")
    for column in ("rule", "subject", "firing", "since", "last sent", "times", "summary"):
        state.add_column(column)
    for row in rows:
        state.add_row(
            *(Text(str(v)) for v in (
                row["rule"], row["subject"], "yes" if row["firing"] else "no", row["first_at"],
                row["sent_at"], row["sent"], row["summary"],
            ))
        )  # fmt: skip
    out.print(state)
