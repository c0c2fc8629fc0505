"""Each capability built from settings and the shared parts, with what it adds to the engine.

One function per capability. Each returns the built services (for the API and the CLI) and its
``Contribution``: the topics it publishes, its queue handlers and its scheduled jobs. ``engine``
collects them and refuses to start when they don't fit (``runtime.wiring.check_wiring``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from paybridge.app.ops import RecordedReconciler
from paybridge.app.settings import Settings
from paybridge.app.store import Store
from paybridge.billing.run import JOB_NAME as BILLING_JOB
from paybridge.billing.run import BillingRun
from paybridge.billing.store import SubscriptionStore
from paybridge.charging.ledger import DocumentCharges
from paybridge.charging.level3 import Level3
from paybridge.charging.paylinks import PayLinks
from paybridge.charging.records import ChargeRecords
from paybridge.charging.service import (
    INVOICE_CHARGE_TEMPLATE,
    ORDER_CHARGE_TEMPLATE,
    ChargeService,
)
from paybridge.clock import Clock, IdFactory, uuid_ids
from paybridge.config import resolve_secret
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.connectors.paytrace.poller import ChangePoller
from paybridge.customers.card_links import CardLinks
from paybridge.customers.sync import (
    TO_D365_TEMPLATE,
    TO_PAYTRACE_TEMPLATE,
    CardTokens,
    CustomerCreator,
    CustomerLinks,
    CustomerSync,
    NewCustomerPolicy,
)
from paybridge.keys import ALERT_TOPIC, CHARGE_RESOLVE_TOPIC, PAYMENT_TOPIC, UNREADABLE_TOPIC
from paybridge.mapping import TemplateSet
from paybridge.o2c.checks import CheckFacts, CheckIngest, PaymentReversal
from paybridge.o2c.cutoff import JournalPostingJob
from paybridge.o2c.events import EventIntake
from paybridge.o2c.facts import EXPORT_TEMPLATE, FactTranslator
from paybridge.o2c.ingest import PayTraceIngest
from paybridge.o2c.order_status import ORDER_TEMPLATE
from paybridge.o2c.posting import PAYMENT_TEMPLATE, PaymentPoster
from paybridge.o2c.screening import PaymentScreen
from paybridge.ops.desk import JOB_NAME as ALERTS_JOB
from paybridge.orders.watch import JOB_NAME as ORDERS_JOB
from paybridge.reconcile.journal import LINE_TEMPLATE as SETTLEMENT_TEMPLATE
from paybridge.reconcile.morning import JOB_NAME as MORNING_JOB
from paybridge.reconcile.morning import MorningReconciliation
from paybridge.reconcile.service import Reconciler
from paybridge.reconcile.settings import ReconcileSettings
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.scheduler import DailyJob, PeriodicJob
from paybridge.runtime.tracing import NO_TRACING, Tracer
from paybridge.runtime.wiring import Contribution

log = logging.getLogger(__name__)

POLL_JOB = "paytrace.poll"
CHECKS_JOB = "paytrace.poll_checks"
CUTOFF_JOB = "d365.post_journals"
SYNC_JOB = "customers.sync"
SWEEP_JOB = "charges.sweep"
INSIGHT_RETRAIN_JOB = "insight.retrain"  # paybridge.insight.models.JOB_NAME, not imported here


@dataclass
class Parts:
    """What every capability is built from."""

    settings: Settings
    store: Store
    paytrace: PayTraceClient
    dynamics: DynamicsClient
    templates: TemplateSet
    clock: Clock
    tracer: Tracer = NO_TRACING
    # Every merchant account (the main one is ``paytrace``); None: the main one only.
    accounts: PayTraceAccounts | None = None

    @property
    def merchant_accounts(self) -> PayTraceAccounts:
        if self.accounts is None:
            s = self.settings
            self.accounts = PayTraceAccounts(
                MerchantAccount(
                    name="", company=s.dynamics.company.lower(), client=self.paytrace,
                    currency=s.paytrace.currency.upper(), timezone=s.paytrace.timezone,
                    bank_account=s.dynamics.bank_account,
                )
            )  # fmt: skip
        return self.accounts


def enabled_jobs(settings: Settings) -> dict[str, str]:
    """Job name -> the setting that enables it: each must be scheduled, or the engine won't start."""
    jobs = {POLL_JOB: "paytrace.poll_interval_seconds", SWEEP_JOB: "charging"}
    for n, account in enumerate(settings.paytrace.accounts):
        jobs[poll_job(account.name)] = f"paytrace.accounts[{n}]"
    if settings.o2c.post_journals:
        jobs[CUTOFF_JOB] = "o2c.post_journals"
    if settings.checks.enabled:
        jobs[CHECKS_JOB] = "checks.enabled"
        for n, account in enumerate(settings.paytrace.accounts):
            jobs[checks_job(account.name)] = f"checks.enabled, paytrace.accounts[{n}]"
    if settings.sync.enabled:
        jobs[SYNC_JOB] = "sync.enabled"
        for n, account in enumerate(settings.paytrace.accounts):
            jobs[sync_job(account.name)] = f"sync.enabled, paytrace.accounts[{n}]"
    if settings.billing.enabled:
        jobs[BILLING_JOB] = "billing.enabled"
    if settings.reconcile.schedule_at is not None:
        jobs[MORNING_JOB] = "reconcile.schedule_at"
    if settings.orders.enabled:
        jobs[ORDERS_JOB] = "orders.enabled"
    jobs[ALERTS_JOB] = "alerting.evaluate_seconds"
    if settings.insight.enabled:
        jobs[INSIGHT_RETRAIN_JOB] = "insight.enabled"
    return jobs


