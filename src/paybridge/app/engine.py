"""The one composition root: the engine, every capability the settings enable, built once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from paybridge.app import capabilities as caps
from paybridge.app.clients import (
    adfs_provider,
    dynamics_client,
    paytrace_accounts,
    templates_for,
)
from paybridge.app.ops import d365_company_counters, operations, tracer_for, worker_counters
from paybridge.app.orders import Orders, orders
from paybridge.app.settings import Settings
from paybridge.app.store import Store, open_store
from paybridge.billing.run import BillingRun
from paybridge.billing.store import SubscriptionStore
from paybridge.charging.paylinks import PayLinks
from paybridge.charging.service import ChargeService
from paybridge.clock import Clock, IdFactory, SystemClock
from paybridge.connectors.dynamics import DynamicsClient, TokenProvider
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import PayTraceAccounts
from paybridge.console.designer import MappingVersions
from paybridge.customers.card_links import CardLinks
from paybridge.customers.sync import CustomerCreator, CustomerSync
from paybridge.errors import ConfigError
from paybridge.o2c.events import EventIntake
from paybridge.o2c.ingest import PayTraceIngest
from paybridge.o2c.posting import PaymentPoster
from paybridge.ops.counters import MeteredClient, ProcessCounters
from paybridge.ops.desk import AlertDesk
from paybridge.ops.heartbeat import Heartbeat
from paybridge.reconcile.service import Reconciler
from paybridge.reconcile.settings import ReconcileSettings
from paybridge.runtime.alerts import queue_sink
from paybridge.runtime.retry import RetryPolicy
from paybridge.runtime.scheduler import Scheduler
from paybridge.runtime.tracing import Tracer
from paybridge.runtime.wiring import Contribution, check_wiring
from paybridge.runtime.worker import Worker
from paybridge.security.context import SecurityContext, open_security

if TYPE_CHECKING:  # imported for real only when insight.enabled (see build_engine)
    from paybridge.app.insight import Insight

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """Every capability, built once from settings; ``run`` works until ``stop`` is set."""

    settings: Settings
    store: Store
    paytrace: PayTraceClient
    dynamics: DynamicsClient
    security: SecurityContext
    clock: Clock
    parts: caps.Parts
    ingest: PayTraceIngest
    ingests: list[PayTraceIngest]  # one per merchant account, the main one first
    poster: PaymentPoster
    events: EventIntake
    customers: CustomerCreator
    sync: CustomerSync | None
    cards: CardLinks
    charges: ChargeService
    paylinks: PayLinks
    subscriptions: SubscriptionStore
    billing: BillingRun
    orders: Orders
    worker: Worker
    scheduler: Scheduler
    contributions: list[Contribution]
    counters: ProcessCounters
    alerts: AlertDesk
    heartbeat: Heartbeat
    tracer: Tracer
    mapping_versions: MappingVersions
    owned_clients: list[httpx.AsyncClient] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    insight: Insight | None = None  # with insight.enabled: the screen, reviews, suggestions

    @property
    def accounts(self) -> PayTraceAccounts:
        """Every PayTrace merchant account (the main one is ``paytrace``)."""
        return self.parts.merchant_accounts

    def reconciler(
        self, settings: ReconcileSettings | None = None, ids: IdFactory | None = None
    ) -> Reconciler:
        """A reconciliation over the engine's clients and store (the CLI and the morning job)."""
        return caps.reconciler(self.parts, settings, ids)

    async def schedule_loop(self, stop: asyncio.Event) -> None:
        """Tick the scheduler; each job's period is claimed in the store, so it runs once anywhere."""
        tick = min(max(self.settings.paytrace.poll_interval_seconds / 4, 0.05), 1.0)
        while not stop.is_set():
            try:
                await self.scheduler.tick(wait=False)
            except Exception as exc:  # the store may be away; the worker loop says so too
                log.warning("scheduler: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)
        await self.scheduler.stop()

    async def run(self, stop: asyncio.Event, *, concurrency: int = 1) -> None:
        self.workers = [self.worker] + [
            self.worker.sibling(f"{self.worker.name}-{n}") for n in range(2, concurrency + 1)
        ]
        await asyncio.gather(
            self.schedule_loop(stop), self.heartbeat.run(stop), *(w.run(stop) for w in self.workers)
        )

    async def aclose(self) -> None:
        for client in self.owned_clients:
            await client.aclose()
        self.tracer.shutdown()


def _insight(parts: caps.Parts, security: SecurityContext) -> Insight:
    try:
        from paybridge.app.insight import build_insight
    except ImportError as exc:
        raise ConfigError(
            f"insight.enabled needs the insight extra (pip install 'paybridge[insight]'): {exc}",
            operation="settings",
        ) from exc
    return build_insight(parts, security)


def build_engine(
    settings: Settings,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    paytrace_http: httpx.AsyncClient | None = None,
    dynamics_http: httpx.AsyncClient | None = None,
    token_provider: TokenProvider | None = None,
    store: Store | None = None,
    worker_name: str | None = None,
    tracer: Tracer | None = None,
    d365_calls: Sequence[float] = (),
) -> Engine:
    """The engine; clients are built from settings unless injected (tests pass sandboxes).

    Raises ConfigError, naming the topic or job, when a topic some capability publishes has no
    handler or a job the settings enable is not scheduled. ``tracer`` replaces the one
    ``tracing:`` describes (tests pass one with an in-memory exporter).
    """
    clock = clock or SystemClock()
    tracer = tracer or tracer_for(settings)
    store = store or open_store(settings.store.url, clock, upgrade=settings.store.auto_upgrade)
    store.queue.tracer = tracer  # every message published carries its publisher's trace
    security = open_security(store.engine, clock=clock, audit=settings.audit)

    def vault(name: str) -> str:  # only touched when a setting says vault:NAME
        return security.vault.get(name)

    owned: list[httpx.AsyncClient] = []
    counters = ProcessCounters()  # this process's requests, 429s and errors (see ops.metrics)
    if paytrace_http is None:
        paytrace_http = MeteredClient(
            system="paytrace", counters=counters, verify=settings.paytrace.verify_tls,
            timeout=settings.paytrace.timeout_seconds,
        )  # fmt: skip
        owned.append(paytrace_http)
    if token_provider is None and settings.dynamics.auth == "adfs":
        # AD FS is its own server: its requests (and refusals) are counted as system "adfs".
        adfs_http = dynamics_http or MeteredClient(
            system="adfs", counters=counters, verify=settings.dynamics.verify_tls,
            timeout=settings.dynamics.timeout_seconds,
        )  # fmt: skip
        if adfs_http is not dynamics_http:
            owned.append(adfs_http)
        token_provider = adfs_provider(settings, adfs_http, vault)
    if dynamics_http is None:
        dynamics_http = MeteredClient(
            system="dynamics", counters=counters, verify=settings.dynamics.verify_tls,
            timeout=settings.dynamics.timeout_seconds,
        )  # fmt: skip
        owned.append(dynamics_http)
    versions = MappingVersions(store.engine, clock)  # the designer's promoted versions map too
    accounts = paytrace_accounts(settings, paytrace_http, clock, vault)
    parts = caps.Parts(
        settings=settings,
        store=store,
        paytrace=accounts.default.client,
        accounts=accounts,
        dynamics=dynamics_client(
            settings, dynamics_http, clock, vault, token_provider, spent=d365_calls
        ),
        templates=templates_for(settings, versions),
        clock=clock,
        tracer=tracer,
    )
    creator, sync, cards, customer_part = caps.customers(parts, vault)
    insight = None
    if settings.insight.enabled:  # the optional package is imported here and nowhere else
        insight = _insight(parts, security)
    o2c = caps.order_to_cash(parts, creator, insight.screen if insight else None)
    charges, charging_part = caps.charging(parts)
    paylinks = caps.pay_links(parts, charges, vault)
    subscriptions, billing, billing_part = caps.billing(parts)
    card_orders = orders(parts, security.audit.record)
    ops = operations(settings, store, security, clock, counters)
    owned += ops.owned_clients
    contributions = [
        o2c.contribution,
        customer_part,
        charging_part,
        billing_part,
        card_orders.contribution,
        caps.reconciliation(parts),
        ops.contribution,
    ]
    if insight is not None:
        contributions.append(insight.contribution)
    handlers = check_wiring(contributions, caps.enabled_jobs(settings))
    ws = settings.worker
    name = worker_name or f"{socket.gethostname()}-{os.getpid()}"
    alerts = queue_sink(store.queue)  # paused and resumed topics and jobs reach the channels
    worker = Worker(
        store.queue,
        handlers,
        alerts=alerts,
        batch_size=ws.batch_size,
        lease_seconds=ws.lease_seconds,
        idle_seconds=ws.idle_seconds,
        policy=RetryPolicy(max_attempts=ws.max_attempts),
        policies={topic: RetryPolicy(**retry.model_dump()) for topic, retry in ws.retry.items()},
        rng=rng,
        name=name,
        tracer=tracer,
    )
    jobs = [job for part in contributions for job in part.jobs]
    heartbeat = Heartbeat(
        store.engine, clock, name, counters, every_seconds=settings.metrics.heartbeat_seconds,
        extra=lambda: [
            *worker_counters([w.stats for w in built.workers or [worker]]),
            *d365_company_counters(parts.dynamics.usage),
        ],
    )  # fmt: skip
    built = Engine(
        settings=settings, store=store, paytrace=parts.paytrace, dynamics=parts.dynamics,
        security=security, clock=clock, parts=parts, ingest=o2c.ingest, ingests=o2c.ingests, poster=o2c.poster,
        events=o2c.events, customers=creator, sync=sync, cards=cards, charges=charges, paylinks=paylinks, subscriptions=subscriptions,
        billing=billing, orders=card_orders, worker=worker, scheduler=Scheduler(store.engine, clock, jobs, worker=name, alerts=alerts, tracer=tracer),
        contributions=contributions, counters=counters, alerts=ops.desk, heartbeat=heartbeat,
        tracer=tracer, mapping_versions=versions, owned_clients=owned, insight=insight,
    )  # fmt: skip
    return built
