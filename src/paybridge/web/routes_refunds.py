"""Refund requests over HTTP: list and read (viewer), request, approve and reject (operator).

A credit note's refund above ``orders.refund_approval_above`` waits here for an operator;
``POST /v1/refunds/{id}/approve`` by anyone but its requester sends it (maker-checker). An
operator may also ask for a refund of a card order without a credit note (``POST /v1/refunds``,
its own idempotency key); it follows the same rules. Every call is an audit row
(``refund.request``, ``refund.approve``, ``refund.reject``); a refusal answers 404 or 409 with
the field that decided it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paybridge.orders.records import OrderBook
from paybridge.orders.refunds import Decision, RefundDesk, RefundRefused
from paybridge.web.app import error_body
from paybridge.web.auth import AUTH_RESPONSES, Principal, audit, require_role

router = APIRouter(tags=["refunds"])
RequestId = Annotated[str, Path(min_length=5, max_length=160)]
Operator = Annotated[Principal, Depends(require_role("operator"))]
Viewer = Annotated[Principal, Depends(require_role("viewer"))]


class RefundIn(BaseModel):
    company: str = Field(min_length=1, max_length=10, description="D365 legal entity, e.g. usmf.")
    order: str = Field(min_length=1, max_length=40, description="The card order to refund.")
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")
    idempotency_key: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._\-]+$")


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


def _desk(request: Request) -> RefundDesk:
    desk: RefundDesk = request.app.state.refunds
    return desk


def _book(request: Request) -> OrderBook:
    book: OrderBook = request.app.state.order_book
    return book


def _refused(exc: RefundRefused) -> JSONResponse:
    status = 404 if exc.fields.get("request_id") == "unknown" else 409
    return JSONResponse(error_body(exc.message, fields=exc.fields), status_code=status)


def _decision(decision: Decision) -> dict[str, Any]:
    return {**decision.request.to_dict(), "queued": decision.published}


@router.get("/v1/refunds", responses=AUTH_RESPONSES)
async def list_refunds(
    request: Request, _: Viewer,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:  # fmt: skip
    return {"refunds": [r.to_dict() for r in _desk(request).listing(status)]}


@router.get("/v1/refunds/{request_id}", responses=AUTH_RESPONSES)
async def get_refund(request_id: RequestId, request: Request, _: Viewer) -> Any:
    found = _book(request).refund(request_id)
    if found is None:
        return JSONResponse(error_body(f"no refund request {request_id}",
                                       fields={"request_id": "unknown"}), status_code=404)  # fmt: skip
    return found.to_dict()


@router.post("/v1/refunds", status_code=202, responses=AUTH_RESPONSES)
async def request_refund(body: RefundIn, request: Request, principal: Operator) -> Any:
    """Ask for a refund of a card order (no credit note); above the threshold it needs a second
    operator's approval."""
    if _book(request).get(body.company.lower(), body.order) is None:
        return JSONResponse(error_body(f"order {body.order} is not a card order PayBridge "
                                       "authorized", fields={"order": "unknown"}), status_code=404)  # fmt: skip
    decision = _desk(request).request(
        company=body.company.lower(), order=body.order, amount=body.amount,
        currency=body.currency.upper(), actor=principal.actor, key=body.idempotency_key,
    )  # fmt: skip
    audit(request, principal.actor, "refund.request", target=decision.request.request_id,
          outcome="queued", detail={"amount": str(body.amount), "order": body.order})  # fmt: skip
    return _decision(decision)


@router.post("/v1/refunds/{request_id}/approve", responses=AUTH_RESPONSES)
async def approve_refund(request_id: RequestId, request: Request, principal: Operator) -> Any:
    try:
        decision = _desk(request).approve(request_id, principal.actor)
    except RefundRefused as exc:
        audit(request, principal.actor, "refund.approve", target=request_id, outcome="refused",
              detail={"why": exc.message})  # fmt: skip
        return _refused(exc)
    return _decision(decision)


@router.post("/v1/refunds/{request_id}/reject", responses=AUTH_RESPONSES)
async def reject_refund(
    request_id: RequestId, body: RejectIn, request: Request, principal: Operator
) -> Any:
    try:
        decision = _desk(request).reject(request_id, principal.actor, body.reason)
    except RefundRefused as exc:
        return _refused(exc)
    return _decision(decision)


@router.get("/v1/orders/{company}/{order}", responses=AUTH_RESPONSES)
async def get_order(
    company: Annotated[str, Path(max_length=10)], order: Annotated[str, Path(max_length=40)],
    request: Request, _: Viewer,
) -> Any:  # fmt: skip
    """A card order's payment state: authorization, captures and why it is on hold."""
    book = _book(request)
    found = book.get(company.lower(), order)
    if found is None:
        return JSONResponse(error_body(f"order {order} is not a card order PayBridge authorized",
                                       fields={"order": "unknown"}), status_code=404)  # fmt: skip
    captures = book.captures(found.company, found.order_number)
    return {
        "company": found.company, "order": found.order_number, "state": found.state,
        "currency": found.currency, "total": str(found.total), "captured": str(found.captured),
        "authorization": found.auth_id, "authorized": None if found.auth_amount is None else
        str(found.auth_amount), "expires_at": found.auth_expires_at, "reason": found.reason,
        "captures": [{"invoice": c.invoice, "transaction_id": c.transaction_id,
                      "amount": str(c.amount)} for c in captures],
    }  # fmt: skip