async def _dead_letter_unreadable(envs: Sequence[Envelope]) -> list[Outcome]:
    return [Outcome.dead(str(env.payload.get("reason", "unreadable event"))) for env in envs]


@dataclass
class OrderToCash:
    ingest: PayTraceIngest
    poster: PaymentPoster
    events: EventIntake
    creator: CustomerCreator
    contribution: Contribution
    ingests: list[PayTraceIngest]  # one per merchant account, the main one first


def order_to_cash(
    parts: Parts, creator: CustomerCreator, screen: PaymentScreen | None = None
) -> OrderToCash:
    s, store, clock = parts.settings, parts.store, parts.clock
    poster = PaymentPoster(
        parts.dynamics, store.intents, store.ledger, store.xref, store.cursors, s.dynamics,
        parts.templates.get(PAYMENT_TEMPLATE), o2c=s.o2c,
        order_template=parts.templates.get(ORDER_TEMPLATE), customers=creator,
        paytrace=parts.paytrace, tracer=parts.tracer, ach_payment_method=s.checks.payment_method, screen=screen,
        accounts=parts.merchant_accounts,
        account_customers={
            a.name: account_sync(parts, a).creator for a in parts.merchant_accounts.others
        },
        reversal=(
            PaymentReversal(parts.dynamics, store.intents, s.checks.reverse_service)
            if s.checks.reverse_service else None
        ),
    )  # fmt: skip
    ingests = [account_ingest(parts, account) for account in parts.merchant_accounts]
    ingest = ingests[0]  # the main account's (the CLI's `poll`, tests)
    others = {
        one.translator.account: (account.client, one.translator)
        for account, one in zip(parts.merchant_accounts, ingests, strict=True)
        if one.translator.account
    }  # an event names its merchant account (none: the main one)
    events = EventIntake(parts.paytrace, store.queue, store.engine, ingest.translator, others)
    jobs: list[PeriodicJob | DailyJob] = [
        PeriodicJob(poll_job(one.translator.account), s.paytrace.poll_interval_seconds,
                    _poll(one))
        for one in ingests
    ]  # fmt: skip
    if s.checks.enabled:  # each merchant account's check export
        jobs += [check_polling(parts, account) for account in parts.merchant_accounts]
    if s.o2c.post_journals:
        posting = JournalPostingJob(
            parts.dynamics, store.intents, store.ledger, poster.book, post_at=s.o2c.post_at,
            service=s.o2c.posting_service, timezone=s.dynamics.timezone, clock=clock,
            in_flight_seconds=s.worker.lease_seconds,
        )  # fmt: skip
        jobs.append(PeriodicJob(CUTOFF_JOB, s.o2c.post_interval_seconds, posting.run))
    contribution = Contribution(
        "o2c",
        publishes=frozenset({PAYMENT_TOPIC, UNREADABLE_TOPIC}),
        handlers={PAYMENT_TOPIC: poster, UNREADABLE_TOPIC: _dead_letter_unreadable},
        jobs=jobs,
    )
    return OrderToCash(ingest, poster, events, creator, contribution, ingests)


