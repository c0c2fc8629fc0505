"""The orders capability built from settings: the order book, the watch job and the order.payment handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from paybridge.app.capabilities import Parts
from paybridge.charging.charge_once import ChargeOnce
from paybridge.keys import ORDER_PAYMENT_TOPIC
from paybridge.orders.follow_ups import FollowUps
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


def orders(parts: Parts, audit: Callable[..., Any]) -> Orders:
    """Always handles ``order.payment`` (approvals publish to it); watches D365 when enabled."""
    s, store = parts.settings, parts.store
    grace = timedelta(seconds=s.charging.in_doubt_grace_seconds or s.paytrace.timeout_seconds + 60)
    once = ChargeOnce(
        parts.paytrace, store.intents, parts.clock, currency=s.paytrace.currency, grace=grace,
        declines_final=True, first_lookback=timedelta(days=s.charging.first_send_lookback_days),
    )  # fmt: skip
    book = OrderBook(store.engine, parts.clock)
    refunds = RefundDesk(book=book, once=once, queue=store.queue, settings=s.orders, audit=audit)
    payments = OrderPayments(
        book=book, once=once, follow_ups=FollowUps(parts.paytrace, store.intents, parts.clock,
                                                   grace=grace),
        paytrace=parts.paytrace, dynamics=parts.dynamics, xref=store.xref, ledger=store.ledger,
        settings=s.orders, clock=parts.clock, refunds=refunds,
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
