"""The FastAPI app: health, the admin and request/reply APIs; every error answers JSON naming the field.

The OpenAPI document is served to API keys only (any role), and there is no ``/docs`` or
``/redoc``: FastAPI's pages load Swagger UI and ReDoc from a CDN, and no package PayBridge
depends on ships those files. ``X-Forwarded-For`` names the client only when the connection
comes from a configured trusted proxy (``web.trusted_proxies``, none by default).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from paybridge import __version__
from paybridge.errors import (
    ConfigError,
    DataError,
    DeclinedError,
    FatalError,
    InDoubtError,
    PayBridgeError,
    RetryableError,
)
from paybridge.web.auth import Principal, authenticate
from paybridge.web.guard import (
    BODY_TIMEOUT,
    MAX_BODY,
    ASGIApp,
    Receive,
    Scope,
    Send,
    install_card_guard,
)

log = logging.getLogger("paybridge.web")

_STATUS: list[tuple[type[PayBridgeError], int]] = [
    (DataError, 422),
    (DeclinedError, 402),
    (InDoubtError, 202),
    (RetryableError, 503),
    (ConfigError, 500),
    (FatalError, 502),
]


def status_for(exc: PayBridgeError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(
    message: str, *, fields: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"message": message, "fields": fields or {}, **extra}}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    # Never echo the input back: it may hold what a caller should not have sent (card data).
    return JSONResponse(error_body("invalid request", fields=fields), status_code=422)


async def _paybridge_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayBridgeError)
    fields = exc.fields if isinstance(exc, DataError) else None
    body = error_body(exc.message, fields=fields, reaction=exc.reaction, system=exc.system)
    return JSONResponse(body, status_code=status_for(exc))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error: %s", type(exc).__name__)
    return JSONResponse(error_body("internal error"), status_code=500)


class EdgeLimits(Protocol):
    """What the edge needs of the web settings (``paybridge.app.settings.WebSettings``)."""

    @property
    def max_body_bytes(self) -> int: ...
    @property
    def body_timeout_seconds(self) -> float: ...
    @property
    def trusted_proxies(self) -> Sequence[str]: ...


class _Defaults:
    max_body_bytes = MAX_BODY
    body_timeout_seconds = BODY_TIMEOUT
    trusted_proxies: Sequence[str] = ()


class TrustedProxies:
    """ASGI middleware: the client behind a trusted proxy is the last untrusted hop it names."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and self.networks and self._trusted(client[0]):
            hops = [
                hop.strip()
                for name, value in scope.get("headers", [])
                if name.lower() == b"x-forwarded-for"
                for hop in bytes(value).decode("latin-1").split(",")
            ]
            for hop in reversed([h for h in hops if h]):
                if not self._trusted(hop):
                    try:
                        ipaddress.ip_address(hop)
                    except ValueError:
                        break  # not an address: believe nothing further
                    scope = {**scope, "client": (hop, 0)}
                    break
        await self.app(scope, receive, send)


def create_web_app(limits: EdgeLimits | None = None, **state: Any) -> FastAPI:
    """The app; ``state`` (services built by ``paybridge.app.engine``) is kept on ``app.state``.

    ``limits`` (the web settings) size the card guard and name the trusted proxies.
    """
    limits = limits or _Defaults()
    app = FastAPI(
        title="PayBridge",
        version=__version__,
        description="Keeps Dynamics 365 F&O and PayTrace in exact agreement.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for key, value in state.items():
        setattr(app.state, key, value)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PayBridgeError, _paybridge_error)
    app.add_exception_handler(Exception, _unexpected)
    install_card_guard(app, limits.max_body_bytes, limits.body_timeout_seconds)
    # Added last, so outermost: the guard and the audit see the real client.
    app.add_middleware(TrustedProxies, trusted=list(limits.trusted_proxies))

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Annotated[Principal, Depends(authenticate)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    return app