def poll_job(account: str) -> str:
    """The poll job of a merchant account: ``paytrace.poll``, ``paytrace.poll.<name>``."""
    return f"{POLL_JOB}.{account}" if account else POLL_JOB


def account_ingest(parts: Parts, account: MerchantAccount) -> PayTraceIngest:
    """One merchant account's change poller over its own client, cursor and fact keys."""
    s, store, clock = parts.settings, parts.store, parts.clock
    poller = ChangePoller(
        account.client,
        clock=clock,
        overlap=timedelta(seconds=s.poller.overlap_seconds),
        lookback=timedelta(days=s.poller.lookback_days),
        state_interval=timedelta(seconds=s.poller.state_interval_seconds),
        sweep_interval=timedelta(seconds=s.poller.sweep_interval_seconds)
        if s.poller.sweep_interval_seconds
        else None,
        sweep_days=s.poller.sweep_days,
    )
    facts = FactTranslator(
        parts.templates.get(EXPORT_TEMPLATE), currency=account.currency,
        timezone=account.timezone, account=account.name,
    )  # fmt: skip
    return PayTraceIngest(poller, store.queue, store.cursors, store.engine, facts)


def _poll(ingest: PayTraceIngest) -> Callable[[], Awaitable[str]]:
    label = ingest.translator.account or "default"

    async def poll() -> str:
        result = await ingest.poll_once()
        if result.new:
            log.info("poll %s: %d changes, %d new", label, result.seen, result.new)
        return f"{result.seen} seen, {result.new} new"

    return poll


def check_ingest(parts: Parts, account: MerchantAccount | None = None) -> CheckIngest:
    """ACH: a merchant account's check export read into payment facts (``checks:``; default:
    the main account's)."""
    s = parts.settings
    account = account or parts.merchant_accounts.default
    facts = CheckFacts(currency=account.currency, timezone=account.timezone)
    return CheckIngest(
        account.client, parts.store.queue, parts.store.engine, parts.clock, facts,
        lookback=timedelta(days=s.checks.lookback_days), account=account.name,
    )  # fmt: skip


def checks_job(account: str) -> str:
    """The check poll job of a merchant account: ``paytrace.poll_checks[.<name>]``."""
    return f"{CHECKS_JOB}.{account}" if account else CHECKS_JOB


def check_polling(parts: Parts, account: MerchantAccount | None = None) -> PeriodicJob:
    account = account or parts.merchant_accounts.default
    ingest = check_ingest(parts, account)

    async def poll_checks() -> str:
        result = await ingest.poll_once()
        if result.new:
            log.info("checks: %d facts, %d new", result.seen, result.new)
        return f"{result.seen} seen, {result.new} new"

    return PeriodicJob(
        checks_job(account.name), parts.settings.checks.poll_interval_seconds, poll_checks
    )


