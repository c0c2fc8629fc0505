"""The one wiring point: builds the store, clients, flows, worker and poller from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine as SqlEngine

from paybridge.clock import Clock, IdFactory, SystemClock, uuid_ids
from paybridge.connectors.dynamics import DynamicsClient, MsalTokenProvider, TokenProvider
from paybridge.connectors.dynamics.transport import RedirectTransport
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.poller import ChangePoller
from paybridge.flows.charging import ChargeService
from paybridge.flows.payment_posting import PAYMENT_TEMPLATE, PaymentPoster
from paybridge.flows.paytrace_ingest import PAYMENT_TOPIC, UNREADABLE_TOPIC, PayTraceIngest
from paybridge.flows.reconcile import Reconciler
from paybridge.mapping import TemplateSet, load_templates
from paybridge.reports import render
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.queue import SqlQueue
from paybridge.runtime.retry import RetryPolicy
from paybridge.runtime.scheduler import PeriodicJob, Scheduler
from paybridge.runtime.worker import Worker
from paybridge.security.context import SecurityContext, open_security
from paybridge.settings import ReconcileSettings, Settings, resolve_secret
from paybridge.store import open_engine
from paybridge.web import routes_charges, routes_events
from paybridge.web.app import create_web_app
from paybridge.web.routes_admin import install_security

log = logging.getLogger("paybridge.services")


@dataclass
class Store:
    """The store and the runtime records kept in it."""

    engine: SqlEngine
    queue: SqlQueue
    intents: IntentStore
    ledger: Ledger
    xref: Xref
    cursors: Cursors


def open_store(url: str, clock: Clock | None = None) -> Store:
    clock = clock or SystemClock()
    engine = open_engine(url)
    return Store(
        engine=engine,
        queue=SqlQueue(engine, clock),
        intents=IntentStore(engine, clock),
        ledger=Ledger(engine, clock),
        xref=Xref(engine, clock),
        cursors=Cursors(engine, clock),
    )


async def _dead_letter_unreadable(envs: Sequence[Envelope]) -> list[Outcome]:
    return [Outcome.dead(str(env.payload.get("reason", "unreadable event"))) for env in envs]


def msal_provider(
    settings: Settings,
    http_client: httpx.Client | None = None,
    vault: Callable[[str], str] | None = None,
) -> MsalTokenProvider:
    d = settings.dynamics
    if http_client is None and d.login_redirect:
        http_client = httpx.Client(
            transport=RedirectTransport(
                {d.authority_host: d.login_redirect}, transport=httpx.HTTPTransport()
            ),
            timeout=d.timeout_seconds,
        )
    return MsalTokenProvider(
        d.client_id,
        resolve_secret(d.client_secret, "dynamics.client_secret", vault=vault),
        f"{d.authority_host.rstrip('/')}/{d.tenant}",
        f"{d.base_url.rstrip('/')}/.default",
        http_client=http_client,
    )


def templates_for(settings: Settings) -> TemplateSet:
    """The templates the engine maps with: the shipped ones, or the configured folder."""
    folder = settings.mapping.templates_dir
    return load_templates(folder) if folder is not None else load_templates()


def build_reconciler(
    engine: Engine, settings: ReconcileSettings | None = None, ids: IdFactory | None = None
) -> Reconciler:
    """A Reconciler over the engine's clients and store (the CLI and the morning job)."""
    return Reconciler(
        paytrace=engine.paytrace,
        dynamics=engine.dynamics,
        queue=engine.store.queue,
        intents=engine.store.intents,
        ledger=engine.store.ledger,
        xref=engine.store.xref,
        settings=settings or engine.settings.reconcile,
        currency=engine.settings.paytrace.currency,
        paytrace_timezone=engine.settings.paytrace.timezone,
        company_timezone=engine.settings.dynamics.timezone,
        clock=engine.clock,
        ids=ids or uuid_ids(),
    )


async def reconcile_yesterday(engine: Engine) -> str:
    """The morning job: yesterday (merchant-local) for every configured company, reports kept."""
    settings = engine.settings.reconcile
    day = (
        engine.clock.now().astimezone(ZoneInfo(engine.settings.paytrace.timezone))
        - timedelta(days=1)
    ).date()
    reconciler = build_reconciler(engine)
    outcomes = []
    for company in settings.companies:
        report = await reconciler.run(day, company, heal=settings.heal_on_schedule)
        if settings.reports_dir is not None:
            settings.reports_dir.mkdir(parents=True, exist_ok=True)
            for fmt in ("html", "json"):
                path = settings.reports_dir / f"reconcile-{company}-{day.isoformat()}.{fmt}"
                path.write_bytes(render(report, fmt))
        outcomes.append(f"{company} {day.isoformat()}: exit {report.exit_code}")
    return "; ".join(outcomes)


def build_api(engine: Engine) -> FastAPI:
    """The web app of an engine: security (keys, roles, audit, card guard) and every router."""
    settings = engine.settings
    security = engine.security
    for source, refs in settings.web.event_secrets.items():
        security.verifier(
            source,
            [
                resolve_secret(
                    ref, f"web.event_secrets.{source}", vault=lambda name: security.vault.get(name)
                )
                for ref in refs
            ],
        )
    app = create_web_app(engine=engine, charges=engine.charges)
    install_security(app, security)
    app.include_router(routes_charges.router)
    if routes_events.INBOUND_SOURCE in settings.web.event_secrets:
        app.include_router(routes_events.router)  # only with secrets to verify its signatures
    return app


async def fetch_metadata(settings: Settings) -> bytes:
    """The configured D365 environment's ``$metadata`` document."""
    async with httpx.AsyncClient(
        verify=settings.dynamics.verify_tls, timeout=settings.dynamics.timeout_seconds
    ) as http:
        client = DynamicsClient(
            http, base_url=settings.dynamics.base_url, token_provider=msal_provider(settings)
        )
        return await client.metadata_document()


