"""The order book: card orders PayBridge authorized, their captures and refund requests, in the store.

Every change is a compare-and-set on the row as the caller read it (``version`` for an order,
``status`` for a refund request), so two workers never both move one order forward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.store.schema_orders import order_captures, order_payments, refund_requests

OPEN, DECLINED, CLOSED = "open", "declined", "closed"
AWAITING, APPROVED, REFUNDING, REFUNDED = "awaiting_approval", "approved", "refunding", "refunded"
REJECTED, REFUSED = "rejected", "refused"
# Requests whose parts count against a capture (a refund in doubt counts until it is known).
_COUNTED = (AWAITING, APPROVED, REFUNDING, REFUNDED)


@dataclass(frozen=True)
class OrderPayment:
    company: str
    order_number: str
    account: str
    customer_id: str | None
    currency: str
    total: Decimal
    captured: Decimal
    state: str
    auth_number: int
    auth_id: str | None
    auth_amount: Decimal | None
    auth_expires_at: datetime | None
    brand: str | None
    reason: str | None
    version: int

    @property
    def remaining(self) -> Decimal:
        return self.total - self.captured


@dataclass(frozen=True)
class Capture:
    company: str
    invoice: str
    order_number: str
    transaction_id: str
    amount: Decimal


@dataclass(frozen=True)
class RefundRequest:
    request_id: str
    company: str
    order_number: str
    credit_note: str
    amount: Decimal
    currency: str
    status: str
    requested_by: str
    decided_by: str | None
    reason: str | None
    parts: tuple[tuple[str, Decimal], ...] | None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["amount"] = str(self.amount)
        out["parts"] = None if self.parts is None else [[t, str(a)] for t, a in self.parts]
        return out


_MONEY = {"total", "captured", "auth_amount", "amount"}


def _row(cls: type[Any], row: Any) -> Any:
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in dict(row).items() if k in names}
    for name in _MONEY & set(values):
        values[name] = None if values[name] is None else Decimal(values[name])
    if cls is RefundRequest:
        raw = values["parts"]
        values["parts"] = (
            None if raw is None else tuple((t, Decimal(a)) for t, a in json.loads(raw))
        )
    return cls(**values)


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


class OrderBook:
    """Reads and compare-and-set writes of the three orders tables."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, company: str, order: str) -> OrderPayment | None:
        query = select(order_payments).where(
            order_payments.c.company == company, order_payments.c.order_number == order
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _row(OrderPayment, row)

    def start(self, payment: OrderPayment) -> OrderPayment:
        """Record the order unless it is recorded; what is recorded wins."""
        now = self.clock.now()
        values = {f.name: _text(getattr(payment, f.name)) for f in fields(payment)}
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(order_payments).values(created_at=now, updated_at=now, **values)
                )
        except IntegrityError:
            pass
        found = self.get(payment.company, payment.order_number)
        assert found is not None
        return found

    def save(self, old: OrderPayment, **changes: Any) -> OrderPayment | None:
        """The order as changed, or ``None`` when another worker changed it first."""
        stmt = (
            update(order_payments)
            .where(
                order_payments.c.company == old.company,
                order_payments.c.order_number == old.order_number,
                order_payments.c.version == old.version,
            )
            .values(
                version=old.version + 1, updated_at=self.clock.now(),
                **{k: _text(v) for k, v in changes.items()},
            )
        )  # fmt: skip
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
        return self.get(old.company, old.order_number)

    def watched(self) -> list[OrderPayment]:
        """Orders whose D365 state can still ask for a PayTrace write."""
        query = select(order_payments).where(order_payments.c.state != CLOSED)
        with self.engine.connect() as conn:
            return [_row(OrderPayment, r) for r in conn.execute(query).mappings()]

    def all_orders(self) -> list[OrderPayment]:
        with self.engine.connect() as conn:
            return [_row(OrderPayment, r) for r in conn.execute(select(order_payments)).mappings()]

    # -- captures ---------------------------------------------------------------------------

    def capture(self, company: str, invoice: str) -> Capture | None:
        query = select(order_captures).where(
            order_captures.c.company == company, order_captures.c.invoice == invoice
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _row(Capture, row)

    def captures(self, company: str, order: str) -> list[Capture]:
        query = (
            select(order_captures)
            .where(order_captures.c.company == company, order_captures.c.order_number == order)
            .order_by(order_captures.c.captured_at, order_captures.c.invoice)
        )
        with self.engine.connect() as conn:
            return [_row(Capture, r) for r in conn.execute(query).mappings()]

    def add_capture(self, capture: Capture) -> bool:
        """Record a capture PayTrace confirmed; ``False`` when it is recorded already."""
        values = {f.name: _text(getattr(capture, f.name)) for f in fields(capture)}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(order_captures).values(captured_at=self.clock.now(), **values))
        except IntegrityError:
            return False
        return True

    # -- refund requests --------------------------------------------------------------------

    def request_refund(self, request: RefundRequest) -> RefundRequest:
        """Record the request unless it is recorded (a credit note asks once)."""
        now = self.clock.now()
        values = {f.name: _text(getattr(request, f.name)) for f in fields(request)}
        values["parts"] = None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(refund_requests).values(created_at=now, updated_at=now, **values)
                )
        except IntegrityError:
            pass
        found = self.refund(request.request_id)
        assert found is not None
        return found

    def refund(self, request_id: str) -> RefundRequest | None:
        query = select(refund_requests).where(refund_requests.c.request_id == request_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _row(RefundRequest, row)

    def refunds(self, status: str | None = None) -> list[RefundRequest]:
        query = select(refund_requests).order_by(refund_requests.c.created_at)
        if status is not None:
            query = query.where(refund_requests.c.status == status)
        with self.engine.connect() as conn:
            return [_row(RefundRequest, r) for r in conn.execute(query).mappings()]

    def move_refund(
        self, old: RefundRequest, status: str, *, parts: Sequence[tuple[str, Decimal]] | None = None,
        **changes: Any,
    ) -> RefundRequest | None:  # fmt: skip
        """Move the request on from the status (and plan) the caller read; ``None`` if someone
        else moved it first."""
        values: dict[str, Any] = {"status": status, "updated_at": self.clock.now(), **changes}
        if parts is not None:
            values["parts"] = json.dumps([[t, str(a)] for t, a in parts])
        stmt = (
            update(refund_requests)
            .where(
                refund_requests.c.request_id == old.request_id,
                refund_requests.c.status == old.status,
                # parts are planned once: a writer that read none never overwrites a plan
                refund_requests.c.parts.is_(None)
                if old.parts is None
                else refund_requests.c.parts.is_not(None),
            )
            .values(**values)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
        return self.refund(old.request_id)

    def refunded(self, company: str, order: str, *, besides: str = "") -> dict[str, Decimal]:
        """Per capture transaction: what refund requests of the order already take from it,
        counting those in doubt or waiting (``besides``: a request not to count)."""
        query = select(refund_requests).where(
            refund_requests.c.company == company,
            refund_requests.c.order_number == order,
            refund_requests.c.status.in_(_COUNTED),
            refund_requests.c.request_id != besides,
        )
        taken: dict[str, Decimal] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                for txid, amount in json.loads(row["parts"] or "[]"):
                    taken[txid] = taken.get(txid, Decimal(0)) + Decimal(amount)
        return taken
