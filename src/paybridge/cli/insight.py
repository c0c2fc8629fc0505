"""`paybridge insight review list|release|confirm`, `insight retrain`, `insight backtest`.

Reviews act on the engine's insight (``insight.enabled: true``), audited as ``cli:<user>``. The
backtest needs only the insight extra: it makes synthetic days and touches no system.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from paybridge.cli.common import ConfigOption, cli_actor, err, friendly, out, settings_from
from paybridge.errors import ConfigError

if TYPE_CHECKING:
    from paybridge.app.engine import Engine
    from paybridge.app.insight import Insight
    from paybridge.insight.backtest import BacktestReport

insight_app = typer.Typer(
    help="Fraud scoring: reviews, retraining, the backtest.", no_args_is_help=True
)
review_app = typer.Typer(
    help="Payments held for review: list, release, confirm.", no_args_is_help=True
)
insight_app.add_typer(review_app, name="review")
T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NoteOption = Annotated[str, typer.Option(help="Why (kept in the audit log).")]


def _with_insight(config: Any, work: Callable[[Insight], Awaitable[T]]) -> T:
    from paybridge.app.engine import build_engine

    settings = settings_from(config)
    if not settings.insight.enabled:
        raise ConfigError("insight.enabled is false in these settings", operation="settings")

    async def run() -> T:
        engine: Engine = build_engine(settings)
        try:
            assert engine.insight is not None
            return await work(engine.insight)
        finally:
            await engine.aclose()

    return asyncio.run(run())


@review_app.command("list")
@friendly
def review_list(
    state: Annotated[
        str, typer.Option(help="held, released, confirmed, alerted, clear or all.")
    ] = "held",
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Scored transactions in a review state, newest first (held: waiting for a person)."""
    states = {"held", "released", "confirmed", "alerted", "clear", "all"}
    if state not in states:
        err.print(f"[red]error:[/red] --state: one of {', '.join(sorted(states))}, not {state!r}")
        raise typer.Exit(2)

    async def work(insight: Insight) -> list[dict[str, Any]]:
        return [r.to_dict() for r in insight.review.list(None if state == "all" else state, limit)]

    rows = _with_insight(config, work)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("key", "amount", "customer", "risk", "state", "reasons", "model")
    for r in rows:
        table.add_row(r["key"], f"{r['amount']} {r['currency']}", r["customer"], f"{r['score']:.2f}",
                      r["state"], "; ".join(r["reasons"][:3]), r["model_version"])  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} {state}")


@review_app.command("release")
@friendly
def review_release(
    key: Annotated[str, typer.Argument(help="The held fact's key, paytrace:<id>:<kind>.")],
    note: NoteOption = "",
    config: ConfigOption = None,
) -> None:
    """Let a held payment post (once; the worker posts it on its next pass)."""

    async def work(insight: Insight) -> str:
        done = insight.review.release(key, actor=cli_actor(), note=note, client="local")
        return f"{done.key}: {done.message}"

    out.print(_with_insight(config, work))


@review_app.command("confirm")
@friendly
def review_confirm(
    key: Annotated[str, typer.Argument(help="The fact's key, paytrace:<id>:<kind>.")],
    note: NoteOption = "",
    void: Annotated[
        bool, typer.Option(help="Void it in PayTrace first (before settlement).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Confirm fraud: a held payment is never posted; any scored one is labelled for retraining."""

    async def work(insight: Insight) -> str:
        done = await insight.review.confirm(
            key, actor=cli_actor(), note=note, void=void, client="local"
        )
        return f"{done.key}: {done.message}"

    out.print(_with_insight(config, work))


@insight_app.command("retrain")
@friendly
def retrain(config: ConfigOption = None) -> None:
    """Train a model version from the store now (the job insight.retrain does it on schedule)."""

    async def work(insight: Insight) -> str:
        return await insight.retrainer.run()

    out.print(_with_insight(config, work))


@insight_app.command("backtest")
@friendly
def backtest(
    days: Annotated[int, typer.Option(min=5, max=365, help="Synthetic days (40% train).")] = 30,
    seed: Annotated[int, typer.Option(help="The generator's and the forest's seed.")] = 7,
    threshold: Annotated[float, typer.Option(min=0.01, max=1.0, help="The hold threshold.")] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Precision, recall, PR-AUC and recall at 95% precision on held-out synthetic days, for the
    model and a rules-only baseline, and the latency scoring adds per transaction."""
    try:
        from paybridge.insight.backtest import run_backtest
    except ImportError as exc:
        raise ConfigError(f"the backtest needs pip install 'paybridge[insight]' ({exc})") from exc
    report = run_backtest(days, seed=seed, threshold=threshold,
                          progress=None if as_json else (lambda line: err.print(line)))  # fmt: skip
    if as_json:
        out.print_json(json.dumps(_report_dict(report)))
    else:
        _print_report(report)


def _report_dict(r: BacktestReport) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(r)


def _print_report(r: BacktestReport) -> None:
    out.print(f"{r.days} synthetic days: {r.train_days} to train, {r.days - r.train_days} held out; "
              f"{r.transactions} transactions held out, {r.frauds} of them fraud")  # fmt: skip
    table = Table("scorer", "precision", "recall", "PR-AUC", "recall @95% precision")
    for f in (r.model, r.unsupervised, r.rules):
        table.add_row(
            f.name,
            f"{f.precision:.3f}",
            f"{f.recall:.3f}",
            f"{f.pr_auc:.3f}",
            f"{f.recall_at_95:.3f}",
        )
    out.print(table)
    ratio = r.model.recall_at_95 / r.rules.recall_at_95 if r.rules.recall_at_95 else float("inf")
    out.print(f"model {r.model_version} (trained with {r.labels_known} confirmed frauds); "
              f"recall @95% precision {ratio:.2f}x the rules-only baseline")  # fmt: skip
    for pattern, (caught, total) in sorted(r.by_pattern.items()):
        out.print(f"  {pattern:18} {caught}/{total} held at threshold {r.threshold}")
    out.print(f"latency per transaction: {r.model_ms:.3f} ms one at a time "
              f"({r.model_ms - r.rules_ms:+.3f} ms over rules only), {r.batch_ms:.3f} ms in batches of 200")  # fmt: skip
