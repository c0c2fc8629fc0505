"""The payment index: the ``payment`` messages' facts as searchable columns, and the search.

A read model. The queue message (payload and status) stays the record; the index copies the
fields a person searches by, so a search over 100,000 payments uses indexes instead of parsing
JSON. ``catch_up`` follows the queue by id and inserts what is missing; it looks back
``LOOKBACK`` ids behind the newest indexed one, because on PostgreSQL a message with a lower id
may commit after one with a higher id. It runs before every search (bounded) and can be run
on its own (the bench does, for a store filled at once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, and_, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from paybridge.keys import LINE_STEP, PAYMENT_TOPIC
from paybridge.model.money import Money, currency_exponent
from paybridge.store.schema import ledger, queue
from paybridge.store.schema_console import payment_index

log = logging.getLogger("paybridge.ops")

LOOKBACK = 1000
BATCH = 2000
SCALE = Decimal(10_000)
STATUSES = ("waiting", "done", "posted", "dead")


@dataclass(frozen=True)
class PaymentQuery:
    """What the explorer asks; every field optional. Times are aware UTC bounds."""

    transaction_id: str = ""
    invoice_id: str = ""
    order_id: str = ""
    customer_id: str = ""
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class PaymentRow:
    message_id: int
    key: str
    transaction_id: str
    kind: str
    amount: Money
    occurred_at: datetime
    customer_id: str | None
    invoice_id: str | None
    order_id: str | None
    queue_status: str
    triage_state: str | None
    posted: bool

    @property
    def status(self) -> str:
        if self.queue_status == "dead":
            return "dead"
        if self.queue_status in ("ready", "leased"):
            return "waiting"
        return "posted" if self.posted else "done"


def _e4(amount: Decimal) -> int:
    return int((amount * SCALE).to_integral_value())


def _indexed(message_id: int, key: str, payload: str) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
        money = data["amount"]
        amount = Decimal(str(money["amount"]))
        occurred = datetime.fromisoformat(str(data["occurred_at"]).replace("Z", "+00:00"))
        return {
            "message_id": message_id, "key": key[:200],
            "transaction_id": str(data["transaction_id"])[:40], "kind": str(data["kind"])[:20],
            "amount_e4": _e4(amount), "currency": str(money["currency"])[:3].upper(),
            "occurred_at": occurred,
            "customer_id": (data.get("customer_id") or None) and str(data["customer_id"])[:120],
            "invoice_id": (data.get("invoice_id") or None) and str(data["invoice_id"])[:120],
            "order_id": (data.get("order_id") or None) and str(data["order_id"])[:120],
        }  # fmt: skip
    except (ValueError, KeyError, TypeError, InvalidOperation):
        return None  # not a payment fact (an unreadable one has its own topic)


class PaymentIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def catch_up(self, limit: int | None = 20_000) -> int:
        """Index the ``payment`` messages not indexed yet (at most ``limit``); how many were added.

        Two processes catching up at once collide on the primary key: the one that loses adds
        nothing this time (the other added the same rows).
        """
        try:
            return self._catch_up(limit)
        except IntegrityError:
            log.info("payment index: another process indexed the same messages")
            return 0

    def _catch_up(self, limit: int | None) -> int:
        added = 0
        with self.engine.begin() as conn:
            newest = conn.execute(select(func.max(payment_index.c.message_id))).scalar() or 0
            cursor = max(int(newest) - LOOKBACK, 0)
            while limit is None or added < limit:
                rows = conn.execute(
                    select(queue.c.id, queue.c.key, queue.c.payload)
                    .where(queue.c.id > cursor, queue.c.topic == PAYMENT_TOPIC)
                    .where(~exists().where(payment_index.c.message_id == queue.c.id))
                    .order_by(queue.c.id)
                    .limit(BATCH)
                ).all()
                if not rows:
                    break
                values = [v for v in (_indexed(r.id, r.key, r.payload) for r in rows) if v]
                if values:
                    conn.execute(insert(payment_index), values)
                added += len(values)
                cursor = int(rows[-1].id)
        return added

    def search(self, query: PaymentQuery) -> tuple[list[PaymentRow], bool]:
        """The rows of one page, newest first, and whether another page follows."""
        self.catch_up()
        posted = exists().where(
            ledger.c.event_key == payment_index.c.key, ledger.c.step == LINE_STEP,
            ledger.c.status == "posted",
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(payment_index, queue.c.status, queue.c.triage_state, posted.label("posted"))
                .join(queue, queue.c.id == payment_index.c.message_id)
                .where(*_conditions(query, posted))
                .order_by(payment_index.c.occurred_at.desc(), payment_index.c.message_id.desc())
                .offset(query.offset)
                .limit(query.limit + 1)
            ).all()
        return [_row(r) for r in rows[: query.limit]], len(rows) > query.limit

    def of_transaction(self, transaction_id: str) -> list[PaymentRow]:
        """Every fact of one transaction, oldest first."""
        found, _ = self.search(PaymentQuery(transaction_id=transaction_id, limit=200))
        return sorted(found, key=lambda r: (r.occurred_at, r.message_id))


def _conditions(query: PaymentQuery, posted: Any) -> Sequence[ColumnElement[bool]]:
    c = payment_index.c
    out: list[ColumnElement[bool]] = []
    for column, value in (
        (c.transaction_id, query.transaction_id), (c.invoice_id, query.invoice_id),
        (c.order_id, query.order_id), (c.customer_id, query.customer_id),
    ):  # fmt: skip
        if value.strip():
            out.append(column == value.strip())
    if query.amount_min is not None:
        out.append(c.amount_e4 >= _e4(query.amount_min))
    if query.amount_max is not None:
        out.append(c.amount_e4 <= _e4(query.amount_max))
    if query.since is not None:
        out.append(c.occurred_at >= query.since)
    if query.until is not None:
        out.append(c.occurred_at < query.until)
    status = query.status
    if status == "dead":
        out.append(queue.c.status == "dead")
    elif status == "waiting":
        out.append(queue.c.status.in_(("ready", "leased")))
    elif status == "posted":
        out.append(and_(queue.c.status == "done", posted))
    elif status == "done":
        out.append(and_(queue.c.status == "done", ~posted))
    return out


def _row(r: Any) -> PaymentRow:
    amount = Decimal(int(r.amount_e4)) / SCALE
    exponent = max(currency_exponent(r.currency), -amount.as_tuple().exponent)  # type: ignore[operator]
    money = Money.of(amount.quantize(Decimal(1).scaleb(-exponent)), r.currency)
    return PaymentRow(
        message_id=int(r.message_id), key=r.key, transaction_id=r.transaction_id, kind=r.kind,
        amount=money, occurred_at=r.occurred_at, customer_id=r.customer_id,
        invoice_id=r.invoice_id, order_id=r.order_id, queue_status=r.status,
        triage_state=r.triage_state, posted=bool(r.posted),
    )  # fmt: skip
