"""The figures that live in the store, read when asked (a scrape, an alert evaluation).

Queue depth and age per topic, dead letters by triage state, intents in doubt, charges by
status, the newest reconciliation of each company, and every engine process's heartbeat with
its counters. Reading them from the store is what makes one ``/metrics`` right for every
process: the workers' figures are in the store, not in the serving process's memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from paybridge.store.schema import intents, queue, queue_status_in
from paybridge.store.schema_billing import billing_charges
from paybridge.store.schema_charges import charges
from paybridge.store.schema_ops import alert_state, ops_processes, reconcile_runs

# Status words of other packages' rows, as stored (runtime.queue, runtime.intents, charging).
_WAITING = ("ready", "leased")
_DEAD = "dead"
_SENT = "sent"  # an intent sent and not yet known done: in doubt until looked up
IN_DOUBT = "in_doubt"


@dataclass(frozen=True)
class TopicFigures:
    topic: str
    ready: int = 0
    leased: int = 0
    oldest_seconds: float = 0.0  # age of the oldest waiting message (ready or leased)
    dead: dict[str, int] = field(default_factory=dict)  # triage state -> count


@dataclass(frozen=True)
class InDoubt:
    system: str
    step: str
    count: int
    oldest_seconds: float


@dataclass(frozen=True)
class Reconciliation:
    company: str
    day: date
    differences: int
    errors: int
    at: datetime


@dataclass(frozen=True)
class ProcessBeat:
    name: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    counters: list[dict[str, Any]]


@dataclass(frozen=True)
class Figures:
    at: datetime
    topics: dict[str, TopicFigures]
    in_doubt: list[InDoubt]
    charges: dict[str, int]  # API charges by status
    billing: dict[str, int]  # subscription period charges by status
    reconciliations: list[Reconciliation]  # the newest per company
    processes: list[ProcessBeat]
    alerts_firing: dict[str, int]  # rule -> subjects firing


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


class StoreFigures:
    """Reads ``Figures`` in a handful of grouped queries (no row is read one by one)."""

    def __init__(self, engine: Engine, topics: Sequence[str] = ()) -> None:
        self.engine = engine
        # The topics the engine handles: each is reported, with zeros when nothing waits.
        self.topics = tuple(topics)

    def read(self, now: datetime) -> Figures:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(queue.c.topic, queue.c.status, func.count(), func.min(queue.c.created_at))
                .where(queue_status_in(*_WAITING))
                .group_by(queue.c.topic, queue.c.status)
            ).all()
            dead = conn.execute(
                select(queue.c.topic, queue.c.triage_state, func.count())
                .where(queue_status_in(_DEAD))
                .group_by(queue.c.topic, queue.c.triage_state)
            ).all()
            doubt = conn.execute(
                select(
                    intents.c.system, intents.c.step, func.count(), func.min(intents.c.updated_at)
                )
                .where(intents.c.status == _SENT)
                .group_by(intents.c.system, intents.c.step)
            ).all()
            api: dict[Any, Any] = dict(
                conn.execute(
                    select(charges.c.status, func.count()).group_by(charges.c.status)
                ).all()
            )
            periods: dict[Any, Any] = dict(
                conn.execute(
                    select(billing_charges.c.status, func.count()).group_by(
                        billing_charges.c.status
                    )
                ).all()
            )
            runs = (
                conn.execute(select(reconcile_runs).order_by(reconcile_runs.c.day)).mappings().all()
            )
            beats = (
                conn.execute(select(ops_processes).order_by(ops_processes.c.name)).mappings().all()
            )
            firing: dict[Any, Any] = dict(
                conn.execute(
                    select(alert_state.c.rule, func.count())
                    .where(alert_state.c.firing == 1)
                    .group_by(alert_state.c.rule)
                ).all()
            )  # fmt: skip
        return Figures(
            at=now,
            topics=_topics(now, waiting, dead, self.topics),
            in_doubt=[InDoubt(s, st, int(n), _age(now, oldest)) for s, st, n, oldest in doubt],
            charges={str(k): int(v) for k, v in api.items()},
            billing={str(k): int(v) for k, v in periods.items()},
            reconciliations=list(
                {
                    r["company"]: Reconciliation(
                        r["company"], r["day"], r["differences"], r["errors"], r["at"]
                    )
                    for r in runs
                }.values()
            ),
            processes=[
                ProcessBeat(
                    b["name"],
                    b["host"],
                    b["pid"],
                    b["started_at"],
                    b["seen_at"],
                    json.loads(b["counters"] or "[]"),
                )
                for b in beats
            ],
            alerts_firing={str(k): int(v) for k, v in firing.items()},
        )

    def new_dead_letters(self, since: datetime) -> dict[str, int]:
        """Open dead letters that died since ``since``, by topic."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(queue.c.topic, func.count())
                .where(
                    queue_status_in(_DEAD),
                    queue.c.triage_state.is_(None),
                    queue.c.updated_at >= since,
                )
                .group_by(queue.c.topic)
            ).all()
        return {str(topic): int(n) for topic, n in rows}

    def charges_in_doubt(self, older_than: datetime) -> int:
        with self.engine.connect() as conn:
            n = conn.execute(
                select(func.count()).where(
                    charges.c.status == IN_DOUBT, charges.c.updated_at < older_than
                )
            ).scalar()
        return int(n or 0)


def _topics(
    now: datetime, waiting: Sequence[Any], dead: Sequence[Any], known: Sequence[str] = ()
) -> dict[str, TopicFigures]:
    acc: dict[str, dict[str, Any]] = {topic: {"topic": topic, "dead": {}} for topic in known}
    for topic, status, count, oldest in waiting:
        entry = acc.setdefault(topic, {"topic": topic, "dead": {}})
        entry[status] = int(count)
        entry["oldest_seconds"] = max(entry.get("oldest_seconds", 0.0), _age(now, oldest))
    for topic, state, count in dead:
        entry = acc.setdefault(topic, {"topic": topic, "dead": {}})
        entry["dead"][state or "open"] = int(count)
    return {topic: TopicFigures(**entry) for topic, entry in sorted(acc.items())}


def stale(beat: ProcessBeat, now: datetime, after_seconds: float) -> bool:
    return now - beat.seen_at > timedelta(seconds=after_seconds)
