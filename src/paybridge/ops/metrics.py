"""``/metrics`` in the Prometheus text format, read from the store at scrape time.

Why from the store: ``paybridge serve`` and the workers are separate processes, often on other
hosts. Figures that live in the store (queue, dead letters, intents, charges, reconciliation)
are read there; each process's own counters (HTTP requests, 429s, errors, messages handled)
reach the store with its heartbeat every few seconds and are exported with a ``process`` label.
This needs no shared folder (Prometheus multiprocess mode) and no port per worker, and stays
right when a worker runs on another host; the price is that a worker's counters are as old as
its last heartbeat (``metrics.heartbeat_seconds``). A process that restarts starts its counters
again under a new ``process`` label: ``sum(rate(...))`` reads right across it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from paybridge.clock import Clock
from paybridge.keys import LINE_STEP
from paybridge.ops.counters import D365_COMPANY_REQUESTS, D365_COMPANY_WINDOW, D365_FAIR_HOLDS
from paybridge.ops.figures import Figures, StoreFigures, stale
from paybridge.store.schema import ledger, queue

log = logging.getLogger("paybridge.ops")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Approval in PayTrace -> line in D365: seconds when the poller keeps up, minutes when it waits.
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
_TAIL_BATCH = 5000


class LatencyTail:
    """Approval -> ledger latency of each D365 payment line posted since this process started.

    Follows the ledger by id (each scrape reads only the new ``posted`` lines) and takes each
    fact's approval time (``occurred_at``) from its queue payload, in one query per batch.
    """

    def __init__(self, engine: Engine, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.engine = engine
        self.buckets = tuple(buckets)
        self.counts: dict[str, list[int]] = {}  # kind -> per-bucket counts (+Inf last)
        self.sums: dict[str, float] = {}
        self.cursor: int | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self.engine.connect() as conn:
            self.cursor = int(
                conn.execute(select(func.coalesce(func.max(ledger.c.id), 0))).scalar() or 0
            )

    def observe(self, kind: str, seconds: float) -> None:
        counts = self.counts.setdefault(kind, [0] * (len(self.buckets) + 1))
        index = next((n for n, b in enumerate(self.buckets) if seconds <= b), len(self.buckets))
        counts[index] += 1
        self.sums[kind] = self.sums.get(kind, 0.0) + seconds

    def advance(self) -> int:
        """Read the lines posted since the last call; returns how many were observed."""
        with self._lock:
            if self.cursor is None:
                self.start()
            seen = 0
            while True:
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        select(ledger.c.id, ledger.c.event_key, ledger.c.at)
                        .where(ledger.c.id > self.cursor, ledger.c.step == LINE_STEP,
                               ledger.c.status == "posted")
                        .order_by(ledger.c.id)
                        .limit(_TAIL_BATCH)
                    ).all()  # fmt: skip
                    keys = sorted({r.event_key for r in rows})
                    payloads = dict(
                        conn.execute(
                            select(queue.c.key, queue.c.payload).where(queue.c.key.in_(keys))
                        ).all()
                    ) if keys else {}  # fmt: skip
                if not rows:
                    return seen
                for row in rows:
                    approved = _occurred_at(payloads.get(row.event_key))
                    if approved is not None:
                        kind = row.event_key.rsplit(":", 1)[-1]
                        self.observe(kind, max((row.at - approved).total_seconds(), 0.0))
                        seen += 1
                self.cursor = int(rows[-1].id)
                if len(rows) < _TAIL_BATCH:
                    return seen

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "paybridge_approval_to_ledger_seconds",
            "From the PayTrace transaction's time to its D365 payment line in the ledger",
            labels=["kind"],
        )
        for kind in sorted(self.counts):
            running, buckets = 0, []
            for bound, count in zip((*self.buckets, float("inf")), self.counts[kind], strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else _num(bound), running))
            family.add_metric([kind], buckets, self.sums[kind])
        return family


def _num(value: float) -> str:
    return repr(float(value))


def _occurred_at(payload: str | None) -> datetime | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload).get("occurred_at")
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


class StoreCollector(Collector):
    """Every figure, read once per ``cache_seconds`` however often Prometheus scrapes."""

    def __init__(
        self,
        figures: StoreFigures,
        clock: Clock,
        *,
        latency: LatencyTail | None = None,
        cache_seconds: float = 2.0,
        stale_after_seconds: float = 60.0,
    ) -> None:
        self.figures = figures
        self.clock = clock
        self.latency = latency
        self.cache_seconds = cache_seconds
        self.stale_after_seconds = stale_after_seconds
        self._cached: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self.clock.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._read())
            yield from self._cached[1]

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("paybridge_store_up", "1 when the store answered this scrape")
        try:
            figures = self.figures.read(self.clock.now())
            if self.latency is not None:
                self.latency.advance()
        except SQLAlchemyError as exc:
            log.warning("metrics: the store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        metrics: list[Metric] = [up, *self._families(figures)]
        if self.latency is not None:
            metrics.append(self.latency.family())
        return metrics

    def _families(self, f: Figures) -> list[Metric]:
        depth = GaugeMetricFamily(
            "paybridge_queue_depth",
            "Messages waiting (ready) or in hand (leased)",
            labels=["topic", "status"],
        )
        age = GaugeMetricFamily(
            "paybridge_queue_oldest_age_seconds",
            "Age of the oldest waiting message",
            labels=["topic"],
        )
        dead = GaugeMetricFamily(
            "paybridge_dead_letters", "Dead letters by triage state", labels=["topic", "state"]
        )
        for t in f.topics.values():
            depth.add_metric([t.topic, "ready"], t.ready)
            depth.add_metric([t.topic, "leased"], t.leased)
            age.add_metric([t.topic], t.oldest_seconds)
            for state in ("open", "resolved", "ignored"):
                dead.add_metric([t.topic, state], t.dead.get(state, 0))
        doubt = GaugeMetricFamily(
            "paybridge_intents_in_doubt",
            "External writes sent and not yet known done",
            labels=["system", "step"],
        )
        doubt_age = GaugeMetricFamily(
            "paybridge_intents_in_doubt_oldest_age_seconds", "Age of the oldest write in doubt",
            labels=["system", "step"],
        )  # fmt: skip
        for d in f.in_doubt:
            doubt.add_metric([d.system, d.step], d.count)
            doubt_age.add_metric([d.system, d.step], d.oldest_seconds)
        charges = GaugeMetricFamily(
            "paybridge_charges", "Charges by outcome (api: request/reply; billing: subscription periods)",
            labels=["source", "status"],
        )  # fmt: skip
        for status, n in sorted(f.charges.items()):
            charges.add_metric(["api", status], n)
        for status, n in sorted(f.billing.items()):
            charges.add_metric(["billing", status], n)
        return [
            depth,
            age,
            dead,
            doubt,
            doubt_age,
            charges,
            *self._reconcile(f),
            *self._processes(f),
        ]

    def _reconcile(self, f: Figures) -> list[Metric]:
        diffs = GaugeMetricFamily(
            "paybridge_reconciliation_differences", "Differences in the newest reconciliation",
            labels=["company"],
        )  # fmt: skip
        errors = GaugeMetricFamily(
            "paybridge_reconciliation_errors", "Failed steps in the newest reconciliation",
            labels=["company"],
        )  # fmt: skip
        day = GaugeMetricFamily(
            "paybridge_reconciliation_run_timestamp_seconds", "When the newest reconciliation ran",
            labels=["company"],
        )  # fmt: skip
        for r in f.reconciliations:
            diffs.add_metric([r.company], r.differences)
            errors.add_metric([r.company], r.errors)
            day.add_metric([r.company], r.at.timestamp())
        firing = GaugeMetricFamily(
            "paybridge_alerts_firing", "Subjects an alert rule fires for now", labels=["rule"]
        )
        for rule, n in sorted(f.alerts_firing.items()):
            firing.add_metric([rule], n)
        return [diffs, errors, day, firing]

    def _processes(self, f: Figures) -> list[Metric]:
        beat = GaugeMetricFamily(
            "paybridge_process_heartbeat_age_seconds", "Seconds since an engine process last beat",
            labels=["process", "host"],
        )  # fmt: skip
        up = GaugeMetricFamily(
            "paybridge_process_up", "1 when the process beat within metrics.stale_after_seconds",
            labels=["process", "host"],
        )  # fmt: skip
        families: dict[str, CounterMetricFamily] = {}
        window = GaugeMetricFamily(
            "paybridge_d365_company_window_requests",
            "D365 requests per company in the service-protection window, at the last heartbeat",
            labels=["process", "company"],
        )  # fmt: skip
        for p in f.processes:
            beat.add_metric([p.name, p.host], max((f.at - p.seen_at).total_seconds(), 0.0))
            up.add_metric([p.name, p.host], 0 if stale(p, f.at, self.stale_after_seconds) else 1)
            for counter in p.counters:
                if counter.get("name") == D365_COMPANY_WINDOW:
                    company = str((counter.get("labels") or {}).get("company", ""))
                    window.add_metric([p.name, company], float(counter["value"]))
                family = _counter_family(families, counter)
                if family is not None:
                    labels = counter["labels"]
                    family.add_metric(
                        [p.name, *(str(labels.get(k, "")) for k in COUNTERS[counter["name"]][1])],
                        float(counter["value"]),
                    )
        return [beat, up, window, *families.values()]


# Per-process counters: snapshot name -> (metric name without _total, label names, help).
COUNTERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "http_requests": (
        "paybridge_http_requests", ("system", "status"),
        "HTTP requests to PayTrace, D365 and alert channels, by answer (error: none came)",
    ),
    "http_errors": (
        "paybridge_http_errors", ("system", "kind"),
        "Failed HTTP requests by kind: throttled (429), auth, client, server, timeout, connect, network",
    ),
    "worker_messages": (
        "paybridge_worker_messages", ("outcome",),
        "Queue messages handled by this process's workers, by outcome",
    ),
    D365_COMPANY_REQUESTS: (
        "paybridge_d365_company_requests", ("company",),
        "D365 requests by the company (legal entity) they were for ('shared': none named)",
    ),
    D365_FAIR_HOLDS: (
        "paybridge_d365_fair_holds", (),
        "Times a company's D365 request waited for a less-served company's turn",
    ),
}  # fmt: skip


def _counter_family(
    families: dict[str, CounterMetricFamily], counter: dict[str, Any]
) -> CounterMetricFamily | None:
    spec = COUNTERS.get(str(counter.get("name")))
    if spec is None:
        return None
    name, labels, doc = spec
    if name not in families:
        families[name] = CounterMetricFamily(name, doc, labels=["process", *labels])
    return families[name]


class Metrics:
    """The registry ``/metrics`` renders."""

    def __init__(self, collector: StoreCollector) -> None:
        self.collector = collector
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)
