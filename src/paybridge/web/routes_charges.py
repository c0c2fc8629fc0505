"""Request/reply charging over HTTP: ``POST /v1/charges`` with an Idempotency-Key, ``GET /v1/charges/{key}``.

Answers: 201 approved, 402 declined, 202 in doubt (PayTrace did not answer; the runtime looks it
up, ``GET`` shows the state), 409 when the key belongs to another body or its charge is in
progress right now (with ``Retry-After``), 422 naming the field for bad input or a document that
cannot be charged. A repeat of an answered key gets the same answer with ``Idempotent-Replayed:
true`` and PayTrace is not called again. Every answer to ``POST`` is an audit row ``charge.create``
(refusals included: the reason and the field names, never what was sent in them).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from paybridge.charging.service import (
    ChargeOutcome,
    ChargeRequest,
    ChargeService,
    IdempotencyConflict,
)
from paybridge.errors import PayBridgeError
from paybridge.model import Money
from paybridge.web.auth import (
    AUTH_RESPONSES,
    RATE_LIMITED,
    ApiRefusal,
    ErrorBody,
    Principal,
    audit,
    charge_rate_limit,
    require_role,
)


def _refused_input(request: Request, exc: RequestValidationError) -> None:
    principal = getattr(request.state, "principal", None)
    actor = principal.actor if isinstance(principal, Principal) else "anonymous"
    # Where and what kind of problem, never the value (it may be what the guard is for).
    fields = {
        ".".join(str(p) for p in e.get("loc", ())): str(e.get("type", "")) for e in exc.errors()
    }
    key = request.headers.get("idempotency-key", "")[:100]
    audit(
        request, actor, "charge.create", outcome="invalid",
        target=f"charge:{key}" if key else "", detail={"why": "invalid request", "fields": fields},
    )  # fmt: skip


class AuditedRoute(APIRoute):
    """FastAPI refuses bad input before the endpoint runs: audit that refusal, then answer as ever."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def audited(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if request.method == "POST":
                    await run_in_threadpool(_refused_input, request, exc)
                raise

        return audited


router = APIRouter(
    prefix="/v1/charges", tags=["charges"], responses=AUTH_RESPONSES, route_class=AuditedRoute
)

STATUS_CODES = {"approved": 201, "declined": 402, "in_doubt": 202}
KeyHeader = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        description="Your key for this charge: a repeat with the same key never charges twice.",
    ),
]


class PaymentEventOut(BaseModel):
    key: str = Field(description="The inbox key of the fact, e.g. paytrace:123:sale.")
    new: bool = Field(description="False when another path (poller, event) had it first.")


class ChargeOut(BaseModel):
    """The state of one charge."""

    idempotency_key: str
    status: Literal["approved", "declined", "in_doubt", "in_progress", "open"]
    mode: Literal["sale", "authorization"]
    tender: Literal["card", "ach"] = "card"
    company: str
    invoice_number: str | None = None
    sales_order_number: str | None = None
    amount: Money | None = Field(default=None, description="Decimal string and ISO 4217 code.")
    transaction_id: str | None = None
    approval_code: str | None = None
    reason: str | None = Field(default=None, description="Why declined, in doubt or open.")
    payment_event: PaymentEventOut | None = None
    level3: dict[str, Any] | None = Field(
        default=None,
        description="Level 2/3 pre-flight of an invoice sale: status (ok, warnings), findings "
        "(code, severity, field, message) and, after approval, what came of the Level 3 call.",
    )
    replayed: bool = False


def _answer(model: type[BaseModel] | None, description: str) -> dict[str, Any]:
    return {"model": model or ErrorBody, "description": description}


CHARGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: _answer(ChargeOut, "Approved"),
    202: _answer(ChargeOut, "In doubt: PayTrace did not answer; GET the key for the outcome"),
    402: _answer(ChargeOut, "Declined; ``reason`` says why in plain words"),
    409: _answer(None, "The key was used with another body, or its charge is in progress"),
    **RATE_LIMITED,
}