def new_customer_policy(settings: Settings) -> NewCustomerPolicy:
    o2c = settings.o2c
    return NewCustomerPolicy(
        group=o2c.new_customer_group,
        party_type=o2c.new_customer_party_type,
        prefix=o2c.new_customer_prefix,
    )


def customers(
    parts: Parts, vault: Callable[[str], str]
) -> tuple[CustomerCreator, CustomerSync | None, CardLinks, Contribution]:
    """Customers of every merchant account: the main account's creator and sync (the engine's
    ``customers``/``sync``), and with ``sync.enabled`` one sync job per account, each between
    its account's profiles and its company's customers."""
    s, store = parts.settings, parts.store
    accounts = parts.merchant_accounts
    syncs = [account_sync(parts, account) for account in accounts]
    both_ways = syncs[0]
    jobs: list[PeriodicJob | DailyJob] = []
    if s.sync.enabled:
        jobs += [
            PeriodicJob(sync_job(one.links.account), s.sync.interval_seconds, one.run)
            for one in syncs
        ]
    links = card_links(parts, CardTokens(both_ways, store.intents, accounts), vault)
    sync = both_ways if s.sync.enabled else None
    return both_ways.creator, sync, links, Contribution("customers", jobs=jobs)


def sync_job(account: str) -> str:
    """The customer sync job of a merchant account: ``customers.sync[.<name>]``."""
    return f"{SYNC_JOB}.{account}" if account else SYNC_JOB


def account_sync(parts: Parts, account: MerchantAccount) -> CustomerSync:
    """One merchant account's profiles <-> its company's customers (created there, with its
    bank account; links and cursors of another account named by it)."""
    s, store, accounts = parts.settings, parts.store, parts.merchant_accounts
    names = frozenset(a.name for a in accounts.others) - {account.name}
    dynamics = (
        s.dynamics.model_copy(
            update={"company": account.company, "bank_account": account.bank_account}
        )
        if account.name
        else s.dynamics
    )
    creator = CustomerCreator(
        account.client, parts.dynamics, store.intents, store.xref,
        parts.templates.get(TO_D365_TEMPLATE), dynamics, new_customer_policy(s), s.sync,
        links=CustomerLinks(store.xref, account.name, names),
    )  # fmt: skip
    return CustomerSync(
        creator, store.cursors, store.ledger, parts.templates.get(TO_PAYTRACE_TEMPLATE), s.sync,
        home=account.company if accounts.several else None,
    )  # fmt: skip


def card_links(parts: Parts, tokens: CardTokens, vault: Callable[[str], str]) -> CardLinks:
    """Card-on-file links: on when ``cards.link_secret`` is set (resolved when a link is made)."""
    s = parts.settings
    ref = s.cards.link_secret
    secret = (
        None if ref is None else (lambda: resolve_secret(ref, "cards.link_secret", vault=vault))
    )
    base = s.cards.public_url or f"http://{s.web.host}:{s.web.port}"
    return CardLinks(
        tokens, parts.store.cursors, parts.clock, s.cards, secret=secret, base_url=base,
        protect_js_url=s.paytrace.protect_js_url,
    )  # fmt: skip


def pay_links(parts: Parts, charges: ChargeService, vault: Callable[[str], str]) -> PayLinks:
    """Pay-by-link: on when ``paylinks.link_secret`` is set (resolved when a link is used)."""
    s = parts.settings
    ref = s.paylinks.link_secret
    secret = (
        None if ref is None else (lambda: resolve_secret(ref, "paylinks.link_secret", vault=vault))
    )
    base = s.paylinks.public_url or s.cards.public_url or f"http://{s.web.host}:{s.web.port}"
    return PayLinks(
        charges, parts.store.cursors, parts.clock, s.paylinks, secret=secret, base_url=base,
        protect_js_url=s.paytrace.protect_js_url,
    )  # fmt: skip


