"""The orders capability built from settings: the order book, the watch job and the order.payment handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from paybridge.app.capabilities import Parts
from paybridge.charging.charge_once import ChargeOnce
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.keys import ORDER_PAYMENT_TOPIC
from paybridge.orders.follow_ups import FollowUps
from paybridge.orders.gateway import Gateway
from paybridge.orders.payments import OrderPayments
from paybridge.orders.records import OrderBook
from paybridge.orders.refunds import RefundDesk
from paybridge.orders.watch import JOB_NAME, OrderWatch
from paybridge.runtime.scheduler import DailyJob, PeriodicJob
from paybridge.runtime.wiring import Contribution


@dataclass
class Orders:
    book: OrderBook
    watch: OrderWatch
    payments: OrderPayments
    refunds: RefundDesk
    contribution: Contribution


def _profiles(
    accounts: PayTraceAccounts, account: MerchantAccount
) -> Callable[[str | None], str | None]:
    """The profile ``account`` charges for a customer's cross-reference source."""
    return lambda linked: accounts.profile_of(linked, account)


def orders(parts: Parts, audit: Callable[..., Any]) -> Orders:
    """Always handles ``order.payment`` (approvals publish to it); watches D365 when enabled."""
    s, store = parts.settings, parts.store
    grace = timedelta(seconds=s.charging.in_doubt_grace_seconds or s.paytrace.timeout_seconds + 60)
    accounts = parts.merchant_accounts
    lookback = timedelta(days=s.charging.first_send_lookback_days)
    by_name: dict[str, Gateway] = {}
    for account in accounts:  # each merchant account's sender and follow-ups
        by_name[account.name] = Gateway(
            ChargeOnce(
                account.client, store.intents, parts.clock, currency=account.currency,
                grace=grace, declines_final=True, first_lookback=lookback,
            ),
            FollowUps(account.client, store.intents, parts.clock, grace=grace),
            account.client,
            account.name,
            _profiles(accounts, account),
        )  # fmt: skip

    def gateway(company: str) -> Gateway:
        return by_name[accounts.for_company(company).name]

    main = by_name[accounts.default.name]
    book = OrderBook(store.engine, parts.clock)
    refunds = RefundDesk(
        book=book, once=main.once, queue=store.queue, settings=s.orders, audit=audit,
        senders=lambda company: gateway(company).once,
    )  # fmt: skip
    payments = OrderPayments(
        book=book, once=main.once, follow_ups=main.follow_ups, paytrace=main.paytrace,
        dynamics=parts.dynamics, xref=store.xref, ledger=store.ledger,
        settings=s.orders, clock=parts.clock, refunds=refunds, gateways=gateway,
    )  # fmt: skip
    watch = OrderWatch(
        dynamics=parts.dynamics, book=book, queue=store.queue, cursors=store.cursors,
        engine=store.engine, settings=s.orders, clock=parts.clock,
    )  # fmt: skip
    jobs: list[PeriodicJob | DailyJob] = []
    if s.orders.enabled:
        jobs.append(PeriodicJob(JOB_NAME, s.orders.interval_seconds, watch.run))
    contribution = Contribution(
        "orders",
        publishes=frozenset({ORDER_PAYMENT_TOPIC}),
        handlers={ORDER_PAYMENT_TOPIC: payments},
        jobs=jobs,
    )
    return Orders(book, watch, payments, refunds, contribution)
