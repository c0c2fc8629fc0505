"""Refunds from credit notes: requested once, approved by a second person above a threshold, sent once.

A credit note on a card order becomes a refund request keyed by the credit note. At or below
``orders.refund_approval_above`` it is approved by policy; above it waits for an operator who
did not request it (maker-checker) through the API or the CLI. An approved request is split over
the order's captures, newest first, never beyond what each capture has left after every other
request of the order (those waiting or in doubt count too), and each part is a refund of that
capture sent once through ``charging.charge_once`` (mode ``refund``, found again by the
reference at the head of its ``description``). Every decision is an audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from paybridge.charging.charge_once import REFUND, ChargeOnce, refund_body
from paybridge.errors import DataError, RetryableError
from paybridge.keys import ORDER_PAYMENT_TOPIC, ORDER_REFUND_STEP, order_fact, order_partition
from paybridge.orders.records import (
    APPROVED,
    AWAITING,
    OPEN,
    REFUNDED,
    REFUNDING,
    REFUSED,
    REJECTED,
    OrderBook,
    RefundRequest,
)
from paybridge.orders.settings import OrdersSettings
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue

log = logging.getLogger(__name__)

Audit = Callable[..., Any]
UNSETTLED = "817"  # PayTrace: only a settled transaction can be refunded


class RefundRefused(DataError):
    """An approval or rejection that may not happen (wrong state, same person, unknown id)."""


@dataclass(frozen=True)
class Decision:
    request: RefundRequest
    published: bool


class RefundDesk:
    """Refund requests from credit notes (and operators), their approval and their execution."""

    def __init__(
        self, *, book: OrderBook, once: ChargeOnce, queue: SqlQueue, settings: OrdersSettings,
        audit: Audit, senders: Callable[[str], ChargeOnce] | None = None,
    ) -> None:  # fmt: skip
        self.book = book
        self.once = once
        # Each company's refunds through its merchant account (one account: the main one).
        self.sender: Callable[[str], ChargeOnce] = senders or (lambda company: once)
        self.queue = queue
        self.settings = settings
        self.audit = audit

    async def __call__(self, env: Envelope) -> Outcome:
        p = env.payload
        if p["action"] == "refund":
            request = self.book.refund(str(p["request_id"])) or self._requested(p)
            if request.parts is None and request.status in (APPROVED, AWAITING):
                planned = self._plan(request)  # reserved now: a waiting refund counts too
                if isinstance(planned, Outcome):
                    return planned
                request = planned
            if request.status not in (APPROVED, REFUNDING):
                return Outcome.done(f"refund {request.request_id} is {request.status}")
        else:
            found = self.book.refund(str(p["request_id"]))
            if found is None:
                return Outcome.dead(f"no refund request {p['request_id']}")
            request = found
        return await self.execute(request)

    def _requested(self, p: dict[str, Any]) -> RefundRequest:
        amount = Decimal(str(p["amount"]))
        automatic = amount <= self.settings.refund_approval_above
        request = self.book.request_refund(RefundRequest(
            request_id=str(p["request_id"]), company=str(p["company"]), order_number=str(p["order"]),
            credit_note=str(p["credit_note"]), amount=amount, currency=str(p["currency"]),
            status=APPROVED if automatic else AWAITING, requested_by=str(p["requested_by"]),
            decided_by="policy" if automatic else None, reason=None, parts=None,
        ))  # fmt: skip
        self.audit(
            actor=request.requested_by, action="refund.request", target=request.request_id,
            outcome="approved" if automatic else "awaiting_approval",
            detail={"amount": str(amount), "currency": request.currency,
                    "credit_note": request.credit_note, "order": request.order_number},
        )  # fmt: skip
        return request

    # -- maker-checker ----------------------------------------------------------------------

    def request(
        self, *, company: str, order: str, amount: Decimal, currency: str, actor: str, key: str
    ) -> Decision:
        """An operator's own refund request (no credit note): the same rules as a credit note's."""
        request_id = order_fact(company, order, "refund", key)
        payload = {"action": "refund", "request_id": request_id, "company": company,
                   "order": order, "credit_note": f"manual:{key}", "amount": str(amount),
                   "currency": currency, "requested_by": actor}  # fmt: skip
        published = self._publish(request_id, payload, company, order)
        return Decision(self.book.refund(request_id) or _pending(payload), published)

    def approve(self, request_id: str, actor: str) -> Decision:
        request = self._awaiting(request_id)
        if actor == request.requested_by:
            raise RefundRefused(
                f"{actor} requested refund {request_id} and cannot also approve it",
                fields={"approver": "a second person must approve (maker-checker)"},
            )
        moved = self.book.move_refund(request, APPROVED, decided_by=actor)
        if moved is None:
            raise RefundRefused(f"refund {request_id} was decided meanwhile",
                                fields={"status": "changed"})  # fmt: skip
        self.audit(actor=actor, action="refund.approve", target=request_id,
                   detail={"amount": str(request.amount), "currency": request.currency})  # fmt: skip
        payload = {"action": "refund_approved", "request_id": request_id}
        published = self._publish(f"{request_id}:approved", payload, request.company,
                                  request.order_number)  # fmt: skip
        return Decision(moved, published)

    def reject(self, request_id: str, actor: str, reason: str) -> Decision:
        request = self._awaiting(request_id)
        moved = self.book.move_refund(request, REJECTED, decided_by=actor, reason=reason[:500])
        if moved is None:
            raise RefundRefused(f"refund {request_id} was decided meanwhile",
                                fields={"status": "changed"})  # fmt: skip
        self.audit(
            actor=actor, action="refund.reject", target=request_id, detail={"reason": reason}
        )
        return Decision(moved, False)

    def _awaiting(self, request_id: str) -> RefundRequest:
        request = self.book.refund(request_id)
        if request is None:
            raise RefundRefused(f"no refund request {request_id}", fields={"request_id": "unknown"})
        if request.status != AWAITING:
            raise RefundRefused(f"refund {request_id} is {request.status}, not awaiting approval",
                                fields={"status": request.status})  # fmt: skip
        return request

    def _publish(self, key: str, payload: dict[str, Any], company: str, order: str) -> bool:
        env = Envelope(topic=ORDER_PAYMENT_TOPIC, key=key, payload=payload,
                       partition_key=order_partition(company, order), source="refunds")  # fmt: skip
        with self.queue.engine.begin() as conn:
            return self.queue.publish(conn, [env])[0]

    # -- execution --------------------------------------------------------------------------

    async def execute(self, request: RefundRequest) -> Outcome:
        if request.status not in (APPROVED, REFUNDING):
            return Outcome.done(f"refund {request.request_id} is {request.status}")
        if request.parts is None:
            planned = self._plan(request)
            if isinstance(planned, Outcome):
                return planned
            request = planned
        if request.status == APPROVED:
            moved = self.book.move_refund(request, REFUNDING)
            if moved is None:
                raise RetryableError(
                    f"refund {request.request_id} changed meanwhile", retry_after=1.0
                )
            request = moved
        once = self.sender(request.company)
        for txid, amount in request.parts or ():
            key = f"{request.request_id}:{txid}"
            body = refund_body(transaction_id=txid, amount=amount, reference=key)
            intent = once.plan(key, ORDER_REFUND_STEP, key, body,
                               {"mode": REFUND, "currency": request.currency})  # fmt: skip
            sent_at = intent.updated_at or once.clock.now()
            try:
                await once.execute(intent, sent_at=sent_at, since=intent.updated_at)
            except DataError as exc:
                if UNSETTLED not in exc.fields:
                    raise
                why = f"capture {txid} is not settled yet; refunded later"
                if self.settings.enabled:  # the watch asks again (no attempts spent waiting)
                    return Outcome.done(why)
                return Outcome.retry(why, self.settings.unsettled_retry_seconds)
        self.book.move_refund(request, REFUNDED)
        return Outcome.done(f"refunded {request.amount} {request.currency} ({request.request_id})")

    def _plan(self, request: RefundRequest) -> RefundRequest | Outcome:
        """Split the amount over the order's captures, newest first, within what each has left
        (a request that does not fit is refused: never more than was captured)."""
        captures = list(reversed(self.book.captures(request.company, request.order_number)))
        taken = self.book.refunded(request.company, request.order_number,
                                   besides=request.request_id)  # fmt: skip
        parts: list[tuple[str, Decimal]] = []
        left = request.amount
        for capture in captures:
            room = capture.amount - taken.get(capture.transaction_id, Decimal(0))
            take = min(room, left)
            if take > 0:
                parts.append((capture.transaction_id, take))
                left -= take
        if left > 0:
            reason = (f"{request.amount} {request.currency} is more than the order's captures "
                      f"have left to refund ({request.amount - left})")  # fmt: skip
            order = self.book.get(request.company, request.order_number)
            if order is not None and (order.state == OPEN or order.auth_id is not None):
                # Captures may still come (a credit note seen before its invoice's capture went
                # through): refusing now would leave the customer charged and never refunded.
                # The request stays approved; the watch asks again each unsettled_retry_seconds
                # (a retry here would hold the order's partition, the capture included).
                why = (f"refund {request.request_id}: {reason}; the order still has a live "
                       "authorization, so captures may still come: asked again later")  # fmt: skip
                if self.settings.enabled:
                    return Outcome.done(why)
                return Outcome.retry(why, self.settings.unsettled_retry_seconds)
            self.book.move_refund(request, REFUSED, reason=reason)
            self.audit(actor="policy", action="refund.refuse", target=request.request_id,
                       outcome="refused", detail={"reason": reason})  # fmt: skip
            return Outcome.dead(f"refund {request.request_id} refused: {reason}")
        moved = self.book.move_refund(request, request.status, parts=parts)
        if moved is None:
            raise RetryableError(f"refund {request.request_id} changed meanwhile", retry_after=1.0)
        return moved

    def listing(self, status: str | None = None) -> Sequence[RefundRequest]:
        return self.book.refunds(status)


def _pending(payload: dict[str, Any]) -> RefundRequest:
    """What the API shows of a request the worker has not taken in yet."""
    return RefundRequest(
        request_id=payload["request_id"], company=payload["company"], order_number=payload["order"],
        credit_note=payload["credit_note"], amount=Decimal(payload["amount"]),
        currency=payload["currency"], status="queued", requested_by=payload["requested_by"],
        decided_by=None, reason=None, parts=None,
    )  # fmt: skip
