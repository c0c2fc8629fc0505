"""The operations part of the engine: counters, heartbeat, alerting desk, metrics and readiness.

Built here because only the composition root knows both sides: the readiness probes call the two
clients, ``billing.alert`` is read by billing's own ``describe_alert``, and reconciliation
results are recorded from the reports the reconcile capability returns.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from paybridge.app.settings import Settings
from paybridge.app.store import Store
from paybridge.billing.dunning import describe_alert
from paybridge.clock import Clock
from paybridge.config import resolve_secret
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.dynamics.query import Query
from paybridge.connectors.dynamics.usage import CompanyUsage
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.errors import ConfigError
from paybridge.keys import ALERT_DELIVERY_TOPIC, ALERT_TOPIC, ALERTS_TOPIC
from paybridge.ops.channels import build_senders
from paybridge.ops.counters import (
    D365_COMPANY_REQUESTS,
    D365_COMPANY_WINDOW,
    D365_FAIR_HOLDS,
    MeteredClient,
    ProcessCounters,
)
from paybridge.ops.desk import JOB_NAME as ALERTS_JOB
from paybridge.ops.desk import AlertDesk
from paybridge.ops.figures import StoreFigures
from paybridge.ops.metrics import LatencyTail, Metrics, StoreCollector
from paybridge.ops.ready import Readiness
from paybridge.ops.settings import WebhookChannel
from paybridge.reconcile.load_paytrace import Progress, quiet
from paybridge.reconcile.report import ReconciliationReport
from paybridge.reconcile.service import Reconciler
from paybridge.runtime.scheduler import DailyJob, PeriodicJob
from paybridge.runtime.tracing import NO_TRACING, Tracer
from paybridge.runtime.wiring import Contribution
from paybridge.security.context import SecurityContext
from paybridge.store.schema_ops import reconcile_runs

PROBE_ENTITY = "CustomerPaymentJournalHeaders"  # read by every installation; one row is enough


@dataclass
class Operations:
    counters: ProcessCounters
    desk: AlertDesk
    figures: StoreFigures
    contribution: Contribution
    owned_clients: list[httpx.AsyncClient]


def operations(
    settings: Settings, store: Store, security: SecurityContext, clock: Clock,
    counters: ProcessCounters,
) -> Operations:  # fmt: skip
    """The alerting desk and its contribution: the alert topics' handlers and the rules' job."""
    alerting = settings.alerting
    http = MeteredClient(system="alerts", counters=counters, timeout=15.0)
    owned: list[httpx.AsyncClient] = [http]
    insecure = None
    if any(isinstance(c, WebhookChannel) and not c.verify_tls for c in alerting.channels.values()):
        insecure = MeteredClient(system="alerts", counters=counters, timeout=15.0, verify=False)
        owned.append(insecure)

    def resolve(ref: Any, name: str) -> str:
        return resolve_secret(ref, name, vault=lambda n: security.vault.get(n))

    senders = build_senders(
        alerting.channels, http=http, webhook_http=insecure, resolve=resolve, clock=clock
    )
    figures = StoreFigures(store.engine)
    desk = AlertDesk(
        store.engine, store.queue, figures, alerting, senders, clock,
        describe={ALERT_TOPIC: describe_alert},
    )  # fmt: skip
    jobs: list[PeriodicJob | DailyJob] = [
        PeriodicJob(ALERTS_JOB, alerting.evaluate_seconds, desk.evaluate)
    ]
    contribution = Contribution(
        "ops",
        publishes=frozenset({ALERTS_TOPIC, ALERT_DELIVERY_TOPIC}),
        handlers={
            ALERTS_TOPIC: desk.on_alerts,
            ALERT_TOPIC: desk.on_alerts,
            ALERT_DELIVERY_TOPIC: desk.deliver,
        },
        jobs=jobs,
    )
    return Operations(counters, desk, figures, contribution, owned)


def metrics_for(
    settings: Settings, store: Store, clock: Clock, topics: Sequence[str] = ()
) -> Metrics:
    """``/metrics``: ``topics`` (those the engine handles) are reported even when empty."""
    latency = LatencyTail(store.engine)
    latency.start()  # lines posted from now on
    collector = StoreCollector(
        StoreFigures(store.engine, topics), clock, latency=latency,
        cache_seconds=settings.metrics.cache_seconds,
        stale_after_seconds=settings.metrics.stale_after_seconds,
    )  # fmt: skip
    return Metrics(collector)


def readiness_for(
    settings: Settings, engine: Engine, paytrace: PayTraceClient, dynamics: DynamicsClient,
    clock: Clock, others: Sequence[tuple[str, PayTraceClient]] = (),
) -> Readiness:  # fmt: skip
    """Probes of the store, D365 and every PayTrace merchant account (``others``: the other
    accounts' names and clients, probed as ``paytrace.<name>``)."""

    async def store() -> None:
        with engine.connect() as conn:
            conn.execute(select(1)).scalar()

    def paytrace_probe(client: PayTraceClient) -> Callable[[], Awaitable[None]]:
        async def probe() -> None:
            await client.log_in()
            today = client.local_date(clock.now())
            await client.export_batches(today, today)  # read-only; an empty list is an answer

        return probe

    async def dynamics_probe() -> None:
        await dynamics.page(PROBE_ENTITY, Query(top=1, select=["JournalBatchNumber"]))

    probes = {"store": store, "paytrace": paytrace_probe(paytrace), "dynamics": dynamics_probe}
    probes.update({f"paytrace.{name}": paytrace_probe(client) for name, client in others})
    m = settings.metrics
    return Readiness(
        probes, clock, probe_seconds=m.probe_seconds, timeout_seconds=m.probe_timeout_seconds,
        cached=frozenset(probes) - {"store"},  # the systems: at most every probe_seconds
    )  # fmt: skip


def record_reconciliation(engine: Engine, report: ReconciliationReport) -> None:
    """The newest result of a company and day, for /metrics and the reconciliation alert."""
    batches = sum(1 for b in report.batches if not b.ok)
    counts = {cls.name.lower(): n for cls, n in report.counts.items()}
    row = {
        "company": report.company, "day": report.day, "run_id": report.run_id[:80],
        "at": report.generated_at, "differences": len(report.exceptions) + batches,
        "errors": len(report.errors), "counts": json.dumps(counts, sort_keys=True),
    }  # fmt: skip
    with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(reconcile_runs)
            .values(row)
            .on_conflict_do_update(
                index_elements=["company", "day"],
                set_={k: v for k, v in row.items() if k not in ("company", "day")},
            )
        )


