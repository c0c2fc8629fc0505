"""Signed inbound events over HTTP: ``POST /v1/events``, verified by signature and then against PayTrace.

Senders sign as Standard Webhooks says (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) with a secret registered for the source ``storefront``. A verified event
whose claim PayTrace bears out answers 202 with the inbox keys it published and whether each was
new; one that PayTrace contradicts answers 422 and is an audit row.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from paybridge.o2c.events import ClaimRefused, EventIntake, InboundEvent, parse_event
from paybridge.security.webhooks import VerifiedEvent
from paybridge.web.auth import ErrorBody, audit
from paybridge.web.signatures import SIGNED_RESPONSES, signed_event

INBOUND_SOURCE = "storefront"
router = APIRouter(prefix="/v1/events", tags=["events"])


class FactOut(BaseModel):
    key: str = Field(description="Inbox key, paytrace:<transaction_id>:<kind>.")
    kind: str
    new: bool = Field(description="False when the poller or an earlier event had it already.")


class EventAccepted(BaseModel):
    webhook_id: str
    type: str
    transaction_id: int
    facts: list[FactOut]


def event_intake(request: Request) -> EventIntake:
    """The EventIntake the composition root handed to the app (``app.state.event_intake``)."""
    intake = getattr(request.app.state, "event_intake", None)
    if not isinstance(intake, EventIntake):
        raise RuntimeError("build the app with paybridge.app.build_api: no event intake")
    return intake
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise RuntimeError("set app.state.event_intake or app.state.engine to serve /v1/events")
    intake = EventIntake.from_engine(engine)
    request.app.state.event_intake = intake
    return intake


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": InboundEvent.model_json_schema()}},
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SIGNED_RESPONSES,
    422: {
        "model": ErrorBody,
        "description": "Invalid body, card data, or PayTrace contradicts the event",
    },
}


@router.post(
    "", status_code=202, response_model=EventAccepted, responses=_RESPONSES, openapi_extra=_BODY
)
async def receive_event(
    request: Request,
    verified: Annotated[VerifiedEvent, Depends(signed_event(INBOUND_SOURCE))],
) -> EventAccepted:
    """A payment event from a storefront; published only once PayTrace confirms it."""
    actor = f"webhook:{INBOUND_SOURCE}"
    try:
        event = parse_event(verified.body)
    except ValidationError as exc:
        # A signed body that is not an event: refused, and audited with where, never the value.
        fields = {".".join(str(p) for p in e["loc"]): e["type"] for e in exc.errors()}
        await run_in_threadpool(
            audit, request, actor, "event.refused", outcome="invalid", target="paytrace:?",
            detail={"webhook_id": verified.webhook_id, "fields": fields},
        )  # fmt: skip
        raise RequestValidationError(exc.errors()) from None
    target = f"paytrace:{event.transaction_id}"
    try:
        result = await event_intake(request).accept(event)
    except ClaimRefused as exc:
        refused: dict[str, Any] = {
            "webhook_id": verified.webhook_id, "type": event.type, "why": exc.message,
        }  # fmt: skip
        await run_in_threadpool(
            audit, request, actor, "event.refused",
            outcome="contradicted", target=target, detail=refused,
        )  # fmt: skip
        raise
    facts = [FactOut(key=f.key, kind=f.kind, new=f.new) for f in result.facts]
    detail = {
        "webhook_id": verified.webhook_id,
        "type": event.type,
        "new": [f.key for f in facts if f.new],
    }
    await run_in_threadpool(audit, request, actor, "event.accepted", target=target, detail=detail)
    return EventAccepted(
        webhook_id=verified.webhook_id, type=event.type,
        transaction_id=event.transaction_id, facts=facts,
    )  # fmt: skip
