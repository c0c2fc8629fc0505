"""What the console's dashboard adds to the store figures: D365 lines posted per hour today,
the approval -> ledger latency of the newest lines, the HTTP requests of live processes, and
the reconciliation results by company and day (the calendar).

Hours are counted in the ledger's index by step and time and labelled in the merchant's time
zone by the caller; the latency is taken over the newest ``LATENCY_SAMPLE``
posted lines, joining each to its fact's approval time in the payment index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func, select

from paybridge.keys import LINE_STEP
from paybridge.ops.counters import D365_COMPANY_REQUESTS, D365_COMPANY_WINDOW, REQUESTS
from paybridge.ops.figures import ProcessBeat, stale
from paybridge.store.schema import ledger
from paybridge.store.schema_console import payment_index
from paybridge.store.schema_ops import reconcile_runs

LATENCY_SAMPLE = 1000


@dataclass(frozen=True)
class Latency:
    lines: int
    p50_seconds: float | None
    p99_seconds: float | None


@dataclass(frozen=True)
class Requests:
    system: str
    total: int
    throttled: int  # answered 429


def quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))  # ceil(q * n) without floats
    return ordered[min(rank, len(ordered)) - 1]


class Activity:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def posted_per_hour(self, hours: list[datetime]) -> dict[datetime, int]:
        """D365 payment lines posted in each hour starting at ``hours`` (aware, an hour long).

        One count per hour over the index by step, status and time: a busy day's lines are
        counted in the index, never read (grouping by a formatted time would read each row).
        """
        step = (ledger.c.step == LINE_STEP, ledger.c.status == "posted")
        out: dict[datetime, int] = {}
        with self.engine.connect() as conn:
            for hour in hours:
                out[hour] = int(
                    conn.execute(
                        select(func.count()).where(
                            *step, ledger.c.at >= hour, ledger.c.at < hour + timedelta(hours=1)
                        )
                    ).scalar()
                    or 0
                )
        return out

    def latency(self, since: datetime) -> Latency:
        """Approval -> ledger of the newest posted lines since ``since`` (p50, p99)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ledger.c.at, payment_index.c.occurred_at)
                .join(payment_index, payment_index.c.key == ledger.c.event_key)
                .where(ledger.c.step == LINE_STEP, ledger.c.status == "posted")
                .where(ledger.c.at >= since)
                .order_by(ledger.c.at.desc())
                .limit(LATENCY_SAMPLE)
            ).all()
        seconds = [max((at - approved).total_seconds(), 0.0) for at, approved in rows]
        return Latency(len(seconds), quantile(seconds, 0.5), quantile(seconds, 0.99))


def requests(beats: list[ProcessBeat], now: datetime, stale_after: float) -> list[Requests]:
    """HTTP requests by system from the live processes' heartbeats (since each one started)."""
    totals: dict[str, list[int]] = {}
    for beat in beats:
        if stale(beat, now, stale_after):
            continue
        for counter in beat.counters:
            if counter.get("name") != REQUESTS:
                continue
            labels = counter.get("labels") or {}
            entry = totals.setdefault(str(labels.get("system", "")), [0, 0])
            entry[0] += int(counter.get("value", 0))
            if str(labels.get("status")) == "429":
                entry[1] += int(counter.get("value", 0))
    return [Requests(system, t, th) for system, (t, th) in sorted(totals.items())]


@dataclass(frozen=True)
class Budget:
    """One live process's D365 requests against its limiter's rate (a budget per principal)."""

    process: str
    requests: int
    throttled: int
    per_second: float  # on average since the process started
    limit: float

    @property
    def used_percent(self) -> int:
        return round(100 * self.per_second / self.limit) if self.limit > 0 else 0


def d365_budgets(
    beats: list[ProcessBeat], now: datetime, stale_after: float, limit: float
) -> list[Budget]:
    """Each live process's D365 request rate since it started, against ``limit`` a second."""
    out = []
    for beat in beats:
        if stale(beat, now, stale_after):
            continue
        total = throttled = 0
        for counter in beat.counters:
            labels = counter.get("labels") or {}
            if counter.get("name") == REQUESTS and labels.get("system") == "dynamics":
                total += int(counter.get("value", 0))
                throttled += (
                    int(counter.get("value", 0)) if str(labels.get("status")) == "429" else 0
                )
        seconds = max((beat.seen_at - beat.started_at).total_seconds(), 1.0)
        out.append(Budget(beat.name, total, throttled, total / seconds, limit))
    return sorted(out, key=lambda b: -b.per_second)


@dataclass(frozen=True)
class CompanyBudget:
    """One company's D365 requests in the service-protection window (every live process's),
    against the window's limit for the whole installation (every principal's)."""

    company: str
    in_window: int
    requests: int  # since each live process started
    limit: int

    @property
    def used_percent(self) -> int:
        return round(100 * self.in_window / self.limit) if self.limit > 0 else 0


def d365_company_budgets(
    beats: list[ProcessBeat], now: datetime, stale_after: float, limit: int
) -> list[CompanyBudget]:
    """D365 requests per company from the live processes' heartbeats, busiest first."""
    window: dict[str, int] = {}
    totals: dict[str, int] = {}
    for beat in beats:
        if stale(beat, now, stale_after):
            continue
        for counter in beat.counters:
            company = str((counter.get("labels") or {}).get("company", ""))
            if counter.get("name") == D365_COMPANY_WINDOW:
                window[company] = window.get(company, 0) + int(counter.get("value", 0))
            elif counter.get("name") == D365_COMPANY_REQUESTS:
                totals[company] = totals.get(company, 0) + int(counter.get("value", 0))
    out = [
        CompanyBudget(c, window.get(c, 0), totals.get(c, 0), limit)
        for c in sorted(set(window) | set(totals))
    ]
    return sorted(out, key=lambda b: (-b.in_window, b.company))


def hours_between(since: datetime, until: datetime) -> list[datetime]:
    """The hours from ``since`` (a local midnight, say) that start before ``until``."""
    hours = []
    start = since.astimezone(UTC)
    while start < until:
        hours.append(start)
        start += timedelta(hours=1)
    return hours


@dataclass(frozen=True)
class ReconciledDay:
    company: str
    day: date
    differences: int
    errors: int
    at: datetime

    @property
    def result(self) -> str:
        return "error" if self.errors else ("differences" if self.differences else "agrees")


def reconciled_days(engine: Engine, since: date) -> list[ReconciledDay]:
    """The newest reconciliation result of each company and day from ``since`` on."""
    with engine.connect() as conn:
        rows = conn.execute(select(reconcile_runs).where(reconcile_runs.c.day >= since)).mappings()
        return [
            ReconciledDay(r["company"], r["day"], int(r["differences"]), int(r["errors"]), r["at"])
            for r in rows
        ]
