"""API authentication for the web app: Bearer keys, roles, per-key charge limits, JSON 401/403/429.

Every denial is an audit row (PCI DSS 10.2.1.4: invalid access attempts are logged). Dependencies
are plain functions, so FastAPI runs their store lookups in its thread pool, off the event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from paybridge.security.apikeys import ApiKey, check_role, role_allows
from paybridge.security.context import SecurityContext

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A PayBridge API key (`paybridge keys create --role ROLE`).",
)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    fields: dict[str, str] = {}


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"message": ..., "fields": {...}}}``."""

    error: ErrorDetail


def _response(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Spread into a route's ``responses=`` so the OpenAPI document lists what a caller may get.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _response("The body could not be parsed"),
    401: _response("No API key, or one that is unknown, expired or revoked"),
    403: _response("The key's role is too low for this endpoint"),
    413: _response("The request body is too large"),
    422: _response("Invalid request, or it carries card data (PayBridge accepts tokens only)"),
}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: _response("Too many requests for this key; see Retry-After")
}


class ApiRefusal(Exception):
    """A refusal (401, 403, 404, 409, 429, 503...) answered as a JSON error body with ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def _refusal(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiRefusal)
    body = {"error": {"message": exc.message, "fields": {}}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    # Starlette's own refusals (unparseable body, unknown path, wrong method) in the same shape.
    assert isinstance(exc, StarletteHTTPException)
    body = {"error": {"message": str(exc.detail), "fields": {}}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_auth(app: FastAPI) -> None:
    app.add_exception_handler(ApiRefusal, _refusal)
    app.add_exception_handler(StarletteHTTPException, _http_error)


@dataclass(frozen=True)
class Principal:
    """The caller: its key record and where it called from."""

    key: ApiKey
    client: str

    @property
    def actor(self) -> str:
        return f"key:{self.key.key_id}"


def security_of(request: Request) -> SecurityContext:
    security = getattr(request.app.state, "security", None)
    if not isinstance(security, SecurityContext):
        raise RuntimeError("app.state.security is not set; see paybridge.web.routes_admin")
    return security


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def audit(
    request: Request,
    actor: str,
    action: str,
    *,
    outcome: str = "ok",
    target: str = "",
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One audit row for an action taken through the API."""
    security_of(request).audit.record(
        actor=actor,
        action=action,
        target=target or f"{request.method} {request.url.path}",
        client=client_of(request),
        outcome=outcome,
        detail=detail,
    )


def _unauthenticated(request: Request, actor: str, why: str) -> ApiRefusal:
    audit(request, actor, "auth.denied", outcome="unauthenticated", detail={"why": why})
    return ApiRefusal(401, "a valid API key is required", {"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller behind ``Authorization: Bearer <key>``; 401 for anything else."""
    if credentials is None:
        raise _unauthenticated(request, "anonymous", "no bearer key")
    token = credentials.credentials
    key = security_of(request).api_keys.verify(token)
    if key is None:
        claimed = token.split("_")[1][:12] if token.startswith("pb_") and "_" in token[3:] else ""
        raise _unauthenticated(request, f"key:{claimed}" if claimed else "anonymous", "bad key")
    return Principal(key, client_of(request))


def require_role(role: str) -> Callable[..., Principal]:
    """A dependency that admits keys of ``role`` or higher (viewer < operator < admin); else 403."""
    needed = check_role(role)

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        if not role_allows(principal.key.role, needed):
            audit(
                request, principal.actor, "auth.forbidden", outcome="forbidden",
                detail={"role": principal.key.role, "needed": needed},
            )  # fmt: skip
            raise ApiRefusal(403, f"this needs the {needed} role or higher")
        return principal

    dependency.__name__ = f"require_{needed}"
    return dependency


_operator = require_role("operator")


def charge_rate_limit(
    request: Request, principal: Annotated[Principal, Depends(_operator)]
) -> Principal:
    """Operator or higher, within the key's charge rate; 429 with Retry-After when over it."""
    wait = security_of(request).charge_limiter.take(principal.key.key_id)
    if wait > 0:
        # Not audited: a runaway client would flood the log; the limit is the protection.
        raise ApiRefusal(
            429,
            "too many charges for this key; try again later",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return principal
