"""Handler of ``order.payment``: authorize a card order, capture an invoice, close (void) an order.

Each envelope is one fact of one sales order (``keys.order_fact``), partitioned by the order so
its facts run in sequence on whichever worker holds them. Every PayTrace write is an intent
under the fact's key: authorizations go through ``charging.charge_once`` (looked up by the
reference at the head of ``description``), captures and voids through ``FollowUps`` (looked up
by the authorization's id). The order row moves by compare-and-set, so a worker that lost the
race changes nothing and retries on the new state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from paybridge.charging.charge_once import APPROVED, AUTHORIZATION, ChargeOnce, charge_body
from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import CustomerExportRequest, PayTraceClient
from paybridge.errors import DataError, PayBridgeError, RetryableError
from paybridge.keys import (
    CAPTURE_INVOICE_XREF,
    CUSTOMER_XREF,
    ORDER_AUTH_STEP,
    ORDER_AUTH_XREF,
    ORDER_CAPTURE_STEP,
    order_fact,
)
from paybridge.orders.follow_ups import FollowUps
from paybridge.orders.gateway import Gateway, Gateways
from paybridge.orders.records import CLOSED, DECLINED, OPEN, Capture, OrderBook, OrderPayment
from paybridge.orders.settings import OrdersSettings
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.intents import PLANNED
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.worker import outcome_for

log = logging.getLogger(__name__)

ORDERS = "SalesOrderHeadersV2"
_CENT = Decimal("0.01")


def brand_of(masked: str) -> str:
    """The card brand from a BIN-first masked number (``401200******5439``)."""
    digits = masked[:6]
    if digits.startswith("4"):
        return "VISA"
    if digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        return "MASTERCARD"
    if digits[:2] in {"34", "37"}:
        return "AMEX"
    if digits.startswith(("6011", "65")) or "644" <= digits[:3] <= "649":
        return "DISCOVER"
    return "other"


@dataclass(frozen=True)
class InvoiceCheck:
    """What the Level 2/3 pre-flight found on the invoice a capture is for."""

    status: str  # ok, warnings, errors (captured all the same) or blocked (not captured)
    findings: tuple[str, ...]  # "<severity> <field>: <message>"

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"


class InvoiceData(Protocol):
    """Level 2/3 of an order's invoice (``charging.level3``, adapted by app when enabled)."""

    async def check(self, company: str, invoice: str, amount: Decimal) -> InvoiceCheck: ...

    async def send(self, key: str, company: str, invoice: str, transaction_id: str) -> str: ...


