"""Emulator-only admin endpoints under ``/_sandbox/`` (no F&O counterpart, no auth): let a demo or
chaos process read a state summary, move the clock, and switch throttling and faults.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paybridge_sandbox.dynamics.protection import ThrottleSettings


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def state(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.summary())


async def advance_clock(request: Request) -> Response:
    body = await _json(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return JSONResponse({"error": 'body must be {"seconds": <non-negative number>}'}, 400)
    request.app.state.sandbox.clock.advance(float(seconds))
    return JSONResponse(request.app.state.sandbox.summary())


async def throttle(request: Request) -> Response:
    """``{"requests": N, "window_seconds": S, "retry_after_seconds": R | null,
    "execution_seconds": E, "concurrent": C}``, ``{"fno": true}`` (F&O's documented limits)
    or ``{"off": true}``; usage starts again from nothing."""
    body = await _json(request)
    sandbox = request.app.state.sandbox
    if body.get("off"):
        sandbox.throttle.settings = None
    elif body.get("fno"):
        sandbox.throttle.settings = ThrottleSettings.fno()
    else:
        try:
            sandbox.throttle.settings = _throttle_settings(body)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"throttle: {exc}"}, 400)
    sandbox.throttle.reset()
    return JSONResponse(sandbox.summary())


def _throttle_settings(body: dict[str, Any]) -> ThrottleSettings:
    limits = ("requests", "execution_seconds", "concurrent")
    if not any(body.get(name) is not None for name in limits):
        raise ValueError("name at least one of requests, execution_seconds, concurrent")
    retry = body.get("retry_after_seconds", 30)
    execution = body.get("execution_seconds")
    return ThrottleSettings(
        requests=int(body["requests"]) if body.get("requests") is not None else None,
        window_seconds=float(body.get("window_seconds", 300)),
        retry_after_seconds=None if retry is None else int(retry),
        execution_seconds=float(execution) if execution is not None else None,
        concurrent=int(body["concurrent"]) if body.get("concurrent") is not None else None,
        resource_message=bool(body.get("resource_message", True)),
    )


async def faults(request: Request) -> Response:
    """GET: the fault report. POST: a ``FaultPlan.configure`` command, e.g.
    ``{"profile": "chaos", "seed": 3}`` or ``{"script": [{"fault": "commit_then_drop",
    "path": "/data/$batch"}]}``."""
    plan = request.app.state.sandbox.faults
    if request.method == "GET":
        return JSONResponse(plan.report())
    try:
        return JSONResponse(plan.configure(await _json(request)))
    except (KeyError, TypeError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, 400)


def admin_routes() -> list[Route]:
    return [
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/clock/advance", advance_clock, methods=["POST"]),
        Route("/_sandbox/throttle", throttle, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
    ]