def charging(parts: Parts) -> tuple[ChargeService, Contribution]:
    s, store = parts.settings, parts.store
    grace = s.charging.in_doubt_grace_seconds or s.paytrace.timeout_seconds + 60
    records = ChargeRecords(store.engine, parts.clock)
    service = ChargeService(
        paytrace=parts.paytrace, dynamics=parts.dynamics, intents=store.intents,
        ledger=store.ledger, xref=store.xref, queue=store.queue,
        records=records, documents=DocumentCharges(store.cursors, records), clock=parts.clock,
        currency=s.paytrace.currency.upper(), in_doubt_grace=timedelta(seconds=grace),
        first_lookback=timedelta(days=s.charging.first_send_lookback_days),
        invoice_template=parts.templates.get(INVOICE_CHARGE_TEMPLATE),
        order_template=parts.templates.get(ORDER_CHARGE_TEMPLATE),
        level3=Level3(parts.dynamics, parts.paytrace, store.intents, store.ledger, s.level3),
        accounts=parts.merchant_accounts,
    )  # fmt: skip
    contribution = Contribution(
        "charging",
        publishes=frozenset({CHARGE_RESOLVE_TOPIC, PAYMENT_TOPIC}),
        handlers={CHARGE_RESOLVE_TOPIC: service.resolve},
        jobs=[PeriodicJob(SWEEP_JOB, s.charging.sweep_interval_seconds, service.sweep)],
    )
    return service, contribution


def billing(parts: Parts) -> tuple[SubscriptionStore, BillingRun, Contribution]:
    s, store = parts.settings, parts.store
    subscriptions = SubscriptionStore(store.engine, parts.clock, store.xref)
    run = BillingRun(
        subscriptions, parts.paytrace, parts.dynamics, store.queue, store.intents, store.ledger,
        s.billing, currency=s.paytrace.currency, paytrace_timezone=s.paytrace.timezone,
        clock=parts.clock, accounts=parts.merchant_accounts,
    )  # fmt: skip
    jobs: list[PeriodicJob | DailyJob] = []
    if s.billing.enabled:
        jobs.append(PeriodicJob(BILLING_JOB, s.billing.interval_seconds, run.run))
    # Its alerts (dunning steps) are handled by the alerting desk (app.ops), billing on or off
    # (a subscription changed from the CLI can raise one while billing is off).
    contribution = Contribution(
        "billing", publishes=frozenset({ALERT_TOPIC, PAYMENT_TOPIC}), jobs=jobs
    )
    return subscriptions, run, contribution


def reconciler(
    parts: Parts, settings: ReconcileSettings | None = None, ids: IdFactory | None = None
) -> Reconciler:
    s = parts.settings
    return RecordedReconciler(
        results=parts.store.engine, paytrace=parts.paytrace, dynamics=parts.dynamics, queue=parts.store.queue,
        intents=parts.store.intents, ledger=parts.store.ledger, xref=parts.store.xref,
        settings=settings or s.reconcile, currency=s.paytrace.currency,
        paytrace_timezone=s.paytrace.timezone, company_timezone=s.dynamics.timezone,
        clock=parts.clock, fact_template=parts.templates.get(EXPORT_TEMPLATE),
        journal_template=parts.templates.get(SETTLEMENT_TEMPLATE), ids=ids or uuid_ids(),
        accounts=parts.merchant_accounts, checks=s.checks.enabled,
        check_returns=s.checks.reverse_service is None,
    )  # fmt: skip


def reconciliation(parts: Parts) -> Contribution:
    s = parts.settings.reconcile
    jobs: list[PeriodicJob | DailyJob] = []
    if s.schedule_at is not None:
        morning = MorningReconciliation(lambda settings: reconciler(parts, settings), s)
        jobs.append(
            DailyJob(MORNING_JOB, s.schedule_at, parts.settings.paytrace.timezone, morning.run)
        )
    return Contribution("reconcile", publishes=frozenset({PAYMENT_TOPIC}), jobs=jobs)