class RecordedReconciler(Reconciler):
    """A reconciler whose every report (CLI or morning job) is recorded for metrics and alerts."""

    def __init__(self, *, results: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._results = results

    async def run(
        self,
        day: date,
        company: str,
        *,
        heal: bool = False,
        journal: bool = False,
        progress: Progress = quiet,
    ) -> ReconciliationReport:
        report = await super().run(day, company, heal=heal, journal=journal, progress=progress)
        record_reconciliation(self._results, report)
        return report


def d365_company_counters(usage: CompanyUsage) -> list[dict[str, Any]]:
    """This process's D365 requests per company: since it started (a counter) and in the
    service-protection window now (a gauge), for the dashboard and ``/metrics``."""
    window = usage.in_window()
    return [
        *({"name": D365_COMPANY_REQUESTS, "labels": {"company": c}, "value": n}
          for c, n in sorted(usage.totals.items())),
        *({"name": D365_COMPANY_WINDOW, "labels": {"company": c}, "value": window.get(c, 0)}
          for c in sorted(usage.totals)),
        {"name": D365_FAIR_HOLDS, "labels": {}, "value": usage.held},
    ]  # fmt: skip


def worker_counters(stats: list[Any]) -> list[dict[str, Any]]:
    """The workers' own tallies as heartbeat counters (``paybridge_worker_messages_total``)."""
    totals = {"done": 0, "retried": 0, "dead": 0, "fenced": 0}
    for s in stats:
        totals["done"] += s.processed
        totals["retried"] += s.retried
        totals["dead"] += s.dead
        totals["fenced"] += s.fenced
    return [
        {"name": "worker_messages", "labels": {"outcome": k}, "value": v} for k, v in totals.items()
    ]


def tracer_for(settings: Settings) -> Tracer:
    """OpenTelemetry when ``tracing.enabled`` (imported only then), else ``NO_TRACING``."""
    if not settings.tracing.enabled:
        return NO_TRACING
    try:
        from paybridge.ops.tracing import build_tracer
    except ImportError as exc:  # the otel extra is not installed
        raise ConfigError(
            "tracing.enabled: OpenTelemetry is not installed: pip install 'paybridge[otel]' "
            "(or set tracing.enabled: false)",
            operation="settings",
        ) from exc
    return build_tracer(settings.tracing)