@dataclass
class Engine:
    """Everything the order-to-cash path needs, built once from settings."""

    settings: Settings
    store: Store
    paytrace: PayTraceClient
    dynamics: DynamicsClient
    ingest: PayTraceIngest
    worker: Worker
    scheduler: Scheduler
    security: SecurityContext
    clock: Clock
    charges: ChargeService | None = None
    owned_clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def poll(self) -> str:
        result = await self.ingest.poll_once()
        if result.new:
            log.info("poll: %d changes, %d new", result.seen, result.new)
        return f"{result.seen} seen, {result.new} new"

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
        workers = [self.worker] + [
            self.worker.sibling(f"{self.worker.name}-{n}") for n in range(2, concurrency + 1)
        ]
        await asyncio.gather(self.schedule_loop(stop), *(w.run(stop) for w in workers))

    async def aclose(self) -> None:
        for client in self.owned_clients:
            await client.aclose()


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
) -> Engine:
    """The engine; clients are built from settings unless injected (tests pass sandboxes)."""
    clock = clock or SystemClock()
    store = store or open_store(settings.store.url, clock)
    security = open_security(store.engine, clock=clock)

    def vault(name: str) -> str:  # only touched when a setting says vault:NAME
        return security.vault.get(name)

    owned: list[httpx.AsyncClient] = []
    if paytrace_http is None:
        paytrace_http = httpx.AsyncClient(
            verify=settings.paytrace.verify_tls, timeout=settings.paytrace.timeout_seconds
        )
        owned.append(paytrace_http)
    if dynamics_http is None:
        dynamics_http = httpx.AsyncClient(
            verify=settings.dynamics.verify_tls, timeout=settings.dynamics.timeout_seconds
        )
        owned.append(dynamics_http)
    pt = settings.paytrace
    paytrace = PayTraceClient(
        paytrace_http,
        username=resolve_secret(pt.username, "paytrace.username", vault=vault),
        password=resolve_secret(pt.password, "paytrace.password", vault=vault),
        integrator_id=resolve_secret(pt.integrator_id, "paytrace.integrator_id", vault=vault),
        base_url=pt.base_url,
        clock=clock,
        timeout=pt.timeout_seconds,
    )
    dynamics = DynamicsClient(
        dynamics_http,
        base_url=settings.dynamics.base_url,
        token_provider=token_provider or msal_provider(settings, vault=vault),
        clock=clock,
    )
    templates = templates_for(settings)
    from datetime import timedelta

    from paybridge.flows.customer_sync import (
        TO_D365_TEMPLATE,
        TO_PAYTRACE_TEMPLATE,
        CustomerCreator,
        CustomerSync,
    )
    from paybridge.flows.journal_cutoff import JournalPostingJob
    from paybridge.flows.order_status import ORDER_TEMPLATE

    creator = CustomerCreator(
        paytrace, dynamics, store.intents, store.xref, templates.get(TO_D365_TEMPLATE),
        settings.dynamics, settings.o2c, settings.sync,
    )  # fmt: skip
    poster = PaymentPoster(
        dynamics, store.intents, store.ledger, store.xref, store.cursors, settings.dynamics,
        templates.get(PAYMENT_TEMPLATE), o2c=settings.o2c,
        order_template=templates.get(ORDER_TEMPLATE), customers=creator, paytrace=paytrace,
    )  # fmt: skip
    ingest = PayTraceIngest(
        ChangePoller(
            paytrace,
            clock=clock,
            overlap=timedelta(seconds=settings.poller.overlap_seconds),
            lookback=timedelta(days=settings.poller.lookback_days),
            state_interval=timedelta(seconds=settings.poller.state_interval_seconds),
        ),
        store.queue,
        store.cursors,
        store.engine,
        currency=pt.currency,
        timezone=pt.timezone,
    )
    ws = settings.worker
    name = worker_name or f"{socket.gethostname()}-{os.getpid()}"
    worker = Worker(
        store.queue,
        {PAYMENT_TOPIC: poster, UNREADABLE_TOPIC: _dead_letter_unreadable},
        batch_size=ws.batch_size,
        lease_seconds=ws.lease_seconds,
        idle_seconds=ws.idle_seconds,
        policy=RetryPolicy(max_attempts=ws.max_attempts),
        policies={topic: RetryPolicy(**retry.model_dump()) for topic, retry in ws.retry.items()},
        rng=rng,
        name=name,
    )
    engine = Engine(
        settings=settings,
        store=store,
        paytrace=paytrace,
        dynamics=dynamics,
        ingest=ingest,
        worker=worker,
        scheduler=Scheduler(store.engine, clock, [], worker=name),
        security=security,
        clock=clock,
        owned_clients=owned,
    )
    engine.scheduler.jobs.append(
        PeriodicJob("paytrace.poll", pt.poll_interval_seconds, engine.poll)
    )
    if settings.o2c.post_journals:
        posting = JournalPostingJob(
            dynamics, store.intents, store.ledger, poster.book, post_at=settings.o2c.post_at,
            service=settings.o2c.posting_service, timezone=settings.dynamics.timezone, clock=clock,
        )  # fmt: skip
        engine.scheduler.jobs.append(PeriodicJob("d365.post_journals", 60.0, posting.run))
    if settings.sync.enabled:
        sync = CustomerSync(
            creator, store.cursors, store.ledger, templates.get(TO_PAYTRACE_TEMPLATE), settings.sync
        )
        engine.scheduler.jobs.append(
            PeriodicJob("customers.sync", settings.sync.interval_seconds, sync.run)
        )
    return engine