class OrderPayments:
    """Authorizations, captures and voids of D365 card orders, each written once."""

    def __init__(
        self,
        *,
        book: OrderBook,
        once: ChargeOnce,
        follow_ups: FollowUps,
        paytrace: PayTraceClient,
        dynamics: DynamicsClient,
        xref: Xref,
        ledger: Ledger,
        settings: OrdersSettings,
        clock: Clock,
        refunds: Callable[[Envelope], Any] | None = None,
        invoice_data: InvoiceData | None = None,
        gateways: Gateways | None = None,
    ) -> None:
        self.book = book
        self.once = once
        self.follow_ups = follow_ups
        self.paytrace = paytrace
        main = Gateway(once, follow_ups, paytrace)
        # Each company's orders through its merchant account (one account: the main one).
        self.gateway: Gateways = gateways or (lambda company: main)
        self.d365 = dynamics
        self.xref = xref
        self.ledger = ledger
        self.settings = settings
        self.clock = clock
        self.refunds = refunds
        self.invoice_data = invoice_data

    async def __call__(self, envs: Sequence[Envelope]) -> list[Outcome]:
        """Orders side by side: a batch holds one fact per order at most (the queue claims a
        partition's oldest message only), so no two of them touch the same order."""
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(env: Envelope) -> Outcome:
            async with gate:
                try:
                    return await self.handle(env)
                except PayBridgeError as exc:
                    log.warning("%s: %s", env.key, exc)
                    return outcome_for(exc)

        return list(await asyncio.gather(*(one(env) for env in envs)))

    async def handle(self, env: Envelope) -> Outcome:
        action = str(env.payload.get("action"))
        if action == "authorize":
            return await self.authorize(env)
        if action == "capture":
            return await self.capture(env)
        if action == "close":
            return await self.close(env)
        if action in {"refund", "refund_approved"} and self.refunds is not None:
            result: Outcome = await self.refunds(env)
            return result
        return Outcome.dead(f"unknown order action {action!r}")

    # -- authorization -----------------------------------------------------------------------

    async def authorize(self, env: Envelope) -> Outcome:
        p = env.payload
        number = int(p["number"])
        row = self.book.get(p["company"], p["order"]) or self._start(p)
        if row.state == CLOSED or row.auth_number >= number:
            return Outcome.done(f"authorization {number} superseded (order at {row.auth_number})")
        return await self._authorize(row, number, str(p.get("why") or "order"))

    def _start(self, p: dict[str, Any]) -> OrderPayment:
        company, account = str(p["company"]), str(p["account"])
        customer = self.xref.source_for(CUSTOMER_XREF, f"{company}/{account}")
        return self.book.start(OrderPayment(
            company=company, order_number=str(p["order"]), account=account, customer_id=customer,
            currency=str(p["currency"]).upper(), total=Decimal(str(p["total"])),
            captured=Decimal(0), state=OPEN, auth_number=0, auth_id=None, auth_amount=None,
            auth_expires_at=None, brand=None, reason=None, version=0,
        ))  # fmt: skip

    async def _authorize(self, row: OrderPayment, number: int, why: str) -> Outcome:
        if row.customer_id is None:  # the card may have been put on file since
            row = replace(row, customer_id=self.xref.source_for(
                CUSTOMER_XREF, f"{row.company}/{row.account}"))  # fmt: skip
        problem = self._refusal(row)
        if problem is not None:
            await self._hold(row, number, problem)
            return Outcome.done(f"on hold: {problem}")
        amount = (row.remaining * (1 + self.settings.over_authorization_percent / 100)).quantize(
            _CENT, ROUND_HALF_UP
        )
        gw = self.gateway(row.company)
        key = order_fact(row.company, row.order_number, "auth", number)
        body = charge_body(customer_id=str(gw.profile(row.customer_id)), amount=amount,
                           reference=key, mapped={"invoice_id": row.order_number})  # fmt: skip
        intent = gw.once.plan(key, ORDER_AUTH_STEP, key, body,
                              {"mode": AUTHORIZATION, "currency": row.currency})  # fmt: skip
        sent_at = intent.updated_at if intent.status != PLANNED else None
        charged = await gw.once.execute(intent, sent_at=sent_at or self.clock.now(),
                                        since=intent.updated_at)  # fmt: skip
        detail = charged.detail
        # What the authorization asked for is the first plan's request (a retry, or a store
        # rebuilt after a loss, may compute another remainder): never believe more than that.
        amount = Decimal(str(intent.detail["request"]["amount"]))
        if charged.outcome != APPROVED:
            reason = str(detail.get("reason") or "declined")
            if detail.get("transaction_id"):  # o2c leaves this order's hold to us
                self.xref.link(ORDER_AUTH_XREF, gw.ref(str(detail["transaction_id"])),
                               f"{row.company}/{row.order_number}")  # fmt: skip
            await self._hold(row, number, f"card declined: {reason}")
            self._record(key, "declined", detail)
            return Outcome.done(f"declined, order on hold: {reason}")
        return await self._authorized(row, number, key, amount, detail, why)

    def _refusal(self, row: OrderPayment) -> str | None:
        gw = self.gateway(row.company)
        if gw.profile(row.customer_id) is None:
            return f"no card on file for customer {row.account} (no PayTrace profile linked)"
        if row.currency != gw.once.currency:
            return f"order currency {row.currency} is not the PayTrace account's {gw.once.currency}"
        if row.remaining <= 0:
            return "the order total is zero"
        return None

    async def _authorized(
        self, row: OrderPayment, number: int, key: str, amount: Decimal,
        detail: dict[str, Any], why: str,
    ) -> Outcome:  # fmt: skip
        txid = str(detail["transaction_id"])
        gw = self.gateway(row.company)
        self.xref.link(ORDER_AUTH_XREF, gw.ref(txid), f"{row.company}/{row.order_number}")
        brand = row.brand or await self._brand(gw, str(gw.profile(row.customer_id)))
        expires = self._expiry(detail, brand)
        previous = row.auth_id
        fields: dict[str, Any] = {}
        if self.settings.authorization_field:
            fields[self.settings.authorization_field] = txid
        if row.state == DECLINED:
            fields[self.settings.hold_field] = "No"  # PayBridge's own hold, released
            if self.settings.hold_reason_field:
                fields[self.settings.hold_reason_field] = ""
        # D365 first, the book last: a failed PATCH leaves the book behind, so the retry finds
        # the authorization done (its intent) and writes D365 again.
        await self._patch(row, fields)
        saved = self.book.save(row, state=OPEN, auth_number=number, auth_id=txid,
                               auth_amount=amount, auth_expires_at=expires, brand=brand,
                               reason=None)  # fmt: skip
        if saved is None:
            raise RetryableError(f"{key}: the order changed meanwhile", retry_after=1.0)
        self._record(key, "authorized", {**detail, "amount": str(amount), "why": why})
        if previous and previous != txid:  # the new one holds the money: let the old one go
            await gw.follow_ups.void(
                order_fact(row.company, row.order_number, "void", previous), previous
            )
        return Outcome.done(f"authorized {amount} {row.currency} as {txid} ({why})")

    async def _brand(self, gw: Gateway, customer_id: str) -> str:
        try:
            found = await gw.paytrace.export_customers(
                CustomerExportRequest(customer_id=customer_id, include_bin=True)
            )
        except PayBridgeError as exc:  # the brand only picks the hold's length
            log.warning("cannot read the card brand of %s: %s", customer_id, exc)
            return "other"
        card = found[0].credit_card if found else None
        return brand_of(card.masked_number) if card is not None else "other"

    def _expiry(self, detail: dict[str, Any], brand: str) -> datetime:
        at = detail.get("occurred_at")
        start = datetime.fromisoformat(str(at)) if at else self.clock.now()
        return start + timedelta(days=self.settings.days_for(brand))

    async def _hold(self, row: OrderPayment, number: int, reason: str) -> None:
        fields: dict[str, Any] = {self.settings.hold_field: "Yes"}
        if self.settings.hold_reason_field:
            fields[self.settings.hold_reason_field] = reason[:250]
        await self._patch(row, fields)  # D365 first: a retry comes back here (see _authorized)
        saved = self.book.save(row, state=DECLINED, auth_number=number, reason=reason[:500])
        if saved is None:
            raise RetryableError("the order changed meanwhile", retry_after=1.0)

    async def _patch(self, row: OrderPayment, fields: dict[str, Any]) -> None:
        """PATCH sets the same values however often it is sent: a retry is harmless."""
        if fields:
            key = {"dataAreaId": row.company, "SalesOrderNumber": row.order_number}
            await self.d365.update(ORDERS, key, fields, cross_company=True)

    # -- capture -----------------------------------------------------------------------------

    async def capture(self, env: Envelope) -> Outcome:
        p = env.payload
        company, order, invoice = str(p["company"]), str(p["order"]), str(p["invoice"])
        amount = Decimal(str(p["amount"]))
        row = self.book.get(company, order)
        if row is None:
            return Outcome.done(f"order {order} was not authorized by PayBridge")
        done = self.book.capture(company, invoice)
        if done is not None:  # captured; the order row may not show it yet (a crash between)
            return await self._after_capture(row, done.transaction_id, done.amount, invoice)
        txid = row.auth_id
        if txid is None or row.auth_amount is None:
            raise DataError(f"invoice {invoice} of order {order}: no live authorization to capture"
                            f" ({row.reason or row.state})", fields={"invoice": invoice})  # fmt: skip
        if amount > row.auth_amount:  # never captured: the order waits for a person
            reason = (f"invoice {invoice} is {amount} {row.currency}, more than the authorization "
                      f"{txid} of {row.auth_amount}: not captured")  # fmt: skip
            await self._hold(row, row.auth_number, reason)
            raise DataError(reason, fields={"amount": "above the authorization"})
        key = order_fact(company, order, "capture", invoice)
        gw = self.gateway(company)
        # The claim first (before the capture can exist, and so that a refused pre-flight still
        # keeps the order's close from voiding what this invoice needs); another merchant
        # account's transaction is named <account>/<id> (o2c marks the invoice with its line).
        self.xref.link(CAPTURE_INVOICE_XREF, gw.ref(txid), f"{company}/{invoice}")
        await self._preflight(key, company, invoice, amount)
        resolution = await gw.follow_ups.capture(key, txid, amount)
        self.book.add_capture(Capture(company, invoice, order, txid, amount))
        self._record(key, "captured", {"transaction_id": txid, "amount": str(amount),
                                       "how": resolution.how})  # fmt: skip
        if self.invoice_data is not None:  # Level 3 once the capture is in (at most once)
            said = await self.invoice_data.send(key, company, invoice, txid)
            log.info("%s: Level 3 %s", key, said)
        return await self._after_capture(row, txid, amount, invoice)

    async def _preflight(self, key: str, company: str, invoice: str, amount: Decimal) -> None:
        """Level 2/3 checks of the invoice before its capture is planned (once planned, it goes
        whatever the data says now): findings on the capture's lineage; a block refuses it."""
        if self.invoice_data is None:
            return
        planned = self.follow_ups.intents.get(key, ORDER_CAPTURE_STEP)
        if planned is not None and planned.status != PLANNED:
            return
        found = await self.invoice_data.check(company, invoice, amount)
        self.ledger.record(
            key, "level3", system="paybridge", entity="invoice", entity_id=f"{company}/{invoice}",
            status=found.status, detail={"findings": "; ".join(found.findings) or "none"},
        )  # fmt: skip
        if found.blocked:
            raise DataError(
                f"invoice {invoice}: the Level 2/3 pre-flight blocks its capture ("
                f"{'; '.join(found.findings)}); fix the invoice in D365 and replay",
                fields={"invoice": "level 3 pre-flight"},
            )

    async def _after_capture(
        self, row: OrderPayment, txid: str, amount: Decimal, invoice: str
    ) -> Outcome:
        fresh = self.book.get(row.company, row.order_number) or row
        if fresh.auth_id == txid:  # this capture's effect on the row is not saved yet
            saved = self.book.save(fresh, auth_id=None, auth_amount=None, auth_expires_at=None,
                                   captured=fresh.captured + amount)  # fmt: skip
            if saved is None:
                raise RetryableError("the order changed meanwhile", retry_after=1.0)
            fresh = saved
        if fresh.remaining > 0 and fresh.state == OPEN and fresh.auth_id is None:
            await self._authorize(fresh, fresh.auth_number + 1, f"remainder after {invoice}")
        return Outcome.done(f"captured {amount} {row.currency} of {txid} for {invoice}")

    # -- close -------------------------------------------------------------------------------

    async def close(self, env: Envelope) -> Outcome:
        p = env.payload
        row = self.book.get(str(p["company"]), str(p["order"]))
        if row is None or row.state == CLOSED:
            return Outcome.done("nothing to close")
        if row.state == DECLINED and row.auth_id is not None:  # held with a live authorization
            left = self.book.save(row, state=CLOSED, reason=f"{p.get('why')}; authorization "
                                  f"{row.auth_id} left for a person: {row.reason}")  # fmt: skip
            if left is None:
                raise RetryableError("the order changed meanwhile", retry_after=1.0)
            return Outcome.done(f"order closed on hold; {row.auth_id} left as it is")
        if row.auth_id is not None:
            self._no_capture_pending(row, row.auth_id)
            key = order_fact(row.company, row.order_number, "void", row.auth_id)
            await self.gateway(row.company).follow_ups.void(key, row.auth_id)
            self._record(key, "voided", {"transaction_id": row.auth_id, "why": p.get("why")})
        saved = self.book.save(row, state=CLOSED, auth_id=None, auth_amount=None,
                               auth_expires_at=None, reason=str(p.get("why") or "closed"))  # fmt: skip
        if saved is None:
            raise RetryableError("the order changed meanwhile", retry_after=1.0)
        return Outcome.done(f"order closed ({p.get('why')})")

    def _no_capture_pending(self, row: OrderPayment, auth_id: str) -> None:
        """Never void an authorization an invoice's capture still claims: a capture in doubt (or
        dead-lettered before it was resolved) may have happened, one refused by the Level 2/3
        pre-flight is still owed once the invoice is fixed. The close waits (retries, then a
        dead letter saying why) until that capture is in the book."""
        claim = self.xref.get(CAPTURE_INVOICE_XREF, self.gateway(row.company).ref(auth_id))
        if claim is None:
            return
        invoice = claim.partition("/")[2]
        if self.book.capture(row.company, invoice) is not None:
            return
        key = order_fact(row.company, row.order_number, "capture", invoice)
        intent = self.follow_ups.intents.get(key, ORDER_CAPTURE_STEP)
        state = intent.status if intent is not None else "not sent"
        raise RetryableError(
            f"authorization {auth_id} is claimed by the capture of invoice {invoice} "
            f"({state}): the order closes once that capture is done",
            retry_after=5.0,
        )

    def _record(self, key: str, status: str, detail: dict[str, Any]) -> None:
        self.ledger.record(
            key, "orders", system="paytrace", entity="transaction",
            entity_id=str(detail.get("transaction_id") or ""), status=status, detail=detail,
        )  # fmt: skip
