"""``/metrics`` (Prometheus text format) and ``/ready`` (the store and both systems answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from paybridge.ops.metrics import CONTENT_TYPE, Metrics
from paybridge.ops.ready import Readiness
from paybridge.web.auth import AUTH_RESPONSES, require_role

READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "The store, PayTrace or D365 does not answer (see checks)"}
}


def ops_router(*, metrics_require_key: bool) -> APIRouter:
    """The router; ``/metrics`` asks for a viewer key unless ``metrics.require_key`` is false."""
    router = APIRouter(tags=["operations"])
    deps = [Depends(require_role("viewer"))] if metrics_require_key else []

    @router.get(
        "/metrics", dependencies=deps, response_class=Response,
        responses={**(AUTH_RESPONSES if metrics_require_key else {}),
                   200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )  # fmt: skip
    async def metrics(request: Request) -> Response:
        """Queue, dead letters, intents in doubt, charges, reconciliation, every process's
        requests, 429s and errors, heartbeats, approval -> ledger latency."""
        built: Metrics = request.app.state.metrics
        body = await asyncio.to_thread(built.render)  # store reads stay off the event loop
        return Response(body, media_type=CONTENT_TYPE)

    @router.get("/ready", responses=READY_RESPONSES)
    async def ready(request: Request) -> JSONResponse:
        """200 when the store, PayTrace and D365 answer; the systems are probed at most every
        ``metrics.probe_seconds``."""
        readiness: Readiness = request.app.state.readiness
        ok, checks = await readiness.status()
        body = {
            "status": "ready" if ok else "not ready",
            "checks": {n: {"ok": c.ok, "detail": c.detail} for n, c in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return router
