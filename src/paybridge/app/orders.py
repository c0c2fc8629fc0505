"""The orders capability built from settings: the order book, the watch job and the order.payment handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from paybridge.app.capabilities import Parts
from paybridge.charging.charge_once import ChargeOnce
from paybridge.charging.level3 import Level3
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.errors import PayBridgeError
from paybridge.keys import ORDER_PAYMENT_TOPIC
from paybridge.orders.follow_ups import FollowUps
from paybridge.orders.gateway import Gateway
from paybridge.orders.payments import InvoiceCheck, OrderPayments
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


@dataclass
class OrderInvoiceLevel3:
    """``level3:`` for an order's captures: the invoice checked before, Level 3 sent after
    (to the merchant account of the invoice's company, which made the capture)."""

    level3: Level3
    # company -> the client of its merchant account (None: the main one's).
    clients: Callable[[str], PayTraceClient] | None = None

    async def check(self, company: str, invoice: str, amount: Decimal) -> InvoiceCheck:
        document = await self.level3.invoice(company, invoice)
        found = await self.level3.preflight(document, amount)
        return InvoiceCheck(found.status, tuple(
            f"{f.severity} {f.field}: {f.message}" for f in found.findings
        ))  # fmt: skip

    async def send(self, key: str, company: str, invoice: str, transaction_id: str) -> str:
        try:
            data = await self.level3.read(await self.level3.invoice(company, invoice))
            client = self.clients(company) if self.clients is not None else None
            return await self.level3.send(key, data, transaction_id, client)
        except PayBridgeError as exc:  # the capture stands; the data is noted as missing
            return f"not sent: {exc}"


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
        invoice_data=OrderInvoiceLevel3(Level3(
            parts.dynamics, parts.paytrace, store.intents, store.ledger, s.level3,
        ), lambda company: gateway(company).paytrace) if s.level3.enabled else None,
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
