"""Alert rules read against the store: which subjects each condition rule fires for right now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from paybridge.ops.figures import Figures, StoreFigures, stale
from paybridge.ops.settings import AlertRule


@dataclass(frozen=True)
class Condition:
    """A rule is true for ``subject``: what to say, and the figure that made it so."""

    subject: str
    summary: str
    value: float
    facts: dict[str, str] = field(default_factory=dict)


def _fmt(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def conditions(rule: AlertRule, figures: Figures, store: StoreFigures) -> list[Condition]:
    """The subjects ``rule`` fires for now (an event rule fires on events, never here)."""
    now, above = figures.at, rule.above
    window = timedelta(seconds=rule.window_seconds)
    if rule.when == "dead_letters":
        grown = store.new_dead_letters(now - window)
        return [
            Condition(
                topic,
                f"{n} new dead letters on topic {topic} in the last {_fmt(rule.window_seconds)}",
                n,
                {
                    "open": str(figures.topics[topic].dead.get("open", n))
                    if topic in figures.topics
                    else str(n),
                    "see": "paybridge dlq list --state open",
                },
            )
            for topic, n in sorted(grown.items())
            if n > above
        ]
    if rule.when == "lag":
        return [
            Condition(
                t.topic,
                f"the oldest waiting message on topic {t.topic} is {_fmt(t.oldest_seconds)} old",
                t.oldest_seconds,
                {"waiting": str(t.ready + t.leased)},
            )
            for t in figures.topics.values()
            if t.oldest_seconds > above and t.ready + t.leased > 0
        ]
    if rule.when == "in_doubt":
        n = store.charges_in_doubt(now - window)
        if n <= above:
            return []
        return [
            Condition(
                "charges",
                f"{n} charges in doubt for more than {_fmt(rule.window_seconds)}",
                n,
                {"see": "GET /v1/charges/{key}; the resolver looks each up in PayTrace"},
            )
        ]
    if rule.when == "reconcile_differences":
        return [
            Condition(
                r.company,
                f"reconciliation of {r.company} for {r.day.isoformat()}: "
                f"{r.differences} differences, {r.errors} failed steps",
                r.differences + r.errors,
                {"day": r.day.isoformat()},
            )
            for r in figures.reconciliations
            if r.differences + r.errors > above
        ]
    if rule.when == "stale_workers":
        return [
            Condition(
                p.name,
                f"engine process {p.name} on {p.host} has not beaten for "
                f"{_fmt((now - p.seen_at).total_seconds())}",
                (now - p.seen_at).total_seconds(),
                {"host": p.host, "pid": str(p.pid)},
            )
            for p in figures.processes
            if stale(p, now, max(above, 1.0))
        ]
    return []
