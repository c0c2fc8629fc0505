"""Job ``orders.watch``: read D365's card orders, invoices and credit notes, publish each new fact once.

F&O's ``SalesOrderHeadersV2`` has no modified-date field and change tracking is not reachable
through OData, so the watch reads (a) orders created since its cursor (``OrderCreationDateTime``,
re-read ``overlap_seconds`` back) whose payment method is a card on file, with their lines in
the same request (``$expand=SalesOrderLines``); (b) the orders PayBridge still watches, a chunk
per request (status, hold) with a second request for their invoices; (c) the recent credit notes
(negative invoices) of any order PayBridge authorized; (d) approved refunds still waiting for
their capture's settlement. Every fact becomes an ``order.payment``
envelope under its ``keys.order_fact`` key, partitioned by order; the inbox drops what it has
seen, and the cursor moves in the same store transaction as the publish.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient, Expand, Expr, F, Query
from paybridge.keys import ORDER_PAYMENT_TOPIC, ORDERS_CURSOR, order_fact, order_partition
from paybridge.orders.records import (
    APPROVED,
    CLOSED,
    DECLINED,
    OPEN,
    REFUNDING,
    OrderBook,
    OrderPayment,
)
from paybridge.orders.settings import OrdersSettings
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue

log = logging.getLogger(__name__)

JOB_NAME = "orders.watch"
ORDERS, INVOICES = "SalesOrderHeadersV2", "SalesInvoiceHeadersV2"
_FINAL = {"Invoiced", "Canceled"}
_HEADER_FIELDS = [
    "dataAreaId", "SalesOrderNumber", "InvoiceCustomerAccountNumber", "CurrencyCode",
    "OrderTotalAmount", "AreTotalsCalculated", "SalesOrderStatus", "OrderCreationDateTime",
]  # fmt: skip
_INVOICE_FIELDS = ["dataAreaId", "InvoiceNumber", "SalesOrderNumber", "TotalInvoiceAmount",
                   "CurrencyCode"]  # fmt: skip


def any_of(name: str, values: Iterable[str]) -> Expr:
    """``(name eq 'a' or name eq 'b' ...)``: F&O's OData has no ``in``."""
    return functools.reduce(lambda a, b: a | b, (F(name) == v for v in values))


def order_total(header: dict[str, Any]) -> Decimal:
    """The header's total once F&O calculated it, else the sum of its lines."""
    if header.get("AreTotalsCalculated") == "Yes" and Decimal(str(header["OrderTotalAmount"])):
        return Decimal(str(header["OrderTotalAmount"]))
    lines = header.get("SalesOrderLines") or []
    return sum((Decimal(str(line.get("LineAmount") or 0)) for line in lines), Decimal(0))


