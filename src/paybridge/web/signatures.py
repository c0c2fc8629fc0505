"""Signed inbound events at the HTTP edge: a dependency that admits only verified, first-time deliveries.

Wiring: register each source's secrets once, ``app.state.security.verifier("orders", secrets)``
(a callable is re-read on each request, so rotated secrets apply without a restart), then declare
``event: VerifiedEvent = Depends(signed_event("orders"))`` on the endpoint and read ``event.body``.
A bad or stale signature answers 401, a seen ``webhook-id`` 409; both are audit rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from paybridge.security.webhooks import ReplayError, SignatureError, VerifiedEvent
from paybridge.web.auth import ApiRefusal, ErrorBody, audit, security_of

SIGNED_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be parsed"},
    401: {"model": ErrorBody, "description": "Missing, wrong or stale webhook signature"},
    409: {"model": ErrorBody, "description": "This webhook-id was already received"},
    413: {"model": ErrorBody, "description": "The request body is too large"},
    422: {"model": ErrorBody, "description": "The event carries card data (tokens only)"},
}


def signed_event(source: str) -> Callable[[Request], Awaitable[VerifiedEvent]]:
    """A dependency verifying the request as a Standard Webhooks delivery for ``source``."""

    async def dependency(request: Request) -> VerifiedEvent:
        verifier = security_of(request).verifiers.get(source)
        if verifier is None:
            raise RuntimeError(f"no signing secrets registered for inbound source {source!r}")
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return await run_in_threadpool(verifier.verify, headers, body)
        except ReplayError as exc:
            await run_in_threadpool(_denied, request, source, exc)
            raise ApiRefusal(409, exc.message) from None
        except SignatureError as exc:
            await run_in_threadpool(_denied, request, source, exc)
            raise ApiRefusal(401, exc.message) from None

    dependency.__name__ = f"signed_event_{source}"
    return dependency


def _denied(request: Request, source: str, exc: SignatureError) -> None:
    audit(
        request,
        f"webhook:{source}",
        "webhook.refused",
        outcome="replay" if isinstance(exc, ReplayError) else "refused",
        detail={"code": exc.code, "webhook_id": request.headers.get("webhook-id", "")[:200]},
    )
