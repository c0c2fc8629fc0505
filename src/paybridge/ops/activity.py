"""What the console's dashboard adds to the store figures: D365 lines posted per hour today,
the approval -> ledger latency of the newest lines, and the HTTP requests of live processes.

Hours are grouped in SQL (by UTC hour, so a 100,000-line day reads 24 rows) and labelled in the
merchant's time zone by the caller; the latency is taken over the newest ``LATENCY_SAMPLE``
posted lines, joining each to its fact's approval time in the payment index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from paybridge.keys import LINE_STEP
from paybridge.ops.counters import REQUESTS
from paybridge.ops.figures import ProcessBeat, stale
from paybridge.store.schema import ledger
from paybridge.store.schema_console import payment_index

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

    def posted_per_hour(self, since: datetime, until: datetime) -> dict[datetime, int]:
        """D365 payment lines posted in [since, until), by the UTC hour they were posted in."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                hour: Any = func.date_trunc("hour", ledger.c.at)
            else:
                hour = func.strftime("%Y-%m-%d %H:00:00", ledger.c.at)
            rows = conn.execute(
                select(hour, func.count())
                .where(ledger.c.step == LINE_STEP, ledger.c.status == "posted")
                .where(ledger.c.at >= since, ledger.c.at < until)
                .group_by(hour)
            ).all()
        out: dict[datetime, int] = {}
        for bucket, count in rows:
            at = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            out[at] = out.get(at, 0) + int(count)
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


def hours_between(since: datetime, until: datetime) -> list[datetime]:
    """The UTC hours starting in [since, until)."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while start < until:
        if start >= since - timedelta(hours=1):
            hours.append(start)
        start += timedelta(hours=1)
    return hours