class OrderWatch:
    """One run reads D365 and publishes new order facts; everything else is the handler's."""

    def __init__(
        self, *, dynamics: DynamicsClient, book: OrderBook, queue: SqlQueue, cursors: Cursors,
        engine: Engine, settings: OrdersSettings, clock: Clock,
    ) -> None:  # fmt: skip
        self.d365 = dynamics
        self.book = book
        self.queue = queue
        self.cursors = cursors
        self.engine = engine
        self.settings = settings
        self.clock = clock

    async def run(self) -> str:
        envs, cursor = await self._new_orders()
        watched = self.book.watched()
        envs += await self._watched(watched)
        envs += await self._credit_notes()
        envs += self._reauthorizations(watched)
        envs += self._unfinished_refunds()
        with self.engine.begin() as conn:
            new = sum(self.queue.publish(conn, envs)) if envs else 0
            if cursor is not None:
                self.cursors.put(conn, ORDERS_CURSOR, cursor.isoformat())
        return f"{len(envs)} order facts, {new} new"

    async def _new_orders(self) -> tuple[list[Envelope], datetime | None]:
        saved = self.cursors.get(ORDERS_CURSOR)
        now = self.clock.now()
        start = (datetime.fromisoformat(saved) if saved else
                 now - timedelta(days=self.settings.first_lookback_days))  # fmt: skip
        since = start - timedelta(seconds=self.settings.overlap_seconds)
        query = Query(
            filter=(F("OrderCreationDateTime") >= since)
            & any_of("CustomerPaymentMethodName", self.settings.payment_methods),
            select=_HEADER_FIELDS,
            expand=[Expand("SalesOrderLines", select=["LineAmount"])],
            cross_company=True,
        )
        envs, newest = [], start
        for header in await self.d365.query(ORDERS, query):
            created = datetime.fromisoformat(
                str(header["OrderCreationDateTime"]).replace("Z", "+00:00")
            )
            newest = max(newest, min(created, now))
            env = self._first_authorization(header)
            if env is not None:
                envs.append(env)
        return envs, newest

    def _first_authorization(self, header: dict[str, Any]) -> Envelope | None:
        company, order = str(header["dataAreaId"]).lower(), str(header["SalesOrderNumber"])
        total = order_total(header)
        # A cancelled order needs nothing; an order without lines yet is read again later. An
        # order invoiced before the watch saw it (or before the store was lost) is authorized
        # all the same, so its invoices are captured (a lost store finds its own earlier writes).
        if header.get("SalesOrderStatus") == "Canceled" or total <= 0:
            return None
        if self.book.get(company, order) is not None:
            return None
        return _envelope(company, order, ("auth", 1), {
            "action": "authorize", "number": 1, "why": "new order",
            "account": header["InvoiceCustomerAccountNumber"],
            "currency": header["CurrencyCode"], "total": str(total),
        })  # fmt: skip

    async def _watched(self, watched: Sequence[OrderPayment]) -> list[Envelope]:
        envs: list[Envelope] = []
        by_company: dict[str, list[OrderPayment]] = {}
        for row in watched:
            by_company.setdefault(row.company, []).append(row)
        size = self.settings.chunk_size
        for company, rows in by_company.items():
            for n in range(0, len(rows), size):
                envs += await self._chunk(company, rows[n : n + size])
        return envs

    async def _chunk(self, company: str, rows: Sequence[OrderPayment]) -> list[Envelope]:
        numbers = [r.order_number for r in rows]
        where = (F("dataAreaId") == company) & any_of("SalesOrderNumber", numbers)
        headers = await self.d365.query(ORDERS, Query(
            filter=where, select=["SalesOrderNumber", "SalesOrderStatus", self.settings.hold_field],
            cross_company=True))  # fmt: skip
        invoices = await self.d365.query(INVOICES, Query(
            filter=where & (F("TotalInvoiceAmount") > 0), select=_INVOICE_FIELDS,
            orderby=["InvoiceNumber"], cross_company=True))  # fmt: skip
        state = {str(h["SalesOrderNumber"]).casefold(): h for h in headers}
        envs: list[Envelope] = []
        for invoice in invoices:
            if self.book.capture(company, str(invoice["InvoiceNumber"])) is None:
                envs.append(_capture(company, invoice))
        for row in rows:
            header = state.get(row.order_number.casefold())
            envs += self._status_facts(row, header)
        return envs

    def _status_facts(self, row: OrderPayment, header: dict[str, Any] | None) -> list[Envelope]:
        if header is None or header.get("SalesOrderStatus") in _FINAL:
            why = "deleted in D365" if header is None else str(header["SalesOrderStatus"]).lower()
            return [_envelope(row.company, row.order_number, ("close",),
                              {"action": "close", "why": f"order {why}"})]  # fmt: skip
        released = str(header.get(self.settings.hold_field)) == "No"
        if row.state == DECLINED and released:  # a person released PayBridge's hold: try again
            return [self._authorization(row, "hold released")]
        return []

    def _reauthorizations(self, watched: Sequence[OrderPayment]) -> list[Envelope]:
        margin = timedelta(days=self.settings.reauthorize_before_days)
        due = self.clock.now() + margin
        return [
            self._authorization(row, "authorization expiring")
            for row in watched
            if row.state == OPEN and row.auth_expires_at is not None and row.auth_expires_at <= due
        ]

    def _authorization(self, row: OrderPayment, why: str) -> Envelope:
        number = row.auth_number + 1
        return _envelope(row.company, row.order_number, ("auth", number), {
            "action": "authorize", "number": number, "why": why, "account": row.account,
            "currency": row.currency, "total": str(row.total),
        })  # fmt: skip

    def _unfinished_refunds(self) -> list[Envelope]:
        """Approved refunds not sent yet (a capture PayTrace has not settled): asked again once
        per ``unsettled_retry_seconds``, under a key of that period, so waiting for a nightly
        settlement spends no attempts of the queue's retry policy."""
        period = int(self.clock.now().timestamp() // self.settings.unsettled_retry_seconds)
        return [
            _envelope(
                r.company,
                r.order_number,
                (),
                {
                    "action": "refund_approved",
                    "request_id": r.request_id,
                },
                key=f"{r.request_id}:retry:{period}",
            )
            for status in (APPROVED, REFUNDING)
            for r in self.book.refunds(status)
        ]

    async def _credit_notes(self) -> list[Envelope]:
        field = self.settings.credit_note_order_field
        since = self.clock.now() - timedelta(days=self.settings.first_lookback_days + 30)
        notes = await self.d365.query(INVOICES, Query(
            filter=(F("TotalInvoiceAmount") < 0) & (F("InvoiceDate") >= since),
            select=sorted({*_INVOICE_FIELDS, field}), cross_company=True))  # fmt: skip
        envs = []
        for note in notes:
            company, order = str(note["dataAreaId"]).lower(), str(note.get(field) or "")
            row = self.book.get(company, order) if order else None
            key = order_fact(company, str(note["InvoiceNumber"]), "refund")
            if row is None or self.book.refund(key) is not None:
                continue
            envs.append(_envelope(company, order, (), {
                "action": "refund", "request_id": key, "company": company, "order": order,
                "credit_note": note["InvoiceNumber"], "currency": note["CurrencyCode"],
                "amount": str(-Decimal(str(note["TotalInvoiceAmount"]))),
                "requested_by": f"d365:{company}:credit-note",
            }, key=key))  # fmt: skip
        return envs


def _capture(company: str, invoice: dict[str, Any]) -> Envelope:
    order, number = str(invoice["SalesOrderNumber"]), str(invoice["InvoiceNumber"])
    return _envelope(company, order, ("capture", number), {
        "action": "capture", "invoice": number, "amount": str(invoice["TotalInvoiceAmount"]),
        "currency": invoice["CurrencyCode"],
    })  # fmt: skip


def _envelope(
    company: str, order: str, parts: tuple[str | int, ...], payload: dict[str, Any],
    key: str | None = None,
) -> Envelope:  # fmt: skip
    return Envelope(
        topic=ORDER_PAYMENT_TOPIC,
        key=key or order_fact(company, order, *parts),
        partition_key=order_partition(company, order),
        payload={"company": company, "order": order, **payload},
        source="orders.watch",
    )


__all__ = ["CLOSED", "JOB_NAME", "OPEN", "OrderWatch", "any_of", "order_total"]