def charge_service(request: Request) -> ChargeService:
    """The ChargeService the composition root handed to the app (``app.state.charges``)."""
    service = getattr(request.app.state, "charges", None)
    if not isinstance(service, ChargeService):
        raise RuntimeError("build the app with paybridge.app.build_api: no charge service")
    return service
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise RuntimeError("set app.state.charges or app.state.engine to serve /v1/charges")
    service = ChargeService.from_engine(engine)
    request.app.state.charges = service
    return service


def charge_out(outcome: ChargeOutcome) -> ChargeOut:
    o = outcome.outcome
    event = o.get("payment_event")
    return ChargeOut(
        idempotency_key=outcome.key, status=outcome.status,
        mode=outcome.request.mode, tender=outcome.request.tender,
        company=outcome.request.company.lower(),
        invoice_number=outcome.request.invoice_number,
        sales_order_number=outcome.request.sales_order_number,
        amount=outcome.amount, transaction_id=outcome.transaction_id,
        approval_code=o.get("approval_code") or None, reason=o.get("reason"),
        payment_event=PaymentEventOut(**event) if isinstance(event, dict) else None,
        level3=o.get("level3") if isinstance(o.get("level3"), dict) else None,
        replayed=outcome.replayed,
    )  # fmt: skip


def _response(outcome: ChargeOutcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(
        charge_out(outcome).model_dump(mode="json"),
        status_code=STATUS_CODES.get(outcome.status, 200),
        headers=headers,
    )


def charging_principal(
    request: Request, principal: Annotated[Principal, Depends(charge_rate_limit)]
) -> Principal:
    """The operator charging; kept on the request so a refusal of its input names it."""
    request.state.principal = principal
    return principal


def _asked(body: ChargeRequest) -> dict[str, Any]:
    return {
        "company": body.company.lower(), "invoice": body.invoice_number,
        "order": body.sales_order_number, "mode": body.mode, "tender": body.tender,
        "amount": None if body.amount is None else format(body.amount, "f"),
    }  # fmt: skip


@router.post("", status_code=201, response_model=ChargeOut, responses=CHARGE_RESPONSES)
async def create_charge(
    request: Request,
    body: ChargeRequest,
    principal: Annotated[Principal, Depends(charging_principal)],
    idempotency_key: KeyHeader,
) -> JSONResponse:
    """Charge a D365 invoice or sales order to its customer's PayTrace profile (operator role)."""
    service = charge_service(request)
    target = f"charge:{idempotency_key}"
    try:
        outcome = await service.charge(body, idempotency_key)
    except IdempotencyConflict as exc:
        await run_in_threadpool(
            audit, request, principal.actor, "charge.create", outcome="conflict", target=target,
            detail={"why": exc.message, **_asked(body)},
        )  # fmt: skip
        headers = {"Retry-After": "1"} if exc.in_progress else {}
        raise ApiRefusal(409, exc.message, headers) from None
    except PayBridgeError as exc:
        # Over the open amount, no profile, a document that cannot be charged: refused (4xx).
        fields = dict(getattr(exc, "fields", {}) or {})
        await run_in_threadpool(
            audit, request, principal.actor, "charge.create", outcome="refused", target=target,
            detail={"why": exc.message, "fields": fields, **_asked(body)},
        )  # fmt: skip
        raise
    detail = {
        "transaction_id": outcome.transaction_id, "replayed": outcome.replayed,
        "reason": outcome.outcome.get("reason"), **_asked(body),
    }  # fmt: skip
    await run_in_threadpool(
        audit, request, principal.actor, "charge.create",
        outcome=outcome.status, target=target, detail=detail,
    )  # fmt: skip
    return _response(outcome)


@router.get(
    "/{idempotency_key}",
    response_model=ChargeOut,
    responses={404: _answer(None, "No charge was made with this key")},
)
async def get_charge(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("viewer"))],
    idempotency_key: Annotated[str, Path(min_length=1, max_length=100)],
) -> ChargeOut:
    """The current state of a charge (any role)."""
    outcome = await run_in_threadpool(charge_service(request).state, idempotency_key)
    if outcome is None:
        raise ApiRefusal(404, "no charge with this Idempotency-Key")
    return charge_out(outcome)
